"""The one shared heatmap layout: colours, orientation, token axes with thinned ticks, margins sized
from the labels, and the Plotly config / click helpers every page's figures use.

Conventions shared by every builder:
* inputs are [n_q, n_k] (rows = queries) as the engine returns them; `orient` only decides how they
  are drawn: "rows" puts queries on the y axis (BertViz, PyTorch), "cols" puts queries on the x
  axis (3Blue1Brown's drawing, where each column is a query and sums to 1);
* axes use integer positions with tickvals/ticktext, because categorical axes would merge the two
  "the" tokens of a sentence into one row;
* labels arrive already escaped for Plotly (viz.labels.plotly_tokens).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import plotly.graph_objects as go

Orientation = Literal["rows", "cols"]
ORIENTATIONS: tuple[Orientation, ...] = ("rows", "cols")

WEIGHT_SCALE = "Blues"
DIVERGING_SCALE = "RdBu_r"  # red = positive, blue = negative, white = 0
MASKED_GREY = "#c8c8c8"  # background that shows through NaN (masked) cells: not a colour on any scale
SELECTED_RED = "#d62728"  # frames and labels of the selected head, token or band
TRANSPARENT = "rgba(0,0,0,0)"
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"]
MINUS_INF = "−∞"
# The axes of a heatmap with gaps between its cells: Plotly draws grid and zero lines under the cells, so they
# would show through the gaps as rows of dots (tests/viz/test_figures.py).
CELL_AXIS = dict(showgrid=False, zeroline=False)

# Plotly's automargin measures tick labels in the browser and then draws the figure again: measured in
# Chromium, it makes a 32-token heatmap take 135 ms to draw instead of 57, and the overview 300 ms instead
# of ~70. The main views size their margins from the label lengths instead (12 px labels; a little slack).
CHAR_PX, LINE_PX, AXIS_TITLE_PX = 7.5, 15.0, 26.0
COLOUR_BAR_PX = 72  # a heatmap's colour bar with its tick labels (0.8) and a short title


def orientation_caption(orient: Orientation, sinks: bool = False) -> str:
    """Which way the pattern is drawn and which direction sums to 1 (less the share a head's attention sink takes,
    where the model has sinks: GPT-OSS)."""
    to_one = "sums to 1 less its head's attention-sink share" if sinks else "sums to 1"
    if orient == "rows":
        return (
            "Rows are queries (the token that is looking), columns are keys (the tokens it looks at). "
            f"Each row {to_one}. This is BertViz's and PyTorch's layout."
        )
    return (
        "Columns are queries (the token that is looking), rows are keys (the tokens it looks at). "
        f"Each column {to_one}. This is the layout of 3Blue1Brown's drawing."
    )


def oriented(matrix: np.ndarray, orient: Orientation) -> np.ndarray:
    """[n_q, n_k] → the drawn [y, x] array."""
    return matrix if orient == "rows" else matrix.T


def axis_titles(orient: Orientation) -> tuple[str, str]:
    """(x title, y title)."""
    return ("key", "query") if orient == "rows" else ("query", "key")


# How many x labels a token × token matrix writes, so that they stay apart at 1024 px: a large heatmap's plot is
# ~350 px wide there beside its colour bar, and its −45° labels need ~12 px each (0.7 of a 12 px font across their
# writing direction); a side-by-side panel (~150 px) turns them −60° and needs ~10 px. With 64, texts of 40 to 250
# words ran their labels together on the patterns and masking pages.
MATRIX_X_LABELS = 24
PANEL_X_LABELS = 12
# A short text's panels name every key, though: with every other key named, a 13-token text's columns could not be
# told apart. In a 10 px font (PANEL_SMALL_FONT) 16 keys fit a panel ~150 px wide (measured in Chromium at 1280 px,
# and at the 760 px the panels keep below 1200 px, app.py); 22 already ran together there, so past 16 they thin.
PANEL_ALL_LABELS = 16
PANEL_SMALL_FONT = 10


def panel_x_labels(n: int) -> int:
    """How many x labels a side-by-side panel of n tokens writes: all of them up to PANEL_ALL_LABELS, else
    PANEL_X_LABELS."""
    return n if n <= PANEL_ALL_LABELS else PANEL_X_LABELS


def panel_x_font(n: int) -> dict:
    """The x tick font of a side-by-side panel of n tokens: smaller where it names more than PANEL_X_LABELS."""
    return dict(tickfont=dict(size=PANEL_SMALL_FONT)) if PANEL_X_LABELS < n <= PANEL_ALL_LABELS else {}


def tick_step(n: int, max_labels: int = 64) -> int:
    """Label every k-th of n ticks: past ~64 labels the ticks overlap into a black bar."""
    return max(1, math.ceil(n / max_labels))


def token_axis(
    labels: Sequence[str] | None, title: str, start: int = 0, max_labels: int = 64, n: int | None = None
) -> dict:
    """An axis of positions start..start+n-1, labelled with (every k-th) token; `labels=None` draws the
    positions without tick labels (then `n` gives their count)."""
    count = len(labels) if labels is not None else int(n or 0)
    axis: dict = dict(title=dict(text=title))
    if labels is not None:
        idx = list(range(0, count, tick_step(count, max_labels)))
        axis.update(tickmode="array", tickvals=[start + i for i in idx], ticktext=[labels[i] for i in idx])
    return axis | dict(
        range=[start - 0.5, start + count - 0.5],
        showgrid=False,
        zeroline=False,
        automargin=True,  # long token labels must push the plot in, not be clipped
    )


def labels_fitting(plot_px: float, angle_deg: float) -> int:
    """How many tick labels turned `angle_deg` from the horizontal fit side by side along `plot_px` without touching:
    a line of text (LINE_PX) needs LINE_PX / sin(angle) of axis."""
    return int(plot_px * math.sin(math.radians(abs(angle_deg))) // LINE_PX)


def tick_reach(ticktext: Sequence[str], angle_deg: float) -> float:
    """How far (px) tick labels reach away from their axis: an x axis's labels at `angle_deg` from the
    horizontal, or a y axis's horizontal labels (angle 90 from the axis)."""
    longest = max((len(html.unescape(str(t))) for t in ticktext), default=0) * CHAR_PX
    a = math.radians(abs(angle_deg))
    return longest * math.sin(a) + LINE_PX * math.cos(a)


def token_margins(x_ticks: Sequence[str], y_ticks: Sequence[str], x_angle: float, title: bool) -> dict:
    """The top and left margins (px) that hold x labels on top, turned `x_angle`, and y labels on the left."""
    top = (30 if title else 0) + AXIS_TITLE_PX + tick_reach(x_ticks, x_angle) + 10
    left = AXIS_TITLE_PX + tick_reach(y_ticks, 90) + 12
    return dict(t=int(top), l=int(left))


def width_for_labels(fig: go.Figure, label_px: float) -> int:
    """The width (px) at which a token × token heatmap's x labels stand `label_px` apart, or its cells are square
    where that is narrower: its margins, its colour bar (its title's longest line, or the bar and its tick labels)
    and the plot. Measured in Chromium: a "weight" bar takes 72 px, the three-line "darkest" title's 128 px."""
    margin, heatmap = fig.layout.margin, fig.data[0]
    n_keys = np.shape(heatmap.z)[1]
    n_labels = len(fig.layout.xaxis.tickvals or ()) or n_keys  # every k-th key is labelled past 64
    title = heatmap.colorbar.title.text or ""
    bar = max(COLOUR_BAR_PX, max(len(line) for line in title.split("<br>")) * CHAR_PX + 8)
    plot = min(n_labels * label_px, fig.layout.height - margin.t - margin.b)
    return int(margin.l + margin.r + bar + plot)


def tokens_along_top(fig: go.Figure) -> bool:
    """Whether a figure is a heatmap labelled with tokens along its top (token_matrix_frame's, the lens grid's): on
    a phone such a chart is drawn in ui.widgets.show_token_heatmap's box."""
    axis = fig.layout.xaxis
    return bool(fig.data) and fig.data[0].type == "heatmap" and axis.side == "top" and bool(axis.ticktext)


def matrix_height(n: int) -> int:
    """Height (px) of a token × token heatmap with n rows or columns at most."""
    return int(max(460, min(900, 260 + 24 * n)))


def token_matrix_frame(
    x_axis: dict,
    y_axis: dict,
    height: int,
    title: str | None = None,
    plot_bgcolor: str = "white",
    meta: dict | None = None,
    shapes: Sequence[dict] | None = None,
) -> dict:
    """The layout of every query × key heatmap of the pattern pages: x labels on top at −45°, queries read
    downwards, margins fitted to the labels. `title=None` leaves the figure untitled; `shapes` (red frames) are drawn
    over the cells. Given to go.Figure with the traces, in one call: Plotly's update_layout on a built figure took
    ~17 ms of the main heatmap's ~23 ms (18 tokens), the constructor given the same layout ~4 ms."""
    fitted = token_margins(x_axis.get("ticktext") or (), y_axis.get("ticktext") or (), -45, bool(title))
    layout = dict(
        xaxis=x_axis | dict(side="top", tickangle=-45, automargin=False),
        yaxis=y_axis | dict(autorange="reversed", automargin=False),
        height=height,
        margin=fitted | dict(r=10, b=10),
        plot_bgcolor=plot_bgcolor,
    )
    if title is not None:
        layout["title"] = dict(text=title)
    if meta is not None:
        layout["meta"] = meta
    if shapes is not None:
        layout["shapes"] = list(shapes)
    return layout


def weight_colouring(pattern: np.ndarray, small: bool) -> dict:
    """Heatmap colouring of attention weights: 0 to the largest weight, a "weight" colour bar, and thin
    gaps between cells when there are few enough of them to see. The scale tops out at the largest weight
    shown, so when that is below 1 the colour bar says so (an unmasked head's darkest cell may be 0.45)."""
    top = float(max(np.nanmax(pattern), 1e-9))
    title = "weight" if top >= 0.995 else f"weight<br>(darkest = {top:.2g},<br>the largest here)"
    return dict(
        colorscale=WEIGHT_SCALE,
        zmin=0.0,
        zmax=top,
        colorbar=dict(title=dict(text=title)),
        xgap=1 if small else 0,
        ygap=1 if small else 0,
    )


# An axis whose tick labels and title push the plot in instead of being clipped (long token labels, log-axis units).
PUSHES_MARGINS = dict(automargin=True)


def merged(base: dict, extra: dict) -> dict:
    """`base` with `extra` merged in, a nested dict key by key, as Plotly's update methods merge."""
    out = dict(base)
    for key, value in extra.items():
        old = out.get(key)
        out[key] = merged(old, value) if isinstance(value, dict) and isinstance(old, dict) else value
    return out


def pushing_margins(traces: Sequence[go.BaseTraceType], layout: dict) -> go.Figure:
    """`traces` in `layout`, its x and y axes PUSHES_MARGINS (tick labels and titles never cut), made in one
    go.Figure call (update_layout and update_xaxes on a built figure cost more than the whole figure built at once)."""
    axes = {axis: layout.get(axis, {}) | PUSHES_MARGINS for axis in ("xaxis", "yaxis")}
    return go.Figure(data=list(traces), layout=layout | axes)


def one_two_five(lo: float, hi: float) -> list[float]:
    """1, 2 and 5 of each decade from `lo` to `hi` (both > 0), the ticks of a log axis."""
    ticks, decade = [], 10.0 ** math.floor(math.log10(lo))
    while decade <= hi:
        ticks += [t for t in (round(m * decade, 12) for m in (1, 2, 5)) if lo <= t <= hi]
        decade *= 10
    return ticks


LOG_AXIS_MAX_TICKS = 8  # past this many 1-2-5 ticks, a log axis labels its decades only (a phone's chart)


def log_axis(values: Sequence[float], label: Callable[[float], str] = "{:,g}".format) -> dict:
    """A log axis over `values` (all > 0) whose every tick is labelled whole: Plotly's own log ticks write the
    minor ones bare ("2", "5", or 2…9 between decades), so 0.2 s read as 2 s and 2,000 tokens as 2. Ticks are 1, 2,
    5 of each decade, from the last at or below the smallest value to the first at or above the largest; over
    many decades, the decades alone. `label` writes a tick (bytes: si_bytes)."""
    lo, hi = float(min(values)), float(max(values))
    wide = one_two_five(10.0 ** math.floor(math.log10(lo)), 10.0 ** (math.floor(math.log10(hi)) + 1))
    ticks = [t for t in wide if t >= max(x for x in wide if x <= lo) and t <= min(x for x in wide if x >= hi)]
    if len(ticks) > LOG_AXIS_MAX_TICKS:
        ticks = [t for t in wide if math.log10(t).is_integer() and lo / 10 < t < hi * 10]
    return dict(type="log", tickmode="array", tickvals=ticks, ticktext=[label(t) for t in ticks])


def si_bytes(n: float) -> str:
    """A byte count as a tick writes it: 2e5 → "200 kB", 1e9 → "1 GB" (SI units; Plotly's own "B" suffix after an
    exponent format read 1e9 as "1B", a billion)."""
    units = ("B", "kB", "MB", "GB", "TB", "PB")
    power = min(max(int(math.floor(math.log10(n) / 3)), 0), len(units) - 1) if n > 0 else 0
    return f"{n / 1000**power:,g} {units[power]}"


# A chart whose click selects a head (thumbnails, layer × head grids) counts no double clicks. Plotly calls a second
# mousedown within `doubleClickDelay` of the first (500 ms in Streamlit's Plotly) a double click, and a double click
# on such a chart clears the selection instead of selecting the clicked point: a reader who clicked two heads in
# quick succession kept the first (issue 19, defect 11). With 0 every click is a single click. (A click's other way
# to miss, Plotly's late hover, is mended in the page by ui/plotly_clicks.py.)
CLICK_SELECT = {"doubleClickDelay": 0}


def red_frame(x0: float, x1: float, y0: float, y1: float, width: int = 2) -> dict:
    """A selected thing's red frame in data coordinates (a picked cell, head, window or band): a Plotly shape."""
    return dict(type="rect", x0=x0, x1=x1, y0=y0, y1=y1, line=dict(color=SELECTED_RED, width=width))


def click_select_config(config: dict | None = None) -> dict:
    """Plotly config for a chart whose clicks select: `config` (default: no Plotly logo) without double clicks."""
    return {"displaylogo": False, **(config or {}), **CLICK_SELECT}


def image_config(filename: str, fmt: Literal["png", "svg"] = "png") -> dict:
    """Plotly config whose camera button saves the figure in the browser (no kaleido/Chrome on the server)."""
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": fmt, "filename": filename, "scale": 2 if fmt == "png" else 1},
    }


def selected_point(selection: object) -> tuple[int, int] | None:
    """(layer, head) from a Streamlit plotly selection of one of our click targets, else None.

    Streamlit hands customdata back as a list or as a {"0": .., "1": ..} dict depending on version.
    """
    points = _get(selection, "points") or []
    for point in points:
        custom = _get(point, "customdata")
        if custom is None:
            continue
        if isinstance(custom, dict):
            custom = [custom.get("0"), custom.get("1")]
        try:
            return int(custom[0]), int(custom[1])
        except (TypeError, ValueError, IndexError):
            continue
    return None


def _get(obj: object, key: str) -> object:
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def no_heads(values: np.ndarray) -> list[dict]:
    """The notes "no heads" across each all-NaN row of a [layers, heads] heatmap (a hybrid's layer without
    attention), for the layout's annotations."""
    rows = np.flatnonzero(np.isnan(np.asarray(values, dtype=np.float64)).all(axis=1))
    return [dict(x=(values.shape[1] - 1) / 2, y=int(layer), text="no heads", showarrow=False,
                 font=dict(color="#888888", size=11)) for layer in rows]  # fmt: skip


def notes_and_shapes(annotations: Sequence[dict], shapes: Sequence[dict]) -> dict:
    """A layout's annotations and shapes, each key only where there are some (as a figure without them has)."""
    return ({"annotations": list(annotations)} if annotations else {}) | ({"shapes": list(shapes)} if shapes else {})


def hline(y: float, line: dict) -> dict:
    """A line across the whole plot at data height y (the shape fig.add_hline adds), for the layout's shapes."""
    return dict(type="line", xref="x domain", x0=0, x1=1, yref="y", y0=y, y1=y, line=line)


def vline(x: float, line: dict) -> dict:
    """A line up the whole plot at data position x (the shape fig.add_vline adds), for the layout's shapes."""
    return dict(type="line", yref="y domain", y0=0, y1=1, xref="x", x0=x, x1=x, line=line)


PAIR_SPLIT_COLOUR = "#ff7f0e"  # between a text pair's two texts: orange, apart from the blues and a selection's red


def pair_split_lines(
    second_text_at: int | None,
    x_positions: Sequence[int] | None,
    y_positions: Sequence[int] | None,
    by_index: bool = False,
    suffix: str = "",
) -> list[dict]:
    """Dashed orange lines between a text pair's two texts, for a layout's shapes: on each token axis where the
    second text (from position `second_text_at`; None: one text) starts among the drawn tokens.

    `x_positions`/`y_positions`: the token position of each drawn column/row, ascending (None: not a token axis).
    The cells sit at those positions (heatmaps.Cells) or, `by_index`, at 0, 1, 2, … (mechanism.matrix_heatmap,
    whose windows may jump: the line then goes after the last drawn token of the first text). `suffix`: the axes
    of a panel in a row of them ("2": x2 and y2).
    """
    line = dict(color=PAIR_SPLIT_COLOUR, width=1.5, dash="dash")
    shapes = []
    for axis, other, positions in (("x", "y", x_positions), ("y", "x", y_positions)):
        if second_text_at is None or positions is None:
            continue
        drawn = np.asarray(positions)
        first = int(np.searchsorted(drawn, second_text_at))  # the first drawn token of the second text
        if 0 < first < drawn.size:  # tokens of both texts drawn on this axis
            at = first - 0.5 if by_index else (float(drawn[first - 1]) + float(drawn[first])) / 2
            along = {f"{axis}ref": f"{axis}{suffix}", f"{axis}0": at, f"{axis}1": at}
            across = {f"{other}ref": f"{other}{suffix} domain", f"{other}0": 0, f"{other}1": 1}  # the whole plot
            shapes.append({"type": "line", "line": line, **along, **across})
    return shapes
