"""A sequence classifier's verdict after every block (viz.views.classes) as one line per label."""

from __future__ import annotations

import plotly.graph_objects as go

from viz.figures.layout import PALETTE
from viz.labels import plotly_escape
from viz.views.classes import SCORE_WORDS, ClassView


def class_track_figure(view: ClassView, title: str = "") -> go.Figure:
    """Each label's score (y) after each block (x); the last block's scores are the model's own verdict."""
    traces = []
    blocks = list(range(view.scores.shape[0]))
    kind = SCORE_WORDS.get(view.problem, "score")
    block = "decoder block" if view.pool == "decoder_eos" else "block"  # BART's head reads its decoder's
    for i, label in enumerate(view.labels):
        name = f"‘{plotly_escape(label)}’"  # quoted, as the lens quotes tokens
        hover = [f"{name}<br>after {block} {b}: {kind} {s:.3f}" for b, s in zip(blocks, view.scores[:, i], strict=True)]
        colour = PALETTE[i % len(PALETTE)]
        traces.append(go.Scatter(x=blocks, y=view.scores[:, i], mode="lines+markers", name=name, hovertext=hover,
                                 hoverinfo="text", line=dict(color=colour), marker=dict(color=colour),
                                 cliponaxis=False))  # fmt: skip
    probability = view.problem != "regression"
    layout = dict(
        yaxis=dict(title=dict(text=kind.split(",")[0]), automargin=True)
        | (dict(range=[0, 1], tickformat=".0%") if probability else {}),
        xaxis=dict(title=dict(text=f"after {block} (layer)"), automargin=True)
        | (dict(dtick=1) if len(blocks) <= 32 else {}),
        height=380, margin=dict(l=70, r=10, t=50, b=40), plot_bgcolor="white",
        legend=dict(orientation="h", yref="container", yanchor="bottom", y=0),
    )  # fmt: skip
    if title:
        layout["title"] = dict(text=title)
    return go.Figure(data=traces, layout=layout)
