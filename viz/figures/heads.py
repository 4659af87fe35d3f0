"""The head finder's matrix: the best head's pattern around the chosen query, drawn in the sidebar's
orientation (like every query × key matrix), with the query's row (or column) framed and the keys marked."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from viz.figures.heatmaps import Cells, head_heatmap
from viz.figures.layout import SELECTED_RED, Orientation, red_frame
from viz.views.head_focus import FocusView


def focus_heatmap(
    view: FocusView,
    labels: Sequence[str],
    query: int,
    keys: Sequence[int],
    orient: Orientation,
    title: str,
    score_label: str = "score",
) -> go.Figure:
    """`view`'s weights (hover: query, key, weight, the score named `score_label`: viz.views.score_terms) with the
    query framed in red and each chosen key inside the window marked by a red dot in the query's line. `labels`: every
    token's Plotly label (the window picks its own); positions are the tokens' positions in the text."""
    tokens = list(labels[view.start : view.stop])
    cells = Cells(tokens, tokens, view.start, view.start)
    lo, hi = view.start - 0.5, view.stop - 0.5
    band = (query - 0.5, query + 0.5)
    (x0, x1), (y0, y1) = ((lo, hi), band) if orient == "rows" else (band, (lo, hi))
    dots = []
    shown = [k for k in keys if view.start <= k < view.stop]
    if shown:
        along, across = (shown, [query] * len(shown))
        xs, ys = (along, across) if orient == "rows" else (across, along)
        dots.append(
            go.Scatter(
                x=xs,
                y=ys,
                mode="markers",
                marker=dict(size=7, color=SELECTED_RED, symbol="circle-open", line=dict(width=2)),
                hoverinfo="skip",
                showlegend=False,
                name="chosen keys",
            )
        )
    marks = ([red_frame(x0, x1, y0, y1)], dots)
    return head_heatmap(
        view.pattern, view.scores, view.mask, labels, orient, title, cells=cells, score_label=score_label, marks=marks
    )
