"""From documents to per-head sums and examples, with a loaded model: the work one atlas worker does.

`BatchStats` takes a batch of documents (and of induction sequences), runs each through the model one layer's
patterns at a time (never every head's n² pattern at once), and returns one row per (layer, head, statistic):
the sum over the batch's qualifying queries, their count, how many documents went in, and the batch's top
examples. Rows from any split of the corpus into batches add up to the same corpus table (job.py), to float64
rounding (a batch adds its documents' sums in order).
"""

from __future__ import annotations

import heapq
import json
from dataclasses import dataclass, field

import numpy as np
import torch

from attention_core.api import Model
from attention_core.atlas import statistics as st
from attention_core.trace import Trace

EXAMPLES_PER_HEAD = 3  # examples kept per head and statistic at each end (the highest values, the lowest)
ENDS = ("highest", "lowest")  # an example's `end`: ranked lowest first (entropy: focused heads) shows the lowest
WINDOW = 16  # tokens of context stored with an example
TOP_KEYS = 5  # the example query's strongest keys, stored with their weights
KEY_WINDOW = 5  # tokens of context around the statistic's key when it lies outside the query's window
# At query 1 the previous token is the first token, so weight there shows neither statistic apart: their
# examples are chosen from query 2 on (the statistics themselves still count query 1, docs/atlas.md).
FIRST_EXAMPLE_QUERY = {"previous_token": 2, "first_token": 2}
# Under the causal mask an early query has few keys to choose from, and few keys force high values: query 1's
# entropy is 1 whenever it splits evenly over its two keys, and a statistic's top examples were all such queries.
# So a causal model's text examples come from queries that see at least this many keys (the statistics still
# count every qualifying query).
MIN_EXAMPLE_KEYS = 8


def first_example_query(statistic: str, causal: bool) -> int:
    """The first query a statistic's examples may come from (text documents; induction queries are set)."""
    own = FIRST_EXAMPLE_QUERY.get(statistic, 0)
    return max(own, MIN_EXAMPLE_KEYS - 1) if causal and statistic != "induction" else own


def focus_key(statistic: str, row: np.ndarray, query: int, token_ids: torch.Tensor, period: int | None) -> int:
    """The key an example's value is about: the previous token, the first token, the query itself, the token
    after the earlier copy (induction, `period` apart), the strongest earlier copy (duplicate token); for
    entropy and mean distance, the query's strongest key."""
    if statistic == "previous_token":
        return query - 1
    if statistic == "first_token":
        return 0
    if statistic == "self":
        return query
    if statistic == "induction" and period is not None:
        return query - period + 1
    if statistic == "duplicate_token":
        copies = st.earlier_copies(token_ids)[query].numpy()  # [n] bool
        return int(np.argmax(np.where(copies, row, -np.inf)))
    return int(np.argmax(row))


def _key_window(focus: int, lo: int, hi: int, n: int) -> tuple[int, int]:
    """[start, end) of a few tokens around `focus`, outside the query's window [lo, hi); (-1, -1) when the focus
    is inside it."""
    if lo <= focus < hi:
        return -1, -1
    start, end = max(0, focus - KEY_WINDOW // 2), min(n, focus + KEY_WINDOW // 2 + 1)
    return (start, min(end, lo)) if focus < lo else (max(start, hi), end)


@dataclass
class _Part:
    """One (layer, head, statistic)'s running sum, count and examples at each end within a batch."""

    total: float = 0.0
    n_queries: int = 0
    # By end, a heap of (rank…, example dict), the weakest on top: rank (value, -doc_id, -query) for the highest
    # values, (-value, -doc_id, -query) for the lowest; so at each end the earlier document, then query, wins a tie.
    heaps: dict[str, list] = field(default_factory=lambda: {end: [] for end in ENDS})


def _example(trace: Trace, row: np.ndarray, doc_id: int, kind: str, query: int, value: float, focus: int) -> dict:
    """What the app needs to show an example without re-running: the text the trace read (to open it on
    another page), a window of tokens around the query (keys before it on a causal model, around it
    otherwise), the query's weights on them, its strongest keys, and the key the value is about (`focus`)
    with a few tokens around it when it lies outside the window (key_window_start −1: inside)."""
    n = len(trace.tokens)
    lo = max(0, query - WINDOW + 1) if trace.causal else max(0, min(query - WINDOW // 2, n - WINDOW))
    hi = min(n, lo + WINDOW)
    key_lo, key_hi = _key_window(focus, lo, hi, n)
    keys = np.argsort(-row, kind="stable")[:TOP_KEYS]
    traced_chars = max(end for _, end in trace.offsets)  # the part of the text the trace read (it may be cut)
    return {
        "text": trace.text[:traced_chars] if kind == "text" else trace.text,
        "kind": kind,
        "doc_id": doc_id,
        "query": query,
        "value": value,
        "window_start": lo,
        "tokens": trace.tokens[lo:hi],
        "weights": [round(float(w), 6) for w in row[lo:hi]],
        "top_keys": [int(k) for k in keys],
        "top_key_tokens": [trace.tokens[int(k)] for k in keys],
        "top_key_weights": [round(float(row[k]), 6) for k in keys],
        "focus_key": focus,
        "key_window_start": key_lo,
        "key_tokens": trace.tokens[key_lo:key_hi] if key_lo >= 0 else [],
        "key_weights": [round(float(w), 6) for w in row[key_lo:key_hi]] if key_lo >= 0 else [],
    }


def _makes_the_cut(heap: list, rank: tuple) -> bool:
    return len(heap) < EXAMPLES_PER_HEAD or rank > heap[0][:3]


def _keep(heap: list, entry: tuple) -> None:
    """Push an example (rank…, example) onto a heap of the best ones, dropping the weakest past the limit."""
    (heapq.heappush if len(heap) < EXAMPLES_PER_HEAD else heapq.heapreplace)(heap, entry)


class BatchStats:
    """Accumulates one batch's statistics for a model; `rows()` gives the batch's table."""

    def __init__(self, model: Model):
        self.model = model
        self.parts: dict[tuple[int, int, str], _Part] = {}
        self.n_docs = {"text": 0, "induction": 0}  # documents added, by kind

    def add_trace(self, trace: Trace, doc_id: int, kind: str, induction: tuple[int, int] | None = None) -> None:
        """Add one traced document (kind 'text') or repeated random sequence (kind 'induction', with its
        (start, period))."""
        ids = torch.tensor(trace.token_ids)
        for layer in trace.attention_layers:  # a hybrid's other layers have no heads, so no rows
            patterns = trace.layer_patterns(layer)  # [n_heads, n, n]: one layer at a time
            if induction is None:
                found = st.text_statistics(patterns, ids, trace.causal)
            else:
                found = {"induction": st.induction(patterns, *induction)}
            for name, values in found.items():
                period = None if induction is None else induction[1]
                self._add(trace, ids, patterns, layer, name, values, doc_id, kind, period)
        self.n_docs[kind] += 1

    def _add(self, trace: Trace, ids: torch.Tensor, patterns: torch.Tensor, layer: int, name: str,
             values: st.HeadValues, doc_id: int, kind: str, period: int | None) -> None:  # fmt: skip
        if values.n_queries == 0:
            for head in range(patterns.shape[0]):
                self.parts.setdefault((layer, head, name), _Part())
            return
        first = first_example_query(name, trace.causal)
        # Each head's highest and lowest example query in this text (none in a text too short to give one).
        extremes = {end: _extreme(values.per_query, first, end) for end in ENDS}
        for head in range(patterns.shape[0]):
            part = self.parts.setdefault((layer, head, name), _Part())
            part.total += float(values.sums[head])
            part.n_queries += values.n_queries
            for end, found in extremes.items():
                if found is None:
                    continue
                value, query = float(found[0][head]), int(found[1][head])
                rank = (value if end == "highest" else -value, -doc_id, -query)
                if _makes_the_cut(part.heaps[end], rank):
                    row = patterns[head, query].numpy()
                    focus = focus_key(name, row, query, ids, period)  # ids: the trace's, made once in add_trace
                    example = _example(trace, row, doc_id, kind, query, value, focus) | {"end": end}
                    _keep(part.heaps[end], (*rank, example))

    def merge(self, other: BatchStats) -> None:
        """Add another batch's (or document's) statistics to these: sums and counts add, and the top examples
        of both compete, so merging documents one by one in order gives what adding them in order gives."""
        for key, theirs in other.parts.items():
            part = self.parts.setdefault(key, _Part())
            part.total += theirs.total
            part.n_queries += theirs.n_queries
            for end in ENDS:
                for entry in theirs.heaps[end]:
                    if _makes_the_cut(part.heaps[end], entry[:3]):
                        _keep(part.heaps[end], entry)
        for kind, n in other.n_docs.items():
            self.n_docs[kind] += n

    def rows(self) -> dict[str, np.ndarray]:
        """The batch's table: layer, head, statistic, sum, n_queries, n_docs (documents of the kind the
        statistic reads), batch_docs (all documents in the batch), examples (a JSON list)."""
        keys = sorted(self.parts)
        parts = [self.parts[k] for k in keys]
        return {
            "layer": np.array([k[0] for k in keys], dtype=np.int32),
            "head": np.array([k[1] for k in keys], dtype=np.int32),
            "statistic": np.array([k[2] for k in keys], dtype=object),
            "sum": np.array([p.total for p in parts], dtype=np.float64),
            "n_queries": np.array([p.n_queries for p in parts], dtype=np.int64),
            "n_docs": np.array(
                [self.n_docs["induction" if k[2] == "induction" else "text"] for k in keys], dtype=np.int64
            ),
            "batch_docs": np.full(len(keys), sum(self.n_docs.values()), dtype=np.int64),
            "examples": np.array(
                [json.dumps([e[3] for end in ENDS for e in sorted(p.heaps[end], reverse=True)]) for p in parts],
                dtype=object,
            ),
        }


def _extreme(per_query: torch.Tensor, first: int, end: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Each head's highest (or lowest) value over the queries from `first` on, with its query; None when no query
    there qualified (NaN: the statistic leaves it out)."""
    fill = -np.inf if end == "highest" else np.inf  # a NaN or an excluded query never wins
    values = torch.nan_to_num(per_query, nan=fill)  # (n_heads, n)
    values[:, :first] = fill
    found = values.max(dim=1) if end == "highest" else values.min(dim=1)
    return (found.values, found.indices) if torch.isfinite(found.values).any() else None  # [n_heads] each


def induction_ids(model: Model, index: int, period: int, seed: int) -> tuple[list[int], int]:
    """Sequence `index` of the induction set: the model's usual start token(s) if it adds any, then `period`
    random ordinary tokens (seeded by (seed, index)), then the same tokens again, then its usual end token(s).
    Returns (ids, start of the first copy)."""
    prefix, suffix = special_frame(model)
    rng = np.random.default_rng([seed, index])
    pool = ordinary_token_ids(model)
    if len(pool) < period:  # a tiny vocabulary: any token but the special ones
        special = set(raw_special_ids(model))
        pool = np.array([i for i in range(model.config.d_vocab) if i not in special], dtype=np.int64)
    if len(pool) < period:
        raise ValueError(f"{model.name}'s vocabulary has {len(pool)} ordinary tokens, fewer than {period}")
    tokens = [int(t) for t in rng.choice(pool, size=period, replace=False)]
    return [*prefix, *tokens, *tokens, *suffix], len(prefix)


def special_frame(model: Model) -> tuple[list[int], list[int]]:
    """The special tokens the tokenizer puts before and after any text (BERT: [CLS] … [SEP]; SmolLM2: none)."""
    raw = model.tokenizer.tokenizer
    probe = raw.encode("word", add_special_tokens=True).ids
    plain = raw.encode("word", add_special_tokens=False).ids
    at = next(i for i in range(len(probe)) if probe[i : i + len(plain)] == plain)
    return probe[:at], probe[at + len(plain) :]


def raw_special_ids(model: Model) -> list[int]:
    return [i for i, tok in model.tokenizer.tokenizer.get_added_tokens_decoder().items() if tok.special]


def ordinary_token_ids(model: Model) -> np.ndarray:
    """Ids of whole-word tokens of three or more letters (with a leading space on byte-level vocabularies),
    sorted: the pool induction sequences draw from, so they look like text rather than byte soup."""
    raw = model.tokenizer.tokenizer
    byte_level = model.tokenizer.byte_level
    ids = []
    for token, i in raw.get_vocab().items():
        word = token[1:] if byte_level and token.startswith("Ġ") else (None if byte_level else token)
        if word and len(word) >= 3 and word.isascii() and word.isalpha():
            ids.append(i)
    return np.array(sorted(ids), dtype=np.int64)
