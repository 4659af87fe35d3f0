"""A text pair's other-text share (the head finder's "other text" column): per head, each query's weight on the
other text's tokens, averaged over the queries that see the other text, read in the head finder's one pass
(services.repeats.head_finder_statistics) and held here to the whole patterns summed by hand.

Tolerance: 1e-6 (float32 weights summed in float64 either way).
"""

from __future__ import annotations

import numpy as np

from services.repeats import head_finder_statistics, other_text_keys

TOL = 1e-6
FIRST, SECOND = "How many people live in Berlin?", "Berlin has a population of 3.5 million."


def _by_hand(trace, split: int, causal: bool) -> tuple[np.ndarray, int]:
    """[n_layers, n_heads] the mean over the queries that see the other text of their weight on it, and how many."""
    n = trace.n_tokens
    second = np.arange(n) >= split
    other = second[:, None] != second[None, :]
    if causal:
        other &= np.tri(n, dtype=bool)
    queries = other.any(axis=1)
    out = np.stack([
        (trace.layer_patterns(layer).double().numpy() * other).sum(-1)[:, queries].mean(-1)
        for layer in range(trace.n_layers)
    ])  # fmt: skip
    return out, int(queries.sum())


def test_the_other_text_share_is_each_querys_weight_on_the_other_text(minilm) -> None:
    for causal in (None, True):  # the model's own (bidirectional), then the causal mask forced on
        trace = minilm.trace(FIRST, second_text=SECOND, causal=causal)
        split = trace.segments.second_token
        _, (means, counts, in_text) = head_finder_statistics(trace, rows_per_chunk=7)
        expected, n_queries = _by_hand(trace, split, bool(trace.causal))
        assert np.abs(means["across"] - expected).max() <= TOL, causal
        # Bidirectional: every query sees the other text; causal: the first text's queries see none of it.
        assert n_queries == (trace.n_tokens if causal is None else trace.n_tokens - split)
        assert counts["across"].tolist() == [n_queries] * trace.n_layers and in_text["across"] == trace.n_tokens
        assert expected.std() > 0.01, "heads must differ, or the test tells nothing"


def test_one_text_has_no_other_text(minilm) -> None:
    trace = minilm.trace(FIRST)
    assert other_text_keys(trace) is None
    assert "across" not in head_finder_statistics(trace)[1][0]
