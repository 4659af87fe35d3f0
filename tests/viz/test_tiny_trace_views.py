"""View models on traces of tiny random models, for the fast tier: the head finder's ranking and statistics, the
Experiments page's residual drift and the Generate page's per-step weights, each against a reference written out
here from the captured q, k and residuals (tests/engine/test_tiny_invariants.py: a 2-layer Llama with 4 query
heads over 2 key/value heads, and a bidirectional BERT), never through the view or engine function under test.

Tolerances (float32 CPU, references in float64): weights and sums of one query's weights 1e-5 absolute; per-head
statistics (means over ≤ 40 rows) 1e-5 absolute; residual drift (a ratio of norms of order 1) 1e-5 relative.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from services.repeats import head_finder_statistics
from tests.engine import test_tiny_invariants as tiny
from tests.engine.test_tiny_invariants import TEXT, row_sums, softmax_patterns
from viz.views.experiments import residual_drift
from viz.views.generation import step_attention, step_heads
from viz.views.heads import (
    all_patterns,
    head_statistics,
    query_rows,
    rank_heads_by_attention,
    rank_heads_by_rows,
    statistics_of_row_sums,
)

pytest.importorskip("transformers")
TOL = 1e-5
llama, bert = tiny.llama, tiny.bert  # the engine module's fixtures: the same two tiny models


def every_pattern(trace) -> np.ndarray:
    """[n_layers, n_heads, n, n] float64, the softmax written out (test_tiny_invariants.softmax_patterns)."""
    return np.stack([softmax_patterns(trace, layer).numpy() for layer in range(trace.n_layers)])


def test_heads_are_ranked_by_the_querys_own_row_most_attention_first(llama, bert):
    for pair in (llama, bert):
        t = pair.model.trace(TEXT)
        n, ref = t.n_tokens, every_pattern(t)
        for query, keys in ((n - 1, [3, 5]), (7, [2]), (n // 2, [0, n - 2])):
            totals = ref[:, :, query, keys].sum(-1)  # (L, H): row `query`, the chosen keys together
            want = sorted(np.ndindex(totals.shape), key=lambda lh: (-totals[lh], lh))
            for hits in (rank_heads_by_attention(all_patterns(t), query, keys),
                         rank_heads_by_rows(query_rows(t, query), keys)):  # fmt: skip
                assert [(h.layer, h.head) for h in hits] == want
                assert [h.weight for h in hits] == pytest.approx([totals[lh] for lh in want], abs=TOL)
                assert hits[0].weight >= hits[-1].weight + 1e-3  # the heads really differ: an order to get wrong
                assert hits[0].per_key == pytest.approx(tuple(ref[want[0]][query, keys]), abs=TOL)


@pytest.mark.parametrize("key", ["llama", "llama-bidir", "bert"])
def test_head_statistics_are_the_patterns_row_means_with_entropy_in_bits(llama, bert, key):
    pair = bert if key == "bert" else llama
    t = pair.model.trace(TEXT, causal=False) if key == "llama-bidir" else pair.model.trace(TEXT)
    n = t.n_tokens
    sums = [row_sums(torch.from_numpy(p)) for p in every_pattern(t)]  # per layer, per head; entropy in nats
    counted = n - 1 if t.causal else n  # entropy, distance: the queries that see ≥ 2 keys
    want = {
        "entropy": np.stack([s["entropy"].numpy() for s in sums]) / math.log(2) / counted,
        "prev": np.stack([s["previous"].numpy() for s in sums]) / (n - 1),
        "first": np.stack([s["first"].numpy() for s in sums]) / (n - 1),
        "distance": np.stack([s["distance"].numpy() for s in sums]) / counted,
    }
    from_row_sums = statistics_of_row_sums(head_finder_statistics(t)[0], n, t.causal)  # the head finder's path
    for got in (from_row_sums, head_statistics(all_patterns(t), t.causal)):
        for name, value in want.items():
            assert got[name].shape == (t.n_layers, t.n_heads)
            np.testing.assert_allclose(got[name], value, rtol=0, atol=TOL, err_msg=name)
    assert want["entropy"].max() <= math.log2(n) and want["entropy"].min() > 0.05


def test_residual_drift_is_the_change_relative_to_the_clean_residual(llama):
    from attention_core import ablate_head

    before = llama.model.trace(TEXT)
    after = llama.model.trace(TEXT, interventions=[ablate_head(0, 1)])
    got = residual_drift(before, after)
    assert got.shape == (before.n_layers + 1, before.n_tokens)
    for layer in range(before.n_layers + 1):
        b, a = before.resid(layer).double(), after.resid(layer).double()
        want = ((a - b).norm(dim=-1) / b.norm(dim=-1)).numpy()
        np.testing.assert_allclose(got[layer], want, rtol=TOL, atol=1e-7)
    assert (got[0] == 0).all() and got[1:].max() > 0.01  # the embeddings are untouched; later rows move
    assert abs(before.resid(1).norm(dim=-1).mean().item() - 1.0) > 0.5  # a missing ÷ ‖resid‖ would show


def test_each_generation_step_shows_the_row_of_the_query_that_chose_its_token(llama):
    gen = llama.model.generate("the blue creature took a mole", max_new_tokens=4)
    t, n_prompt = gen.trace, gen.n_prompt
    n_new = len(gen.new_token_ids)
    assert n_new >= 3 and t.token_ids == gen.prompt_ids + gen.new_token_ids
    with torch.no_grad():  # greedy: token s is the argmax at query n_prompt − 1 + s (transformers' own logits)
        logits = llama.hf(torch.tensor([t.token_ids])).logits[0]
    assert gen.new_token_ids == [int(logits[n_prompt - 1 + s].argmax()) for s in range(n_new)]
    for layer in range(t.n_layers):
        ref = softmax_patterns(t, layer).numpy()  # (n_heads, n, n)
        for s in range(n_new):
            query = n_prompt - 1 + s
            got = step_heads(gen, s, layer)
            assert got.shape == (t.n_heads, n_prompt + s)
            np.testing.assert_allclose(got, ref[:, query, : query + 1], rtol=0, atol=TOL)
        for head in range(t.n_heads):
            weights = step_attention(gen, layer, head).weights  # (n_new, n - 1)
            want = ref[head, n_prompt - 1 : n_prompt - 1 + n_new, : t.n_tokens - 1]
            np.testing.assert_allclose(weights, want, rtol=0, atol=TOL)
