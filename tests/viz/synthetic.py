"""Synthetic attention for the viz unit tests: one causal head's scores, mask and pattern, and tokens
with a repeat and markup in them on purpose."""

from __future__ import annotations

import numpy as np


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def synthetic(n: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(n, n)).astype(np.float32)
    mask = np.tril(np.ones((n, n), dtype=bool))
    pattern = softmax(np.where(mask, scores, -np.inf))
    return scores, mask, pattern


TOKS = ["the", " cat", " saw", " the", " <b>dog</b>"]  # a repeated token and markup on purpose
