"""What a protein model expects at each residue (viz.views.residues) as an amino acid × residue heatmap of log p, the
residue's own amino acid ringed."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from viz.figures.layout import MATRIX_X_LABELS, token_axis
from viz.labels import plotly_escape
from viz.views.residues import ResidueView

LOGP_FLOOR = -10.0  # the colour scale's low end: below p ≈ 5e-5 every amino acid looks alike
HOVER_TEXT_MAX = 1024  # residues up to which every cell carries its own hover text (20 strings a residue)


def residue_heatmap(view: ResidueView, title: str = "") -> go.Figure:
    """log p of each amino acid (rows, A to Y) at each residue (columns: 1 = the first after <cls>), with the
    residue's own amino acid marked by a ring."""
    m = len(view.labels)
    labels = [plotly_escape(label) for label in view.labels]  # a typed "<unk>" would be read as markup
    positions = list(range(1, m + 1))
    p = np.exp(view.logp)
    if m <= HOVER_TEXT_MAX:
        text = [[f"{labels[i]}: {letter}<br>p {p[a, i]:.3f}<br>log p {view.logp[a, i]:.2f}" for i in range(m)]
                for a, letter in enumerate(view.letters)]  # fmt: skip
        hover = dict(text=text, hovertemplate="%{text}<extra></extra>")
    else:
        hover = dict(hovertemplate="residue %{x}: %{y}<br>log p %{z:.2f}<extra></extra>")
    heatmap = go.Heatmap(
        z=np.maximum(view.logp, LOGP_FLOOR), x=positions, y=view.letters, **hover, colorscale="Viridis",
        zmin=LOGP_FLOOR, zmax=0.0, colorbar=dict(title=dict(text="log p")), xgap=1 if m <= 60 else 0, ygap=1,
    )  # fmt: skip
    known = np.flatnonzero(view.own >= 0)
    rings = go.Scatter(
        x=[i + 1 for i in known], y=[view.letters[view.own[i]] for i in known], mode="markers", hoverinfo="skip",
        marker=dict(symbol="circle-open", size=9 if m <= 60 else 5, color="white", line=dict(width=2)),
        name="the residue's own amino acid", showlegend=False,
    )  # fmt: skip
    layout = dict(
        xaxis=token_axis(labels, "residue", 1, max_labels=MATRIX_X_LABELS) | dict(tickangle=-45),
        yaxis=dict(title=dict(text="amino acid"), autorange="reversed", dtick=1),
        height=520,
        margin=dict(l=60, r=10, t=40 if title else 20, b=90),
        plot_bgcolor="white",
    )
    if title:
        layout["title"] = dict(text=title)
    return go.Figure(data=[heatmap, rings], layout=layout)
