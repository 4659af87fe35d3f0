"""A long text's head: its pattern as block means (pooled) with the exact window outlined, and that window
at full resolution. Both use category axes and compact hover so the figure stays small at 4096 tokens."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import plotly.graph_objects as go

from viz.figures.heatmaps import Cells
from viz.figures.layout import (
    MATRIX_X_LABELS,
    WEIGHT_SCALE,
    Orientation,
    axis_titles,
    matrix_height,
    oriented,
    red_frame,
    tick_step,
    token_matrix_frame,
    weight_colouring,
)

ColourScale = Literal["linear", "row", "log"]
# What each colour scale is called where the reader picks it (the colour bar then says which one is drawn).
COLOUR_SCALES: dict[str, str] = {
    "log": "log (orders of magnitude)",
    "row": "per query (÷ the row's largest)",
    "linear": "linear (0 to the largest)",
}
LOG_DECADES = 4  # the log scale spans the largest value shown down to 10⁻⁴ of it; smaller ones get its lightest colour
# Tick labels that never overlap at 1024 px wide: x labels at −45° need ~21 px each, y labels 15 px (12 px font).
POOLED_X_LABELS, POOLED_Y_LABELS = 10, 24  # the block-mean chart: 3/5 of the page, 620 px high
WINDOW_X_LABELS, WINDOW_Y_LABELS = MATRIX_X_LABELS, 40  # the exact window: a token matrix, up to 900 px high
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def scaled_colours(matrix: np.ndarray, scale: ColourScale, what: str = "weight") -> tuple[np.ndarray, dict]:
    """(what the colour shows, Heatmap colour settings) for a [n_q, n_k] matrix of weights ≥ 0, rows = queries.

    linear: the weights, 0 to the largest; row: each query's weights ÷ that query's largest here (every row
    reaches the darkest colour, so a row's structure shows even when its weights are small); log: log₁₀ of
    the weights over LOG_DECADES decades below the largest (zeros, i.e. masked cells, are left blank). The
    colour bar's title names the scale; hover always gives the real weights (the callers put them there).
    """
    m = np.asarray(matrix, dtype=np.float64)
    top = float(max(np.nanmax(m), 1e-12)) if m.size else 1.0
    if scale == "linear":
        return m, dict(
            colorscale=WEIGHT_SCALE, zmin=0.0, zmax=top, colorbar=dict(title=dict(text=f"{what}<br>(linear)"))
        )
    if scale == "row":
        row_max = np.nanmax(m, axis=1, keepdims=True) if m.size else m
        z = np.divide(m, row_max, out=np.zeros_like(m), where=row_max > 0)
        title = f"{what} ÷ the<br>query's largest<br>here (per row)"
        return z, dict(colorscale=WEIGHT_SCALE, zmin=0.0, zmax=1.0, colorbar=dict(title=dict(text=title)))
    if scale == "log":
        with np.errstate(divide="ignore"):
            z = np.where(m > 0, np.log10(np.where(m > 0, m, 1.0)), np.nan)
        hi = math.log10(top)
        lo = hi - LOG_DECADES
        ticks = list(range(math.ceil(lo), math.floor(hi) + 1))
        colorbar = dict(
            title=dict(text=f"{what}<br>(log scale)"),
            tickvals=ticks,
            ticktext=[_power_of_ten(t) for t in ticks],
        )
        return z, dict(colorscale=WEIGHT_SCALE, zmin=lo, zmax=hi, colorbar=colorbar)
    raise ValueError(f"unknown colour scale {scale!r}; expected one of {list(COLOUR_SCALES)}")


def thumbnail_colours(patterns: np.ndarray, scale: ColourScale) -> tuple[np.ndarray, float, float]:
    """(what the colour shows, zmin, zmax) for thumbnails [..., s, s] (rows = queries) on one colour range, the way
    scaled_colours colours one matrix: linear, 0 to the largest of all; row, each thumbnail's query rows ÷ their
    largest; log, log₁₀ over LOG_DECADES below the largest of all (zeros left blank)."""
    m = np.asarray(patterns, dtype=np.float64)
    top = float(max(np.nanmax(m), 1e-12)) if m.size else 1.0
    if scale == "linear":
        return m, 0.0, top
    if scale == "row":
        row_max = np.nanmax(m, axis=-1, keepdims=True) if m.size else m
        shares = np.divide(m, row_max, out=np.zeros_like(m), where=row_max > 0)
        return np.where(np.isnan(row_max), np.nan, shares), 0.0, 1.0  # NaN: a hybrid's layer without heads
    if scale == "log":
        with np.errstate(divide="ignore"):
            z = np.where(m > 0, np.log10(np.where(m > 0, m, 1.0)), np.nan)
        return z, math.log10(top) - LOG_DECADES, math.log10(top)
    raise ValueError(f"unknown colour scale {scale!r}; expected one of {list(COLOUR_SCALES)}")


def _power_of_ten(exponent: int) -> str:
    """1, 0.1, 0.01, then 10⁻³, 10⁻⁴ …: short colour-bar labels."""
    if exponent >= 0:
        return f"{10**exponent:g}"
    if exponent >= -2:
        return f"{10.0**exponent:g}"
    return "10" + str(exponent).translate(_SUPERSCRIPT)


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
    scale: ColourScale = "linear",
) -> go.Figure:
    """A long text's pattern downsampled: [s, s] means over blocks of `block`×`block` tokens.

    Each block is one category named by its token range and first/last tokens ("1024–1055 ␣the … ␣mat"),
    so hover gives the block's tokens and mean weight while the figure ships s labels, not s² hover
    strings. The exact `window` (q0, q1, k0, k1; half-open token positions) is outlined in red. `scale`
    picks the colour scale (`scaled_colours`); hover gives the real block means whatever the scale.
    """
    s = pooled.shape[0]
    if pooled.shape != (s, s) or s != math.ceil(n / block):
        raise ValueError(f"expected [{math.ceil(n / block)}]² block means for {n} tokens in blocks of {block}")
    starts = [b * block for b in range(s)]
    ends = [min(n, a + block) - 1 for a in starts]  # inclusive
    names = [f"{a}–{e} ({_short(labels[a])} … {_short(labels[e])})" for a, e in zip(starts, ends, strict=True)]
    x_title, y_title = axis_titles(orient)
    q_name, k_name = ("y", "x") if orient == "rows" else ("x", "y")
    z, colours = scaled_colours(pooled, scale, "mean weight")
    heatmap = go.Heatmap(
        z=oriented(z, orient),
        x=names,
        y=names,
        customdata=oriented(np.asarray(pooled, dtype=np.float32), orient),
        hovertemplate=f"queries %{{{q_name}}}<br>keys %{{{k_name}}}<br>mean weight %{{customdata:.4g}}<extra></extra>",
        **colours,
    )
    ticktext = [f"{starts[b]} {_short(labels[starts[b]])}" for b in range(s)]
    x_axis = _thinned_axis(names, ticktext, f"{x_title} position", POOLED_X_LABELS)
    y_axis = _thinned_axis(names, ticktext, f"{y_title} position", POOLED_Y_LABELS)
    outline = None if window is None else [_window_outline(window, block, orient)]
    return go.Figure(data=[heatmap], layout=token_matrix_frame(x_axis, y_axis, 620, title, meta=meta, shapes=outline))


def _window_outline(window: tuple[int, int, int, int], block: int, orient: Orientation) -> dict:
    """A red frame around the exact window (q0, q1, k0, k1) on the pooled heatmap."""
    q0, q1, k0, k1 = window
    (x0, x1), (y0, y1) = ((k0, k1), (q0, q1)) if orient == "rows" else ((q0, q1), (k0, k1))
    # Category b spans b-0.5..b+0.5 and holds tokens b·block..(b+1)·block-1: token p sits at p/block-0.5.
    return red_frame(x0 / block - 0.5, x1 / block - 0.5, y0 / block - 0.5, y1 / block - 0.5)


def window_heatmap(
    pattern: np.ndarray,
    scores: np.ndarray,
    cells: Cells,
    orient: Orientation = "rows",
    row_share: np.ndarray | None = None,
    meta: dict | None = None,
    scale: ColourScale | None = None,
    score_label: str = "score",
) -> go.Figure:
    """An exact window of a long text's pattern, at full resolution, with compact hover.

    Every row and column is a category named by its position and token ("3968: ␣the"; a query's name
    also carries the share of its weight inside the window), and the weights and scores ride along as numeric
    customdata ([..., 0] and [..., 1]): hover gives query, key, weight and score (named by `score_label`, as in
    heatmaps.head_heatmap) while the figure ships r + c labels and number arrays instead of r·c hover strings.
    Masked cells have weight 0.
    `scale` picks the colour scale (`scaled_colours`; None: the pattern pages' linear weight colouring).
    """
    cells.check(pattern)
    q_names = [f"{cells.row_start + i}: {tok}" for i, tok in enumerate(cells.rows)]
    if row_share is not None:
        q_names = [
            f"{name} (weight inside the window {share:.3g})" for name, share in zip(q_names, row_share, strict=True)
        ]
    k_names = [f"{cells.col_start + j}: {tok}" for j, tok in enumerate(cells.cols)]
    x_title, y_title = axis_titles(orient)
    (xs, x_labels, x_max), (ys, y_labels, y_max) = (
        ((k_names, cells.cols, WINDOW_X_LABELS), (q_names, cells.rows, WINDOW_Y_LABELS))
        if orient == "rows"
        else ((q_names, cells.rows, WINDOW_X_LABELS), (k_names, cells.cols, WINDOW_Y_LABELS))
    )
    q_var, k_var = ("y", "x") if orient == "rows" else ("x", "y")
    if scale is None:
        z, colours = pattern, weight_colouring(pattern, max(cells.shape) <= 40)
    else:
        z, colours = scaled_colours(pattern, scale)
    hover_numbers = np.stack([pattern, scores], axis=-1).astype(np.float32)  # [n_q, n_k, 2]
    heatmap = go.Heatmap(
        z=oriented(z, orient),
        x=xs,
        y=ys,
        customdata=hover_numbers if orient == "rows" else hover_numbers.transpose(1, 0, 2),
        hovertemplate=(
            f"query %{{{q_var}}}<br>key %{{{k_var}}}<br>weight %{{customdata[0]:.4g}}<br>"
            f"{score_label} %{{customdata[1]:.4g}}<extra></extra>"
        ),
        **colours,
    )
    x_axis = _thinned_axis(xs, x_labels, x_title, x_max)
    y_axis = _thinned_axis(ys, y_labels, y_title, y_max)
    frame = token_matrix_frame(x_axis, y_axis, matrix_height(max(cells.shape)), meta=meta)
    return go.Figure(data=[heatmap], layout=frame)


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
