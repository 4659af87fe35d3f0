"""A hybrid's scan or delta-rule weights for one head (viz.views.implicit) as a query × source heatmap: signed, on a
diverging scale centred at 0, later sources blank (the layer reads none)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from viz.figures.heatmaps import Cells, _cell_hover
from viz.figures.layout import DIVERGING_SCALE, MASKED_GREY, Orientation, matrix_height, oriented, token_matrix_frame
from viz.views.implicit import ImplicitView


def implicit_heatmap(view: ImplicitView, orient: Orientation = "rows", title: str = "") -> go.Figure:
    """weight[t, s] of view's head: red positive, blue negative, white 0; grey where s > t."""
    cells = Cells(view.labels, view.labels, view.first, view.first)  # positions as in the text
    m = len(view.labels)
    later = np.triu(np.ones((m, m), dtype=bool), 1)
    shown = np.where(later, np.nan, view.weights)

    def hover(i: int, j: int) -> str:
        if later[i, j]:
            return f"{cells.where(i, j)}<br>a later token: not read"
        return f"{cells.where(i, j)}<br>weight {view.weights[i, j]:.4g}"

    bound = float(np.max(np.abs(view.weights))) or 1.0
    x_axis, y_axis = cells.axes(orient)
    xs, ys = cells.positions(orient)
    small = m <= 40
    heatmap = go.Heatmap(
        z=oriented(shown, orient), x=xs, y=ys, text=_cell_hover(cells, hover, orient),
        hovertemplate="%{text}<extra></extra>", colorscale=DIVERGING_SCALE, zmin=-bound, zmax=bound, zmid=0.0,
        colorbar=dict(title=dict(text="weight")), xgap=1 if small else 0, ygap=1 if small else 0,
        hoverongaps=True,
    )  # fmt: skip
    frame = token_matrix_frame(x_axis, y_axis, matrix_height(m), title, plot_bgcolor=MASKED_GREY)
    return go.Figure(data=[heatmap], layout=frame)
