"""Figures of the head atlas: one head's standing against every head, and a top example as a shaded strip.
(The layer × head grid is viz.figures.mechanism.layer_head_grid, with its click targets.)"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.figures.layout import CELL_AXIS, SELECTED_RED, WEIGHT_SCALE, red_frame
from viz.views.atlas import ExampleRow, StatisticStanding


def profile_figure(standings: Sequence[StatisticStanding], labels: dict[str, str]) -> go.Figure:
    """One row per statistic: every head's value as a grey dot, this head's as a red diamond."""
    fig = make_subplots(rows=len(standings), cols=1, vertical_spacing=0.045)
    rng = np.random.default_rng(0)  # a fixed vertical jitter so overlapping heads stay visible
    for i, s in enumerate(standings, 1):
        fig.add_trace(
            go.Scatter(
                x=s.all_values, y=rng.uniform(-0.3, 0.3, s.all_values.size), mode="markers",
                marker=dict(size=5, color="rgba(120,120,120,0.45)"), hoverinfo="skip", showlegend=False,
            ),
            row=i, col=1,
        )  # fmt: skip
        if not np.isnan(s.value):
            fig.add_trace(
                go.Scatter(
                    x=[s.value], y=[0], mode="markers", marker=dict(size=12, color=SELECTED_RED, symbol="diamond"),
                    hovertemplate=f"{labels.get(s.statistic, s.statistic)}: %{{x:.4f}}, rank {s.rank} of {s.n_heads}"
                    "<extra></extra>",
                    showlegend=False,
                ),
                row=i, col=1,
            )  # fmt: skip
        fig.update_yaxes(
            showticklabels=True, tickvals=[0], ticktext=[labels.get(s.statistic, s.statistic)], range=[-0.5, 0.5],
            row=i, col=1,
        )  # fmt: skip
    fig.update_yaxes(automargin=True)  # the statistics' names are the row labels: never cut them
    fig.update_layout(height=52 * len(standings) + 60, margin=dict(l=10, r=10, t=10, b=10))
    return fig


def example_figure(row: ExampleRow) -> go.Figure:
    """The window's tokens as one shaded row: the query's weight on each; the query's own cell outlined."""
    fig = go.Figure(
        go.Heatmap(
            z=[row.weights], x=row.plotly, y=["weight"], colorscale=WEIGHT_SCALE, zmin=0.0, zmax=1.0,
            showscale=False, hovertemplate="%{x}: %{z:.4f}<extra></extra>", xgap=1,
        )
    )  # fmt: skip
    if row.query_index is not None:
        fig.add_shape(red_frame(row.query_index - 0.5, row.query_index + 0.5, -0.5, 0.5))
    fig.update_xaxes(tickangle=-45, type="category", automargin=True, **CELL_AXIS)  # every token, labelled
    fig.update_layout(height=190, margin=dict(l=10, r=10, t=10, b=10), yaxis=dict(showticklabels=False) | CELL_AXIS)
    return fig
