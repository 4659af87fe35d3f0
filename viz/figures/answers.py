"""An extractive question-answering model's last block (viz.views.answers): p(start) and p(end) of each token of the
context, as two bars per token."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from viz.figures.layout import PALETTE
from viz.views.answers import AnswerView


def answer_figure(view: AnswerView, labels: Sequence[str], window: slice) -> go.Figure:
    """p(start) and p(end) (y) of each candidate token in `window` (x, `labels`: every token's Plotly-safe label, by
    position), the answer's first and last token outlined."""
    positions = view.candidates[window]
    ticks = [f"{int(i)}: {labels[int(i)]}" for i in positions]
    final = view.spans[-1]
    traces = []
    for row, (name, probs, edge) in enumerate((("start", view.p_start[-1], final.start),
                                               ("end", view.p_end[-1], final.end))):  # fmt: skip
        values = probs[window]
        hover = [f"{t}<br>p({name}) {v:.3f}" for t, v in zip(ticks, values, strict=True)]
        outline = [2 if int(i) == edge else 0 for i in positions]  # the answer's own start and end
        traces.append(go.Bar(x=ticks, y=values, name=f"p({name})", hovertext=hover, hoverinfo="text",
                             marker=dict(color=PALETTE[row], line=dict(color="black", width=outline))))  # fmt: skip
    layout = dict(
        barmode="group", height=360, margin=dict(l=60, r=10, t=30, b=40), plot_bgcolor="white",
        yaxis=dict(title=dict(text="probability"), range=[0, 1], tickformat=".0%", automargin=True),
        xaxis=dict(tickangle=-45, automargin=True, type="category"),
        legend=dict(orientation="h", yref="container", yanchor="bottom", y=0),
    )  # fmt: skip
    return go.Figure(data=traces, layout=layout)
