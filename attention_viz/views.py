"""The app's main views of one trace, as the app draws them: each view is a list of `go.Figure`s built by the same
view models (viz/views) and figure builders (viz/figures) as the app's pages, never a second implementation.

A `View` also carries, for the views where clicking a head selects it (a layer's heads, every layer × head), the
head heatmap of every clickable head, so a notebook cell or a standalone HTML file can redraw the head view in the
browser with no Python behind it (attention_viz/html.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from attention_viz.ablation_view import ablation_view
from attention_viz.base import View, ViewError
from attention_viz.layer_views import (
    answers_view,
    classes_view,
    contacts_view,
    contributions_view,
    generation_view,
    implicit_view_of,
    is_generation,
    lens_view,
    residues_view,
    sent_view,
    tags_view,
)
from attention_viz.pair_views import FROM_PAIR, is_pair, pair_view
from services.lens import has_lens
from viz.figures.heatmaps import head_heatmap, mask_comparison, scores_heatmap
from viz.figures.layout import Orientation
from viz.figures.mask_parts import bias_scores, softcap_scores
from viz.figures.mechanism import query_key_heatmap
from viz.figures.overview import layer_small_multiples, overview_mosaic
from viz.figures.shifts import shift_arrows
from viz.labels import axis_labels
from viz.views.common import display_tokens
from viz.views.mask_parts import mask_parts
from viz.views.patterns import (
    OVERVIEW_SIZE,
    Tokens,
    head_view,
    is_long,
    layer_patterns,
    overview,
    second_text_at,
    tokens_of,
)
from viz.views.score_terms import score_stages, score_terms, steps_terms
from viz.views.shifts import ARROW_MAX, layer_shift

# name → what it shows (the CLI's --view choices, the notebook's `show(..., view=...)`).
VIEWS: dict[str, str] = {
    "head": "one head's pattern (hover: weight and the score before the softmax)",
    "layer": "every head of one layer; click a head to draw it large",
    "overview": "every layer × head; click a head to draw it large",
    "scores": "scores & masking: the scores with the mask (and any position bias or soft-cap apart), softmax with "
    "and without the causal mask",
    "steps": "one head step by step: q·k, the model's scale (any soft-cap or position bias), masked scores, softmax",
    "shifts": "embedding shifts: each token's residual before and after the layer's attention (2-D PCA)",
    "lens": "logit lens: every layer's likeliest next token at the last 64 positions; the last one layer by layer",
    "sent": "what each key sends to each query in one head, ‖A[i,j]·v_j·W_O‖, laid out as the pattern",
    "contributions": "contribution graph: where the last token's final embedding came from (threshold 0.04)",
    "implicit": "a hybrid's Mamba-2 or gated-delta-rule layer: the weight each of its heads gives each earlier token "
    "(no softmax: signed), over the first 256 tokens",
    "contacts": "a protein model's contacts predicted from every head's pattern by its contact head (ESM-2, ESM-1b)",
    "residues": "a protein model's log p of each amino acid at each residue, from the head that fills in masked tokens "
    "(ESM, ESM C)",
    "classes": "a sequence classifier's score for each label, read from the first token after every block",
    "tags": "a token classifier's label of each token (a named entity's kind, a part of speech) after every block",
    "answers": "an extractive question-answering model's answer span in the second text: each token's p(start) and "
    "p(end), the answer after every block",
    "ablation": "every head ranked by how much the model's prediction needs it: each head zeroed alone, the change in "
    "log p of its answer, its label or its next token (the framed head: --layer, --head); up to 256 tokens",
    "generation": "of model.generate(...)'s result: where one head looked at each step that wrote a token",
    "cross": "of model.trace_pair(...)'s result (encoder-decoders): one decoder head's cross-attention over the "
    "source, then its self-attention over the target",
}
FROM_GENERATION = ("generation",)  # views of a Generation, not of a trace (the CLI traces a text: not these)
WHOLE_MODEL = ("lens", "contributions", "overview", "contacts", "residues", "classes", "tags", "answers")  # no one head
ANY_LENGTH = ("overview", "lens", "contacts", "residues", "classes", "tags", "answers")  # drawn past 256 tokens too

# Clickable views embed one head heatmap per head: n² hover strings each. Past this many cells in all, the overview
# embeds none (the file would pass tens of MB) and says so under the figure.
MAX_EMBEDDED_CELLS = 400_000


def require_whole_numbers(error: type[Exception] = ViewError, prefix: str = "", **values: Any) -> None:
    """Raise `error` (its message after `prefix`) naming the first of `values` (layer=…, head=…) that is not a whole
    number: "3" or 1.0 would fail only deep in numpy or the trace."""
    for what, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise error(f"{prefix}{what} must be a whole number, not {value!r}")


def check_head(trace: Any, layer: int, head: int, of_heads: bool = True) -> None:
    """Raise ViewError with a one-line message unless (layer, head) is one of this trace's heads: all that one head's
    pattern file (CSV, NPZ) needs, whatever the text's length. of_heads=False: a view that does not read the layer's
    heads (the lens, the contribution graph, the overview's frame) takes any layer of a hybrid."""
    require_whole_numbers(layer=layer, head=head)
    if not 0 <= layer < trace.n_layers:
        raise ViewError(f"layer {layer} is out of range: {trace.model_name} has layers 0..{trace.n_layers - 1}")
    if not 0 <= head < trace.n_heads:
        raise ViewError(f"head {head} is out of range: {trace.model_name} has heads 0..{trace.n_heads - 1}")
    if of_heads and layer not in trace.attention_layers:  # a hybrid's layer that mixes tokens another way
        listed = ", ".join(map(str, trace.attention_layers))
        raise ViewError(f"layer {layer} of {trace.model_name} has no attention heads (it runs "
                        f"{trace.config.mixer_phrase(layer)}); its attention "
                        f"{'layers are' if len(trace.attention_layers) > 1 else 'layer is'} {listed}")  # fmt: skip


def check_name_and_orient(name: str, orient: str) -> None:
    if name not in VIEWS:
        raise ViewError(f"unknown view {name!r}: choose one of {', '.join(VIEWS)}")
    if orient not in ("rows", "cols"):
        raise ViewError(f"orient must be 'rows' or 'cols', not {orient!r}")


def check_args(trace: Any, name: str, layer: int, head: int, orient: str = "rows") -> None:
    """Raise ViewError with a one-line message for arguments this trace cannot draw."""
    check_name_and_orient(name, orient)
    if name == "implicit":  # its own layers and heads: implicit_view_of checks them
        require_whole_numbers(layer=layer, head=head)
        return
    check_head(trace, layer, head, of_heads=name not in WHOLE_MODEL)
    if name == "lens" and not has_lens(trace):
        raise ViewError(f"{trace.model_name} has no unembedding (an encoder): there is no logit lens to show")
    if is_long(trace.n_tokens) and name not in ANY_LENGTH:
        raise ViewError(
            f"{trace.n_tokens} tokens: views at full resolution take at most 256 tokens (the app draws longer texts "
            "as block means plus a window); shorten the text, or use the overview or the lens (CLI: --view overview)"
        )


def head_figure(trace: Any, tokens: Tokens, layer: int, head: int, orient: Orientation) -> go.Figure:
    """The app's head heatmap (app_pages/patterns.py `head_figure`), titled with its layer and head."""
    view = head_view(trace, layer, head)
    meta = {"tokens": len(tokens.raw), "layer": layer, "head": head}
    title, label = head_title(layer, head), score_terms(trace).name
    return head_heatmap(
        view.pattern, view.scores, view.mask, tokens.plotly, orient, title, meta=meta, score_label=label,
        second_text_at=view.second_text_at,
    )  # fmt: skip


def head_title(layer: int, head: int) -> str:
    return f"Layer {layer}, head {head}"


def clickable_heads(trace: Any, tokens: Tokens, pairs: list[tuple[int, int]], orient: Orientation) -> dict:
    """The head heatmap's trace of each (layer, head), as Plotly JSON-ready dicts, for redrawing on a click."""
    heads = {}
    for layer, head in pairs:
        fig = head_figure(trace, tokens, layer, head, orient)
        heads[f"{layer},{head}"] = {"data": [d.to_plotly_json() for d in fig.data], "title": head_title(layer, head)}
    return heads


def _layer_view(trace: Any, tokens: Tokens, layer: int, head: int, orient: Orientation) -> View:
    thumbs = layer_small_multiples(layer_patterns(trace, layer), head, orient, layer)
    pairs = [(layer, h) for h in range(trace.n_heads)]
    heads = clickable_heads(trace, tokens, pairs, orient)
    return View("layer", [thumbs, head_figure(trace, tokens, layer, head, orient)], layer, head, heads)


def _overview_view(trace: Any, tokens: Tokens, layer: int, head: int, orient: Orientation) -> View:
    if layer not in trace.attention_layers:  # a hybrid's layer without heads: the large head is the first one's
        layer = trace.attention_layers[0]
    pooled = overview(trace, size=OVERVIEW_SIZE, per_layer=False)  # [n_layers, n_heads, s, s] block means
    mosaic = overview_mosaic(pooled, (layer, head), orient)
    n = trace.n_tokens
    if is_long(n):
        return View("overview", [mosaic], layer, head, note=f"{n} tokens: the overview only (block means).")
    pairs = [(lay, h) for lay in trace.attention_layers for h in range(trace.n_heads)]
    figures = [mosaic, head_figure(trace, tokens, layer, head, orient)]
    if len(pairs) * n * n > MAX_EMBEDDED_CELLS:
        note = (
            f"{len(pairs)} heads × {n}² cells is too much to embed: clicking a head here does not redraw it; "
            "show the head view for the head you want."
        )
        return View("overview", figures, layer, head, note=note)
    return View("overview", figures, layer, head, clickable_heads(trace, tokens, pairs, orient))


def _scores_view(trace: Any, tokens: Tokens, layer: int, head: int, orient: Orientation) -> View:
    """app_pages/masking.py's figures: the scores (titled as there), any position bias and soft-cap drawn apart
    from q·k × scale as there, then softmax with and without the causal mask."""
    v = head_view(trace, layer, head)
    terms = score_terms(trace)
    title = f"{terms.scores_title()}, layer {layer}, head {head}"
    split = v.second_text_at  # a text pair's, drawn as on the app's pages
    figures = [scores_heatmap(v.scores, v.mask, tokens.plotly, orient, title, score_label=terms.name,
                              second_text_at=split)]  # fmt: skip
    everything = slice(0, trace.n_tokens)
    parts = mask_parts(trace, layer, head, everything, everything)
    if parts.has_bias:
        figures.append(bias_scores(parts.uncapped, parts.bias, parts.scores, v.mask, tokens.plotly, orient))
    if parts.has_softcap:
        figures.append(softcap_scores(parts.uncapped, parts.scores, v.mask, parts.softcap, tokens.plotly, orient))
    figures.append(mask_comparison(v.pattern_masked, v.pattern_unmasked, tokens.plotly, orient, second_text_at=split))
    return View("scores", figures, layer, head)


def _steps_view(trace: Any, layer: int, head: int, orient: Orientation) -> View:
    """The square stages of app_pages/inside_head.py, titled as there (viz.views.score_terms: each names the
    model's own scale and draws any soft-cap or position bias as its own step), from trace.head_steps."""
    s = trace.head_steps(layer, head)
    _, labels = axis_labels(display_tokens(trace))
    shape, split = f"[{s.n} × {s.n}]", second_text_at(trace)
    figures = [
        query_key_heatmap(getattr(s, st.name), f"{st.title}  {shape}", labels, orient, kind=st.kind,
                          second_text_at=split)  # fmt: skip
        for st in score_stages(steps_terms(s))
    ]
    return View("steps", figures, layer, head)


def _shifts_view(trace: Any, layer: int) -> View:
    """app_pages/embedding_shifts.py's arrows; the first token is left out when it is an attention sink, as there."""
    _, labels = axis_labels(display_tokens(trace))
    norms = np.linalg.norm(np.asarray(trace.resid(layer), dtype=np.float64), axis=-1)
    n = len(norms)
    skip_first = bool(n > 2 and norms[0] > 5 * np.median(norms[1:]))
    shift = layer_shift(trace, layer, skip_first=skip_first, max_tokens=ARROW_MAX, keep=n - 1)
    shown = [labels[i] for i in shift.included]
    fig = shift_arrows(shown, shift.before, shift.after, len(shown) - 1, shift.explained)
    fig.update_layout(title=dict(text=f"Residuals before → after layer {layer}'s attention (2-D PCA)"))
    return View("shifts", [fig], layer, 0)


# What check_args reads of a trace, and a model, a text or None lacks (duck-typed: the library reaches the engine's
# classes only through services, and tests pass stand-ins with just these).
TRACE_PARTS = ("model_name", "n_layers", "n_heads", "n_tokens")


def trace_and_generation(value: Any, error: type[Exception] = ViewError) -> tuple[Any, Any]:
    """(the Trace, the Generation or None) of what a caller passed: a Trace, or Model.generate's result, whose trace
    every view but `generation` draws. Anything else (the text, the model, None) raises `error` naming it."""
    generated = value if is_generation(value) else None
    trace = generated.trace if generated is not None else value
    if not all(hasattr(trace, part) for part in TRACE_PARTS):
        got = "None" if value is None else type(value).__name__
        raise error(f"expected a Trace (from model.trace(text)) or a Generation, got {got}")
    return trace, generated


def build_view(trace: Any, name: str, layer: int = 0, head: int = 0, orient: Orientation = "rows") -> View:
    """One of VIEWS for `trace` (a Trace from Model.trace, or what Model.generate returns: its trace is used where
    the view is of a trace), built with the app's view models and figures."""
    if is_pair(trace):
        check_name_and_orient(name, orient)
        require_whole_numbers(layer=layer, head=head)
        return pair_view(trace, name, layer, head, orient)
    if name in FROM_PAIR:
        raise ViewError("the cross view draws what model.trace_pair(source, target) returns (encoder-decoders)")
    trace, generated = trace_and_generation(trace)
    check_args(trace, name, layer, head, orient)
    view = _build(trace, generated, name, layer, head, orient)
    if trace.truncated:  # said with every view, as the app says it under the text box
        view.note = " ".join(filter(None, (cut_note(trace), view.note)))
    return view


def cut_note(trace: Any) -> str:
    """What a trace of a cut text says ("" when the text was traced whole)."""
    if not trace.truncated:
        return ""
    if trace.segments is not None:
        return (
            f"The two texts are {trace.n_input_tokens} tokens together; they were cut to {trace.n_tokens} tokens, "
            "from the end of the longer text first (transformers' truncation of a pair), and everything shown is "
            "of those."
        )
    return (
        f"The text is {trace.n_input_tokens} tokens; it was cut to its first {trace.n_tokens} tokens (the model's "
        "limit, or the max_tokens asked), and everything shown is of those."
    )


def _build(trace: Any, generated: Any, name: str, layer: int, head: int, orient: Orientation) -> View:
    if name in FROM_GENERATION:
        return generation_view(generated, layer, head)
    if name == "lens":
        return lens_view(trace)
    if name == "sent":
        return sent_view(trace, layer, head, orient)
    if name == "contributions":
        return contributions_view(trace)
    if name == "implicit":
        return implicit_view_of(trace, layer, head, orient)
    if name == "contacts":
        return contacts_view(trace)
    if name == "residues":
        return residues_view(trace)
    if name == "classes":
        return classes_view(trace)
    if name == "tags":
        return tags_view(trace)
    if name == "answers":
        return answers_view(trace)
    if name == "ablation":
        return ablation_view(trace, layer, head)
    if name == "overview":
        return _overview_view(trace, tokens_of(trace), layer, head, orient)
    if name == "shifts":
        return _shifts_view(trace, layer)
    if name == "steps":
        return _steps_view(trace, layer, head, orient)
    tokens = tokens_of(trace)
    if name == "layer":
        return _layer_view(trace, tokens, layer, head, orient)
    if name == "scores":
        return _scores_view(trace, tokens, layer, head, orient)
    return View("head", [head_figure(trace, tokens, layer, head, orient)], layer, head)
