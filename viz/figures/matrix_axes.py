"""The axes and margins of a labelled matrix (viz.figures.mechanism.matrix_heatmap): how many row labels fit, where
the y title stands, and margins computed from the labels rather than measured in the browser."""

from __future__ import annotations

from collections.abc import Sequence

from viz.figures.layout import AXIS_TITLE_PX, CHAR_PX, LINE_PX, tick_reach, token_axis

NUMBER_CHARS = 5  # the widest numeric tick label a matrix axis gets ("1,000" / "575")
MATRIX_MAX_LABELS = 48  # the mechanism pages' matrices sit in narrower columns than the pattern pages'
# Row labels: every row up to ROW_LABELS_ALL rows; past that one every k rows, at least ROW_LABEL_PX apart (12 px
# labels). At 128 tokens a label every 3rd row stood ~11 px apart in a 560 px chart and ran into each other.
ROW_LABELS_ALL, ROW_LABEL_PX = 40, 16
# The y title's distance from its tick labels: Plotly's own put "token" against the longest labels.
Y_TITLE_STANDOFF = 12


def row_axis(labels: Sequence[str] | None, title: str, n_rows: int, height: int, x_axis: dict) -> dict:
    """The y axis of a matrix `height` px high over `x_axis`: every row labelled up to ROW_LABELS_ALL rows, then
    one every k rows, ROW_LABEL_PX apart at least; its title Y_TITLE_STANDOFF clear of the labels."""
    margin = fitted_margins(x_axis, None)
    plot_px = height - margin["t"] - margin["b"]
    cap = max(n_rows, 1) if n_rows <= ROW_LABELS_ALL else min(MATRIX_MAX_LABELS, max(1, int(plot_px // ROW_LABEL_PX)))
    axis = token_axis(labels, title, max_labels=cap, n=n_rows) | dict(autorange="reversed")
    return axis | dict(title=axis["title"] | dict(standoff=Y_TITLE_STANDOFF))


def fitted_margins(x_axis: dict, y_axis: dict | None) -> dict:
    """Margins that hold the left tick labels and the bottom ones (tokens at −45°, or numbers), computed here:
    automargin measures the labels in the browser and draws every chart a second time (layout.CHAR_PX), and
    Inside one head draws fifteen of these. The left one leaves the y title its standoff from the labels."""
    x_ticks, y_ticks = x_axis.get("ticktext"), (y_axis or {}).get("ticktext")
    x_reach = tick_reach(x_ticks, x_axis.get("tickangle", 0)) if x_ticks else LINE_PX
    y_reach = tick_reach(y_ticks, 90) if y_ticks else NUMBER_CHARS * CHAR_PX
    left = AXIS_TITLE_PX + y_reach + Y_TITLE_STANDOFF
    return dict(l=int(left), r=10, t=50, b=int(AXIS_TITLE_PX + x_reach + 10))
