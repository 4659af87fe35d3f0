"""The masking page's extra figures for what some models add: a sliding window drawn as its own mask
beside the causal one, soft-capped scores beside the scores before the cap (Gemma 2), and a relative
position bias beside the q·k it is added to (T5)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence

import numpy as np
import plotly.graph_objects as go

from viz.figures.heatmaps import Cells, _cell_hover, _cells_of, panel_axes
from viz.figures.layout import (
    DIVERGING_SCALE,
    MASKED_GREY,
    MINUS_INF,
    Orientation,
    oriented,
)
from viz.figures.panels import panel_row

ALLOWED, BLOCKED = "#2b6cb0", "#f2f2f2"  # a key the query may see / may not


def window_masks(
    causal: np.ndarray | None,
    window: np.ndarray,
    used: np.ndarray,
    window_size: int,
    labels: Sequence[str],
    orient: Orientation = "rows",
    cells: Cells | None = None,
) -> go.Figure:
    """The causal mask, the sliding window and the mask the softmax used (both together), side by side."""
    win = _cells_of(labels, cells)
    panels = [] if causal is None else [("causal: key ≤ query", causal)]
    used_title = "used: both" if causal is not None else "used: the window"
    panels += [(f"window: |query − key| < {window_size}", window), (used_title, used)]
    small = max(win.shape) <= 40
    drawn = []
    for col, (title, mask) in enumerate(panels, start=1):
        win.check(mask)

        def hover(i: int, j: int, mask: np.ndarray = mask, title: str = title) -> str:
            return f"{win.where(i, j)}<br>{title.split(':')[0]}: {'allowed' if mask[i, j] else 'masked'}"

        xs, ys = win.positions(orient)
        trace = go.Heatmap(
            z=oriented(mask.astype(float), orient), x=xs, y=ys, text=_cell_hover(win, hover, orient),
            hovertemplate="%{text}<extra></extra>", zmin=0.0, zmax=1.0, showscale=False,
            colorscale=[[0.0, BLOCKED], [1.0, ALLOWED]], xgap=1 if small else 0, ygap=1 if small else 0,
        )  # fmt: skip
        drawn.append((trace, *panel_axes(col, win, orient)))
    n = max(win.shape)
    layout = dict(height=max(360, min(640, 200 + 14 * n)), margin=dict(l=10, r=10, t=40, b=10))
    return panel_row(drawn, titles=[t for t, _ in panels], spacing=0.05, layout=layout)


def softcap_scores(
    uncapped: np.ndarray,
    capped: np.ndarray,
    mask: np.ndarray,
    cap: float,
    labels: Sequence[str],
    orient: Orientation = "rows",
    cells: Cells | None = None,
) -> go.Figure:
    """Scores before and after cap·tanh(s/cap), on one colour scale; masked cells grey (−∞ after the mask)."""
    titles = ["before the cap: q·k × scale", f"after the cap: {cap:g}·tanh(s / {cap:g})"]

    def line(i: int, j: int) -> str:
        return f"before the cap {uncapped[i, j]:.4g}<br>after the cap {capped[i, j]:.4g}"

    return _side_by_side(titles, [uncapped, capped], mask, line, labels, orient, cells)


def bias_scores(
    qk: np.ndarray,
    bias: np.ndarray,
    scores: np.ndarray,
    mask: np.ndarray,
    labels: Sequence[str],
    orient: Orientation = "rows",
    cells: Cells | None = None,
    bias_name: str = "position bias",
) -> go.Figure:
    """T5: q·k (× scale), the relative position bias, and their sum (what the mask and softmax read), side by
    side on one colour scale, so the two terms' sizes compare; masked cells grey (−∞ after the mask). DeBERTa:
    its position terms (`bias_name`) in the bias's place."""
    added = "relative position bias" if bias_name == "position bias" else bias_name
    titles = ["q·k × scale", f"+ {added}", "= scores (softmax input)"]

    def line(i: int, j: int) -> str:
        return f"q·k × scale {qk[i, j]:.4g}<br>{bias_name} {bias[i, j]:+.4g}<br>sum {scores[i, j]:.4g}"

    return _side_by_side(titles, [qk, bias, scores], mask, line, labels, orient, cells)


def _wrapped(title: str, width: int = 15) -> str:
    """`title` broken at its spaces into lines of at most `width` characters (a longer word stays whole): side by
    side, three panels share ~560 px of a 1024 px window and ~300 px of a phone's, and one-line titles ran together."""
    return "<br>".join(textwrap.wrap(title, width, break_long_words=False, break_on_hyphens=False))


def _side_by_side(
    titles: list[str],
    matrices: list[np.ndarray],
    mask: np.ndarray,
    line: Callable[[int, int], str],
    labels: Sequence[str],
    orient: Orientation,
    cells: Cells | None,
) -> go.Figure:
    """Score panels on one diverging colour scale; `line(i, j)` is each cell's hover text (every panel's)."""
    win = _cells_of(labels, cells)
    for matrix in matrices:
        win.check(matrix)
    allowed = np.concatenate([m[mask] for m in matrices])
    bound = float(np.max(np.abs(allowed))) if allowed.size else 1.0
    wrapped = [_wrapped(t) for t in titles]
    small = max(win.shape) <= 40

    def hover(i: int, j: int) -> str:
        text = f"{win.where(i, j)}<br>{line(i, j)}"
        return text if mask[i, j] else text + f"<br>masked: {MINUS_INF} in the softmax"

    drawn = []
    for col, matrix in enumerate(matrices, start=1):
        xs, ys = win.positions(orient)
        trace = go.Heatmap(
            z=oriented(np.where(mask, matrix, np.nan), orient), x=xs, y=ys,
            text=_cell_hover(win, hover, orient), hovertemplate="%{text}<extra></extra>", coloraxis="coloraxis",
            xgap=1 if small else 0, ygap=1 if small else 0, hoverongaps=False,
        )  # fmt: skip
        drawn.append((trace, *panel_axes(col, win, orient)))
    layout = dict(
        coloraxis=dict(colorscale=DIVERGING_SCALE, cmin=-bound, cmax=bound, colorbar=dict(title=dict(text="score"))),
        height=max(380, min(700, 200 + 16 * max(win.shape))), margin=dict(l=10, r=10, t=56, b=10),  # 2-line titles
        plot_bgcolor=MASKED_GREY,
    )  # fmt: skip
    # The subplot titles at 12 px: three fit side by side on a phone.
    return panel_row(drawn, titles=wrapped, spacing=0.06, layout=layout, title_font=dict(size=12))
