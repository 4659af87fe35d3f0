"""The written-out softmax attention (model.attention_scores / attention_pattern / attend_plain) is the
computation the fast SDPA kernel runs, and what Trace shows is computed with it.

Tolerance: z from the plain path vs SDPA, 2e-6 absolute: both are float32 sums over ≤ 64 keys of
weights ≤ 1 times values of magnitude ≲ 10 (measured ≤ 5e-7 on these texts).
"""

from __future__ import annotations

import math

import pytest
import torch

from attention_core import blocks
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
    k_head = k[4 // 3]  # SmolLM2: 9 query heads over 3 key/value heads, in groups of 3
    assert torch.equal(t.scores(7, 4), fwd.attention_scores(q[4], k_head))
    expected = fwd.attention_pattern(fwd.attention_scores(q[4], k_head), fwd.query_mask(t.n_tokens, t.n_tokens))
    assert torch.equal(t.pattern(7, 4), expected)


@pytest.mark.parametrize(
    "opts",
    [
        fwd.AttnOptions(window=3),
        fwd.AttnOptions(scale=0.2),
        fwd.AttnOptions(softcap=2.0),
        fwd.AttnOptions(scale=0.5, softcap=1.5, window=4),
    ],
)
@pytest.mark.parametrize("causal", [True, False])
def test_window_softcap_and_scale_agree_on_both_paths(opts, causal):
    """The fast path (SDPA with an explicit mask, or the written-out path for soft-caps) equals attend_plain,
    batched and with grouped-query attention; and the plain path is the formula."""
    gen = torch.Generator().manual_seed(1)
    q = torch.randn(2, 4, 9, 8, generator=gen) * 3  # (B, n_heads, n, d_head): large scores, so the cap bites
    k, v = torch.randn(2, 2, 9, 8, generator=gen) * 3, torch.randn(2, 2, 9, 8, generator=gen)
    fast, plain = fwd.attend(q, k, v, causal, opts), fwd.attend_plain(q, k, v, causal, opts)
    assert (fast - plain).abs().max() <= Z_TOL
    kk, vv = k.repeat_interleave(2, dim=1), v.repeat_interleave(2, dim=1)  # (B, n_heads, n, d_head)
    s = q @ kk.transpose(-1, -2) * (opts.scale or 8**-0.5)
    if opts.softcap:
        s = opts.softcap * torch.tanh(s / opts.softcap)
    i, j = torch.arange(9)[:, None], torch.arange(9)[None, :]
    allowed = (j <= i) if causal else torch.ones(9, 9, dtype=torch.bool)
    if opts.window:
        allowed = allowed & ((i - j).abs() < opts.window)
    expected = s.masked_fill(~allowed, float("-inf")).softmax(-1) @ vv
    assert (plain - expected).abs().max() <= Z_TOL


def test_a_window_step_matches_the_full_pass():
    """A generation step (one query at position p against p + 1 cached keys) sees the same window as row p."""
    gen = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(2, 10, 8, generator=gen) for _ in range(3))
    opts = fwd.AttnOptions(window=4)
    full = fwd.attend(q, k, v, True, opts)  # (heads, n, d_head)
    for p in (0, 3, 9):
        step = fwd.attend(q[:, p : p + 1], k[:, : p + 1], v[:, : p + 1], True, opts, row_offset=p)
        assert (step[:, 0] - full[:, p]).abs().max() <= Z_TOL
    assert fwd.query_mask(1, 10, 9, window=4)[0].tolist() == [False] * 6 + [True] * 4


@pytest.mark.parametrize("window", [None, 4])
@pytest.mark.parametrize("causal", [True, False])
def test_a_position_bias_agrees_on_both_paths(causal, window):
    """T5's bias: the fast path (SDPA, the bias as an additive float mask) equals attend_plain, batched and with
    grouped-query heads, and the plain path is softmax(q·k·scale + bias, masked)·v; one query at row p (a
    generation step) with row p of the bias equals row p of the full pass."""
    gen = torch.Generator().manual_seed(3)
    q = torch.randn(2, 4, 9, 8, generator=gen) * 2  # (B, n_heads, n, d_head)
    k, v = torch.randn(2, 2, 9, 8, generator=gen) * 2, torch.randn(2, 2, 9, 8, generator=gen)
    bias = torch.randn(4, 9, 9, generator=gen) * 3  # (n_heads, n_q, n_k): large, so it changes the patterns
    opts = fwd.AttnOptions(scale=1.0, window=window, bias=bias)
    fast, plain = fwd.attend(q, k, v, causal, opts), fwd.attend_plain(q, k, v, causal, opts)
    assert (fast - plain).abs().max() <= Z_TOL
    unbiased = fwd.attend(q, k, v, causal, fwd.AttnOptions(scale=1.0, window=window))
    assert (fast - unbiased).abs().max() > 0.1  # the bias is really there
    kk, vv = k.repeat_interleave(2, dim=1), v.repeat_interleave(2, dim=1)  # (B, n_heads, n, d_head)
    s = fwd.add_position_bias(fwd.attention_scores(q, kk, 1.0), bias)
    assert torch.equal(fwd.layer_scores(q, kk, opts), s)
    assert torch.equal(fwd.layer_scores(q, kk, opts, with_bias=False), q @ kk.transpose(-1, -2))
    mask = fwd.allowed_keys(9, 9, causal, window)
    expected = fwd.attention_pattern(s, mask) @ vv
    assert (plain - expected).abs().max() <= Z_TOL
    one = fwd.AttnOptions(scale=1.0, window=window, bias=bias[:, 6:7, :7])  # row 6 of the bias, keys 0..6
    step = fwd.attend(q[0, :, 6:7], k[0, :, :7], v[0, :, :7], True, one, row_offset=6)
    if causal:
        assert (step[:, 0] - fast[0, :, 6]).abs().max() <= Z_TOL
    assert torch.equal(opts.for_head(3).bias, bias[3]) and opts == fwd.AttnOptions(scale=1.0, window=window)


def test_relative_position_buckets_are_t5s():
    """The bucket rule, against transformers' own T5Attention._relative_position_bucket: the same integers for
    every offset from −300 to 300, bidirectional (encoder) and causal (decoder), for T5's sizes and tiny ones."""
    transformers = pytest.importorskip("transformers")
    hf_bucket = transformers.models.t5.modeling_t5.T5Attention._relative_position_bucket
    offsets = torch.arange(-300, 301)[None, :]  # key − query
    for n_buckets, max_distance in ((32, 128), (8, 16), (16, 64)):
        for bidirectional in (True, False):
            ours = blocks.relative_position_bucket(offsets, bidirectional, n_buckets, max_distance)
            assert torch.equal(ours, hf_bucket(offsets, bidirectional, n_buckets, max_distance))
    causal = blocks.relative_position_bucket(offsets, False, 32, 128)[0]
    assert (causal[301:] == 0).all() and causal[300 - 100] < 31 and (causal[: 300 - 128 + 1] == 31).all()
    table = torch.randn(8, 3)
    bias = blocks.position_bias(table, 4, 6, True, 16, row_offset=2)  # queries 2..5, keys 0..5
    assert bias.shape == (3, 4, 6) and torch.equal(bias[:, 0, 2], table[0])  # offset 0: bucket 0


def test_the_softmax_is_written_out_in_the_forward_pass_file():
    """Issue 14: the number a user sees is computed where a reader looks for it, the forward-pass file, beside
    the fast SDPA call the pass runs; not imported into it from elsewhere."""
    import inspect

    source = inspect.getsource(fwd)
    names = ("attention_scores", "allowed_keys", "softmax_keys", "attention_pattern", "attend_plain", "attend", "run")
    for name in names:
        assert getattr(fwd, name).__module__ == "attention_core.model", name
        assert f"\ndef {name}(" in source, name
    assert "softmax_keys(" in inspect.getsource(fwd.attention_pattern)
    assert "torch.softmax(" in inspect.getsource(fwd.softmax_keys)  # and the sinks' column (GPT-OSS), here too
    assert "scaled_dot_product_attention(" in inspect.getsource(fwd.attend)
