"""The numbers behind two of *Start here*'s tables (viz/views/chapter.py tells the steps): one query's row through
the softmax, and one head's Δe at a query added up source by source, as the chapter adds it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def softmax_rows(
    scores: np.ndarray, mask: np.ndarray, weights: np.ndarray, tokens: Sequence[str], score_name: str = "scaled score"
) -> list[dict]:
    """One query's row for the softmax step: each key's score (named `score_name`: viz.views.score_terms), the score
    the softmax saw (−∞ where masked; only where the row masks a key, else it would repeat the scores) and the
    weight the model used (from the trace, not recomputed)."""
    masks_some = not bool(np.all(mask))
    return [
        {"key token": f"{j}: {tok}", score_name: float(scores[j])}
        | ({"score the softmax sees": float(scores[j]) if mask[j] else float("-inf")} if masks_some else {})
        | {"weight": float(weights[j])}
        for j, tok in enumerate(tokens)
    ]


@dataclass(frozen=True)
class WeightedValues:
    """One query's Δe for one head, as the chapter adds it up: Σ_j A[i, j]·(v_j·W_O), a row per source."""

    query: int
    sources: list[int]  # the sources drawn as their own row, in text order
    weights: np.ndarray  # [k] A[query, j] of those sources
    rows: np.ndarray  # [k, d_model] A[query, j]·(v_j·W_O[head]) of those sources
    rest: np.ndarray | None  # [d_model] every other source the query sees, summed; None when all are drawn
    n_rest: int  # how many sources `rest` holds
    rest_weight: float  # their weights' sum
    delta: np.ndarray  # [d_model] the sum of every row and `rest`: the head's Δe at the query

    @property
    def n_seen(self) -> int:
        return len(self.sources) + self.n_rest


def weighted_values(
    v: np.ndarray, W_O: np.ndarray, pattern_row: np.ndarray, seen: np.ndarray, query: int, max_rows: int = 12
) -> WeightedValues:
    """v [n, d_head] value-down of every token, W_O [d_head, d_model] the head's value-up, pattern_row [n] the
    query's weights, seen [n] bool the keys it may see. Past `max_rows` seen sources, the rows drawn are the
    `max_rows` that add the most (|A·v·W_O|); the others are summed into `rest`, so the sum stays whole. One source
    past `max_rows` is drawn as itself: a "sum" of one would hide which token it is."""
    allowed = np.flatnonzero(np.asarray(seen, dtype=bool))
    sent = pattern_row[allowed, None] * (v[allowed] @ W_O)  # [n_seen, d_model]
    norms = np.linalg.norm(sent, axis=-1)
    order = sorted(range(len(allowed)), key=lambda r: (-float(norms[r]), r))
    drawn = sorted(order[:max_rows]) if len(allowed) > max_rows + 1 else list(range(len(allowed)))
    others = sorted(set(range(len(allowed))) - set(drawn))
    return WeightedValues(
        query=query,
        sources=[int(allowed[r]) for r in drawn],
        weights=pattern_row[allowed[drawn]],
        rows=sent[drawn],
        rest=sent[others].sum(axis=0) if others else None,
        n_rest=len(others),
        rest_weight=float(pattern_row[allowed[others]].sum()) if others else 0.0,
        delta=sent.sum(axis=0),
    )
