"""Figures of the layer-by-layer pages: the logit-lens grid, one position's tokens across layers, and
generation's per-step attention and candidates. numpy and view models in, go.Figure out."""

from __future__ import annotations

import html
import unicodedata

import numpy as np
import plotly.graph_objects as go

from viz.figures.layout import (
    AXIS_TITLE_PX,
    CELL_AXIS,
    MASKED_GREY,
    MATRIX_X_LABELS,
    PALETTE,
    WEIGHT_SCALE,
    labels_fitting,
    matrix_height,
    merged,
    one_two_five,
    tick_reach,
    token_axis,
    token_matrix_frame,
    vline,
)
from viz.figures.panels import subplot_grid
from viz.labels import SPACE_MARK, plotly_escape
from viz.views.generation import Candidates, StepAttention
from viz.views.lens import LensGrid, LensTrack

CELL_PX = 10  # a cell's token
TITLE_PX = 30  # a figure's one-line title
MARK_PX = 16  # a cell's token of punctuation alone: at 10 px a comma was a speck, lost on a dark cell


def marked_cell(cell: str) -> str:
    """A cell's (Plotly-escaped) text, large and bold when it is up to 3 marks of punctuation or symbols (",", ".",
    "␣(", "..."): narrow glyphs, so they still fit the cell; words and named characters ("\\n") stay as they are."""
    marks = html.unescape(cell).replace(SPACE_MARK, "")
    if not marks or len(marks) > 3 or any(unicodedata.category(ch)[0] not in "PS" for ch in marks):
        return cell
    return f'<span style="font-size:{MARK_PX}px"><b>{cell}</b></span>'


def lens_grid_figure(grid: LensGrid) -> go.Figure:
    """Layers (bottom: block 0) × positions; each cell is that layer's top-1 next token (a masked-language model's:
    its guess for the token there; a tagger's: its label for it), coloured by its probability; the hover lists the top
    k."""
    n_layers, n = grid.prob.shape
    heat = go.Heatmap(
        z=grid.prob, x=list(range(grid.first, grid.first + n)), y=list(range(n_layers)),
        zmin=0.0, zmax=1.0, colorscale="Blues",
        # Past TEXT_IN_CELLS_MAX positions the cells carry no text: the hover only.
        text=[[marked_cell(c) for c in row] for row in grid.cell_text] if grid.names_cells else None,
        texttemplate="%{text}" if grid.names_cells else None, textfont=dict(size=CELL_PX),
        hovertext=grid.hover, hoverinfo="text", xgap=1, ygap=1,
        colorbar=dict(title=dict(text="top-1<br>probability"), tickformat=".0%"),
    )  # fmt: skip
    guessed = "labelled" if grid.tagged else "guessed" if grid.fills_in else "the prediction follows"
    x_axis = token_axis(
        [plotly_escape(t) for t in grid.tokens], f"position (the token {guessed})", grid.first, MATRIX_X_LABELS
    )
    layout = dict(
        xaxis=x_axis | dict(side="top", tickangle=-45),
        yaxis=dict(title=dict(text="after block (layer)"), dtick=1 if n_layers <= 32 else None, automargin=True)
        | CELL_AXIS,
        height=int(min(1100, 200 + 24 * n_layers)),
        margin=dict(l=70, r=10, t=120, b=10),
        plot_bgcolor="white",
    )
    return go.Figure(data=[heat], layout=layout)


def lens_track_figure(track: LensTrack, position_label: str) -> go.Figure:
    """Probability (left) and rank (right, log scale, 1 = top) of each chosen token after every block."""
    layers = list(range(track.probs.shape[0]))
    traces = []
    for t, label in enumerate(track.labels):
        name = f"‘{plotly_escape(label)}’"  # quoted, as Experiments quotes tokens: a bare "," is lost in a legend
        hover = [f"{name}<br>after block {k}: {p:.2%}, rank {r + 1}" for k, p, r in
                 zip(layers, track.probs[:, t], track.ranks[:, t], strict=True)]  # fmt: skip
        colour = PALETTE[t % len(PALETTE)]  # one colour per token on both charts: only the left one has a legend
        common = dict(mode="lines+markers", name=name, legendgroup=name, hovertext=hover, hoverinfo="text",
                      line=dict(color=colour), marker=dict(color=colour))  # fmt: skip
        traces.append(go.Scatter(x=layers, y=track.probs[:, t], xaxis="x", yaxis="y", **common))
        # Unclipped: rank 1 lies on the axis's top edge, and a clipped marker there would be cut in half.
        traces.append(go.Scatter(x=layers, y=track.ranks[:, t] + 1, showlegend=False, cliponaxis=False, xaxis="x2",
                                 yaxis="y2", **common))  # fmt: skip
    span = rank_range(track.ranks)  # reversed: its first end, the worst rank shown, is at the bottom
    ticks = rank_ticks(10 ** span[0])
    layers_axis = dict(title=dict(text="after block (layer)"), automargin=True)  # titles under ticks, over the legend
    axes = dict(
        xaxis=layers_axis, xaxis2=layers_axis, yaxis=dict(tickformat=".0%", range=[0, 1], automargin=True),
        yaxis2=dict(type="log", range=span, tickmode="array", tickvals=ticks, ticktext=[f"{t:,}" for t in ticks],
                    automargin=True),
    )  # fmt: skip
    grid = subplot_grid(1, 2, subplot_titles=("probability", "rank (1 = top)"))
    # The subplot titles clear of the unclipped markers at rank 1 and at 100%.
    grid["annotations"] = [note | dict(yshift=8) for note in grid["annotations"]]
    # The legend in its own band at the foot of the figure: placed under the plot (y=-0.2), its quoted tokens ran
    # into the axis titles at every width (tests/browser/test_chart_text_fits_browser.py).
    frame = dict(height=450, margin=dict(l=70, r=10, t=70, b=40), title=dict(text=position_label),
                 legend=dict(orientation="h", yref="container", yanchor="bottom", y=0))  # fmt: skip
    return go.Figure(data=traces, layout=merged(merged(grid, axes), frame))


def rank_range(ranks: np.ndarray) -> list[float]:
    """The rank axis's log range, reversed: rank 1 at the top edge, a tenth of a decade past the worst rank (at least
    10) at the bottom. Plotly's autorange padded a log axis above rank 1, to a rank 0.5 with a tick of its own."""
    worst = max(10, int(np.max(ranks, initial=0)) + 1)
    return [float(np.log10(worst)) + 0.1, 0.0]


def rank_ticks(worst: float) -> list[int]:
    """1, 2, 5 of each decade up to `worst`: Plotly's own log ticks labelled 20, 30, 40 as "2", "3", "4" (only the
    decades in full), so rank 20 read as rank 2."""
    return [int(t) for t in one_two_five(1, worst)]


def step_attention_figure(view: StepAttention, layer: int, head: int) -> go.Figure:
    """Generated tokens (rows) × the earlier tokens from position view.first on (columns): the weights at the
    step that wrote each."""
    w, first = view.weights, view.first
    n_new, n_keys = w.shape
    hover = [[f"wrote {plotly_escape(view.rows[s])} · looked at {plotly_escape(view.keys[j])} (position {first + j})"
              f"<br>weight {w[s, j]:.3f}" if first + j <= view.n_prompt - 1 + s else "after this step: not visible"
              for j in range(n_keys)] for s in range(n_new)]  # fmt: skip
    seen = np.arange(first, first + n_keys)[None, :] <= view.n_prompt - 1 + np.arange(n_new)[:, None]
    masked = np.where(seen, w, np.nan)
    heatmap = go.Heatmap(
        z=masked, x=np.arange(first, first + n_keys), colorscale=WEIGHT_SCALE, zmin=0.0, hovertext=hover,
        hoverinfo="text", colorbar=dict(title=dict(text="weight")),
    )  # fmt: skip
    y_axis = token_axis([plotly_escape(t) for t in view.rows], "generated token")
    # The row labels' room set here, not left to automargin: a phone's box for the chart is sized from the margins
    # (ui.widgets.show_token_heatmap), and the room automargin added was not in it, so it squeezed the keys.
    left = int(AXIS_TITLE_PX + tick_reach(y_axis["ticktext"], 90) + 12)
    layout = dict(
        title=dict(text=f"Layer {layer}, head {head}: where each step looked", y=0.99),
        # Vertical labels, as many as fit apart in the plot's 388 px at 1024 px: a prompt and its continuation are
        # ~40 tokens, and at 45° (then 48 upright) their labels ran into each other on a 1024 px screen.
        xaxis=token_axis([plotly_escape(t) for t in view.keys], "earlier token (red line: end of the prompt)", first,
                         max_labels=labels_fitting(388, 90)) | dict(side="top", tickangle=-90),
        yaxis=y_axis | dict(autorange="reversed"),
        height=int(min(1000, 280 + 22 * n_new)), margin=dict(l=left, r=10, t=130, b=10), plot_bgcolor=MASKED_GREY,
        shapes=[vline(view.n_prompt - 0.5, dict(color="crimson", width=2, dash="dot"))],
    )  # fmt: skip
    return go.Figure(data=[heatmap], layout=layout)


def step_heads_figure(weights: np.ndarray, keys: list[str], layer: int, written: str, first: int = 0) -> go.Figure:
    """Every head of one layer (rows) over the earlier tokens (from position `first`) at one step."""
    hover = [[f"head {h} → {plotly_escape(keys[j])} (position {first + j}): {weights[h, j]:.3f}"
              for j in range(weights.shape[1])] for h in range(weights.shape[0])]  # fmt: skip
    heatmap = go.Heatmap(z=weights, x=np.arange(first, first + weights.shape[1]), colorscale=WEIGHT_SCALE, zmin=0.0,
                         hovertext=hover, hoverinfo="text", colorbar=dict(title=dict(text="weight")))  # fmt: skip
    # As many 45° labels as fit apart in the plot's 339 px beside the candidates at 1280 px (23 ran together).
    x_axis = token_axis([plotly_escape(t) for t in keys], "earlier token", first, max_labels=labels_fitting(339, 45))
    # Above the plot: the title, the axis title and the longest label (a fixed 190 px left ~100 px of white over
    # short tokens); automargin grows it if the estimate falls short.
    top = int(TITLE_PX + AXIS_TITLE_PX + tick_reach(x_axis["ticktext"], 45) + 10)
    layout = dict(
        title=dict(text=f"Layer {layer}, every head, at the step that wrote ‘{plotly_escape(written)}’", y=0.99),
        xaxis=x_axis | dict(side="top", tickangle=-45),
        yaxis=dict(title=dict(text="head"), autorange="reversed", dtick=1, automargin=True),
        height=top + 10 + 60 + 22 * weights.shape[0], margin=dict(l=60, r=10, t=top, b=10),
    )  # fmt: skip
    return go.Figure(data=[heatmap], layout=layout)


def candidates_figure(c: Candidates) -> go.Figure:
    """One step's most likely tokens, the written one highlighted."""
    colours = ["crimson" if i == c.chosen else "steelblue" for i in range(len(c.labels))]
    labels = [f"{i + 1}. ‘{plotly_escape(t)}’" for i, t in enumerate(c.labels)]  # quoted: "1. ," read as punctuation
    hover = [f"{t}: {p:.2%}" for t, p in zip(labels, c.probs, strict=True)]
    bars = go.Bar(x=c.probs, y=labels, orientation="h", marker_color=colours, hovertext=hover, hoverinfo="text")
    layout = dict(xaxis=dict(tickformat=".0%", title=dict(text="probability (temperature 1)"), automargin=True),
                  yaxis=dict(autorange="reversed", automargin=True), height=int(120 + 26 * len(labels)),
                  margin=dict(l=120, r=10, t=30, b=10))  # fmt: skip
    return go.Figure(data=[bars], layout=layout)


def value_weighted_heatmap(
    sent: np.ndarray, pattern: np.ndarray, labels: list[str], orient: str, formula: str = "A·v·W_O"
) -> go.Figure:
    """One head's ‖A[i,j]·v_j·W_O^h‖ (what key j adds to query i), as the pattern heatmap lays it out. `formula`: the
    product's short name (viz.views.sent_words.sent_formula; a gated head's carries its query's gate)."""
    n = sent.shape[0]
    hover = [[f"query {labels[i]} ← key {labels[j]}<br>sent ‖{formula}‖ {sent[i, j]:.4g}<br>weight {pattern[i, j]:.4g}"
              for j in range(n)] for i in range(n)]  # fmt: skip
    z, text = (sent, hover) if orient == "rows" else (sent.T, [list(r) for r in zip(*hover, strict=True)])
    heatmap = go.Heatmap(z=z, text=text, hovertemplate="%{text}<extra></extra>", colorscale="Viridis", zmin=0.0,
                         colorbar=dict(title=dict(text=f"‖{formula}‖")))  # fmt: skip
    rows_title, cols_title = ("query", "key") if orient == "rows" else ("key", "query")
    frame = token_matrix_frame(token_axis(labels, cols_title), token_axis(labels, rows_title), matrix_height(n))
    return go.Figure(data=[heatmap], layout=frame)
