"""The `ablation` view: every head ranked by how much the model's own prediction needs it (the Experiments page's
"Rank all heads", for the prediction the page opens on): each head zeroed alone, the rest of the model run again,
and the change in log p of what the model predicted. Which prediction depends on the model's head: an extractive
question-answering model's answer span (log p(start) + log p(end)), a sequence classifier's label, a language
model's next token after the text (a masked-language model's guess at the first mask, else at the text's last token).
The same services, view models and figure builder as the page; nothing is cached here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from attention_viz.base import View, ViewError
from services.answers import answer_logits_of, answer_sweep_of
from services.lens import class_sweep_of, class_verdict_of, fills_in, mask_token, tag_grid_of
from services.traces import sweep_of
from viz.figures.experiments import sweep_heatmap
from viz.labels import plotly_escape, predicted_token_label
from viz.views.answers import answer_view
from viz.views.experiments import (
    SWEEP_MAX_TOKENS,
    next_token_logprobs,
    prediction_place,
    prediction_position,
    probability_text,
    rank_heads_by_effect,
)

TOP_HEADS = 3  # heads named in the note


@dataclass(frozen=True)
class Ranked:
    """What the heads were ranked for: the prediction in words, what Δ measures, and the sweep."""

    prediction: str  # "the answer ‘Berlin’ (tokens 12–12, p(start) × p(end) = 0.912)"
    measure: str  # "log p(start) + log p(end) of the answer"
    sweep: np.ndarray  # [n_layers, n_heads]


def ablation_view(trace: Any, layer: int, head: int) -> View:
    """Every head of `trace`'s model ranked by zeroing it alone; (`layer`, `head`) framed on the grid."""
    if trace.n_tokens > SWEEP_MAX_TOKENS:
        raise ViewError(f"the ablation view runs on texts up to {SWEEP_MAX_TOKENS} tokens; this one has "
                        f"{trace.n_tokens}: pass max_tokens={SWEEP_MAX_TOKENS} or a shorter text")  # fmt: skip
    ranked = _answer(trace) or _label(trace) or _next_token(trace)
    heads = rank_heads_by_effect(ranked.sweep)
    named = "; ".join(f"layer {h.layer}, head {h.head}: {h.dlogp:+.3f}" for h in heads[:TOP_HEADS])
    n = len(heads)
    note = (f"{trace.model_name}'s prediction: {ranked.prediction}. Each of its {n} heads zeroed alone, the rest of "
            f"the model run again: the change in {ranked.measure} (negative: the head helped). Most needed: "
            f"{named}.")  # fmt: skip
    title = f"Δ {plotly_escape(ranked.measure)} when one head is zeroed"
    return View("ablation", [sweep_heatmap(ranked.sweep, title, (layer, head))], layer, head, note=note)


def _answer(trace: Any) -> Ranked | None:
    """A question-answering model's: its answer span, as the pipeline decodes it."""
    logits = answer_logits_of(trace)
    if logits is None:
        return None
    view = answer_view(logits, trace)
    if view is None:
        raise ViewError("The token cap left no token of the context to answer from: raise max_tokens.")
    final, sweep = view.spans[-1], answer_sweep_of(trace, *view.answer_span)
    said = f"the answer ‘{final.text}’ (tokens {final.start}–{final.end}, p(start) × p(end) = {final.score:.3f})"
    return Ranked(said, "log p(start) + log p(end) of the answer", sweep)


def _label(trace: Any) -> Ranked | None:
    """A sequence classifier's: its top label (a regression's one score)."""
    found = class_verdict_of(trace)
    if found is None:
        if tag_grid_of(trace) is not None:
            raise ViewError(f"{trace.model_name} labels each token: rank heads for one token's label on the "
                            "app's Experiments page (this view ranks them for one prediction about the text)")
        return None
    scores, labels, problem, _pool = found
    label = int(np.argmax(scores[-1]))
    sweep = class_sweep_of(trace, label)
    if problem == "regression":
        return Ranked(f"the score {scores[-1, label]:.3f}", "the score", sweep)
    return Ranked(f"the label ‘{labels[label]}’ (p = {probability_text(scores[-1, label])})",
                  f"log p(‘{labels[label]}’)", sweep)  # fmt: skip


def _next_token(trace: Any) -> Ranked:
    """A language model's: its top token after the text (a masked-language model's at the first mask)."""
    fills = fills_in(trace)
    position = prediction_position(trace, mask_token(trace))  # mask_token: None but for a masked-language model
    logprobs = next_token_logprobs(trace, position)
    if logprobs is None:
        raise ViewError(f"{trace.model_name} makes no prediction to rank heads by (no language-model, classifier or "
                        "question-answering head was loaded with it)")  # fmt: skip
    target = int(np.argmax(logprobs))
    token = f"‘{predicted_token_label(trace.decode_token(target))}’"
    p = probability_text(float(np.exp(logprobs[target])))
    where = f"at token {position}" if fills else f"after {prediction_place(trace, position)}"
    return Ranked(f"{token} {where} (p = {p})", f"log p({token})", sweep_of(trace, target, position=position))
