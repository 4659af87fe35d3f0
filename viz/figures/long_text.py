"""A long text's head: its pattern as block means (pooled) with the exact window outlined, and that window
at full resolution. Both use category axes and compact hover so the figure stays small at 4096 tokens."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from viz.figures.heatmaps import Cells
from viz.figures.layout import (
    SELECTED_RED,
    WEIGHT_SCALE,
    Orientation,
    axis_titles,
    matrix_height,
    oriented,
    tick_step,
    token_matrix_layout,
    weight_colouring,
)


def _category_axis(names: Sequence[str], tickvals: Sequence[str], ticktext: Sequence[str], title: str) -> dict:
    """An axis of named categories (one per block or token) with the given ticks."""
    return dict(
        type="category",
        title=dict(text=title),
        tickmode="array",
        tickvals=list(tickvals),
        ticktext=list(ticktext),
        range=[-0.5, len(names) - 0.5],
        showgrid=False,
        zeroline=False,
        automargin=True,
    )


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
    x_title, y_title = axis_titles(orient)
    step = tick_step(s, 16)
    ticktext = [f"{starts[b]} {_short(labels[starts[b]])}" for b in range(0, s, step)]
    q_name, k_name = ("y", "x") if orient == "rows" else ("x", "y")
    fig = go.Figure(
        go.Heatmap(
            z=oriented(pooled, orient),
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
        _outline_window(fig, window, block, orient)
    x_axis = _category_axis(names, names[::step], ticktext, f"{x_title} position")
    y_axis = _category_axis(names, names[::step], ticktext, f"{y_title} position")
    return token_matrix_layout(fig, x_axis, y_axis, 620, title, meta=meta)


def _outline_window(fig: go.Figure, window: tuple[int, int, int, int], block: int, orient: Orientation) -> None:
    """A red frame around the exact window (q0, q1, k0, k1) on the pooled heatmap."""
    q0, q1, k0, k1 = window
    (x0, x1), (y0, y1) = ((k0, k1), (q0, q1)) if orient == "rows" else ((q0, q1), (k0, k1))
    # Category b spans b-0.5..b+0.5 and holds tokens b·block..(b+1)·block-1: token p sits at p/block-0.5.
    fig.add_shape(
        type="rect",
        x0=x0 / block - 0.5,
        x1=x1 / block - 0.5,
        y0=y0 / block - 0.5,
        y1=y1 / block - 0.5,
        line=dict(color=SELECTED_RED, width=2),
    )


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
    also carries the share of its weight inside the window), and the scaled scores ride along as numeric
    customdata: hover gives query, key, weight and scaled score while the figure ships r + c labels and
    two number arrays instead of r·c hover strings. Masked cells have weight 0.
    """
    cells.check(pattern)
    q_names = [f"{cells.row_start + i}: {tok}" for i, tok in enumerate(cells.rows)]
    if row_share is not None:
        q_names = [
            f"{name} (weight inside the window {share:.3g})" for name, share in zip(q_names, row_share, strict=True)
        ]
    k_names = [f"{cells.col_start + j}: {tok}" for j, tok in enumerate(cells.cols)]
    x_title, y_title = axis_titles(orient)
    (xs, x_labels), (ys, y_labels) = (
        ((k_names, cells.cols), (q_names, cells.rows))
        if orient == "rows"
        else ((q_names, cells.rows), (k_names, cells.cols))
    )
    q_var, k_var = ("y", "x") if orient == "rows" else ("x", "y")
    fig = go.Figure(
        go.Heatmap(
            z=oriented(pattern, orient),
            x=xs,
            y=ys,
            customdata=oriented(scores.astype(np.float32), orient),
            hovertemplate=(
                f"query %{{{q_var}}}<br>key %{{{k_var}}}<br>weight %{{z:.4g}}<br>scaled score %{{customdata:.4g}}"
                "<extra></extra>"
            ),
            **weight_colouring(pattern, max(cells.shape) <= 40),
        )
    )
    x_axis = _thinned_axis(xs, x_labels, x_title, 32)  # slanted labels need room
    y_axis = _thinned_axis(ys, y_labels, y_title)
    return token_matrix_layout(fig, x_axis, y_axis, matrix_height(max(cells.shape)), meta=meta)


def _thinned_axis(names: list[str], labels: Sequence[str], title: str, max_labels: int = 64) -> dict:
    """A category axis of one name per token, every k-th labelled with its token."""
    step = tick_step(len(names), max_labels)
    return _category_axis(names, names[::step], labels[::step], title)


def _short(label: str, limit: int = 12) -> str:
    """A token label cut for tick and block hover text (labels are already escaped; don't cut an entity)."""
    if len(label) <= limit:
        return label
    cut = label[:limit]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"
