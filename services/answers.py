"""An extractive question-answering model's start and end logits after every block (attention_core.classify), cached
with its trace (services.traces.derived) and, uncached, for the notebook. numpy out."""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np

from attention_core import Trace
from attention_core.classify import answer_logits_by_layer, has_answer_head
from services.traces import derived


def answer_logits(base_key: Hashable, trace: Trace) -> np.ndarray | None:
    """[n_layers, n_tokens, 2] the start and end logits at every position after each block (the last block's the
    model's own) for a model loaded with a question-answering head; None for any other."""
    return derived(base_key, "answer_logits", compute=lambda: answer_logits_of(trace))


def answer_logits_of(trace: Trace) -> np.ndarray | None:
    """answer_logits' array, uncached."""
    return answer_logits_by_layer(trace).numpy().astype(np.float64) if has_answer_head(trace) else None
