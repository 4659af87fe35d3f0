"""Generation view models: the generated tokens, each step's candidates, and the attention each step paid to
everything before the token it wrote. numpy in; reads the generation and its trace through their public methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from viz.labels import predicted_token_label, readable_token
from viz.views.common import display_tokens, to_numpy
from viz.views.trace import TraceLike


@dataclass(frozen=True)
class StepAttention:
    """Row s: the query that wrote generated token s (the position before it) over every earlier token."""

    weights: np.ndarray  # [n_new, n_keys] attention weights; n_keys = prompt + generated tokens but the last
    rows: list[str]  # [n_new] readable generated tokens
    keys: list[str]  # [n_keys] readable tokens of the text (from position `first`)
    n_prompt: int  # keys before this position are the prompt's
    first: int = 0  # the text position of keys[0] and weights[:, 0] (a window of a long text's keys)

    def window(self, first: int, stop: int) -> StepAttention:
        """The same steps over the keys at positions first..stop-1 (their weights unchanged: still shares of
        everything each step saw)."""
        a, b = first - self.first, stop - self.first
        return StepAttention(self.weights[:, a:b], self.rows, self.keys[a:b], self.n_prompt, first)


class GenerationLike(Protocol):
    """What the generation views read of `Model.generate`'s result (attention_core.generation.Generation)."""

    trace: TraceLike  # prompt + generated tokens
    n_prompt: int

    def step_patterns(self, layer: int) -> Any: ...  # [n_heads, n_new, n - 1] each step's weights at its query


def step_attention(gen: GenerationLike, layer: int, head: int) -> StepAttention:
    """One head's weights at the steps that chose each generated token (query n_prompt - 1 + s for token s),
    from the pass that chose it."""
    weights = to_numpy(gen.step_patterns(layer))[head]  # (n_new, n - 1)
    n, n_prompt = gen.trace.n_tokens, gen.n_prompt
    tokens = [readable_token(t) for t in display_tokens(gen.trace)]  # byte pieces named by their character
    return StepAttention(np.asarray(weights, dtype=np.float64), tokens[n_prompt:], tokens[: n - 1], n_prompt)


def step_heads(gen: GenerationLike, step: int, layer: int) -> np.ndarray:
    """[n_heads, n_prompt + step] every head's weights in `layer` at the step that wrote generated token `step`."""
    rows = to_numpy(gen.step_patterns(layer))  # [n_heads, n_new, n - 1]
    return np.asarray(rows[:, step, : gen.n_prompt + step], dtype=np.float64)


@dataclass(frozen=True)
class Candidates:
    labels: list[str]  # readable candidate tokens, most likely first
    probs: np.ndarray  # [k] their probabilities
    chosen: int  # index of the token actually written in `labels`, or -1 if it was not among them (sampling)


def candidates(top_ids: np.ndarray, top_probs: np.ndarray, chosen_id: int, decode) -> Candidates:
    """One step's top-k candidates (`top_ids`, `top_probs` [k]) and which one was written."""
    ids = [int(i) for i in top_ids]
    return Candidates(
        [predicted_token_label(decode(i)) for i in ids], np.asarray(top_probs, dtype=np.float64),
        ids.index(int(chosen_id)) if int(chosen_id) in ids else -1,
    )  # fmt: skip


def how_generated(temperature: float, seed: int) -> str:
    """How each new token was chosen, as the Generate page and the notebook's generation view say it."""
    return "greedy" if temperature == 0 else f"sampled at temperature {temperature:g}, seed {seed}"


def generation_cut_sentence(
    n_prompt: int, n_text: int, n_new: int | None, token_cap: int | None = None, limit: int | None = None
) -> str:
    """What a generation whose text was cut continued (the Generate page and the notebook's generation view). The
    prompt is the text up to the token cap, or up to the longest pass the engine runs for this model (`limit`,
    Model.max_tokens: its context, at most 4,096) less room for the new tokens, whichever is less. `n_new`: the new
    tokens asked for; `token_cap`, `limit`: None where the caller does not know them."""
    room = "the new tokens" if n_new is None else f"the {n_new} new tokens"
    longest = "the longest pass" if limit is None else f"the longest pass ({limit:,} tokens)"
    if token_cap is None:
        why = f"the token cap asked for, or {longest} less room for {room}"
    elif n_prompt == token_cap:
        why = "the token cap in the sidebar"
    else:
        why = f"{longest} less room for {room}"
    return (
        f"The text is {n_text:,} tokens; the model read its first {n_prompt:,} ({why}) and continues from there: "
        "the rest of the text is left out."
    )


def continuation_tokens(new_tokens: Sequence[str]) -> list[str]:
    return [readable_token(t) for t in new_tokens]
