"""Pure Plotly figure builders: numpy arrays + labels in, `go.Figure` out. No Streamlit, no torch.

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
from dataclasses import dataclass
from typing import Literal

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

Orientation = Literal["rows", "cols"]
ORIENTATIONS: tuple[Orientation, ...] = ("rows", "cols")

WEIGHT_SCALE = "Blues"
DIVERGING_SCALE = "RdBu_r"  # red = positive, blue = negative, white = 0
MASKED_GREY = "#c8c8c8"  # background that shows through NaN (masked) cells: not a colour on any scale
MINUS_INF = "−∞"
_TRANSPARENT = "rgba(0,0,0,0)"


def orientation_caption(orient: Orientation) -> str:
    """Which way the pattern is drawn and which direction sums to 1."""
    if orient == "rows":
        return (
            "Rows are queries (the token that is looking), columns are keys (the tokens it looks at). "
            "Each row sums to 1. This is BertViz's and PyTorch's layout."
        )
    return (
        "Columns are queries (the token that is looking), rows are keys (the tokens it looks at). "
        "Each column sums to 1. This is the layout of 3Blue1Brown's drawing."
    )


def _orient(matrix: np.ndarray, orient: Orientation) -> np.ndarray:
    """[n_q, n_k] → the drawn [y, x] array."""
    return matrix if orient == "rows" else matrix.T


def _axis_names(orient: Orientation) -> tuple[str, str]:
    """(x title, y title)."""
    return ("key", "query") if orient == "rows" else ("query", "key")


def _tick_step(n: int, max_labels: int = 64) -> int:
    # Past ~64 labels the ticks overlap into a black bar; show every k-th one instead.
    return max(1, math.ceil(n / max_labels))


def _token_axis(labels: Sequence[str], title: str, start: int = 0) -> dict:
    """An axis of token positions start..start+n-1, labelled with (every k-th) token."""
    n = len(labels)
    step = _tick_step(n)
    idx = list(range(0, n, step))
    return dict(
        title=dict(text=title),
        tickmode="array",
        tickvals=[start + i for i in idx],
        ticktext=[labels[i] for i in idx],
        range=[start - 0.5, start + n - 0.5],
        showgrid=False,
        zeroline=False,
        automargin=True,  # long token labels must push the plot in, not be clipped
    )


# Plotly's automargin measures tick labels in the browser and then draws the figure again: measured in
# Chromium, it makes a 32-token heatmap take 135 ms to draw instead of 57, and the overview 300 ms instead
# of ~70. The main views size their margins from the label lengths instead (12 px labels; a little slack).
_CHAR_PX, _LINE_PX, _AXIS_TITLE_PX = 7.5, 15.0, 26.0


def _tick_reach(ticktext: Sequence[str], angle_deg: float) -> float:
    """How far (px) tick labels reach away from their axis: an x axis's labels at `angle_deg` from the
    horizontal, or a y axis's horizontal labels (angle 90 from the axis)."""
    longest = max((len(html.unescape(str(t))) for t in ticktext), default=0) * _CHAR_PX
    a = math.radians(abs(angle_deg))
    return longest * math.sin(a) + _LINE_PX * math.cos(a)


def _fit_token_margins(fig: go.Figure, x_angle: float, title: bool) -> None:
    """Margins that hold the top x labels (rotated by `x_angle`) and left y labels, without automargin."""
    x_ticks = fig.layout.xaxis.ticktext or ()
    y_ticks = fig.layout.yaxis.ticktext or ()
    top = (30 if title else 0) + _AXIS_TITLE_PX + _tick_reach(x_ticks, x_angle) + 10
    left = _AXIS_TITLE_PX + _tick_reach(y_ticks, 90) + 12
    fig.update_layout(margin=dict(t=int(top), l=int(left)), xaxis_automargin=False, yaxis_automargin=False)


def _fmt(x: float) -> str:
    if np.isneginf(x):
        return MINUS_INF
    return f"{x:.4g}"


def _cell_hover(n_rows: int, n_cols: int, line: Callable[[int, int], str]) -> list[list[str]]:
    """[n_q][n_k] hover strings, built in query/key space before any transpose."""
    return [[line(i, j) for j in range(n_cols)] for i in range(n_rows)]


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

    def axes(self, orient: Orientation) -> tuple[dict, dict]:
        """(x axis, y axis) layouts for this window in the given orientation."""
        x_title, y_title = _axis_names(orient)
        q_axis = (self.rows, y_title if orient == "rows" else x_title, self.row_start)
        k_axis = (self.cols, x_title if orient == "rows" else y_title, self.col_start)
        x, y = (k_axis, q_axis) if orient == "rows" else (q_axis, k_axis)
        return _token_axis(*x), _token_axis(*y)

    def positions(self, orient: Orientation) -> tuple[list[int], list[int]]:
        """(x, y) coordinates of the drawn columns and rows."""
        q = list(range(self.row_start, self.row_start + len(self.rows)))
        k = list(range(self.col_start, self.col_start + len(self.cols)))
        return (k, q) if orient == "rows" else (q, k)

    def check(self, matrix: np.ndarray) -> None:
        if matrix.shape != self.shape:
            raise ValueError(f"expected a {list(self.shape)} matrix for these labels, got {list(matrix.shape)}")


def _cells_of(labels: Sequence[str], cells: Cells | None) -> Cells:
    return Cells.square(labels) if cells is None else cells


def _transpose(text: list[list[str]]) -> list[list[str]]:
    return [list(r) for r in zip(*text, strict=True)]


def _weight_cells(pattern: np.ndarray, small: bool) -> dict:
    """Heatmap colouring of attention weights: 0 to the largest weight, a "weight" colour bar, and thin
    gaps between cells when there are few enough of them to see."""
    return dict(
        colorscale=WEIGHT_SCALE,
        zmin=0.0,
        zmax=float(max(np.nanmax(pattern), 1e-9)),
        colorbar=dict(title=dict(text="weight")),
        xgap=1 if small else 0,
        ygap=1 if small else 0,
    )


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
) -> go.Figure:
    """One head's attention pattern as a large heatmap; hover: query, key, weight and raw score.

    `cells` draws a window of a long text (rows/cols labels and start positions); `row_share` (the part
    of each query's weight that falls inside the window) is added to the hover then.
    """
    win = _cells_of(labels, cells)
    win.check(pattern)
    rows, cols, r0, c0 = win.rows, win.cols, win.row_start, win.col_start

    def hover(i: int, j: int) -> str:
        score = f"{scores[i, j]:.4g}"
        if not mask[i, j]:
            score += f" (masked: {MINUS_INF} in the softmax)"
        line = (
            f"query {r0 + i}: {rows[i]}<br>key {c0 + j}: {cols[j]}<br>weight {pattern[i, j]:.4g}<br>raw score {score}"
        )
        if row_share is not None:
            line += f"<br>this query's weight inside the window: {row_share[i]:.3g}"
        return line

    text = _cell_hover(*win.shape, hover)
    z = _orient(pattern, orient)
    text_drawn = text if orient == "rows" else _transpose(text)
    x_axis, y_axis = win.axes(orient)
    xs, ys = win.positions(orient)
    small = max(win.shape) <= 40
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=xs,
            y=ys,
            text=text_drawn,
            hovertemplate="%{text}<extra></extra>",
            **_weight_cells(pattern, small),
        )
    )
    fig.update_layout(
        title=dict(text=title),
        xaxis=x_axis | dict(side="top", tickangle=-45),
        yaxis=y_axis | dict(autorange="reversed"),
        height=_matrix_height(max(win.shape)),
        margin=dict(l=10, r=10, t=110 if title else 90, b=10),
        plot_bgcolor="white",
        meta=meta,
    )
    _fit_token_margins(fig, -45, bool(title))
    return fig


def scores_heatmap(
    scores: np.ndarray,
    mask: np.ndarray,
    labels: Sequence[str],
    orient: Orientation = "rows",
    title: str = "",
    cells: Cells | None = None,
) -> go.Figure:
    """Scaled scores q·k/√d_head; masked cells are blank grey, labelled −∞, not coloured as a value."""
    win = _cells_of(labels, cells)
    win.check(scores)
    rows, cols, r0, c0 = win.rows, win.cols, win.row_start, win.col_start
    shown = np.where(mask, scores, np.nan)  # NaN → no colour: the grey plot background shows through

    def hover(i: int, j: int) -> str:
        head = f"query {r0 + i}: {rows[i]}<br>key {c0 + j}: {cols[j]}<br>"
        if mask[i, j]:
            return head + f"scaled score {scores[i, j]:.4g}"
        return head + f"{MINUS_INF} (masked)<br>score before the mask {scores[i, j]:.4g}"

    text = _cell_hover(*win.shape, hover)
    finite = scores[mask]
    bound = float(np.max(np.abs(finite))) if finite.size else 1.0
    x_axis, y_axis = win.axes(orient)
    xs, ys = win.positions(orient)
    small = max(win.shape) <= 40
    traces: list[go.BaseTraceType] = [
        go.Heatmap(
            z=_orient(shown, orient),
            x=xs,
            y=ys,
            text=text if orient == "rows" else _transpose(text),
            hovertemplate="%{text}<extra></extra>",
            colorscale=DIVERGING_SCALE,
            zmin=-bound,
            zmax=bound,
            zmid=0.0,
            colorbar=dict(title=dict(text="score")),
            xgap=1 if small else 0,
            ygap=1 if small else 0,
            hoverongaps=False,
        )
    ]
    qi, kj = np.nonzero(~mask)
    if qi.size:
        # Heatmaps don't hover on NaN gaps, so a separate layer carries the −∞ labels and hover text.
        xs_m, ys_m = (kj + c0, qi + r0) if orient == "rows" else (qi + r0, kj + c0)
        traces.append(
            go.Scatter(
                x=xs_m,
                y=ys_m,
                mode="text" if max(win.shape) <= 32 else "markers",
                text=[MINUS_INF] * qi.size,
                textfont=dict(color="#555555", size=11),
                marker=dict(symbol="line-ne", size=6, line=dict(color="#777777", width=1)),
                hovertext=[text[i][j] for i, j in zip(qi, kj, strict=True)],
                hovertemplate="%{hovertext}<extra></extra>",
                showlegend=False,
                name="masked",
            )
        )
    fig = go.Figure(traces)
    fig.update_layout(
        title=dict(text=title),
        xaxis=x_axis | dict(side="top", tickangle=-45),
        yaxis=y_axis | dict(autorange="reversed"),
        height=_matrix_height(max(win.shape)),
        margin=dict(l=10, r=10, t=110 if title else 90, b=10),
        plot_bgcolor=MASKED_GREY,
    )
    _fit_token_margins(fig, -45, bool(title))
    return fig


def mask_comparison(
    masked: np.ndarray,
    unmasked: np.ndarray,
    labels: Sequence[str],
    orient: Orientation = "rows",
    cells: Cells | None = None,
) -> go.Figure:
    """Softmax of the same scores with and without the causal mask, and their difference."""
    win = _cells_of(labels, cells)
    win.check(masked)
    win.check(unmasked)
    rows, cols, r0, c0 = win.rows, win.cols, win.row_start, win.col_start
    n = max(win.shape)
    diff = masked - unmasked
    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=["softmax with causal mask", "softmax without mask", "difference (with − without)"],
        horizontal_spacing=0.07,
    )
    top = float(max(np.max(masked), np.max(unmasked), 1e-9))
    bound = float(max(np.max(np.abs(diff)), 1e-9))
    panels = [(masked, "coloraxis", "weight"), (unmasked, "coloraxis", "weight"), (diff, "coloraxis2", "difference")]
    x_axis, y_axis0 = win.axes(orient)
    xs, ys = win.positions(orient)
    for col, (matrix, axis, what) in enumerate(panels, start=1):

        def hover(i: int, j: int, m: np.ndarray = matrix, what: str = what) -> str:
            return f"query {r0 + i}: {rows[i]}<br>key {c0 + j}: {cols[j]}<br>{what} {m[i, j]:.4g}"

        text = _cell_hover(*win.shape, hover)
        fig.add_trace(
            go.Heatmap(
                z=_orient(matrix, orient),
                x=xs,
                y=ys,
                text=text if orient == "rows" else _transpose(text),
                hovertemplate="%{text}<extra></extra>",
                coloraxis=axis,
                xgap=1 if n <= 24 else 0,
                ygap=1 if n <= 24 else 0,
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(dict(x_axis) | dict(tickangle=-60), row=1, col=col)
        y_axis = dict(y_axis0) | dict(autorange="reversed")
        if col > 1:
            # The first panel labels the rows for all three.
            y_axis.update(showticklabels=False, ticks="", title=dict(text=""))
        fig.update_yaxes(y_axis, row=1, col=col)
    fig.update_layout(
        # Two colour bars side by side, spaced so the first one's tick labels are not hidden by the second.
        coloraxis=dict(
            colorscale=WEIGHT_SCALE, cmin=0.0, cmax=top, colorbar=dict(title="weight", x=1.01, len=0.9, thickness=12)
        ),
        coloraxis2=dict(
            colorscale=DIVERGING_SCALE,
            cmin=-bound,
            cmax=bound,
            colorbar=dict(title="diff", x=1.12, len=0.9, thickness=12),
        ),
        height=max(380, min(700, 200 + 16 * n)),
        margin=dict(l=10, r=90, t=40, b=10),
        plot_bgcolor="white",
    )
    return fig


def _thumbnail_mosaic(
    z: np.ndarray,
    zmax: float,
    x: Sequence[float],
    y: Sequence[float],
    marker_size: int,
    customdata: object,
    hovertemplate: str,
    text: Sequence[str] | None = None,
) -> go.Figure:
    """Thumbnails tiled into one heatmap `z` (NaN between them), with one click target per thumbnail.

    The targets are transparent points at the thumbnails' centres: Streamlit's selection events carry
    points of scatter traces but not heatmap cells. With hoverdistance=-1 (set by the callers) the nearest
    point wins, so a click anywhere on a thumbnail selects it."""
    return go.Figure(
        [
            go.Heatmap(z=z, colorscale=WEIGHT_SCALE, zmin=0.0, zmax=max(zmax, 1e-9), hoverinfo="skip", showscale=False),
            go.Scatter(
                x=x,
                y=y,
                mode="markers",
                marker=dict(size=marker_size, color=_TRANSPARENT),
                customdata=customdata,
                text=text,
                hovertemplate=hovertemplate,
                showlegend=False,
            ),
        ]
    )


def layer_small_multiples(
    patterns: np.ndarray,
    selected_head: int | None = None,
    orient: Orientation = "rows",
    layer: int | None = None,
    meta: dict | None = None,
) -> go.Figure:
    """Every head of one layer as a small heatmap; clicking one selects it (point customdata = (layer, head)).

    `patterns` may be pooled ([n_heads, s, s] block means) for long texts: thumbnails need no more.
    One heatmap holds the whole grid (thumbnails separated by empty cells), like the overview: a figure
    of one trace builds and draws several times faster than one subplot per head, and a head switch
    rebuilds it."""
    n_heads, n, _ = patterns.shape
    cols = math.ceil(math.sqrt(n_heads))  # near-square grid: 9 heads → 3×3, 12 → 4×3
    rows = math.ceil(n_heads / cols)
    gap = max(1, round(n / 8))
    title = max(1, round(n / 5))  # room above each thumbnail for its "head h" label
    cell_w, cell_h = n + gap, n + gap + title
    z = np.full((rows * cell_h, cols * cell_w - gap), np.nan, dtype=np.float32)
    x0s, y0s = [], []  # each thumbnail's top-left cell
    for h in range(n_heads):
        r, c = divmod(h, cols)
        x0, y0 = c * cell_w, r * cell_h + title
        z[y0 : y0 + n, x0 : x0 + n] = _orient(patterns[h], orient)
        x0s.append(x0)
        y0s.append(y0)
    centre = (n - 1) / 2
    where = f"layer {layer}, " if layer is not None else ""
    fig = _thumbnail_mosaic(
        z,
        zmax=float(np.max(patterns)),
        x=[x + centre for x in x0s],
        y=[y + centre for y in y0s],
        marker_size=max(8, min(60, 4 * n)),
        customdata=[[layer if layer is not None else -1, h] for h in range(n_heads)],
        hovertemplate="%{text}<br>click to select<extra></extra>",
        text=[f"{where}head {h}" for h in range(n_heads)],
    )
    selected = selected_head if selected_head is not None and 0 <= selected_head < n_heads else None
    for h in range(n_heads):
        chosen = h == selected
        fig.add_annotation(
            x=x0s[h] + centre,
            y=y0s[h] - 0.5,
            yanchor="bottom",
            text=f"<b>head {h}</b>" if chosen else f"head {h}",
            font=dict(size=12, color="#d62728" if chosen else "#444"),
            showarrow=False,
        )
    if selected is not None:
        # Frame exactly on the thumbnail (a larger one would cover its title); the title turns red too.
        fig.add_shape(
            type="rect",
            x0=x0s[selected] - 0.5,
            x1=x0s[selected] + n - 0.5,
            y0=y0s[selected] - 0.5,
            y1=y0s[selected] + n - 0.5,
            line=dict(color="#d62728", width=3),
        )
    fig.update_layout(
        xaxis=dict(visible=False, range=[-0.5, cols * cell_w - gap - 0.5], constrain="domain"),
        yaxis=dict(visible=False, range=[rows * cell_h - gap - 0.5, -0.5], scaleanchor="x", constrain="domain"),
        height=40 + rows * 150,
        margin=dict(l=5, r=5, t=5, b=5),
        hovermode="closest",
        hoverdistance=-1,
        clickmode="event+select",
        plot_bgcolor="white",
        meta=meta,
    )
    return fig


def overview_mosaic(
    pooled: np.ndarray,
    selected: tuple[int, int] | None = None,
    orient: Orientation = "rows",
    meta: dict | None = None,
) -> go.Figure:
    """Every layer × head as a thumbnail (x = layer, y = head) in one heatmap; click selects (layer, head)."""
    n_layers, n_heads, s, _ = pooled.shape
    gap = max(1, s // 6)
    cell = s + gap
    z = np.full((n_heads * cell - gap, n_layers * cell - gap), np.nan, dtype=np.float32)
    for layer in range(n_layers):
        for head in range(n_heads):
            z[head * cell : head * cell + s, layer * cell : layer * cell + s] = _orient(pooled[layer, head], orient)
    centres_x = [layer * cell + (s - 1) / 2 for layer in range(n_layers)]
    centres_y = [head * cell + (s - 1) / 2 for head in range(n_heads)]
    gx, gy = np.meshgrid(np.arange(n_layers), np.arange(n_heads), indexing="ij")
    fig = _thumbnail_mosaic(
        z,
        zmax=float(np.nanmax(pooled)),
        x=[centres_x[layer] for layer in gx.ravel()],
        y=[centres_y[head] for head in gy.ravel()],
        marker_size=max(6, min(30, 2 * s)),
        customdata=np.stack([gx.ravel(), gy.ravel()], axis=1),
        hovertemplate="layer %{customdata[0]}, head %{customdata[1]}<br>click to select<extra></extra>",
    )
    if selected is not None:
        layer, head = selected
        if 0 <= layer < n_layers and 0 <= head < n_heads:
            fig.add_shape(
                type="rect",
                x0=layer * cell - 0.5 - gap / 2,
                x1=layer * cell + s - 0.5 + gap / 2,
                y0=head * cell - 0.5 - gap / 2,
                y1=head * cell + s - 0.5 + gap / 2,
                line=dict(color="#d62728", width=2.5),
            )
    step = 1 if n_layers <= 32 else 2
    fig.update_layout(
        xaxis=dict(
            title=dict(text="layer"),
            tickmode="array",
            tickvals=centres_x[::step],
            ticktext=[str(i) for i in range(0, n_layers, step)],
            showgrid=False,
            zeroline=False,
            range=[-0.5 - gap, n_layers * cell - 0.5],
            automargin=False,  # fixed margins below: automargin costs a second draw (see _CHAR_PX)
            constrain="domain",
        ),
        yaxis=dict(
            title=dict(text="head"),
            tickmode="array",
            tickvals=centres_y,
            ticktext=[str(i) for i in range(n_heads)],
            showgrid=False,
            zeroline=False,
            range=[n_heads * cell - 0.5, -0.5 - gap],
            scaleanchor="x",  # square thumbnails ...
            constrain="domain",  # ... by shrinking the plot area, so the tick labels stay next to it
            automargin=False,
        ),
        # Sized for a ~900 px wide main column at 1280 px; wider or narrower screens just add margin.
        height=int(max(200, min(640, 50 + 820 * n_heads / n_layers))),
        margin=dict(
            l=int(_AXIS_TITLE_PX + _tick_reach([str(n_heads - 1)], 90) + 14),
            r=10,
            t=10,
            b=int(_AXIS_TITLE_PX + _LINE_PX + 12),
        ),
        hovermode="closest",
        hoverdistance=-1,
        clickmode="event+select",
        plot_bgcolor="white",
        meta=meta,
    )
    return fig


def pooled_heatmap(
    pooled: np.ndarray,
    block: int,
    n: int,
    labels: Sequence[str],
    orient: Orientation = "rows",
    window: tuple[int, int, int, int] | None = None,
    title: str = "",
    meta: dict | None = None,
) -> go.Figure:
    """A long text's pattern downsampled: [s, s] means over blocks of `block`×`block` tokens.

    Each block is one category named by its token range and first/last tokens ("1024–1055 ␣the … ␣mat"),
    so hover gives the block's tokens and mean weight while the figure ships s labels, not s² hover
    strings. The exact `window` (q0, q1, k0, k1; half-open token positions) is outlined in red.
    """
    s = pooled.shape[0]
    if pooled.shape != (s, s) or s != math.ceil(n / block):
        raise ValueError(f"expected [{math.ceil(n / block)}]² block means for {n} tokens in blocks of {block}")
    starts = [b * block for b in range(s)]
    ends = [min(n, a + block) - 1 for a in starts]  # inclusive
    names = [f"{a}–{e} ({_short(labels[a])} … {_short(labels[e])})" for a, e in zip(starts, ends, strict=True)]
    x_title, y_title = _axis_names(orient)
    step = _tick_step(s, 16)
    ticks = dict(
        type="category",
        tickmode="array",
        tickvals=names[::step],
        ticktext=[f"{starts[b]} {_short(labels[starts[b]])}" for b in range(0, s, step)],
        range=[-0.5, s - 0.5],
        showgrid=False,
        zeroline=False,
        automargin=True,
    )
    q_name, k_name = ("y", "x") if orient == "rows" else ("x", "y")
    fig = go.Figure(
        go.Heatmap(
            z=_orient(pooled, orient),
            x=names,
            y=names,
            hovertemplate=f"queries %{{{q_name}}}<br>keys %{{{k_name}}}<br>mean weight %{{z:.4g}}<extra></extra>",
            colorscale=WEIGHT_SCALE,
            zmin=0.0,
            zmax=float(max(np.nanmax(pooled), 1e-9)),
            colorbar=dict(title=dict(text="mean<br>weight")),
        )
    )
    if window is not None:
        q0, q1, k0, k1 = window
        (x0, x1), (y0, y1) = ((k0, k1), (q0, q1)) if orient == "rows" else ((q0, q1), (k0, k1))
        # Category b spans b-0.5..b+0.5 and holds tokens b·block..(b+1)·block-1: token p sits at p/block-0.5.
        fig.add_shape(
            type="rect",
            x0=x0 / block - 0.5,
            x1=x1 / block - 0.5,
            y0=y0 / block - 0.5,
            y1=y1 / block - 0.5,
            line=dict(color="#d62728", width=2),
        )
    fig.update_layout(
        title=dict(text=title),
        xaxis=ticks | dict(title=dict(text=f"{x_title} position"), side="top", tickangle=-45),
        yaxis=ticks | dict(title=dict(text=f"{y_title} position"), autorange="reversed"),
        height=620,
        margin=dict(l=10, r=10, t=110 if title else 90, b=10),
        plot_bgcolor="white",
        meta=meta,
    )
    _fit_token_margins(fig, -45, bool(title))
    return fig


def window_heatmap(
    pattern: np.ndarray,
    scores: np.ndarray,
    cells: Cells,
    orient: Orientation = "rows",
    row_share: np.ndarray | None = None,
    meta: dict | None = None,
) -> go.Figure:
    """An exact window of a long text's pattern, at full resolution, with compact hover.

    Every row and column is a category named by its position and token ("3968: ␣the"; a query's name
    also carries the share of its weight inside the window), and the raw scores ride along as numeric
    customdata: hover gives query, key, weight and raw score while the figure ships r + c labels and
    two number arrays instead of r·c hover strings. Masked cells have weight 0.
    """
    cells.check(pattern)
    q_names = [f"{cells.row_start + i}: {tok}" for i, tok in enumerate(cells.rows)]
    if row_share is not None:
        q_names = [
            f"{name} (weight inside the window {share:.3g})" for name, share in zip(q_names, row_share, strict=True)
        ]
    k_names = [f"{cells.col_start + j}: {tok}" for j, tok in enumerate(cells.cols)]
    x_title, y_title = _axis_names(orient)
    (xs, x_labels), (ys, y_labels) = (
        ((k_names, cells.cols), (q_names, cells.rows))
        if orient == "rows"
        else ((q_names, cells.rows), (k_names, cells.cols))
    )
    q_var, k_var = ("y", "x") if orient == "rows" else ("x", "y")

    def axis(names: list[str], labels: Sequence[str], title: str, max_labels: int = 64) -> dict:
        step = _tick_step(len(names), max_labels)
        return dict(
            type="category",
            title=dict(text=title),
            tickmode="array",
            tickvals=names[::step],
            ticktext=list(labels[::step]),
            range=[-0.5, len(names) - 0.5],
            showgrid=False,
            zeroline=False,
            automargin=True,
        )

    small = max(cells.shape) <= 40
    fig = go.Figure(
        go.Heatmap(
            z=_orient(pattern, orient),
            x=xs,
            y=ys,
            customdata=_orient(scores.astype(np.float32), orient),
            hovertemplate=(
                f"query %{{{q_var}}}<br>key %{{{k_var}}}<br>weight %{{z:.4g}}<br>raw score %{{customdata:.4g}}"
                "<extra></extra>"
            ),
            **_weight_cells(pattern, small),
        )
    )
    fig.update_layout(
        xaxis=axis(xs, x_labels, x_title, 32) | dict(side="top", tickangle=-45),  # slanted labels need room
        yaxis=axis(ys, y_labels, y_title) | dict(autorange="reversed"),
        height=_matrix_height(max(cells.shape)),
        margin=dict(l=10, r=10, t=90, b=10),
        plot_bgcolor="white",
        meta=meta,
    )
    _fit_token_margins(fig, -45, False)
    return fig


def _short(label: str, limit: int = 12) -> str:
    """A token label cut for tick and block hover text (labels are already escaped; don't cut an entity)."""
    if len(label) <= limit:
        return label
    cut = label[:limit]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


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


def _matrix_height(n: int) -> int:
    return int(max(460, min(900, 260 + 24 * n)))
