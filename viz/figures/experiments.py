"""Figures of the experiments page: next-token probabilities before and after a change, how far the
residual stream moved, the ablation sweep over every head, and one head's pattern at a temperature."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from viz.figures.layout import (
    WEIGHT_SCALE,
    Orientation,
    axis_titles,
    merged,
    no_heads,
    notes_and_shapes,
    oriented,
    tick_step,
    vline,
)
from viz.figures.panels import subplot_grid
from viz.labels import plotly_escape
from viz.views.experiments import PredictionRow

BEFORE_COLOUR = "#7f9cc0"
AFTER_COLOUR = "#d9572b"


def _frame(title: str, height: int) -> dict:
    """The experiments page's figure frame: a left-aligned title, a legend on top right, white template."""
    return dict(
        title=dict(text=title, x=0.0, xanchor="left", font=dict(size=15)),
        height=height,
        margin=dict(l=10, r=10, t=60, b=40),
        template="plotly_white",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
    )


def _probability_bars(rows: Sequence[PredictionRow], labels: list[str], after: bool, name: str) -> go.Bar:
    """One series of prediction_bars: the probabilities and ranks before the change, or after it."""
    probs, ranks = ([r.p_after for r in rows], [r.rank_after for r in rows]) if after else (
        [r.p_before for r in rows], [r.rank_before for r in rows])  # fmt: skip
    return go.Bar(
        x=probs,
        y=list(range(len(rows))),
        orientation="h",
        name=name,
        marker_color=AFTER_COLOUR if after else BEFORE_COLOUR,
        customdata=[[lab, rank] for lab, rank in zip(labels, ranks, strict=True)],
        hovertemplate=f"%{{customdata[0]}}: p = %{{x:.4f}}{' after' if after else ''} (rank %{{customdata[1]}})"
        "<extra></extra>",
        texttemplate="%{x:.3f}",
        textposition="outside",
    )


def prediction_bars(
    rows: Sequence[PredictionRow], title: str, with_after: bool, guessed: str = "the next token"
) -> go.Figure:
    """Horizontal bars of next-token probabilities (`guessed`: what is predicted, for the axis: a masked-language
    model's "the token at 8"), most likely at the top; before (and after) side by side."""
    labels = [f"‘{plotly_escape(r.token)}’" for r in rows]  # quoted: ',' or '.' alone is hard to see
    bars = [_probability_bars(rows, labels, False, "before" if with_after else "probability")]
    if with_after:
        bars.append(_probability_bars(rows, labels, True, "after"))
    top = max([r.p_before for r in rows] + ([r.p_after for r in rows] if with_after else []) + [1e-9])
    # Room past the longest bar for its number (an axis stopped at 1.0 left none for a bar near 1: Plotly dropped the
    # label); ticks stop at 1, a probability's limit.
    x_axis = dict(title=dict(text=f"probability of {guessed}"), range=[0, top * 1.25])
    if top * 1.25 > 1.0:
        x_axis["tickvals"] = [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    y_axis = dict(tickvals=list(range(len(rows))), ticktext=labels, autorange="reversed", tickfont=dict(size=13))
    layout = _frame(title, 120 + (34 if with_after else 24) * len(rows))
    return go.Figure(data=bars, layout=layout | dict(barmode="group", bargap=0.25, xaxis=x_axis, yaxis=y_axis))


def drift_figure(
    drift: np.ndarray, position: int, labels: Sequence[str], intervened_layers: Sequence[int], title: str
) -> go.Figure:
    """Relative change of the residual stream per layer: the chosen position bold, every other position thin.

    `drift` is [n_layers + 1, n] (residual_drift); `labels` are Plotly-safe token labels.
    """
    n_rows, n = drift.shape
    x = list(range(n_rows))
    traces = []
    others = [j for j in range(n) if j != position]
    if others:
        # Every other position in ONE line trace, broken by gaps (None): a trace per position made a 512-token
        # text 511 traces, each its own SVG path, legend entry and hover layer (seconds to build and to draw).
        xs = [v for _ in others for v in [*x, None]]
        ys = [v for j in others for v in [*drift[:, j].tolist(), None]]
        names = [v for j in others for v in [labels[j]] * n_rows + [None]]
        traces.append(
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
    traces.append(
        go.Scatter(
            x=x,
            y=drift[:, position],
            mode="lines+markers",
            line=dict(color=AFTER_COLOUR, width=3),
            name=f"position {labels[position]}",
            hovertemplate=f"{labels[position]}<br>entering layer %{{x}}: %{{y:.3f}}<extra></extra>",
        )
    )
    lines = [vline(layer, dict(color="#888", dash="dot", width=1)) for layer in sorted(set(intervened_layers))]
    return go.Figure(
        data=traces,
        layout=_frame(title, 380)
        | notes_and_shapes([], lines)
        | dict(
            xaxis=dict(title=dict(text="residual entering layer l (last: the final one)"), dtick=max(1, n_rows // 15)),
            yaxis=dict(title=dict(text="‖after − before‖ / ‖before‖"), rangemode="tozero"),
        ),
    )


def sweep_heatmap(sweep: np.ndarray, title: str, selected: tuple[int, int] | None = None) -> go.Figure:
    """[n_layers, n_heads] change in log p(target) per ablated head; red = a drop (the head helped), blue = a rise.
    A hybrid's layers without heads (NaN) are blank rows, without hover."""
    L, H = sweep.shape
    lim = float(max(np.nanmax(np.abs(sweep)), 1e-6))
    heatmap = go.Heatmap(
        z=sweep,
        x=list(range(H)),
        y=list(range(L)),
        zmin=-lim,
        zmax=lim,
        colorscale="RdBu",  # Plotly's RdBu runs red (low) → blue (high): a drop is red, a rise blue
        colorbar=dict(title=dict(text="Δ log p"), thickness=12),
        hovertemplate="layer %{y}, head %{x}<br>Δ log p = %{z:.3f}<extra></extra>",
        hoverongaps=False,
    )
    frame = []
    if selected is not None:
        layer, head = selected
        frame = [dict(type="rect", x0=head - 0.5, x1=head + 0.5, y0=layer - 0.5, y1=layer + 0.5,
                      line=dict(color="black", width=2))]  # fmt: skip
    axes = dict(
        xaxis=dict(title=dict(text="head"), dtick=1),
        yaxis=dict(title=dict(text="layer"), autorange="reversed", dtick=max(1, L // 15)),
    )
    layout = _frame(title, max(360, 80 + 16 * L)) | axes | notes_and_shapes(no_heads(sweep), frame)
    return go.Figure(data=[heatmap], layout=layout)


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
    heatmap = go.Heatmap(
        z=oriented(pattern, orient),
        x=keys if rows else queries,
        y=queries if rows else keys,
        zmin=0.0,
        zmax=1.0,
        colorscale=WEIGHT_SCALE,
        # Right of both panels (Plotly's default x): in the gap between them it covered the entropy bars on
        # screens under ~1200 px (tests/browser/test_chart_text_fits_browser.py).
        colorbar=dict(title=dict(text="weight"), thickness=12) | (dict(len=0.9) if rows else dict(y=0.7, len=0.65)),
        xaxis="x",
        yaxis="y",
        **_temperature_hover(pattern, labels, q0, rows),
    )
    bars = _entropy_bars(entropy_before, entropy_after, list(labels)[q0 : q0 + m], T, rows, q0)
    layout = merged(_temperature_frame(rows, T), _temperature_axes(orient, queries, keys, labels))
    height = max(460, 200 + 22 * m) if rows else max(600, 320 + 22 * min(m, n_k))
    layout = merged(layout, _frame(title, height) | dict(barmode="group", bargap=0.2))
    return go.Figure(data=[heatmap, *bars], layout=merged(layout, _temperature_edges(rows)))


def _temperature_axes(orient: Orientation, queries: list[int], keys: list[int], labels: Sequence[str]) -> dict:
    """The temperature figure's axes: the pattern's token ticks and titles, the entropy panel's bits."""
    rows = orient == "rows"
    q_ticks, k_ticks = (_ticks(span, labels) for span in (queries, keys))
    x_title, y_title = axis_titles(orient)
    x_ticks, y_ticks = (k_ticks, q_ticks) if rows else (q_ticks, k_ticks)
    axes = dict(yaxis=dict(autorange="reversed", title=dict(text=y_title)) | y_ticks)
    bits = dict(title=dict(text="bits"), rangemode="tozero")
    if rows:
        # Upright: at 45° the default sentence's 10 key labels ran into each other in the ~110 px panel of a phone.
        return axes | dict(xaxis=dict(title=dict(text=x_title), tickangle=-90) | x_ticks, xaxis2=bits)
    return axes | dict(xaxis2=dict(title=dict(text=x_title), tickangle=-45) | x_ticks, yaxis2=bits)


def _temperature_edges(rows: bool) -> dict:
    """The title at the top edge, the (two-line, beside the entropy) subplot titles under it; the legend at the
    bottom edge, under the axis titles whatever the height of the tick labels above them: placed on the plot's scale
    (y = −0.12), it ran over the "key" axis title on a phone. Plotly widens the bottom margin to hold it."""
    return dict(
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


def _temperature_frame(rows: bool, T: float) -> dict:
    """Two panels: pattern and entropy side by side (queries are rows) or one above the other (columns)."""
    line = "row" if rows else "column"
    # On two lines beside the entropy panel: on a 390 px phone the pattern's panel is ~110 px wide, and its title on
    # one line ran over the entropy panel's (tests/browser/test_chart_text_fits_browser.py).
    pattern_title = f"pattern at T = {T:g}" + ("<br>" if rows else " ") + f"(each {line} sums to 1)"
    titles = (pattern_title, "entropy")  # in bits: its value axis says so
    if rows:
        grid = subplot_grid(
            1, 2, column_widths=[0.64, 0.36], horizontal_spacing=0.05, shared_yaxes=True,
            subplot_titles=titles,  # a narrow gap: the shared query axis has no labels there, the colour bar is right
        )  # fmt: skip
    else:
        grid = subplot_grid(
            2, 1, row_heights=[0.7, 0.3], vertical_spacing=0.08, shared_xaxes=True, subplot_titles=titles
        )
    # The panels' titles smaller than the figure's title, which they sit under.
    grid["annotations"] = [merged(note, dict(font=dict(size=13))) for note in grid["annotations"]]
    return grid


def _entropy_bars(
    entropy_before: np.ndarray,
    entropy_after: np.ndarray,
    labels: Sequence[str],
    T: float,
    beside: bool = True,
    q0: int = 0,
) -> list[go.Bar]:
    """The entropy panel of the temperature figure: each query's entropy at T = 1 and at T, side by side;
    horizontal bars beside the pattern (queries are rows), vertical bars under it (queries are columns).
    The queries are q0, q0 + 1, …; `labels` are theirs."""
    pos = list(range(q0, q0 + len(entropy_before)))
    bars = []
    for values, name, colour, at in (
        (entropy_before, "the model (T = 1)", BEFORE_COLOUR, "1"),
        (entropy_after, f"chosen T = {T:g}", AFTER_COLOUR, f"{T:g}"),
    ):
        where = dict(x=values, y=pos, orientation="h") if beside else dict(x=pos, y=values, orientation="v")
        value = "x" if beside else "y"
        bars.append(
            go.Bar(
                **where,
                name=name,
                marker_color=colour,
                customdata=list(labels),
                hovertemplate=f"%{{customdata}}: %{{{value}:.3f}} bits at T = {at}<extra></extra>",
                xaxis="x2",
                yaxis="y2",
            )
        )
    return bars
