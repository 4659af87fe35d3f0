"""The written-out softmax attention (model.attention_scores / attention_pattern / attend_plain) is the
computation the fast SDPA kernel runs, and what Trace shows is computed with it.

Tolerance: z from the plain path vs SDPA, 2e-6 absolute: both are float32 sums over ≤ 64 keys of
weights ≤ 1 times values of magnitude ≲ 10 (measured ≤ 5e-7 on these texts).
"""

from __future__ import annotations

import math

import pytest
import torch

from attention_core import model as fwd

Z_TOL = 2e-6
TEXT = "The tower of the old castle stood above the river, and every evening the bells rang twice."


@pytest.mark.parametrize("key", ["smollm", "minilm"])
@pytest.mark.parametrize("causal", [True, False])
def test_plain_attention_equals_the_fast_kernel(request, key, causal):
    model = request.getfixturevalue(key)
    t = model.trace(TEXT, causal=causal)
    for layer in (0, model.config.n_layers - 1):
        q, k, v = t.captured.q[layer], t.captured.k[layer], t.captured.v[layer]
        plain = fwd.attend_plain(q, k, v, causal)  # (n_heads, n, d_head)
        fast = fwd.attend(q, k, v, causal)
        assert plain.shape == fast.shape == (model.config.n_heads, t.n_tokens, model.config.d_head)
        assert (plain - fast).abs().max() <= Z_TOL
        assert (plain - t.z(layer)).abs().max() <= Z_TOL  # the trace's z is the fast kernel's


def test_scores_and_pattern_are_the_formula():
    gen = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 5, 8, generator=gen), torch.randn(2, 5, 8, generator=gen)  # (heads, n, d_head)
    scores = fwd.attention_scores(q, k)
    assert torch.equal(scores, q @ k.transpose(-1, -2) / math.sqrt(8))
    mask = fwd.query_mask(5, 5)
    assert torch.equal(mask, torch.ones(5, 5, dtype=torch.bool).tril())
    assert torch.equal(fwd.query_mask(2, 5, row_offset=3), mask[3:5])
    pattern = fwd.attention_pattern(scores, mask)
    assert (pattern[:, ~mask] == 0).all()
    assert torch.allclose(pattern.sum(-1), torch.ones(2, 5))
    row = scores[1, 2, :3]
    assert torch.allclose(pattern[1, 2, :3], row.exp() / row.exp().sum())
    assert torch.equal(fwd.attention_pattern(scores, None), torch.softmax(scores, -1))


def test_the_trace_shows_the_plain_computation(smollm):
    t = smollm.trace(TEXT)
    q, k = t.captured.q[7], t.captured.k[7]
    k_head = k[smollm.config.kv_head(4)]
    assert torch.equal(t.scores(7, 4), fwd.attention_scores(q[4], k_head))
    expected = fwd.attention_pattern(fwd.attention_scores(q[4], k_head), fwd.query_mask(t.n_tokens, t.n_tokens))
    assert torch.equal(t.pattern(7, 4), expected)
