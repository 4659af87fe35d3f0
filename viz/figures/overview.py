"""Many heads at once as clickable thumbnails: every head of one layer (small multiples), and every
layer × head (the overview mosaic). Each is one heatmap plus one transparent click target per head.

Thumbnails are for clicking, not zooming: their axes are fixed (no drag zoom, and Plotly leaves the zoom, pan and reset
buttons out of its toolbar), and the buttons left (download, Streamlit's fullscreen) have a band of their own above
the thumbnails (TOOLBAR_PX): on hover the whole toolbar had covered the top right thumbnail and its title."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from viz.figures.layout import (
    AXIS_TITLE_PX,
    LINE_PX,
    SELECTED_RED,
    TRANSPARENT,
    WEIGHT_SCALE,
    Orientation,
    merged,
    oriented,
    red_frame,
    tick_reach,
)
from viz.figures.long_text import ColourScale, thumbnail_colours

TOOLBAR_PX = 30  # the top margin: Plotly's toolbar shows on hover 2 px from the top, its buttons ~26 px tall
OVERVIEW_BOTTOM_PX = int(AXIS_TITLE_PX + LINE_PX + 12)  # the overview's bottom margin: tick labels and axis title
# The overview's red frame is a marker, sized in px, while the thumbnails scale with the chart. Where the height
# sets their size (few layers, many heads) the frame is sized from it exactly; where the width does (many layers),
# it is sized for a plot this wide, between the plot's ~510 px at 1024 px and ~760 px at 1280 px, so it lies
# within about 2 px of a thumbnail's edges at both.
FRAME_PLOT_PX = 620
# On a phone the overview is this wide, in a box that scrolls sideways, so its thumbnails can be seen and tapped; the
# frame is redrawn at that size there (ui.widgets.phone_overview_style).
PHONE_BOX_PX = 1400


def _thumbnail_traces(
    z: np.ndarray,
    zrange: tuple[float, float],
    x: Sequence[float],
    y: Sequence[float],
    marker_size: int,
    customdata: object,
    hovertemplate: str,
    text: Sequence[str] | None = None,
    selected: dict | None = None,
) -> list[go.BaseTraceType]:
    """Thumbnails tiled into one heatmap `z` (NaN between them) coloured over `zrange`, with one click target per
    thumbnail; `selected`: the targets' selected point and its style, where one is selected.

    The targets are transparent points at the thumbnails' centres: Streamlit's selection events carry
    points of scatter traces but not heatmap cells. With hoverdistance=-1 (set by the callers) the nearest
    point wins, so a click anywhere on a thumbnail selects it. The callers hand these traces and the whole layout
    to go.Figure at once: each update_layout, add_annotation or update_traces call on a built figure costs more than
    building it (the overview took 29 ms so, 3 ms at once)."""
    targets = dict(
        x=x, y=y, mode="markers", marker=dict(size=marker_size, color=TRANSPARENT), customdata=customdata, text=text,
        hovertemplate=hovertemplate, showlegend=False,
    )  # fmt: skip
    return [
        go.Heatmap(
            z=z, colorscale=WEIGHT_SCALE, zmin=zrange[0], zmax=max(zrange[1], zrange[0] + 1e-9), hoverinfo="skip",
            showscale=False,
        ),  # fmt: skip
        go.Scatter(merged(targets, selected or {})),
    ]


@dataclass(frozen=True)
class _HeadGrid:
    """Where each head's n × n thumbnail sits in a near-square grid (9 heads → 3×3, 12 → 4×3)."""

    n_heads: int
    n: int

    @property
    def cols(self) -> int:
        return math.ceil(math.sqrt(self.n_heads))

    @property
    def rows(self) -> int:
        return math.ceil(self.n_heads / self.cols)

    @property
    def gap(self) -> int:
        return max(1, round(self.n / 8))

    @property
    def title(self) -> int:
        return max(1, round(self.n / 5))  # room above each thumbnail for its "head h" label

    @property
    def cell_w(self) -> int:
        return self.n + self.gap

    @property
    def cell_h(self) -> int:
        return self.n + self.gap + self.title

    def corner(self, head: int) -> tuple[int, int]:
        """(x0, y0): the thumbnail's top-left cell."""
        r, c = divmod(head, self.cols)
        return c * self.cell_w, r * self.cell_h + self.title

    def mosaic(self, patterns: np.ndarray, orient: Orientation) -> np.ndarray:
        z = np.full((self.rows * self.cell_h, self.cols * self.cell_w - self.gap), np.nan, dtype=np.float32)
        for h in range(self.n_heads):
            x0, y0 = self.corner(h)
            z[y0 : y0 + self.n, x0 : x0 + self.n] = oriented(patterns[h], orient)
        return z


def layer_small_multiples(
    patterns: np.ndarray,
    selected_head: int | None = None,
    orient: Orientation = "rows",
    layer: int | None = None,
    meta: dict | None = None,
    scale: ColourScale = "linear",
) -> go.Figure:
    """Every head of one layer as a small heatmap; clicking one selects it (point customdata = (layer, head)).

    `patterns` may be pooled ([n_heads, s, s] block means) for long texts: thumbnails need no more; `scale` is
    then the page's colour scale (long_text.thumbnail_colours), as block means are too small for a linear one.
    One heatmap holds the whole grid (thumbnails separated by empty cells), like the overview: a figure
    of one trace builds and draws several times faster than one subplot per head, and a head switch
    rebuilds it."""
    n_heads, n, _ = patterns.shape
    grid = _HeadGrid(n_heads, n)
    corners = [grid.corner(h) for h in range(n_heads)]
    centre = (n - 1) / 2
    where = f"layer {layer}, " if layer is not None else ""
    colours, zmin, zmax = thumbnail_colours(patterns, scale)  # (n_heads, n, n)
    traces = _thumbnail_traces(
        grid.mosaic(colours, orient),
        zrange=(zmin, zmax),
        x=[x + centre for x, _ in corners],
        y=[y + centre for _, y in corners],
        marker_size=max(8, min(60, 4 * n)),
        customdata=[[layer if layer is not None else -1, h] for h in range(n_heads)],
        hovertemplate="%{text}<br>click to select<extra></extra>",
        text=[f"{where}head {h}" for h in range(n_heads)],
    )
    selected = selected_head if selected_head is not None and 0 <= selected_head < n_heads else None
    titles, frames = _head_labels(corners, n, selected)
    layout = dict(
        xaxis=dict(
            visible=False, range=[-0.5, grid.cols * grid.cell_w - grid.gap - 0.5], constrain="domain", fixedrange=True
        ),
        yaxis=dict(
            visible=False,
            range=[grid.rows * grid.cell_h - grid.gap - 0.5, -0.5],
            scaleanchor="x",
            constrain="domain",
            fixedrange=True,
        ),
        height=35 + TOOLBAR_PX + grid.rows * 150,
        margin=dict(l=5, r=5, t=TOOLBAR_PX, b=5),
        hovermode="closest",
        hoverdistance=-1,
        clickmode="event+select",
        plot_bgcolor="white",
        annotations=titles,
    )
    if frames:
        layout["shapes"] = frames
    if meta is not None:
        layout["meta"] = meta
    return go.Figure(data=traces, layout=layout)


def _head_labels(corners: Sequence[tuple[int, int]], n: int, selected: int | None) -> tuple[list[dict], list[dict]]:
    """(annotations, shapes): a "head h" title above each thumbnail; the selected one's is bold red and its thumbnail
    framed."""
    centre = (n - 1) / 2
    titles = []
    for h, (x0, y0) in enumerate(corners):
        chosen = h == selected
        titles.append(dict(
            x=x0 + centre,
            y=y0 - 0.5,
            yanchor="bottom",
            text=f"<b>head {h}</b>" if chosen else f"head {h}",
            font=dict(size=12, color=SELECTED_RED if chosen else "#444"),
            showarrow=False,
        ))  # fmt: skip
    if selected is None:
        return titles, []
    # Frame exactly on the thumbnail (a larger one would cover its title); the title turns red too.
    x0, y0 = corners[selected]
    return titles, [red_frame(x0 - 0.5, x0 + n - 0.5, y0 - 0.5, y0 + n - 0.5, 3)]


def overview_mosaic(
    pooled: np.ndarray,
    selected: tuple[int, int] | None = None,
    orient: Orientation = "rows",
    meta: dict | None = None,
    scale: ColourScale = "linear",
) -> go.Figure:
    """Every layer × head as a thumbnail (x = layer, y = head) in one heatmap; click selects (layer, head).
    `scale`: as layer_small_multiples's."""
    n_layers, n_heads, s, _ = pooled.shape
    colours, zmin, zmax = thumbnail_colours(pooled, scale)  # (n_layers, n_heads, s, s)
    gap = _gap(s)
    cell = s + gap
    z = np.full((n_heads * cell - gap, n_layers * cell - gap), np.nan, dtype=np.float32)
    for layer in range(n_layers):
        for head in range(n_heads):
            z[head * cell : head * cell + s, layer * cell : layer * cell + s] = oriented(colours[layer, head], orient)
    centres_x = [layer * cell + (s - 1) / 2 for layer in range(n_layers)]
    centres_y = [head * cell + (s - 1) / 2 for head in range(n_heads)]
    gx, gy = np.meshgrid(np.arange(n_layers), np.arange(n_heads), indexing="ij")
    heads = ~np.isnan(pooled).all(axis=(2, 3))  # (n_layers, n_heads): False in a hybrid's layers without heads
    gx, gy = gx[heads], gy[heads]  # click targets only where there is a head
    chosen = None
    if selected is not None and 0 <= selected[0] < n_layers and 0 <= selected[1] < n_heads and heads[selected]:
        # The frame is the click targets' own "selected" style, not a shape: a click then moves it in the
        # browser at once, and the figure (so Streamlit's widget id) stays the same while the user clicks on.
        # A shape in the spec made every click a new widget, and clicks on the old one before the browser had
        # the new one were dropped (issue 19, defect 11).
        chosen = dict(
            selectedpoints=[int(heads[: selected[0]].sum()) + int(heads[selected[0], : selected[1]].sum())],
            marker=dict(symbol="square-open", line=dict(width=2.5)),
            selected=dict(marker=dict(color=SELECTED_RED, opacity=1.0)),
            unselected=dict(marker=dict(opacity=0.0)),
        )
    traces = _thumbnail_traces(
        z,
        zrange=(zmin, zmax),
        x=[centres_x[layer] for layer in gx.ravel()],
        y=[centres_y[head] for head in gy.ravel()],
        marker_size=_frame_px(s, gap, n_layers, n_heads),
        customdata=np.stack([gx.ravel(), gy.ravel()], axis=1),
        hovertemplate="layer %{customdata[0]}, head %{customdata[1]}<br>click to select<extra></extra>",
        selected=chosen,
    )
    layout = _overview_layout(centres_x, centres_y, cell, gap, meta)
    blank = np.flatnonzero(~heads.any(axis=1))  # a hybrid's layers without heads: say so in their blank columns
    if blank.size:
        layout["annotations"] = [
            dict(x=centres_x[layer], y=float(np.mean(centres_y)), text="no heads", textangle=-90, showarrow=False,
                 font=dict(color="#888888", size=11)) for layer in blank
        ]  # fmt: skip
    return go.Figure(data=traces, layout=layout)


def _overview_height(n_layers: int, n_heads: int) -> int:
    """Sized for a ~900 px wide main column at 1280 px, but at least ~42 px a head: on a phone the overview scrolls
    sideways (app.py) and its thumbnails are as large as the height allows. On wide screens the square cells leave
    the spare height below (constraintoward="top")."""
    return int(max(200, min(640, 50 + max(820 * n_heads / n_layers, 42 * n_heads)))) + TOOLBAR_PX - 10


def _frame_px(s: int, gap: int, n_layers: int, n_heads: int, plot_w: float = FRAME_PLOT_PX) -> int:
    """The selected thumbnail's frame, in px: a thumbnail's width in the plot that the height allows, or, where
    the width sets the scale, in a plot `plot_w` wide. The axes span n·(s + gap) + gap data units."""
    plot_h = _overview_height(n_layers, n_heads) - TOOLBAR_PX - OVERVIEW_BOTTOM_PX
    per_unit = min(plot_h / (n_heads * (s + gap) + gap), plot_w / (n_layers * (s + gap) + gap))
    return max(6, round(s * per_unit))


def _gap(s: int) -> int:
    """Data units between thumbnails s cells wide."""
    return max(1, s // 6)


def _side_margins(n_heads: int) -> tuple[int, int]:
    """The overview's left margin (head axis title and tick labels) and right margin, in px."""
    return int(AXIS_TITLE_PX + tick_reach([str(n_heads - 1)], 90) + 14), 10


def phone_frame_px(pooled_shape: Sequence[int]) -> int:
    """The frame's size, in px, for the overview of pooled patterns of this shape (n_layers, n_heads, s, s) drawn
    PHONE_BOX_PX wide: the figure's own frame is sized for a desktop's plot, half a thumbnail on a phone."""
    n_layers, n_heads, s = pooled_shape[0], pooled_shape[1], pooled_shape[2]
    return _frame_px(s, _gap(s), n_layers, n_heads, PHONE_BOX_PX - sum(_side_margins(n_heads)))


def _overview_layout(centres_x: list[float], centres_y: list[float], cell: int, gap: int, meta: dict | None) -> dict:
    """Layer and head axes at the thumbnails' centres, square thumbnails, margins fixed from the labels."""
    n_layers, n_heads = len(centres_x), len(centres_y)
    step = 1 if n_layers <= 32 else 2
    left, right = _side_margins(n_heads)
    layout = dict(
        xaxis=dict(
            title=dict(text="layer"),
            tickmode="array",
            tickvals=centres_x[::step],
            ticktext=[str(i) for i in range(0, n_layers, step)],
            showgrid=False,
            zeroline=False,
            range=[-0.5 - gap, n_layers * cell - 0.5],
            automargin=False,  # fixed margins below: automargin costs a second draw (see layout.CHAR_PX)
            constrain="domain",
            constraintoward="left",  # where the height sets the size (a phone's wide box): no blank before layer 0
            fixedrange=True,
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
            constraintoward="top",
            automargin=False,
            fixedrange=True,
        ),
        height=_overview_height(n_layers, n_heads),
        margin=dict(l=left, r=right, t=TOOLBAR_PX, b=OVERVIEW_BOTTOM_PX),
        hovermode="closest",
        hoverdistance=-1,
        clickmode="event+select",
        plot_bgcolor="white",
    )
    return layout if meta is None else layout | dict(meta=meta)
