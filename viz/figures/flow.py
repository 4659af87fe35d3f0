"""The contribution graph drawn: tokens across, the residual stream's levels upwards, an edge's width by its
importance. Self-attention curves left of a token's column and the MLP right of it, so neither hides the
residual's straight line."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from viz.figures.layout import tick_step
from viz.labels import plotly_escape
from viz.views.flow import KIND_NAMES, TOKEN_MIXING, EdgeLines, FlowView

COLOURS = {"attention": "#1f77b4", "convolution": "#2ca02c", "delta": "#9467bd", "ssm": "#8c564b",
           "recurrence": "#e377c2", "residual_attn": "#9e9e9e", "mlp": "#ff7f0e",
           "residual_mlp": "#9e9e9e"}  # fmt: skip
# Importance bins and the line width (px) each is drawn with: Plotly gives one width per trace.
WIDTH_BINS = ((0.0, 1.2), (0.1, 2.5), (0.25, 4.5), (0.5, 7.0))
BEND = 0.22  # how far (in columns) a self-edge bows out of its column
ROW_PX = 13


def _path(x0: float, y0: float, x1: float, y1: float, bend: float) -> tuple[list, list]:
    """A straight segment, or a bowed one (three points) where the edge stays in its column."""
    if x0 == x1 and bend:
        return [x0, x0 + bend, x1, None], [y0, (y0 + y1) / 2, y1, None]
    return [x0, x1, None], [y0, y1, None]


def _bend(line: EdgeLines, i: int) -> float:
    if line.x0[i] != line.x1[i]:
        return 0.0
    return BEND if line.kind == "mlp" else -BEND if line.kind in TOKEN_MIXING else 0.0


def _edge_traces(line: EdgeLines) -> list[go.Scatter]:
    traces = []
    thin = 0.5 if line.kind.startswith("residual") else 1.0  # the stream itself: present, not dominant
    edges = [*WIDTH_BINS[1:], (np.inf, 0.0)]
    for (low, width), (high, _) in zip(WIDTH_BINS, edges, strict=True):
        picked = [i for i in range(len(line.importance)) if low <= line.importance[i] < high]
        if not picked:
            continue
        xs: list = []
        ys: list = []
        for i in picked:
            px, py = _path(float(line.x0[i]), float(line.y0[i]), float(line.x1[i]), float(line.y1[i]), _bend(line, i))
            xs += px
            ys += py
        name = KIND_NAMES[line.kind]
        traces.append(go.Scatter(
            x=xs, y=ys, mode="lines", line=dict(color=COLOURS[line.kind], width=width * thin), opacity=0.75,
            hoverinfo="skip", name=name, legendgroup=line.kind,
            showlegend=not traces and line.kind != "residual_mlp",  # one entry per kind; one for the residual
        ))  # fmt: skip
    # One invisible marker at each edge's middle carries its hover (lines do not hover between points).
    mid_x = [(float(a) + float(b)) / 2 + _bend(line, i) for i, (a, b) in enumerate(zip(line.x0, line.x1, strict=True))]
    traces.append(go.Scatter(
        x=mid_x, y=(line.y0 + line.y1) / 2, mode="markers", marker=dict(size=9, color=COLOURS[line.kind]),
        opacity=0.01 if line.kind.startswith("residual") else 0.6, hovertext=line.hover, hoverinfo="text",
        name=KIND_NAMES[line.kind], legendgroup=line.kind, showlegend=False,
    ))  # fmt: skip
    return traces


def flow_figure(view: FlowView) -> go.Figure:
    """The graph; hover an edge's middle for its block, ends and importance, a node for its level."""
    traces = [trace for line in view.lines for trace in _edge_traces(line)]
    traces.append(go.Scatter(
        x=view.node_x, y=view.node_y, mode="markers", marker=dict(size=4, color="#757575"),
        hovertext=view.node_hover, hoverinfo="text", name="residual stream", showlegend=False,
    ))  # fmt: skip
    top = 2 * view.n_layers
    chosen = plotly_escape(view.tokens[view.target_column])
    traces.append(go.Scatter(
        x=[view.target_column], y=[top], mode="markers", marker=dict(size=14, color="#c62828", symbol="star"),
        hovertext=[f"{chosen}: the final embedding explained"], hoverinfo="text",
        name="the chosen token", showlegend=True,
    ))  # fmt: skip
    n_cols = len(view.positions)
    cols = list(range(0, n_cols, tick_step(n_cols, 48)))
    col_labels = [f"{plotly_escape(view.tokens[c])} ({view.positions[c]})" for c in cols]
    blocks = list(range(0, view.n_layers, tick_step(view.n_layers, 16)))
    layout = dict(
        height=int(max(420, 150 + ROW_PX * (top + 1))),
        margin=dict(l=10, r=10, t=40, b=10),
        plot_bgcolor="white",
        hovermode="closest",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0),
        xaxis=dict(
            tickmode="array", tickvals=cols, ticktext=col_labels,
            tickangle=-45, range=[-0.6, n_cols - 0.4], showgrid=False, zeroline=False, automargin=True,
        ),
        yaxis=dict(
            tickmode="array", tickvals=[2 * b for b in blocks] + [top],
            ticktext=[f"block {b}" for b in blocks] + ["final"], range=[-1, top + 1], showgrid=True,
            gridcolor="#f0f0f0", zeroline=False, automargin=True,
        ),
    )  # fmt: skip
    return go.Figure(data=traces, layout=layout)
