"""An extractive question-answering model's start and end logits after every block (attention_core.classify), cached
with its trace (services.traces.derived) and, uncached, for the notebook. numpy out."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from attention_core import Trace
from attention_core.classify import answer_ablation_sweep, answer_logits_by_layer, has_answer_head
from services.traces import derived, is_derived


def answer_logits(base_key: Hashable, trace: Trace) -> np.ndarray | None:
    """[n_layers, n_tokens, 2] the start and end logits at every position after each block (the last block's the
    model's own) for a model loaded with a question-answering head; None for any other."""
    return derived(base_key, "answer_logits", compute=lambda: answer_logits_of(trace))


def answer_logits_of(trace: Trace) -> np.ndarray | None:
    """answer_logits' array, uncached."""
    return answer_logits_by_layer(trace).numpy().astype(np.float64) if has_answer_head(trace) else None


def answer_sweep(base_key: Hashable, trace: Trace, candidates: Sequence[int], start: int, end: int) -> np.ndarray:
    """[n_layers, n_heads] change in log p(start) + log p(end) of the answer span start..end (indices into
    `candidates`) when each head alone is zeroed, cached with the trace (float64)."""
    params = (tuple(int(c) for c in candidates), int(start), int(end))
    return derived(base_key, "answer_sweep", *params, compute=lambda: answer_sweep_of(trace, *params))


def answer_sweep_of(trace: Trace, candidates: Sequence[int], start: int, end: int) -> np.ndarray:
    """answer_sweep's array, uncached (the notebook's)."""
    return answer_ablation_sweep(trace, [int(c) for c in candidates], int(start), int(end)).numpy().astype(np.float64)


def has_answer_sweep(base_key: Hashable, candidates: Sequence[int], start: int, end: int) -> bool:
    """Whether answer_sweep has that ranking cached (the page draws it again without a click)."""
    return is_derived(base_key, "answer_sweep", tuple(int(c) for c in candidates), int(start), int(end))
