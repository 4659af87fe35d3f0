"""Head finder view models: every head ranked by the attention one query pays to chosen keys, and
per-head statistics (entropy, previous-/first-token share, distance) over every layer × head."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from viz.views.common import to_numpy
from viz.views.trace import TraceLike


def all_patterns(trace: TraceLike) -> np.ndarray:
    """[n_layers, n_heads, n_q, n_k] the patterns the pass used (n ≤ the app's token cap, so this is small)."""
    return np.stack([to_numpy(trace.layer_patterns(layer), dtype=np.float32) for layer in range(trace.n_layers)])


@dataclass(frozen=True)
class HeadHit:
    layer: int
    head: int
    weight: float  # Σ over the chosen keys of A[query, key]
    per_key: tuple[float, ...]


def rank_heads_by_attention(patterns: np.ndarray, query: int, keys: Sequence[int]) -> list[HeadHit]:
    """Every head, most attention from `query` to the `keys` (together) first."""
    keys = list(keys)
    sub = patterns[:, :, query, keys].astype(np.float64)  # (L, H, len(keys))
    total = sub.sum(axis=-1)
    order = np.argsort(-total, axis=None, kind="stable")
    n_heads = patterns.shape[1]
    hits = []
    for flat in order:
        layer, head = divmod(int(flat), n_heads)
        hits.append(HeadHit(layer, head, float(total[layer, head]), tuple(float(x) for x in sub[layer, head])))
    return hits


STAT_COLUMNS = {
    "entropy": "entropy (bits)",
    "prev": "previous-token share",
    "first": "first-token share",
    "distance": "mean distance (tokens)",
}


def head_statistics(patterns: np.ndarray) -> dict[str, np.ndarray]:
    """Per head, averaged over queries: [n_layers, n_heads] arrays.

    entropy: −Σ A log₂ A of a query's row (0 = all on one key; log₂(#keys visible) = uniform);
    prev: A[i, i−1] over queries i ≥ 1; first: A[i, 0]; distance: Σ_j A[i, j]·|i − j|.
    """
    p = patterns.astype(np.float64)
    n = p.shape[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(p > 0, np.log2(np.where(p > 0, p, 1.0)), 0.0)
    entropy = -(p * logs).sum(axis=-1).mean(axis=-1)
    idx = np.arange(n)
    if n > 1:
        prev = p[:, :, idx[1:], idx[1:] - 1].mean(axis=-1)
    else:
        prev = np.full(p.shape[:2], np.nan)  # one token has no previous token
    first = p[:, :, :, 0].mean(axis=-1)
    dist = np.abs(idx[:, None] - idx[None, :]).astype(np.float64)
    distance = (p * dist).sum(axis=-1).mean(axis=-1)
    return {"entropy": entropy, "prev": prev, "first": first, "distance": distance}


def stats_table(stats: dict[str, np.ndarray]) -> dict[str, list]:
    """Columns for st.dataframe: one row per head, row r ↔ (layer, head) = divmod(r, n_heads)."""
    n_layers, n_heads = stats["entropy"].shape
    table: dict[str, list] = {
        "layer": [layer for layer in range(n_layers) for _ in range(n_heads)],
        "head": [head for _ in range(n_layers) for head in range(n_heads)],
    }
    for key, label in STAT_COLUMNS.items():
        table[label] = [float(x) for x in stats[key].reshape(-1)]
    return table


def row_to_head(row: int, n_heads: int) -> tuple[int, int]:
    """Table row (its position in the unsorted data, which is what a selection reports) → (layer, head)."""
    return divmod(int(row), n_heads)


def default_query_keys(tokens: Sequence[str]) -> tuple[int, list[int]]:
    """A sensible first question: "creature" ← "fluffy", "blue" when present, else last token ← first token."""
    stripped = [t.strip().lower() for t in tokens]
    if "creature" in stripped:
        q = stripped.index("creature")
        keys = [i for i, t in enumerate(stripped[:q]) if t in {"fluffy", "blue"}]
        if keys:
            return q, keys
    n = len(tokens)
    return n - 1, [max(0, n - 2)]


# The showcase's control: the same adjectives before the noun, but one word ("old") between them and it, so a
# head that only looks at the previous token cannot score here.
CONTROL_TEXT = "a fluffy and blue old creature roamed the verdant forest"
PREVIOUS_TOKEN_HEAD = 0.5  # a head whose previous-token share is above this is called a previous-token head


@dataclass(frozen=True)
class ControlResult:
    query: int
    keys: list[int]
    best: HeadHit  # the best head for the same question in the control text
    same_head: HeadHit  # the original best head's score in the control text


def control_result(patterns: np.ndarray, tokens: Sequence[str], layer: int, head: int) -> ControlResult:
    """The head finder's default question asked of the control text's patterns ([L, H, n, n])."""
    query, keys = default_query_keys(tokens)
    hits = rank_heads_by_attention(patterns, query, keys)
    same = next(h for h in hits if (h.layer, h.head) == (layer, head))
    return ControlResult(query, keys, hits[0], same)
