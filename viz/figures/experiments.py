"""Figures of the experiments page: next-token probabilities before and after a change, how far the
residual stream moved, the ablation sweep over every head, and one head's pattern at a temperature."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.figures.layout import WEIGHT_SCALE, Orientation, axis_titles, no_heads, oriented, tick_step
from viz.labels import plotly_escape
from viz.views.experiments import PredictionRow

BEFORE_COLOUR = "#7f9cc0"
AFTER_COLOUR = "#d9572b"


def _layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    """The experiments page's figure frame: a left-aligned title, a legend on top right, white template."""
    fig.update_layout(
        title=dict(text=title, x=0.0, xanchor="left", font=dict(size=15)),
        height=height,
        margin=dict(l=10, r=10, t=60, b=40),
        template="plotly_white",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
    )
    return fig


def prediction_bars(
    rows: Sequence[PredictionRow], title: str, with_after: bool, guessed: str = "the next token"
) -> go.Figure:
    """Horizontal bars of next-token probabilities (`guessed`: what is predicted, for the axis: a masked-language
    model's "the token at 8"), most likely at the top; before (and after) side by side."""
    labels = [f"‘{plotly_escape(r.token)}’" for r in rows]  # quoted: ',' or '.' alone is hard to see
    y = list(range(len(rows)))
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=[r.p_before for r in rows],
            y=y,
            orientation="h",
            name="before" if with_after else "probability",
            marker_color=BEFORE_COLOUR,
            customdata=[[lab, r.rank_before] for lab, r in zip(labels, rows, strict=True)],
            hovertemplate="%{customdata[0]}: p = %{x:.4f} (rank %{customdata[1]})<extra></extra>",
            texttemplate="%{x:.3f}",
            textposition="outside",
        )
    )
    if with_after:
        fig.add_trace(
            go.Bar(
                x=[r.p_after for r in rows],
                y=y,
                orientation="h",
                name="after",
                marker_color=AFTER_COLOUR,
                customdata=[[lab, r.rank_after] for lab, r in zip(labels, rows, strict=True)],
                hovertemplate="%{customdata[0]}: p = %{x:.4f} after (rank %{customdata[1]})<extra></extra>",
                texttemplate="%{x:.3f}",
                textposition="outside",
            )
        )
    top = max([r.p_before for r in rows] + ([r.p_after for r in rows] if with_after else []) + [1e-9])
    fig.update_layout(barmode="group", bargap=0.25)
    fig.update_yaxes(tickvals=y, ticktext=labels, autorange="reversed", title=None, tickfont=dict(size=13))
    # Room past the longest bar for its number (an axis stopped at 1.0 left none for a bar near 1: Plotly dropped the
    # label); ticks stop at 1, a probability's limit.
    fig.update_xaxes(title=f"probability of {guessed}", range=[0, top * 1.25])
    if top * 1.25 > 1.0:
        fig.update_xaxes(tickvals=[0, 0.2, 0.4, 0.6, 0.8, 1.0])
    return _layout(fig, title, 120 + (34 if with_after else 24) * len(rows))


def drift_figure(
    drift: np.ndarray, position: int, labels: Sequence[str], intervened_layers: Sequence[int], title: str
) -> go.Figure:
    """Relative change of the residual stream per layer: the chosen position bold, every other position thin.

    `drift` is [n_layers + 1, n] (residual_drift); `labels` are Plotly-safe token labels.
    """
    n_rows, n = drift.shape
    x = list(range(n_rows))
    fig = go.Figure()
    others = [j for j in range(n) if j != position]
    if others:
        # Every other position in ONE line trace, broken by gaps (None): a trace per position made a 512-token
        # text 511 traces, each its own SVG path, legend entry and hover layer (seconds to build and to draw).
        xs = [v for _ in others for v in [*x, None]]
        ys = [v for j in others for v in [*drift[:, j].tolist(), None]]
        names = [v for j in others for v in [labels[j]] * n_rows + [None]]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                line=dict(color="rgba(120,120,120,0.35)", width=1),
                name="other positions",
                text=names,
                hovertemplate="%{text}<br>entering layer %{x}: %{y:.3f}<extra></extra>",
                connectgaps=False,
            )
        )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=drift[:, position],
            mode="lines+markers",
            line=dict(color=AFTER_COLOUR, width=3),
            name=f"position {labels[position]}",
            hovertemplate=f"{labels[position]}<br>entering layer %{{x}}: %{{y:.3f}}<extra></extra>",
        )
    )
    for layer in sorted(set(intervened_layers)):
        fig.add_vline(x=layer, line=dict(color="#888", dash="dot", width=1))
    fig.update_xaxes(title="residual entering layer l (last: the final one)", dtick=max(1, n_rows // 15))
    fig.update_yaxes(title="‖after − before‖ / ‖before‖", rangemode="tozero")
    return _layout(fig, title, 380)


def sweep_heatmap(sweep: np.ndarray, title: str, selected: tuple[int, int] | None = None) -> go.Figure:
    """[n_layers, n_heads] change in log p(target) per ablated head; red = a drop (the head helped), blue = a rise.
    A hybrid's layers without heads (NaN) are blank rows, without hover."""
    L, H = sweep.shape
    lim = float(max(np.nanmax(np.abs(sweep)), 1e-6))
    fig = go.Figure(
        go.Heatmap(
            z=sweep,
            x=list(range(H)),
            y=list(range(L)),
            zmin=-lim,
            zmax=lim,
            colorscale="RdBu",  # Plotly's RdBu runs red (low) → blue (high): a drop is red, a rise blue
            colorbar=dict(title="Δ log p", thickness=12),
            hovertemplate="layer %{y}, head %{x}<br>Δ log p = %{z:.3f}<extra></extra>",
            hoverongaps=False,
        )
    )
    if selected is not None:
        layer, head = selected
        fig.add_shape(
            type="rect", x0=head - 0.5, x1=head + 0.5, y0=layer - 0.5, y1=layer + 0.5, line=dict(color="black", width=2)
        )
    no_heads(fig, sweep)
    fig.update_xaxes(title="head", dtick=1)
    fig.update_yaxes(title="layer", autorange="reversed", dtick=max(1, L // 15))
    return _layout(fig, title, max(360, 80 + 16 * L))


HOVER_TEXT_MAX_CELLS = 64 * 64  # past this many cells the temperature map's hover gives positions, not token names


def temperature_figure(
    pattern: np.ndarray,
    entropy_after: np.ndarray,
    entropy_before: np.ndarray,
    labels: Sequence[str],
    title: str,
    T: float,
    orient: Orientation = "rows",
    q0: int = 0,
) -> go.Figure:
    """The head's pattern at temperature T beside the entropy of each query's weights, T vs T = 1.

    `labels` are every token's Plotly-safe label; the pattern is [n_q, n_k] as the engine returns it, its rows
    the queries q0, q0 + 1, … (a long text's last queries, each with all of its keys) and the entropies theirs.
    orient "rows" draws queries down the side with the entropy bars to the right; "cols" draws queries along
    the top (each column sums to 1) with the entropy bars underneath, one per column.
    """
    m, n_k = pattern.shape
    queries, keys = list(range(q0, q0 + m)), list(range(n_k))
    rows = orient == "rows"
    fig = _temperature_frame(rows, T)
    text = _temperature_hover(pattern, labels, q0, rows)
    fig.add_trace(
        go.Heatmap(
            z=oriented(pattern, orient),
            x=keys if rows else queries,
            y=queries if rows else keys,
            zmin=0.0,
            zmax=1.0,
            colorscale=WEIGHT_SCALE,
            # Right of both panels (Plotly's default x): in the gap between them it covered the entropy bars on
            # screens under ~1200 px (tests/browser/test_chart_text_fits_browser.py).
            colorbar=dict(title="weight", thickness=12) | (dict(len=0.9) if rows else dict(y=0.7, len=0.65)),
            **text,
        ),
        row=1,
        col=1,
    )
    _add_entropy_bars(fig, entropy_before, entropy_after, list(labels)[q0 : q0 + m], T, rows, q0)
    q_ticks, k_ticks = (_ticks(span, labels) for span in (queries, keys))
    x_title, y_title = axis_titles(orient)
    x_ticks, y_ticks = (k_ticks, q_ticks) if rows else (q_ticks, k_ticks)
    fig.update_yaxes(autorange="reversed", title=y_title, row=1, col=1, **y_ticks)
    if rows:
        # Upright: at 45° the default sentence's 10 key labels ran into each other in the ~110 px panel of a phone.
        fig.update_xaxes(title=x_title, tickangle=-90, row=1, col=1, **x_ticks)
        fig.update_xaxes(title="bits", rangemode="tozero", row=1, col=2)
        fig = _layout(fig, title, max(460, 200 + 22 * m))
    else:
        fig.update_xaxes(title=x_title, tickangle=-45, row=2, col=1, **x_ticks)
        fig.update_yaxes(title="bits", rangemode="tozero", row=2, col=1)
        fig = _layout(fig, title, max(600, 320 + 22 * min(m, n_k)))
    fig.update_layout(barmode="group", bargap=0.2)
    return _temperature_edges(fig, rows)


def _temperature_edges(fig: go.Figure, rows: bool) -> go.Figure:
    """The title at the top edge, the (two-line, beside the entropy) subplot titles under it; the legend at the
    bottom edge, under the axis titles whatever the height of the tick labels above them: placed on the plot's scale
    (y = −0.12), it ran over the "key" axis title on a phone. Plotly widens the bottom margin to hold it."""
    return fig.update_layout(
        margin=dict(t=80 if rows else 60, b=40),
        title=dict(yref="container", y=1.0, yanchor="top", pad=dict(t=10)),
        legend=dict(orientation="h", yref="container", yanchor="bottom", y=0.0, xanchor="right", x=1.0),
    )


def _temperature_hover(pattern: np.ndarray, labels: Sequence[str], q0: int, rows: bool) -> dict:
    """The temperature map's hover: a string per cell naming both tokens, or, past HOVER_TEXT_MAX_CELLS, one
    template giving positions (the tick labels name the tokens)."""
    m, n_k = pattern.shape
    if m * n_k > HOVER_TEXT_MAX_CELLS:
        x, y = ("key", "query") if rows else ("query", "key")
        return dict(hovertemplate=f"{y} %{{y}}<br>{x} %{{x}}<br>weight %{{z:.4f}}<extra></extra>")
    hover = [[f"query {labels[i]}<br>key {labels[j]}<br>weight {pattern[i - q0, j]:.4f}" for j in range(n_k)]
             for i in range(q0, q0 + m)]  # fmt: skip
    return dict(
        text=hover if rows else [list(r) for r in zip(*hover, strict=True)], hovertemplate="%{text}<extra></extra>"
    )


def _ticks(positions: Sequence[int], labels: Sequence[str]) -> dict:
    """Tick values and labels for a run of positions, at most 48 of them."""
    shown = list(positions)[:: tick_step(len(positions), 48)]
    return dict(tickvals=shown, ticktext=[labels[p] for p in shown])


def _temperature_frame(rows: bool, T: float) -> go.Figure:
    """Two panels: pattern and entropy side by side (queries are rows) or one above the other (columns)."""
    line = "row" if rows else "column"
    # On two lines beside the entropy panel: on a 390 px phone the pattern's panel is ~110 px wide, and its title on
    # one line ran over the entropy panel's (tests/browser/test_chart_text_fits_browser.py).
    pattern_title = f"pattern at T = {T:g}" + ("<br>" if rows else " ") + f"(each {line} sums to 1)"
    titles = (pattern_title, "entropy")  # in bits: its value axis says so
    if rows:
        fig = make_subplots(
            rows=1, cols=2, column_widths=[0.64, 0.36], horizontal_spacing=0.05, shared_yaxes=True,
            subplot_titles=titles,  # a narrow gap: the shared query axis has no labels there, the colour bar is right
        )
    else:
        fig = make_subplots(
            rows=2, cols=1, row_heights=[0.7, 0.3], vertical_spacing=0.08, shared_xaxes=True, subplot_titles=titles
        )
    fig.update_annotations(font=dict(size=13))  # smaller than the figure's title, which they sit under
    return fig


def _add_entropy_bars(
    fig: go.Figure,
    entropy_before: np.ndarray,
    entropy_after: np.ndarray,
    labels: Sequence[str],
    T: float,
    beside: bool = True,
    q0: int = 0,
) -> None:
    """The entropy panel of the temperature figure: each query's entropy at T = 1 and at T, side by side;
    horizontal bars beside the pattern (queries are rows), vertical bars under it (queries are columns).
    The queries are q0, q0 + 1, …; `labels` are theirs."""
    pos = list(range(q0, q0 + len(entropy_before)))
    where = dict(row=1, col=2) if beside else dict(row=2, col=1)
    for values, name, colour, at in (
        (entropy_before, "the model (T = 1)", BEFORE_COLOUR, "1"),
        (entropy_after, f"chosen T = {T:g}", AFTER_COLOUR, f"{T:g}"),
    ):
        bars = dict(x=values, y=pos, orientation="h") if beside else dict(x=pos, y=values, orientation="v")
        value = "x" if beside else "y"
        fig.add_trace(
            go.Bar(
                **bars,
                name=name,
                marker_color=colour,
                customdata=list(labels),
                hovertemplate=f"%{{customdata}}: %{{{value}:.3f}} bits at T = {at}<extra></extra>",
            ),
            **where,
        )
