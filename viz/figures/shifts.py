"""Figures of the embedding-shifts page: arrows from each token's embedding before attention to after it,
one line per series over layers, a word's path over layers, and which sense each occurrence is closest to."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from viz.figures.label_places import label_boxes, label_positions, labelled_ranges
from viz.figures.layout import (
    CELL_AXIS,
    MASKED_GREY,
    PALETTE,
    SELECTED_RED,
    WEIGHT_SCALE,
    pushing_margins,
    token_axis,
)
from viz.figures.mechanism import MATRIX_MAX_LABELS


def shift_arrows(
    labels: Sequence[str], before: np.ndarray, after: np.ndarray, highlight: int | None, explained: np.ndarray
) -> go.Figure:
    """Arrows from each token's embedding before the attention sublayer to after it (2-D PCA)."""
    # Apart where tokens lie close, and off the arrows; the axes then hold every label (autorange holds markers).
    places = label_positions(before, labels, obstacles=after, lines=np.hstack([before, after]))
    x_range, y_range = labelled_ranges(before, label_boxes(before, labels, places, after), obstacles=after)
    before_points = go.Scatter(
        x=before[:, 0],
        y=before[:, 1],
        mode="markers+text",
        text=list(labels),
        textposition=places,
        marker=dict(size=8, color="#7f7f7f"),
        name="before (entering the layer)",
        hovertemplate="%{text}<br>before<extra></extra>",
    )
    after_points = go.Scatter(
        x=after[:, 0],
        y=after[:, 1],
        mode="markers",
        text=list(labels),
        marker=dict(size=9, color="#1f77b4", symbol="diamond"),
        name="after attention (+ Δe)",
        hovertemplate="%{text}<br>after<extra></extra>",
    )
    # One list of annotations set at once: fig.add_annotation in a loop re-validates the whole list each time
    # (quadratic; at 835 tokens building the figure alone took seconds).
    layout = dict(
        annotations=_arrows(before, after, highlight),
        xaxis=dict(title=dict(text=f"PC1 ({explained[0]:.0%} of variance)"), zeroline=False, range=x_range),
        yaxis=dict(title=dict(text=f"PC2 ({explained[1]:.0%} of variance)"), zeroline=False, range=y_range),
        height=480,
        margin=dict(l=10, r=10, t=30, b=10),
        plot_bgcolor="white",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0),
    )
    return pushing_margins([before_points, after_points], layout)


def _arrows(before: np.ndarray, after: np.ndarray, highlight: int | None) -> list[dict]:
    """One arrow annotation per token, from its point before [n, 2] to after [n, 2]; the highlighted one red."""
    return [
        dict(
            x=float(after[i, 0]),
            y=float(after[i, 1]),
            ax=float(before[i, 0]),
            ay=float(before[i, 1]),
            xref="x",
            yref="y",
            axref="x",
            ayref="y",
            showarrow=True,
            arrowhead=3,
            arrowsize=1.2,
            arrowwidth=2.5 if i == highlight else 1.2,
            arrowcolor=SELECTED_RED if i == highlight else "#1f77b4",
            text="",
        )
        for i in range(len(before))
    ]


def named_source_bars(
    names: Sequence[str], values: np.ndarray, title: str, x_title: str, highlight: str | None
) -> go.Figure:
    """One horizontal bar per named source token ("412: ␣the", already Plotly-escaped), for a chosen subset of
    a long text's sources: the names carry the true positions, so hover and ticks never show a subset index."""
    bars = go.Bar(
        x=np.asarray(values, dtype=np.float64),
        y=list(names),
        orientation="h",
        marker_color=[SELECTED_RED if name == highlight else "#1f77b4" for name in names],
        hovertemplate="source %{y}<br>%{x:.4g}<extra></extra>",
    )
    layout = dict(
        title=dict(text=title, font=dict(size=14)),
        xaxis=dict(title=dict(text=x_title), zeroline=True),
        yaxis=dict(type="category", title=dict(text="source token"), autorange="reversed"),
        height=int(min(760, max(240, 80 + 16 * len(names)))),
        margin=dict(l=10, r=10, t=50, b=10),
        plot_bgcolor="white",
    )
    return pushing_margins([bars], layout)


def named_head_sources(
    matrix: np.ndarray, names: Sequence[str], title: str, allowed: np.ndarray | None = None
) -> go.Figure:
    """[n_heads, k] |A[i, j]·(v_j·W_O[head])| for k named sources ("412: ␣the", already Plotly-escaped).

    `allowed` [k] bool: the sources the query may see; a masked one (a later token, or one outside a sliding
    window) is left grey and says so on hover, not drawn as a source the heads happened to ignore."""
    m = np.asarray(matrix, dtype=np.float64)
    seen = np.ones(m.shape[1], dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)
    hover = [
        [
            f"value {v:.5g}" if ok else "masked: the query cannot see this source"
            for v, ok in zip(row, seen, strict=True)
        ]
        for row in m
    ]
    heatmap = go.Heatmap(
        z=np.where(seen[None, :], m, np.nan).astype(np.float32),  # NaN: the grey background shows
        x=list(names),
        y=[f"head {h}" for h in range(m.shape[0])],
        text=hover,
        colorscale=WEIGHT_SCALE,
        zmin=0.0,
        zmax=float(max(np.max(m[:, seen]), 1e-9)) if seen.any() and m.size else 1.0,
        hovertemplate="%{y}<br>source %{x}<br>%{text}<extra></extra>",
        hoverongaps=True,
        xgap=1 if m.shape[1] <= 40 else 0,  # cells apart, as the other token heatmaps draw them
        ygap=1,
        colorbar=dict(thickness=12),
    )
    layout = dict(
        title=dict(text=title, font=dict(size=14)),
        xaxis=dict(type="category", title=dict(text="source token"), tickangle=-45, **CELL_AXIS),
        yaxis=dict(type="category", title=dict(text="head"), autorange="reversed", **CELL_AXIS),
        height=int(max(320, 120 + 24 * m.shape[0])),
        margin=dict(l=10, r=10, t=50, b=10),
        plot_bgcolor=MASKED_GREY if not seen.all() else "white",
    )
    return pushing_margins([heatmap], layout)


# The residual entering layer l for l = 0..L−1; point L is the model's output, the residual leaving the last layer.
RESIDUAL_AXIS = "input of layer (last: output)"


def layer_lines(series: dict[str, np.ndarray], title: str, y_title: str, x_title: str = RESIDUAL_AXIS) -> go.Figure:
    """One line per named series over layers 0..L (names must be Plotly-escaped)."""
    lines = []
    for k, (name, ys) in enumerate(series.items()):
        lines.append(
            go.Scatter(
                x=np.arange(len(ys)),
                y=np.asarray(ys, dtype=np.float64),
                mode="lines+markers",
                name=name,
                line=dict(color=PALETTE[k % len(PALETTE)]),
                marker=dict(size=4),
                hovertemplate=f"{name}<br>layer %{{x}}: %{{y:.4f}}<extra></extra>",
            )
        )
    layout = dict(
        title=dict(text=title, font=dict(size=14)),
        xaxis=dict(title=dict(text=x_title)),
        yaxis=dict(title=dict(text=y_title)),
        height=400 + 22 * len(series),
        margin=dict(l=10, r=10, t=50, b=60 + 22 * len(series)),  # room for one legend line per series
        plot_bgcolor="white",
        legend=dict(orientation="h", yref="container", yanchor="bottom", y=0, x=0),
    )
    return pushing_margins(lines, layout)


def trajectories_figure(names: Sequence[str], coords: np.ndarray, explained: np.ndarray) -> go.Figure:
    """Each sentence's word embedding as a path over layers (joint 2-D PCA); first and last layers marked."""
    n_points = coords.shape[1]
    paths, ends = [], []
    for k, name in enumerate(names):
        c = PALETTE[k % len(PALETTE)]
        paths.append(
            go.Scatter(
                x=coords[k, :, 0],
                y=coords[k, :, 1],
                mode="lines+markers",
                name=name,
                line=dict(color=c),
                marker=dict(size=[10] + [4] * (n_points - 2) + [10], symbol=["circle"] + ["circle"] * (n_points - 1)),
                customdata=np.arange(n_points),
                hovertemplate=f"{name}<br>layer %{{customdata}}<extra></extra>",
            )
        )
        ends.append(dict(
            x=float(coords[k, -1, 0]),
            y=float(coords[k, -1, 1]),
            text=f"L{n_points - 1}",
            showarrow=False,
            yshift=10,
            font=dict(color=c, size=10),
        ))  # fmt: skip
    start = dict(
        x=float(coords[0, 0, 0]), y=float(coords[0, 0, 1]), text="L0", showarrow=False, yshift=10, font=dict(size=10)
    )
    layout = dict(
        annotations=[*ends, start],
        xaxis=dict(title=dict(text=f"PC1 ({explained[0]:.0%})"), zeroline=False),
        yaxis=dict(title=dict(text=f"PC2 ({explained[1]:.0%})"), zeroline=False),
        height=420 + 22 * len(names),
        margin=dict(l=10, r=10, t=30, b=60 + 22 * len(names)),
        plot_bgcolor="white",
        legend=dict(orientation="h", yref="container", yanchor="bottom", y=0, x=0),
    )
    return pushing_margins(paths, layout)


def closest_sense_figure(
    sentences: Sequence[str], senses: Sequence[str], closest: np.ndarray, similarity: np.ndarray
) -> go.Figure:
    """Rows: occurrences; columns: layers; colour and text: the closest sense reference."""
    n_s, n_layers = closest.shape
    colorscale = []
    k = max(1, len(senses))
    for idx in range(k):
        c = PALETTE[idx % len(PALETTE)]
        colorscale += [[idx / k, c], [(idx + 1) / k, c]]
    hover = _sense_hover(sentences, senses, closest, similarity)
    heatmap = go.Heatmap(
        z=np.where(closest >= 0, closest + 0.5, np.nan),  # ties (-1) show the grey background
        x=np.arange(n_layers),
        y=np.arange(n_s),
        zmin=0,
        zmax=k,
        colorscale=colorscale,
        showscale=False,
        text=hover,
        hovertemplate="%{text}<extra></extra>",
        xgap=1,
        ygap=2,
    )
    layout = dict(
        xaxis=dict(title=dict(text=RESIDUAL_AXIS)) | CELL_AXIS,
        yaxis=token_axis(list(sentences), "", max_labels=MATRIX_MAX_LABELS) | dict(autorange="reversed"),
        height=int(120 + 40 * n_s),
        margin=dict(l=10, r=10, t=30, b=10),
        plot_bgcolor=MASKED_GREY,
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, title=dict(text="closest sense:")),
    )
    return pushing_margins([heatmap, *_sense_legend(senses, tie=bool((closest < 0).any()))], layout)


def _sense_hover(
    sentences: Sequence[str], senses: Sequence[str], closest: np.ndarray, similarity: np.ndarray
) -> list[list[str]]:
    """[n_sentences][n_layers] hover: the closest sense (or a tie) and the cosine to every sense."""
    n_s, n_layers = closest.shape
    return [
        [
            f"{sentences[s]}<br>layer {layer}: "
            + (f"closest to {senses[closest[s, layer]]}<br>" if closest[s, layer] >= 0 else "a tie<br>")
            + "<br>".join(f"cos to {senses[r]}: {similarity[s, r, layer]:.4f}" for r in range(len(senses)))
            for layer in range(n_layers)
        ]
        for s in range(n_s)
    ]


def _sense_legend(senses: Sequence[str], tie: bool) -> list[go.Scatter]:
    """A legend for the sense colours: one invisible marker per sense (and one for ties)."""
    markers = []
    for idx, name in enumerate(senses):
        markers.append(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                marker=dict(size=12, color=PALETTE[idx % len(PALETTE)], symbol="square"),
                name=name,
            )
        )
    if tie:
        markers.append(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                marker=dict(size=12, color=MASKED_GREY, symbol="square"),
                name="tie (identical embeddings)",
            )
        )
    return markers
