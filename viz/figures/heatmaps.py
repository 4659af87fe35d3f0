"""One head at full resolution: its pattern, its scores with the mask drawn, and softmax with and without
the causal mask side by side; each for the whole text or a window of it (`Cells`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from viz.figures.layout import (
    DIVERGING_SCALE,
    MASKED_GREY,
    MATRIX_X_LABELS,
    MINUS_INF,
    WEIGHT_SCALE,
    Orientation,
    axis_titles,
    matrix_height,
    oriented,
    pair_split_lines,
    panel_x_font,
    panel_x_labels,
    token_axis,
    token_matrix_frame,
    weight_colouring,
)
from viz.figures.panels import panel_row


@dataclass(frozen=True)
class Cells:
    """Which (query, key) cells a matrix holds: the whole text, or a window of it.

    `rows`/`cols` are the token labels of the window's queries/keys; positions start at
    `row_start`/`col_start`, so hover and ticks give the tokens' true positions in the text.
    """

    rows: Sequence[str]
    cols: Sequence[str]
    row_start: int = 0
    col_start: int = 0

    @classmethod
    def square(cls, labels: Sequence[str]) -> Cells:
        return cls(labels, labels)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.rows), len(self.cols)

    def axes(self, orient: Orientation, max_x: int = MATRIX_X_LABELS) -> tuple[dict, dict]:
        """(x axis, y axis) layouts for this window in the given orientation; at most `max_x` x labels."""
        x_title, y_title = axis_titles(orient)
        q_axis = (self.rows, y_title if orient == "rows" else x_title, self.row_start)
        k_axis = (self.cols, x_title if orient == "rows" else y_title, self.col_start)
        x, y = (k_axis, q_axis) if orient == "rows" else (q_axis, k_axis)
        return token_axis(*x, max_labels=max_x), token_axis(*y)

    def positions(self, orient: Orientation) -> tuple[list[int], list[int]]:
        """(x, y) coordinates of the drawn columns and rows."""
        q = list(range(self.row_start, self.row_start + len(self.rows)))
        k = list(range(self.col_start, self.col_start + len(self.cols)))
        return (k, q) if orient == "rows" else (q, k)

    def check(self, matrix: np.ndarray) -> None:
        if matrix.shape != self.shape:
            raise ValueError(f"expected a {list(self.shape)} matrix for these labels, got {list(matrix.shape)}")

    def where(self, i: int, j: int) -> str:
        """Hover lines naming cell (i, j): its query and key with their positions in the text."""
        return f"query {self.row_start + i}: {self.rows[i]}<br>key {self.col_start + j}: {self.cols[j]}"


def _cells_of(labels: Sequence[str], cells: Cells | None) -> Cells:
    return Cells.square(labels) if cells is None else cells


def _cell_hover(cells: Cells, line: Callable[[int, int], str], orient: Orientation) -> list[list[str]]:
    """Hover strings built in query/key space ([n_q][n_k]), then laid out as drawn."""
    n_rows, n_cols = cells.shape
    text = [[line(i, j) for j in range(n_cols)] for i in range(n_rows)]
    return text if orient == "rows" else [list(r) for r in zip(*text, strict=True)]


def head_heatmap(
    pattern: np.ndarray,
    scores: np.ndarray,
    mask: np.ndarray,
    labels: Sequence[str],
    orient: Orientation = "rows",
    title: str = "",
    cells: Cells | None = None,
    row_share: np.ndarray | None = None,
    meta: dict | None = None,
    score_label: str = "score",
    marks: tuple[Sequence[dict], Sequence[go.BaseTraceType]] = ((), ()),
    second_text_at: int | None = None,
) -> go.Figure:
    """One head's attention pattern as a large heatmap; hover: query, key, weight and score before the softmax.

    `cells` draws a window of a long text (rows/cols labels and start positions); `row_share` (the part
    of each query's weight that falls inside the window) is added to the hover then. `score_label` names the
    score (viz.views.score_terms: not every model's is q·k/√d_head; the default names none). `marks`: shapes and
    traces drawn over the cells (the head finder's frame and dots), in the same go.Figure call. `second_text_at`: a
    text pair's second text's first position, drawn as a line across both axes (attention within each text, and
    from one to the other, fall in its four blocks), where it falls among the drawn tokens.
    """
    win = _cells_of(labels, cells)
    win.check(pattern)

    def hover(i: int, j: int) -> str:
        score = f"{scores[i, j]:.4g}"
        if not mask[i, j]:
            score += f" (masked: {MINUS_INF} in the softmax)"
        line = f"{win.where(i, j)}<br>weight {pattern[i, j]:.4g}<br>{score_label} {score}"
        if row_share is not None:
            line += f"<br>this query's weight inside the window: {row_share[i]:.3g}"
        return line

    x_axis, y_axis = win.axes(orient)
    xs, ys = win.positions(orient)
    heatmap = go.Heatmap(
        z=oriented(pattern, orient),
        x=xs,
        y=ys,
        text=_cell_hover(win, hover, orient),
        hovertemplate="%{text}<extra></extra>",
        **weight_colouring(pattern, max(win.shape) <= 40),
    )
    shapes, traces = marks
    shapes = [*shapes, *pair_split_lines(second_text_at, xs, ys)]
    frame = token_matrix_frame(x_axis, y_axis, matrix_height(max(win.shape)), title, meta=meta, shapes=shapes or None)
    return go.Figure(data=[heatmap, *traces], layout=frame)


def scores_heatmap(
    scores: np.ndarray,
    mask: np.ndarray,
    labels: Sequence[str],
    orient: Orientation = "rows",
    title: str = "",
    cells: Cells | None = None,
    score_label: str = "score",
    second_text_at: int | None = None,
) -> go.Figure:
    """Scores before the softmax (named by `score_label`, as in head_heatmap); masked cells are blank grey,
    labelled −∞, not coloured as a value. `second_text_at`: a text pair's split, as in head_heatmap."""
    win = _cells_of(labels, cells)
    win.check(scores)
    shown = np.where(mask, scores, np.nan)  # NaN → no colour: the grey plot background shows through

    def hover(i: int, j: int) -> str:
        if mask[i, j]:
            return f"{win.where(i, j)}<br>{score_label} {scores[i, j]:.4g}"
        return f"{win.where(i, j)}<br>{MINUS_INF} (masked)<br>before the mask: {score_label} {scores[i, j]:.4g}"

    text = _cell_hover(win, hover, "rows")
    finite = scores[mask]
    bound = float(np.max(np.abs(finite))) if finite.size else 1.0
    x_axis, y_axis = win.axes(orient)
    xs, ys = win.positions(orient)
    small = max(win.shape) <= 40
    traces: list[go.BaseTraceType] = [
        go.Heatmap(
            z=oriented(shown, orient),
            x=xs,
            y=ys,
            text=text if orient == "rows" else [list(r) for r in zip(*text, strict=True)],
            hovertemplate="%{text}<extra></extra>",
            colorscale=DIVERGING_SCALE,
            zmin=-bound,
            zmax=bound,
            zmid=0.0,
            colorbar=dict(title=dict(text="score")),
            xgap=1 if small else 0,
            ygap=1 if small else 0,
            hoverongaps=not small,  # a big window's masked cells hover here: no overlay (below)
        )
    ]
    if (~mask).any() and small:
        # A few cells: write −∞ in each. A long text's window (128 × 128 by default) would get ~8,000 SVG markers,
        # too small to read and slow to draw; the grey cells and their hover say −∞ there.
        traces.append(_masked_cells(mask, text, win, orient))
    split = pair_split_lines(second_text_at, xs, ys) or None
    frame = token_matrix_frame(x_axis, y_axis, matrix_height(max(win.shape)), title, plot_bgcolor=MASKED_GREY,
                               shapes=split)  # fmt: skip
    return go.Figure(data=traces, layout=frame)


def _masked_cells(mask: np.ndarray, text: list[list[str]], win: Cells, orient: Orientation) -> go.Scatter:
    """−∞ written in each masked cell of a small window, with the cell's hover text (the heatmap itself does not
    hover on its NaN gaps there)."""
    qi, kj = np.nonzero(~mask)
    r0, c0 = win.row_start, win.col_start
    xs, ys = (kj + c0, qi + r0) if orient == "rows" else (qi + r0, kj + c0)
    return go.Scatter(
        x=xs,
        y=ys,
        mode="text" if max(win.shape) <= 32 else "markers",
        text=[MINUS_INF] * qi.size,
        textfont=dict(color="#555555", size=11),
        marker=dict(symbol="line-ne", size=6, line=dict(color="#777777", width=1)),
        hovertext=[text[i][j] for i, j in zip(qi, kj, strict=True)],
        hovertemplate="%{hovertext}<extra></extra>",
        showlegend=False,
        name="masked",
    )


def mask_comparison(
    masked: np.ndarray,
    unmasked: np.ndarray,
    labels: Sequence[str],
    orient: Orientation = "rows",
    cells: Cells | None = None,
    second_text_at: int | None = None,
) -> go.Figure:
    """Softmax of the same scores with and without the causal mask, and their difference; a text pair's split
    (`second_text_at`, as in head_heatmap) on each panel."""
    win = _cells_of(labels, cells)
    win.check(masked)
    win.check(unmasked)
    n = max(win.shape)
    diff = masked - unmasked
    top = float(max(np.max(masked), np.max(unmasked), 1e-9))
    # All zero (one token, or a query the mask leaves alone): a ±1e-9 scale would read "1n" on its colour bar.
    bound = float(np.max(np.abs(diff)))
    bound = bound if bound > 1e-6 else 1.0
    panels = [(masked, "coloraxis", "weight"), (unmasked, "coloraxis", "weight"), (diff, "coloraxis2", "difference")]
    layout = dict(
        # Two colour bars side by side, spaced so the first one's tick labels are not hidden by the second.
        coloraxis=dict(
            colorscale=WEIGHT_SCALE,
            cmin=0.0,
            cmax=top,
            colorbar=dict(title=dict(text="weight", side="right"), x=1.01, len=0.9, thickness=12),
        ),
        coloraxis2=dict(
            colorscale=DIVERGING_SCALE,
            cmin=-bound,
            cmax=bound,
            colorbar=dict(title=dict(text="with − without", side="right"), x=1.17, len=0.9, thickness=12),
        ),
        height=max(380, min(700, 200 + 16 * n)),
        margin=dict(l=10, r=120, t=40, b=10),
        plot_bgcolor="white",
    )
    xs, ys = win.positions(orient)
    if split := [line for suffix in ("", "2", "3") for line in pair_split_lines(second_text_at, xs, ys, suffix=suffix)]:
        layout["shapes"] = split
    return panel_row(
        [_comparison_panel(col, matrix, colour_axis, what, win, orient) for col, (matrix, colour_axis, what) in
         enumerate(panels, start=1)],
        # Short titles: at 1024 px the three panels are ~180 px wide, and longer ones ran into each other.
        titles=["with causal mask", "without mask", "with − without"],
        spacing=0.07,
        layout=layout,
    )  # fmt: skip


def _comparison_panel(
    col: int, matrix: np.ndarray, colour_axis: str, what: str, win: Cells, orient: Orientation
) -> tuple[go.Heatmap, dict, dict]:
    """Panel `col` of the mask comparison (its trace, x axis and y axis): `matrix` on `colour_axis`."""
    n = max(win.shape)
    xs, ys = win.positions(orient)
    trace = go.Heatmap(
        z=oriented(matrix, orient),
        x=xs,
        y=ys,
        text=_cell_hover(win, lambda i, j: f"{win.where(i, j)}<br>{what} {matrix[i, j]:.4g}", orient),
        hovertemplate="%{text}<extra></extra>",
        coloraxis=colour_axis,
        xgap=1 if n <= 24 else 0,
        ygap=1 if n <= 24 else 0,
    )
    return trace, *panel_axes(col, win, orient)


def panel_axes(col: int, win: Cells, orient: Orientation) -> tuple[dict, dict]:
    """(x axis, y axis) of panel `col` of a row of `win`'s matrices side by side: only the first labels its rows."""
    n = max(win.shape)
    x_axis, y_axis = win.axes(orient, max_x=panel_x_labels(n))
    y_axis = dict(y_axis) | dict(autorange="reversed")
    if col > 1:
        y_axis.update(showticklabels=False, ticks="", title=dict(text=""))
    return dict(x_axis) | dict(tickangle=-60) | panel_x_font(n), y_axis
