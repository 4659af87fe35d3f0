"""A protein model's contact map (viz.views.contacts) as a residue × residue heatmap: P(touching) from 0 to 1, the
likeliest long-range pairs framed."""

from __future__ import annotations

import plotly.graph_objects as go

from viz.figures.layout import MATRIX_X_LABELS, WEIGHT_SCALE, matrix_height, red_frame, token_axis, token_matrix_frame
from viz.labels import plotly_escape
from viz.views.contacts import ContactView

HOVER_TEXT_MAX = 256  # residues up to which every cell carries its own hover text (the patterns page's full-res limit)


def contact_heatmap(view: ContactView, title: str = "") -> go.Figure:
    """P(residues i and j touch), residues along both axes (1 = the first after <cls>), the top pairs in red."""
    m = len(view.labels)
    p = view.probabilities
    labels = [plotly_escape(label) for label in view.labels]  # a typed "<unk>" would be read as markup
    positions = list(range(1, m + 1))
    if m <= HOVER_TEXT_MAX:  # each cell's own words; past that, m² strings would weigh tens of MB: positions only
        hover = dict(text=[[f"{labels[i]} and {labels[j]}<br>{abs(i - j)} apart<br>P(contact) {p[i, j]:.3f}"
                            for j in range(m)] for i in range(m)], hovertemplate="%{text}<extra></extra>")  # fmt: skip
    else:
        hover = dict(hovertemplate="residues %{y} and %{x}<br>P(contact) %{z:.3f}<extra></extra>")
    heatmap = go.Heatmap(
        z=p, x=positions, y=positions, **hover,
        colorscale=WEIGHT_SCALE, zmin=0.0, zmax=1.0, colorbar=dict(title=dict(text="P(contact)")),
        xgap=1 if m <= 40 else 0, ygap=1 if m <= 40 else 0,
    )  # fmt: skip
    frames = [red_frame(j + 0.5, j + 1.5, i + 0.5, i + 1.5, width=1) for i, j, _ in view.top]  # above the diagonal
    x_axis = token_axis(labels, "residue", 1, max_labels=MATRIX_X_LABELS)
    frame = token_matrix_frame(x_axis, token_axis(labels, "residue", 1), matrix_height(m), title, shapes=frames)
    return go.Figure(data=[heatmap], layout=frame)
