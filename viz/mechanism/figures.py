"""Pure Plotly figure builders for the mechanism pages: numpy + labels in, go.Figure out.

Labels must arrive escaped for Plotly (viz.labels.plotly_tokens / common.token_labels); token axes use
integer positions with tickvals/ticktext so repeated tokens stay separate rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from viz.labels import plotly_escape

WEIGHT_SCALE = "Blues"
DIVERGING_SCALE = "RdBu_r"
MASKED_GREY = "#c8c8c8"
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"]


def _auto(fig: go.Figure) -> go.Figure:
    # Tight margins everywhere, but let tick labels and axis titles push the plot in instead of being
    # clipped (long token labels, log-axis units).
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    return fig


def _axis(labels: Sequence[str] | None, n: int, title: str, max_labels: int = 48) -> dict:
    axis: dict = dict(title=dict(text=title), showgrid=False, zeroline=False, automargin=True)
    axis["range"] = [-0.5, n - 0.5]
    if labels is not None:
        step = max(1, math.ceil(n / max_labels))
        idx = list(range(0, n, step))
        axis.update(tickmode="array", tickvals=idx, ticktext=[labels[i] for i in idx])
    return axis


def matrix_heatmap(
    matrix: np.ndarray,
    title: str,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    x_title: str = "",
    y_title: str = "",
    kind: str = "diverging",
    highlight: tuple[int, int] | None = None,
    height: int | None = None,
    row_bands: int | None = None,
    band_highlight: int | None = None,
) -> go.Figure:
    """A labelled heatmap of any matrix (rows down, columns across), shape in the title.

    kind: "diverging" (signed values, white = 0), "weight" (0..1), "scores" (signed, −∞ drawn grey).
    row_bands: draw a line every `row_bands` rows (the heads of a stacked output matrix);
    band_highlight: frame that band (the selected head's value-up).
    """
    m = np.asarray(matrix, dtype=np.float64)
    n_rows, n_cols = m.shape
    finite = m[np.isfinite(m)]
    z = np.where(np.isfinite(m), m, np.nan).astype(np.float32)  # NaN cells show the grey background
    if kind == "weight":
        scale, zmin, zmax, zmid = WEIGHT_SCALE, 0.0, float(max(finite.max() if finite.size else 1.0, 1e-9)), None
    else:
        # Residual streams have a few outlier dimensions hundreds of times larger than the rest; a colour
        # scale spanning them would paint everything else white. Saturate at the 99.5th percentile of
        # |value| (hover still shows every exact value) unless the matrix is small enough to show whole.
        mags = np.abs(finite)
        bound = float(mags.max()) if mags.size else 1.0
        if mags.size > 400:
            bound = float(max(np.percentile(mags, 99.5), 1e-12))
        scale, zmin, zmax, zmid = DIVERGING_SCALE, -bound, bound, None
    rname = y_title or "row"
    cname = x_title or "column"
    hover = f"{rname} %{{y}}<br>{cname} %{{x}}<br>value %{{z:.5g}}<extra></extra>"
    small = n_rows <= 40 and n_cols <= 40
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=np.arange(n_cols),
            y=np.arange(n_rows),
            colorscale=scale,
            zmin=zmin,
            zmax=zmax,
            zmid=zmid,
            hovertemplate=hover,
            xgap=1 if small else 0,
            ygap=1 if small else 0,
            colorbar=dict(thickness=12),
        )
    )
    if highlight is not None:
        i, j = highlight
        fig.add_shape(type="rect", x0=j - 0.5, x1=j + 0.5, y0=i - 0.5, y1=i + 0.5, line=dict(color="#d62728", width=3))
    if row_bands:
        for r in range(row_bands, n_rows, row_bands):
            fig.add_hline(y=r - 0.5, line=dict(color="#555", width=0.5))
        if band_highlight is not None:
            fig.add_shape(
                type="rect",
                x0=-0.5,
                x1=n_cols - 0.5,
                y0=band_highlight * row_bands - 0.5,
                y1=(band_highlight + 1) * row_bands - 0.5,
                line=dict(color="#d62728", width=2),
            )
    if height is None:
        if row_labels is not None and col_labels is not None:  # query × key: keep cells roughly square
            height = int(min(640, max(380, 150 + 24 * n_rows)))
        elif row_labels is not None:
            height = int(min(560, max(260, 110 + 20 * n_rows)))
        else:
            height = 320
    fig.update_layout(
        title=dict(text=title, font=dict(size=14)),
        xaxis=_axis(col_labels, n_cols, x_title) | (dict(tickangle=-45) if col_labels is not None else {}),
        yaxis=_axis(row_labels, n_rows, y_title) | dict(autorange="reversed"),
        height=height,
        margin=dict(l=10, r=10, t=50, b=10),
        plot_bgcolor=MASKED_GREY if kind == "scores" else "white",
    )
    return _auto(fig)


def source_bars(labels: Sequence[str], values: np.ndarray, title: str, x_title: str, highlight: int) -> go.Figure:
    """One horizontal bar per source token (signed values allowed)."""
    n = len(labels)
    colors = ["#d62728" if i == highlight else "#1f77b4" for i in range(n)]
    fig = go.Figure(
        go.Bar(
            x=np.asarray(values, dtype=np.float64),
            y=np.arange(n),
            orientation="h",
            marker_color=colors,
            hovertemplate="source %{y}<br>%{x:.4g}<extra></extra>",
        )
    )
    fig.update_layout(
        title=dict(text=title, font=dict(size=14)),
        xaxis=dict(title=dict(text=x_title), zeroline=True),
        yaxis=_axis(labels, n, "source token") | dict(autorange="reversed"),
        height=int(min(520, max(240, 80 + 22 * n))),
        margin=dict(l=10, r=10, t=50, b=10),
        plot_bgcolor="white",
    )
    return _auto(fig)


def shift_arrows(
    labels: Sequence[str], before: np.ndarray, after: np.ndarray, highlight: int | None, explained: np.ndarray
) -> go.Figure:
    """Arrows from each token's embedding before the attention sublayer to after it (2-D PCA)."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=before[:, 0],
            y=before[:, 1],
            mode="markers+text",
            text=list(labels),
            textposition="bottom center",
            marker=dict(size=8, color="#7f7f7f"),
            name="before (entering the layer)",
            hovertemplate="%{text}<br>before<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=after[:, 0],
            y=after[:, 1],
            mode="markers",
            text=list(labels),
            marker=dict(size=9, color="#1f77b4", symbol="diamond"),
            name="after attention (+ Δe)",
            hovertemplate="%{text}<br>after<extra></extra>",
        )
    )
    for i in range(len(labels)):
        color = "#d62728" if i == highlight else "#1f77b4"
        fig.add_annotation(
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
            arrowcolor=color,
            text="",
        )
    fig.update_layout(
        xaxis=dict(title=dict(text=f"PC1 ({explained[0]:.0%} of variance)"), zeroline=False),
        yaxis=dict(title=dict(text=f"PC2 ({explained[1]:.0%} of variance)"), zeroline=False),
        height=480,
        margin=dict(l=10, r=10, t=30, b=10),
        plot_bgcolor="white",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0),
    )
    return _auto(fig)


def layer_lines(
    series: dict[str, np.ndarray], title: str, y_title: str, x_title: str = "layer (residual entering block)"
) -> go.Figure:
    """One line per named series over layers 0..L (names must be Plotly-escaped)."""
    fig = go.Figure()
    for k, (name, ys) in enumerate(series.items()):
        fig.add_trace(
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
    fig.update_layout(
        title=dict(text=title, font=dict(size=14)),
        xaxis=dict(title=dict(text=x_title)),
        yaxis=dict(title=dict(text=y_title)),
        height=400 + 22 * len(series),
        margin=dict(l=10, r=10, t=50, b=60 + 22 * len(series)),  # room for one legend line per series
        plot_bgcolor="white",
        legend=dict(orientation="h", yref="container", yanchor="bottom", y=0, x=0),
    )
    return _auto(fig)


def trajectories_figure(names: Sequence[str], coords: np.ndarray, explained: np.ndarray) -> go.Figure:
    """Each sentence's word embedding as a path over layers (joint 2-D PCA); first and last layers marked."""
    fig = go.Figure()
    n_points = coords.shape[1]
    for k, name in enumerate(names):
        c = PALETTE[k % len(PALETTE)]
        fig.add_trace(
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
        fig.add_annotation(
            x=float(coords[k, -1, 0]),
            y=float(coords[k, -1, 1]),
            text=f"L{n_points - 1}",
            showarrow=False,
            yshift=10,
            font=dict(color=c, size=10),
        )
    fig.add_annotation(
        x=float(coords[0, 0, 0]), y=float(coords[0, 0, 1]), text="L0", showarrow=False, yshift=10, font=dict(size=10)
    )
    fig.update_layout(
        xaxis=dict(title=dict(text=f"PC1 ({explained[0]:.0%})"), zeroline=False),
        yaxis=dict(title=dict(text=f"PC2 ({explained[1]:.0%})"), zeroline=False),
        height=420 + 22 * len(names),
        margin=dict(l=10, r=10, t=30, b=60 + 22 * len(names)),
        plot_bgcolor="white",
        legend=dict(orientation="h", yref="container", yanchor="bottom", y=0, x=0),
    )
    return _auto(fig)


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
    hover = [
        [
            f"{sentences[s]}<br>layer {layer}: "
            + (f"closest to {senses[closest[s, layer]]}<br>" if closest[s, layer] >= 0 else "a tie<br>")
            + "<br>".join(f"cos to {senses[r]}: {similarity[s, r, layer]:.4f}" for r in range(len(senses)))
            for layer in range(n_layers)
        ]
        for s in range(n_s)
    ]
    fig = go.Figure(
        go.Heatmap(
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
    )
    for idx, name in enumerate(senses):  # a legend: one invisible marker per sense
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                marker=dict(size=12, color=PALETTE[idx % len(PALETTE)], symbol="square"),
                name=name,
            )
        )
    if (closest < 0).any():
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                marker=dict(size=12, color=MASKED_GREY, symbol="square"),
                name="tie (identical embeddings)",
            )
        )
    fig.update_layout(
        xaxis=dict(title=dict(text="layer (residual entering block)"), showgrid=False),
        yaxis=_axis(list(sentences), n_s, "") | dict(autorange="reversed"),
        height=int(120 + 40 * n_s),
        margin=dict(l=10, r=10, t=30, b=10),
        plot_bgcolor=MASKED_GREY,
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, title=dict(text="closest sense:")),
    )
    return _auto(fig)


def layer_head_grid(
    values: np.ndarray, title: str, colorbar: str, selected: tuple[int, int] | None = None
) -> go.Figure:
    """[n_layers, n_heads] as a heatmap: rows = layers, columns = heads."""
    n_layers, n_heads = values.shape
    fig = go.Figure(
        go.Heatmap(
            z=np.asarray(values, dtype=np.float32),
            x=np.arange(n_heads),
            y=np.arange(n_layers),
            colorscale=WEIGHT_SCALE,
            zmin=0.0,
            zmax=float(max(np.nanmax(values), 1e-9)),
            colorbar=dict(title=dict(text=colorbar), thickness=12),
            hovertemplate="layer %{y}, head %{x}<br>%{z:.4f}<extra></extra>",
            xgap=1,
            ygap=1,
        )
    )
    if selected is not None:
        layer, head = selected
        fig.add_shape(
            type="rect",
            x0=head - 0.5,
            x1=head + 0.5,
            y0=layer - 0.5,
            y1=layer + 0.5,
            line=dict(color="#d62728", width=3),
        )
    fig.update_layout(
        title=dict(text=title, font=dict(size=14)),
        xaxis=dict(title=dict(text="head"), tickmode="linear", dtick=1),
        yaxis=dict(title=dict(text="layer"), autorange="reversed", tickmode="linear", dtick=max(1, n_layers // 15)),
        height=int(min(640, max(260, 80 + 16 * n_layers))),
        margin=dict(l=10, r=10, t=50, b=10),
        plot_bgcolor="white",
    )
    return _auto(fig)


def context_growth(
    lengths: Sequence[int], bytes_fp16: Sequence[float], bytes_fp32: Sequence[float], title: str
) -> go.Figure:
    """Memory of every attention pattern of one pass (layers × heads × n²) against context length."""
    fig = go.Figure()
    for name, ys, c in (("fp16 (2 bytes)", bytes_fp16, "#1f77b4"), ("fp32 (4 bytes)", bytes_fp32, "#d62728")):
        fig.add_trace(
            go.Scatter(
                x=list(lengths),
                y=list(ys),
                mode="lines+markers",
                name=name,
                line=dict(color=c),
                hovertemplate="n = %{x}<br>%{y:.3s}B<extra></extra>",
            )
        )
    fig.update_layout(
        title=dict(text=plotly_escape(title), font=dict(size=14)),
        xaxis=dict(title=dict(text="context length n (tokens)"), type="log"),
        yaxis=dict(title=dict(text="bytes for all patterns"), type="log"),
        height=380,
        margin=dict(l=10, r=10, t=50, b=90),
        plot_bgcolor="white",
        legend=dict(orientation="h", yref="container", yanchor="bottom", y=0, x=0),
    )
    return _auto(fig)


def timing_figure(lengths: Sequence[int], seconds: Sequence[float], title: str) -> go.Figure:
    fig = go.Figure(
        go.Scatter(
            x=list(lengths),
            y=list(seconds),
            mode="lines+markers+text",
            text=[f"{s:.3f} s" for s in seconds],
            textposition="top left",
            line=dict(color="#2ca02c"),
            hovertemplate="n = %{x}<br>%{y:.4f} s<extra></extra>",
        )
    )
    fig.update_layout(
        title=dict(text=plotly_escape(title), font=dict(size=14)),
        xaxis=dict(title=dict(text="tokens"), type="log"),
        yaxis=dict(title=dict(text="seconds (best of runs)"), type="log"),
        height=380,
        margin=dict(l=10, r=10, t=50, b=10),
        plot_bgcolor="white",
    )
    return _auto(fig)
