"""Generation view models: the generated tokens, each step's candidates, and the attention each step paid to
everything before the token it wrote. numpy in; reads the generation's trace through its public methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from viz.labels import readable_token
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


def step_attention(trace: TraceLike, n_prompt: int, layer: int, head: int) -> StepAttention:
    """One head's weights at the steps that chose each generated token (query n_prompt - 1 + s for token s)."""
    pattern = to_numpy(trace.pattern(layer, head))  # [n, n]
    n = trace.n_tokens
    weights = pattern[n_prompt - 1 : n - 1, : n - 1]  # (n_new, n - 1): token s is written from query n_prompt-1+s
    tokens = [readable_token(t) for t in display_tokens(trace)]  # byte pieces named by their character
    return StepAttention(np.asarray(weights, dtype=np.float64), tokens[n_prompt:], tokens[: n - 1], n_prompt)


def step_heads(trace: TraceLike, n_prompt: int, step: int, layer: int) -> np.ndarray:
    """[n_heads, n_prompt + step] every head's weights in `layer` at the step that wrote generated token `step`."""
    query = n_prompt - 1 + step
    patterns = to_numpy(trace.layer_patterns(layer))  # [n_heads, n, n]
    return np.asarray(patterns[:, query, : query + 1], dtype=np.float64)


@dataclass(frozen=True)
class Candidates:
    labels: list[str]  # readable candidate tokens, most likely first
    probs: np.ndarray  # [k] their probabilities
    chosen: int  # index of the token actually written in `labels`, or -1 if it was not among them (sampling)


def candidates(top_ids: np.ndarray, top_probs: np.ndarray, chosen_id: int, decode) -> Candidates:
    """One step's top-k candidates (`top_ids`, `top_probs` [k]) and which one was written."""
    ids = [int(i) for i in top_ids]
    return Candidates(
        [readable_token(decode(i)) for i in ids], np.asarray(top_probs, dtype=np.float64),
        ids.index(int(chosen_id)) if int(chosen_id) in ids else -1,
    )  # fmt: skip


def how_generated(temperature: float, seed: int) -> str:
    """How each new token was chosen, as the Generate page and the notebook's generation view say it."""
    return "greedy" if temperature == 0 else f"sampled at temperature {temperature:g}, seed {seed}"


def continuation_tokens(new_tokens: Sequence[str]) -> list[str]:
    return [readable_token(t) for t in new_tokens]
