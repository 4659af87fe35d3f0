"""Vectors drawn as strips of colour: a token's q, k and v in one head, one row each, on diverging scales."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from viz.figures.layout import CELL_AXIS, DIVERGING_SCALE, pushing_margins


def vector_strips(
    rows: Sequence[tuple[str, np.ndarray]],
    title: str,
    x_title: str = "d_head",
    scales: Sequence[str] | None = None,
) -> go.Figure:
    """Vectors as strips, one row each (label, values), on diverging colour scales centred on 0. Rows with the
    same name in `scales` share a scale so they compare (q and k, which the score multiplies); each scale has
    its own colour bar titled with its name. With no `scales`, one scale for all rows.

    Labels must be Plotly-safe (viz.labels). Vectors may differ in length (latent attention's values are narrower
    than its queries and keys): each starts at dimension 0, and a shorter one ends in empty cells."""
    vectors = [np.asarray(v, dtype=np.float64) for _, v in rows]
    m = np.full((len(vectors), max(v.size for v in vectors)), np.nan)  # (rows, d): the longest vector's width
    for row, v in enumerate(vectors):
        m[row, : v.size] = v
    scales = list(scales) if scales is not None else [""] * len(rows)
    names = [label for label, _ in rows]
    groups = list(dict.fromkeys(scales))  # in first-seen order
    traces, layout = [], {}
    for g, group in enumerate(groups):
        mine = np.array([scale == group for scale in scales])
        z = np.where(mine[:, None], m, np.nan)  # (rows, d): the other scales' rows left empty
        bound = float(max(np.nanmax(np.abs(m[mine])), 1e-12))
        axis = "coloraxis" if g == 0 else f"coloraxis{g + 1}"
        traces.append(
            go.Heatmap(
                z=z.astype(np.float32),
                x=np.arange(m.shape[1]),
                y=np.arange(m.shape[0]),
                coloraxis=axis,
                customdata=[[name] * m.shape[1] for name in names],
                hovertemplate="%{customdata}<br>dimension %{x}<br>value %{z:.5g}<extra></extra>",
                ygap=3,
                hoverongaps=False,
            )
        )
        bar = _stacked_colour_bar(g, len(groups), group)
        layout[axis] = dict(colorscale=DIVERGING_SCALE, cmin=-bound, cmax=bound, colorbar=bar)
    # Built at once (pushing_margins): Inside one head draws several of these a rerun, and each update_layout on a
    # built figure costs more than the whole figure built in one call (docs/performance.md).
    layout |= dict(
        title=dict(text=title, font=dict(size=14)),
        xaxis=dict(title=dict(text=x_title), range=[-0.5, m.shape[1] - 0.5]) | CELL_AXIS,
        yaxis=dict(tickmode="array", tickvals=list(range(len(names))), ticktext=names, autorange="reversed")
        | CELL_AXIS,
        height=int(90 + 36 * len(names)),  # 36 px a row: two stacked colour bars need room for their ticks
        margin=dict(l=10, r=10, t=40, b=10),
        plot_bgcolor="white",
    )
    return pushing_margins(traces, layout)


def _stacked_colour_bar(g: int, n_bars: int, title: str) -> dict:
    """Colour bar g of n_bars, stacked top to bottom at the plot's right edge: side by side, bars placed in
    fractions of the width ran into each other on a phone, and a title above a full-height bar into the figure's."""
    share = 1.0 / n_bars
    top = 1.0 - g * share  # this bar's slot, in fractions of the plot's height
    return dict(
        thickness=12,
        x=1.0,
        xanchor="left",
        len=share * 0.8,  # the rest of the slot holds the title above the bar
        y=top - share,
        yanchor="bottom",
        title=dict(text=title, side="top"),
    )
