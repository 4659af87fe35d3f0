"""Figures of the mechanism pages' matrices and sizes: any labelled matrix (inside one head), a value per
source token, a value per layer × head (head finder, cross-attention), and context size and timing."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from viz.figures.layout import (
    CELL_AXIS,
    DIVERGING_SCALE,
    MASKED_GREY,
    SELECTED_RED,
    TRANSPARENT,
    WEIGHT_SCALE,
    Orientation,
    axis_titles,
    hline,
    log_axis,
    no_heads,
    notes_and_shapes,
    oriented,
    pair_split_lines,
    pushing_margins,
    red_frame,
    si_bytes,
    token_axis,
    vline,
)
from viz.figures.matrix_axes import MATRIX_MAX_LABELS, fitted_margins, row_axis
from viz.labels import plotly_escape

# A query × key matrix sits in half a column: at 1280 px its plot is ~170 px wide, and token labels at −45° need
# ~16 px each, so 48 of them (a long text's window) were drawn on top of one another. Every 4th of 48 is shown
# instead; hover still names every cell's tokens.
QK_MAX_X_LABELS = 12


def _colour_range(finite: np.ndarray, kind: str) -> tuple[str, float, float]:
    """(colour scale, zmin, zmax) for a matrix's finite values."""
    if kind == "weight":
        return WEIGHT_SCALE, 0.0, float(max(finite.max() if finite.size else 1.0, 1e-9))
    # Residual streams have a few outlier dimensions hundreds of times larger than the rest; a colour
    # scale spanning them would paint everything else white. Saturate at the 99.5th percentile of
    # |value| (hover still shows every exact value) unless the matrix is small enough to show whole.
    mags = np.abs(finite)
    bound = float(mags.max()) if mags.size else 1.0
    if mags.size > 400:
        bound = float(max(np.percentile(mags, 99.5), 1e-12))
    return DIVERGING_SCALE, -bound, bound


def _default_height(n_rows: int, row_labels: Sequence[str] | None, col_labels: Sequence[str] | None) -> int:
    if row_labels is not None and col_labels is not None:  # query × key: keep cells roughly square
        return int(min(640, max(380, 150 + 24 * n_rows)))
    if row_labels is not None:
        return int(min(560, max(260, 110 + 20 * n_rows)))
    return 320


def _cell_shapes(highlight: tuple[int, int] | None) -> list[dict]:
    """A red frame round the picked (row, column), or nothing."""
    if highlight is None:
        return []
    i, j = highlight
    return [red_frame(j - 0.5, j + 0.5, i - 0.5, i + 0.5, 3)]


def _band_shapes(n_rows: int, n_cols: int, row_bands: int, band_highlight: int | None) -> list[dict]:
    """A line every `row_bands` rows; a red frame round band `band_highlight`."""
    shapes = [hline(r - 0.5, dict(color="#555", width=0.5)) for r in range(row_bands, n_rows, row_bands)]
    if band_highlight is not None:
        y0 = band_highlight * row_bands - 0.5
        shapes.append(red_frame(-0.5, n_cols - 0.5, y0, y0 + row_bands))
    return shapes


def _positions_hover(
    n_rows: int,
    n_cols: int,
    row_positions: Sequence[int] | None,
    col_positions: Sequence[int] | None,
    x_title: str,
    y_title: str,
) -> dict:
    """Hover of a matrix cell: its row and column, as token positions where the matrix is a window."""
    rows, cols = f"{y_title or 'row'} %{{y}}", f"{x_title or 'column'} %{{x}}"
    if row_positions is None and col_positions is None:
        return dict(hovertemplate=f"{rows}<br>{cols}<br>value %{{z:.5g}}<extra></extra>")
    r = np.arange(n_rows) if row_positions is None else np.asarray(row_positions)
    c = np.arange(n_cols) if col_positions is None else np.asarray(col_positions)
    if len(r) != n_rows or len(c) != n_cols:
        raise ValueError(f"positions for a [{n_rows} × {n_cols}] matrix, got {len(r)} and {len(c)}")
    grid = np.stack(np.broadcast_arrays(r[:, None], c[None, :]), axis=-1).astype(np.int32)  # (rows, cols, 2)
    rows, cols = f"{y_title or 'row'} %{{customdata[0]}}", f"{x_title or 'column'} %{{customdata[1]}}"
    return dict(customdata=grid, hovertemplate=f"{rows}<br>{cols}<br>value %{{z:.5g}}<extra></extra>")


def _jump_shapes(row_positions: Sequence[int] | None, col_positions: Sequence[int] | None) -> list[dict]:
    """A dashed line before each row (column) where the positions jump: a window made of two runs of tokens."""
    line = dict(color="#333", width=1.5, dash="dash")
    shapes = []
    for positions, shape in ((row_positions, hline), (col_positions, vline)):
        if positions is not None:
            shapes += [shape(float(i) - 0.5, line) for i in np.flatnonzero(np.diff(np.asarray(positions)) > 1) + 1]
    return shapes


def matrix_heatmap(
    matrix: np.ndarray,
    title: str,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    x_title: str = "",
    y_title: str = "",
    kind: str = "diverging",
    highlight: tuple[int, int] | None = None,
    height: int | None = None,
    row_bands: int | None = None,
    band_highlight: int | None = None,
    row_positions: Sequence[int] | None = None,
    col_positions: Sequence[int] | None = None,
    max_x_labels: int = MATRIX_MAX_LABELS,
    second_text_at: int | None = None,
) -> go.Figure:
    """A labelled heatmap of any matrix (rows down, columns across), shape in the title.

    kind: "diverging" (signed values, white = 0), "weight" (0..1), "scores" (signed, −∞ drawn grey).
    row_bands: a line every `row_bands` rows (a stacked output matrix's heads); band_highlight: frame that band.
    row_positions / col_positions: the token positions the rows / columns hold when the matrix is a window of a
    longer text (viz.views.head_window): hover gives those positions, and a dashed line marks each jump.
    second_text_at: a text pair's split, on both axes of a matrix of tokens × tokens (query_key_heatmap's).

    The layout is one dict, given to the figure once: Inside one head draws ~18 of these per rerun, and each
    update_layout / add_shape call runs Plotly's validation again (building them so took half the time).
    """
    m = np.asarray(matrix, dtype=np.float64)
    n_rows, n_cols = m.shape
    scale, zmin, zmax = _colour_range(m[np.isfinite(m)], kind)
    small = n_rows <= 40 and n_cols <= 40
    heatmap = dict(
        type="heatmap",
        z=np.where(np.isfinite(m), m, np.nan).astype(np.float32),  # NaN cells show the grey background
        x=np.arange(n_cols),
        y=np.arange(n_rows),
        colorscale=scale,
        zmin=zmin,
        zmax=zmax,
        xgap=1 if small else 0,
        ygap=1 if small else 0,
        colorbar=dict(thickness=12),
        **_positions_hover(n_rows, n_cols, row_positions, col_positions, x_title, y_title),
    )
    shapes = _matrix_shapes(m.shape, highlight, row_bands, band_highlight, row_positions, col_positions, second_text_at)
    x_axis = token_axis(col_labels, x_title, max_labels=max_x_labels, n=n_cols)
    x_axis |= dict(tickangle=-45) if col_labels is not None else {}
    height = height if height is not None else _default_height(n_rows, row_labels, col_labels)
    y_axis = row_axis(row_labels, y_title, n_rows, height, x_axis)
    layout = dict(
        title=dict(text=title, font=dict(size=14)),
        xaxis=x_axis | dict(automargin=False),
        yaxis=y_axis | dict(automargin=False),
        height=height,
        margin=fitted_margins(x_axis, y_axis),
        plot_bgcolor=MASKED_GREY if kind == "scores" else "white",
        shapes=shapes,
    )
    return go.Figure(data=[heatmap], layout=layout)


def _matrix_shapes(
    shape: tuple[int, int],
    highlight: tuple[int, int] | None,
    row_bands: int | None,
    band_highlight: int | None,
    row_positions: Sequence[int] | None,
    col_positions: Sequence[int] | None,
    second_text_at: int | None,
) -> list[dict]:
    """A matrix's shapes: the picked cell's frame first where there is one, then band lines, jump lines and a text
    pair's split (on a tokens × tokens matrix: the whole text's where no positions are given)."""
    n_rows, n_cols = shape
    shapes = _cell_shapes(highlight)
    if row_bands:
        shapes += _band_shapes(n_rows, n_cols, row_bands, band_highlight)
    rows = range(n_rows) if row_positions is None else row_positions
    cols = range(n_cols) if col_positions is None else col_positions
    split = pair_split_lines(second_text_at, cols, rows, by_index=True)
    return shapes + _jump_shapes(row_positions, col_positions) + split


def query_key_heatmap(
    matrix: np.ndarray,
    title: str,
    labels: Sequence[str],
    orient: Orientation,
    kind: str = "diverging",
    highlight: tuple[int, int] | None = None,
    positions: Sequence[int] | None = None,
    second_text_at: int | None = None,
) -> go.Figure:
    """A [n_q, n_k] matrix (scores, pattern) in the sidebar's orientation: "rows" draws queries down the side,
    "cols" along the top (3Blue1Brown's drawing). `highlight` is (query, key) either way, as row and column
    indices of `matrix`. `positions`: the token positions of its rows and columns (the same tokens on both
    sides) when it is a window of a longer text. `second_text_at`: where a text pair's second text starts (a
    dashed orange line on both axes)."""
    x_title, y_title = axis_titles(orient)
    if highlight is not None and orient == "cols":
        highlight = (highlight[1], highlight[0])  # drawn (row, column) = (key, query)
    return matrix_heatmap(
        oriented(np.asarray(matrix), orient),
        title,
        labels,
        labels,
        x_title,
        y_title,
        kind=kind,
        highlight=highlight,
        row_positions=positions,
        col_positions=positions,
        max_x_labels=QK_MAX_X_LABELS,
        second_text_at=second_text_at,
    )


def source_bars(labels: Sequence[str], values: np.ndarray, title: str, x_title: str, highlight: int) -> go.Figure:
    """One horizontal bar per source token (signed values allowed)."""
    n = len(labels)
    colors = [SELECTED_RED if i == highlight else "#1f77b4" for i in range(n)]
    bars = go.Bar(
        x=np.asarray(values, dtype=np.float64),
        y=np.arange(n),
        orientation="h",
        marker_color=colors,
        hovertemplate="source %{y}<br>%{x:.4g}<extra></extra>",
    )
    return pushing_margins(
        [bars],
        dict(
            title=dict(text=title, font=dict(size=14)),
            xaxis=dict(title=dict(text=x_title), zeroline=True),
            yaxis=token_axis(labels, "source token", max_labels=MATRIX_MAX_LABELS) | dict(autorange="reversed"),
            height=int(min(520, max(240, 80 + 22 * n))),
            margin=dict(l=10, r=10, t=50, b=10),
            plot_bgcolor="white",
        ),
    )


def layer_head_grid(
    values: np.ndarray, title: str, colorbar: str, selected: tuple[int, int] | None = None
) -> go.Figure:
    """[n_layers, n_heads] as a heatmap: rows = layers, columns = heads. Each cell carries an invisible click
    target whose customdata is (layer, head), as the overview's thumbnails do (viz.figures.layout.selected_point);
    a NaN cell (a hybrid's layer without heads) is left blank, without one."""
    n_layers, n_heads = values.shape
    layers, heads = np.meshgrid(np.arange(n_layers), np.arange(n_heads), indexing="ij")  # (n_layers, n_heads) each
    cells = ~np.isnan(np.asarray(values, dtype=np.float64))
    layers, heads = layers[cells], heads[cells]  # (cells,) each
    traces = [
        go.Heatmap(
            z=np.asarray(values, dtype=np.float32),
            x=np.arange(n_heads),
            y=np.arange(n_layers),
            colorscale=WEIGHT_SCALE,
            zmin=0.0,
            zmax=float(max(np.nanmax(values), 1e-9)),
            colorbar=dict(title=dict(text=colorbar), thickness=12),
            hoverinfo="skip",
            xgap=1,
            ygap=1,
        ),
        go.Scatter(
            x=heads,
            y=layers,
            mode="markers",
            marker=dict(size=12, color=TRANSPARENT),
            customdata=np.stack([layers, heads], axis=1),
            text=[f"{v:.4f}" for v in np.asarray(values, dtype=np.float64)[cells]],
            hovertemplate="layer %{customdata[0]}, head %{customdata[1]}<br>%{text}<extra></extra>",
            showlegend=False,
        ),
    ]
    frame = [] if selected is None else [red_frame(selected[1] - 0.5, selected[1] + 0.5, selected[0] - 0.5,
                                                   selected[0] + 0.5, 3)]  # fmt: skip
    layout = dict(
        title=dict(text=title, font=dict(size=14)),
        # Fixed ranges: the click targets' markers would otherwise pad the axes past the first and last cells.
        # Whole heads only, upright, every ceil(n/10)-th: every head labelled turned MiniLM's 12 to 90° in a ~180 px
        # grid, where they read as one string of digits; Plotly's own spacing put 4 heads' ticks every half head,
        # written "−1 0 1 1 2 2 3 3 4". Hover names each cell's head.
        xaxis=dict(
            title=dict(text="head"),
            tickmode="linear",
            tick0=0,
            dtick=max(1, math.ceil(n_heads / 10)),
            tickangle=0,
            range=[-0.5, n_heads - 0.5],
        )
        | CELL_AXIS,
        yaxis=dict(
            title=dict(text="layer"), range=[n_layers - 0.5, -0.5], tickmode="linear", dtick=max(1, n_layers // 15)
        )
        | CELL_AXIS,
        height=int(min(640, max(260, 80 + 16 * n_layers))),
        margin=dict(l=10, r=10, t=50, b=10),
        plot_bgcolor="white",
    )
    return pushing_margins(traces, layout | notes_and_shapes(no_heads(values), frame))


def context_growth(
    lengths: Sequence[int], bytes_fp16: Sequence[float], bytes_fp32: Sequence[float], title: str
) -> go.Figure:
    """Memory of every attention pattern of one pass (layers × heads × n²) against context length."""
    lines = [
        go.Scatter(
            x=list(lengths),
            y=list(ys),
            mode="lines+markers",
            name=name,
            line=dict(color=c),
            hovertemplate="n = %{x}<br>%{y:.3s}B<extra></extra>",
        )
        for name, ys, c in (("fp16 (2 bytes)", bytes_fp16, "#1f77b4"), ("fp32 (4 bytes)", bytes_fp32, "#d62728"))
    ]
    layout = dict(
        title=dict(text=plotly_escape(title), font=dict(size=14)),
        xaxis=dict(title=dict(text="context length n (tokens)")) | log_axis(lengths),
        yaxis=dict(title=dict(text="bytes for all patterns")) | log_axis([*bytes_fp16, *bytes_fp32], si_bytes),
        height=380,
        margin=dict(l=10, r=10, t=50, b=90),
        plot_bgcolor="white",
        legend=dict(orientation="h", yref="container", yanchor="bottom", y=0, x=0),
    )
    return pushing_margins(lines, layout)


def timing_figure(lengths: Sequence[int], seconds: Sequence[float], title: str) -> go.Figure:
    """Measured seconds of one trace against its number of tokens (log-log)."""
    line = go.Scatter(
        x=list(lengths),
        y=list(seconds),
        mode="lines+markers+text",
        text=[f"{s:.3f} s" for s in seconds],
        # Left of each point but the first, whose label left of it ran past the axis and was cut (".61 s").
        textposition=["bottom right"] + ["top left"] * (len(seconds) - 1),
        cliponaxis=False,
        line=dict(color="#2ca02c"),
        hovertemplate="n = %{x}<br>%{y:.4f} s<extra></extra>",
    )
    layout = dict(
        title=dict(text=plotly_escape(title), font=dict(size=14)),
        xaxis=dict(title=dict(text="tokens")) | log_axis(lengths),
        yaxis=dict(title=dict(text="seconds (best of runs)")) | log_axis(seconds),
        height=380,
        margin=dict(l=10, r=10, t=50, b=10),
        plot_bgcolor="white",
    )
    return pushing_margins([line], layout)


def cross_attention_heatmap(
    pattern: np.ndarray, query_labels: Sequence[str], key_labels: Sequence[str], layer: int, head: int
) -> go.Figure:
    """An encoder-decoder's cross-attention head, [n_target, n_source] weights: target queries down the side, source
    keys across (the Cross-attention page and the notebook's "cross" view)."""
    n_target, n_source = pattern.shape
    return matrix_heatmap(
        pattern,
        # two lines: one was cut off at both ends on a phone (390 px)
        f"Cross-attention, decoder layer {layer}, head {head}:<br>"
        f"target queries × source keys [{n_target} × {n_source}]",
        query_labels,
        key_labels,
        "source key (encoder output)",
        "target query (decoder)",
        kind="weight",
    )
