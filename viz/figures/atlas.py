"""Figures of the head atlas: one head's standing against every head, and a top example as a shaded strip.
(The layer × head grid is viz.figures.mechanism.layer_head_grid, with its click targets.)"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from viz.figures.layout import CELL_AXIS, SELECTED_RED, WEIGHT_SCALE, notes_and_shapes, pushing_margins, red_frame
from viz.figures.panels import axis_suffix, subplot_grid
from viz.views.atlas import ExampleRow, HeadPoints, StatisticStanding


def profile_figure(standings: Sequence[StatisticStanding], labels: dict[str, str]) -> go.Figure:
    """One row per statistic: every head's value as a grey dot, this head's as a red diamond."""
    layout = subplot_grid(len(standings), 1, vertical_spacing=0.045)
    rng = np.random.default_rng(0)  # a fixed vertical jitter so overlapping heads stay visible
    traces = []
    for i, s in enumerate(standings, 1):
        axes = dict(xaxis=f"x{axis_suffix(i)}", yaxis=f"y{axis_suffix(i)}")
        traces.append(go.Scatter(
            x=s.all_values, y=rng.uniform(-0.3, 0.3, s.all_values.size), mode="markers",
            marker=dict(size=5, color="rgba(120,120,120,0.45)"), hoverinfo="skip", showlegend=False, **axes,
        ))  # fmt: skip
        name = labels.get(s.statistic, s.statistic)
        if not np.isnan(s.value):
            traces.append(go.Scatter(
                x=[s.value], y=[0], mode="markers", marker=dict(size=12, color=SELECTED_RED, symbol="diamond"),
                hovertemplate=f"{name}: %{{x:.4f}}, rank {s.rank} of {s.n_heads}<extra></extra>", showlegend=False,
                **axes,
            ))  # fmt: skip
        # automargin: the statistics' names are the row labels, never cut them
        row_axis = dict(showticklabels=True, tickvals=[0], ticktext=[name], range=[-0.5, 0.5], automargin=True)
        layout[f"yaxis{axis_suffix(i)}"] |= row_axis
    # b: the last row's tick labels hang below its axis (they were cut in half at the bottom edge)
    layout |= dict(height=52 * len(standings) + 80, margin=dict(l=10, r=10, t=10, b=30))
    return go.Figure(data=traces, layout=layout)


def example_figure(row: ExampleRow) -> go.Figure:
    """The window's tokens as one shaded row: the query's weight on each; the query's own cell outlined in red,
    the key the value is about dashed (a gap cell, blank, stands for the tokens between two windows)."""
    heatmap = go.Heatmap(
        z=[row.weights], x=row.plotly, y=["weight"], colorscale=WEIGHT_SCALE, zmin=0.0, zmax=1.0,
        showscale=False, hovertemplate="%{x}: %{z:.4f}<extra></extra>", xgap=1, hoverongaps=False,
    )  # fmt: skip
    shapes = []
    if row.focus_index is not None and row.focus_index != row.query_index:
        shapes.append(
            dict(type="rect", x0=row.focus_index - 0.5, x1=row.focus_index + 0.5, y0=-0.5, y1=0.5,
                 line=dict(color=SELECTED_RED, width=2, dash="dot"))
        )  # fmt: skip
    if row.query_index is not None:
        shapes.append(red_frame(row.query_index - 0.5, row.query_index + 0.5, -0.5, 0.5))
    layout = dict(
        height=190, margin=dict(l=10, r=10, t=10, b=10),
        xaxis=dict(tickangle=-45, type="category", automargin=True) | CELL_AXIS,  # every token, labelled
        yaxis=dict(showticklabels=False, ticks="") | CELL_AXIS,  # one row: no label, no tick mark
    )  # fmt: skip
    return go.Figure(data=[heatmap], layout=layout | notes_and_shapes([], shapes))


def head_scatter(points: HeadPoints, x_title: str, y_title: str, selected: tuple[int, int]) -> go.Figure:
    """Every head as a point, one statistic against another; a click selects the head (customdata (layer, head),
    as the grid's click targets), and the `selected` head is a red diamond."""
    custom = np.stack([points.layers, points.heads], axis=1)
    hover = f"layer %{{customdata[0]}}, head %{{customdata[1]}}<br>{x_title}: %{{x:.4f}}<br>{y_title}: %{{y:.4f}}"
    traces = [go.Scatter(
        x=points.x, y=points.y, mode="markers", customdata=custom, marker=dict(size=7, color="rgba(70,90,140,0.6)"),
        hovertemplate=hover + "<extra></extra>", showlegend=False,
    )]  # fmt: skip
    mine = (points.layers == selected[0]) & (points.heads == selected[1])
    if mine.any():
        traces.append(go.Scatter(
            x=points.x[mine], y=points.y[mine], mode="markers", customdata=custom[mine],
            marker=dict(size=13, color=SELECTED_RED, symbol="diamond"), hovertemplate=hover + "<extra></extra>",
            showlegend=False,
        ))  # fmt: skip
    layout = dict(
        height=380, margin=dict(l=10, r=10, t=10, b=10), dragmode=False,
        xaxis=dict(title=dict(text=x_title)), yaxis=dict(title=dict(text=y_title)),
    )  # fmt: skip
    return pushing_margins(traces, layout)
