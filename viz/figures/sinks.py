"""GPT-OSS's attention sinks: the weight each query gives its head's sink, the part of its row that no key gets."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from viz.figures.layout import token_axis

SINK_COLOUR = "#8c564b"  # brown: apart from the weight scale's blues


def sink_share_bars(labels: Sequence[str], shares: np.ndarray) -> go.Figure:
    """One bar per query (its position, labelled with its token; `labels` escaped for Plotly): the weight it gives
    the head's sink, 1 − the sum of its row."""
    positions = list(range(len(shares)))
    bars = go.Bar(
        x=positions,
        y=shares,
        marker_color=SINK_COLOUR,
        customdata=list(labels),
        hovertemplate="query %{x} %{customdata}: %{y:.4f} of its weight to the sink<extra></extra>",
    )
    layout = dict(
        height=240,
        margin=dict(l=60, r=20, t=10, b=70),
        xaxis=token_axis(labels, "query"),
        yaxis=dict(title=dict(text="to the sink"), range=[0, 1]),
        bargap=0.15,
    )
    return go.Figure(data=[bars], layout=layout)
