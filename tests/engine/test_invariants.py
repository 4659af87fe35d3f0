"""Invariants of attention that must hold on the real models, whatever the text.

Tolerances: sums of float32 values are compared with 1e-5 absolute (rows of a softmax) or
1e-4·scale (sums of d_model-wide vectors whose entries reach tens); masked weights are exactly 0.
"""

from __future__ import annotations

import math

import pytest
import torch

from attention_core import InputError
from attention_core.trace import causal_mask

TEXT = "a fluffy blue creature roamed the verdant forest"


@pytest.fixture(scope="module")
def traces(smollm, minilm):
    return {
        "smollm": smollm.trace(TEXT),
        "smollm-bidir": smollm.trace(TEXT, causal=False),
        "minilm": minilm.trace(TEXT),
        "minilm-causal": minilm.trace(TEXT, causal=True),
    }


def close(a: torch.Tensor, b: torch.Tensor, rel: float = 1e-4) -> bool:
    scale = max(1.0, b.abs().max().item())
    return (a - b).abs().max().item() <= rel * scale


@pytest.mark.parametrize("key", ["smollm", "smollm-bidir", "minilm", "minilm-causal"])
def test_rows_sum_to_one(traces, key):
    trace = traces[key]
    for layer in range(trace.n_layers):
        for masked in (None, True, False):
            p = trace.layer_patterns(layer, masked=masked)
            assert p.shape == (trace.n_heads, trace.n_tokens, trace.n_tokens)
            assert torch.allclose(p.sum(-1), torch.ones(p.shape[:2]), atol=1e-5)
            assert (p >= 0).all()


@pytest.mark.parametrize("key", ["smollm", "minilm"])
def test_masked_entries_are_exactly_zero(traces, key):
    trace = traces[key]
    above = ~causal_mask(trace.n_tokens, trace.n_tokens)
    for layer in range(trace.n_layers):
        for head in range(trace.n_heads):
            masked = trace.pattern(layer, head, masked=True)
            assert (masked[above] == 0).all()
            unmasked = trace.pattern(layer, head, masked=False)
            assert (unmasked[above] > 0).all()  # softmax over all keys leaves no exact zeros


def test_default_masking_follows_the_model(traces):
    assert traces["smollm"].causal is True and traces["minilm"].causal is False
    assert traces["smollm-bidir"].causal is False and traces["minilm-causal"].causal is True
    t = traces["smollm"]
    assert torch.equal(t.pattern(2, 1), t.pattern(2, 1, masked=True))
    assert torch.equal(t.mask(0), causal_mask(t.n_tokens, t.n_tokens))
    assert traces["minilm"].mask(0).all()


def test_masked_rows_renormalise_over_fewer_keys(traces):
    """Same scores, with and without the mask: the masked row is the unmasked row restricted and rescaled."""
    t = traces["minilm"]
    unmasked, masked = t.pattern(1, 3, masked=False), t.pattern(1, 3, masked=True)
    for i in range(t.n_tokens):
        kept = unmasked[i, : i + 1]
        assert torch.allclose(masked[i, : i + 1], kept / kept.sum(), atol=1e-6)


def test_scores_mask_and_softmax_are_consistent(traces):
    t = traces["smollm"]
    s, ms = t.scores(4, 2), t.masked_scores(4, 2)
    assert torch.isinf(ms[~t.mask(4)]).all() and torch.equal(ms[t.mask(4)], s[t.mask(4)])
    assert torch.allclose(torch.softmax(ms, -1), t.pattern(4, 2), atol=1e-7)
    q, k = t["blocks.4.attn.q"][2], t["blocks.4.attn.k"][2 // 3]  # key/value head of query head 2 (groups of 3)
    assert torch.allclose(s, q @ k.T / math.sqrt(t.config.d_head), atol=1e-5)


@pytest.mark.parametrize("key", ["smollm", "minilm-causal"])
def test_z_equals_pattern_times_values(traces, key):
    t = traces[key]
    cfg = t.config
    for layer in (0, cfg.n_layers - 1):
        z = t.z(layer)
        v = t[f"blocks.{layer}.attn.v"]
        group = cfg.n_heads // cfg.n_kv_heads  # query heads per key/value head, written out (kv_head is under test)
        for head in range(cfg.n_heads):
            assert torch.allclose(z[head], t.pattern(layer, head) @ v[head // group], atol=1e-5)


@pytest.mark.parametrize("key", ["smollm", "minilm"])
def test_per_source_contributions_sum_to_head_output(traces, key):
    t = traces[key]
    for layer in (0, t.n_layers // 2, t.n_layers - 1):
        head_out = t.head_out(layer)  # (n_heads, n, d_model)
        for query in (0, t.n_tokens // 2, t.n_tokens - 1):
            contrib = t.contributions(layer, query)  # (n_heads, n_k, d_model)
            assert close(contrib.sum(1), head_out[:, query])
            assert close(t.contributions(layer, query, head=1).sum(0), head_out[1, query])


@pytest.mark.parametrize("key", ["smollm", "minilm"])
def test_head_outputs_plus_bias_sum_to_attention_output(traces, key):
    t = traces[key]
    for layer in range(t.n_layers):
        bias = t.output_bias(layer)
        bias = torch.zeros(t.config.d_model) if bias is None else bias
        assert close(t.head_out(layer).sum(0) + bias, t.attn_out(layer))


def test_contributions_respect_the_mask(traces):
    t = traces["smollm"]
    contrib = t.contributions(3, query=2)
    assert (contrib[:, 3:] == 0).all()  # keys after the query contribute exactly nothing


@pytest.mark.parametrize("key", ["smollm", "minilm"])
def test_residual_stream_is_consistent(traces, key):
    """resid_mid is resid_pre plus the attention output (pre-norm) and feeds the next block."""
    from attention_core import blocks

    t = traces[key]
    w, cfg = t.context.weights, t.config
    for layer in (0, t.n_layers - 1):
        mid = t.resid_mid(layer)
        if cfg.norm_position == "pre":
            assert close(mid, t.resid(layer) + t.attn_out(layer))
        assert close(blocks.after_mlp(mid, w, layer, cfg), t.resid(layer + 1))


def test_forced_causal_minilm_differs_and_is_really_causal(minilm, traces):
    bidir, causal = traces["minilm"], traces["minilm-causal"]
    assert not torch.allclose(bidir.resid(6), causal.resid(6), atol=1e-2)
    assert (causal.layer_patterns(3)[:, ~causal_mask(causal.n_tokens, causal.n_tokens)] == 0).all()
    # With a causal mask in every layer, a position cannot depend on what comes after it.
    other = minilm.trace("a fluffy blue creature roamed the frozen tundra", causal=True)
    assert torch.allclose(causal.resid(6)[:6], other.resid(6)[:6], atol=1e-5)
    bidir_other = minilm.trace("a fluffy blue creature roamed the frozen tundra")
    assert not torch.allclose(bidir.resid(6)[:6], bidir_other.resid(6)[:6], atol=1e-3)


def test_forced_bidirectional_decoder_sees_the_future(smollm, traces):
    t = traces["smollm-bidir"]
    assert (t.pattern(0, 0)[0, 1:] > 0).all()
    other = smollm.trace("a fluffy blue creature roamed the frozen tundra", causal=False)
    assert not torch.allclose(t.resid(30)[:5], other.resid(30)[:5], atol=1e-3)
    causal_a = traces["smollm"]
    causal_b = smollm.trace("a fluffy blue creature roamed the frozen tundra")
    assert torch.allclose(causal_a.resid(30)[:5], causal_b.resid(30)[:5], atol=1e-4)


@pytest.mark.parametrize("case", ["causal", "bidirectional", "intervened"])
def test_pooled_patterns_are_block_means(smollm, minilm, case):
    from attention_core import temperature

    text = " ".join(f"word{i}" for i in range(150))
    if case == "causal":
        t = smollm.trace(text)
    elif case == "bidirectional":
        t = minilm.trace(text)
    else:
        t = smollm.trace(text, interventions=[temperature(17, 2, 3.0)])
    n = t.n_tokens
    for size, rows_per_chunk in ((16, 40), (64, 512), (n + 5, 7)):
        pooled = t.pooled_patterns(size=size, rows_per_chunk=rows_per_chunk)
        width = math.ceil(n / size)
        s = math.ceil(n / width)
        assert pooled.shape == (t.n_layers, t.n_heads, s, s)
        for layer in sorted({0, min(17, t.n_layers - 1), t.n_layers - 1}):
            full = t.layer_patterns(layer)
            for a in range(0, s, max(1, s // 5)):
                for b in range(0, s, max(1, s // 5)):
                    block = full[:, a * width : (a + 1) * width, b * width : (b + 1) * width]
                    assert torch.allclose(pooled[layer, :, a, b], block.mean((1, 2)), atol=1e-6)


def _row_sums_of_whole_patterns(p: torch.Tensor) -> dict[str, torch.Tensor]:
    """Pattern row sums written out on a whole layer (h, n, n) in float64: the reference for the chunked ones."""
    p = p.double()
    n = p.shape[-1]
    idx = torch.arange(n, dtype=torch.float64)
    return {
        "entropy": -torch.special.xlogy(p, p).sum((-1, -2)),
        "previous": torch.diagonal(p, offset=-1, dim1=1, dim2=2).sum(-1),
        "first": p[:, 1:, 0].sum(-1),  # queries i ≥ 1: query 0 sees only key 0 under a causal mask
        "distance": (p * (idx[:, None] - idx[None, :]).abs()).sum((-1, -2)),
    }


@pytest.mark.parametrize("case", ["causal", "bidirectional", "intervened"])
def test_pattern_row_sums_add_up_the_whole_patterns(smollm, minilm, case):
    from attention_core import force_pattern, temperature

    text = " ".join(f"word{i}" for i in range(70))
    if case == "causal":
        t = smollm.trace(text)
    elif case == "bidirectional":
        t = minilm.trace(text)
    else:  # a forced previous-token head is known exactly: n − 1 on the previous token, 1 on the first
        t = smollm.trace(text, interventions=[temperature(4, 2, 3.0), force_pattern(4, 5, "previous")])
    n = t.n_tokens
    for rows_per_chunk in (7, 64, n + 3):  # a ragged last chunk, the default, one chunk
        for layer in sorted({0, 4, t.n_layers - 1}):
            got = t.pattern_row_sums(layer, rows_per_chunk)
            want = _row_sums_of_whole_patterns(t.layer_patterns(layer))
            for name in ("entropy", "previous", "first", "distance"):
                assert got[name].dtype == torch.float64 and got[name].shape == (t.n_heads,)
                # float32 weights, summed per row in float32: ~1e-7 of a row's sum, n rows
                assert torch.allclose(got[name], want[name], rtol=1e-5, atol=1e-5), (name, layer, rows_per_chunk)
    if case == "intervened":
        forced = t.pattern_row_sums(4)
        assert forced["previous"][5].item() == pytest.approx(n - 1, abs=1e-5)
        assert forced["entropy"][5].item() == pytest.approx(0.0, abs=1e-5)
        assert forced["distance"][5].item() == pytest.approx(n - 1, abs=1e-4)  # query 0 looks at itself
        assert forced["first"][5].item() == pytest.approx(1.0, abs=1e-5)  # only query 1's previous is the first


@pytest.mark.parametrize("model_name", ["smollm", "minilm"])
def test_pattern_row_sums_add_up_the_weight_on_marked_keys(smollm, minilm, model_name):
    """`marked`: Σ over rows of Σ_j A[i,j] over each mask's keys (the head finder's repeats), chunk by chunk, the
    same as the whole patterns give; keys a causal chunk never computes (after its last row) weigh nothing."""
    t = (smollm if model_name == "smollm" else minilm).trace(" ".join(f"word{i % 9}" for i in range(50)))
    rng = torch.Generator().manual_seed(0)
    marks = {
        "some": torch.rand(t.n_tokens, t.n_tokens, generator=rng) < 0.3,
        "none": torch.zeros(t.n_tokens, t.n_tokens, dtype=torch.bool),
    }
    for rows_per_chunk in (7, 64):
        for layer in (0, t.n_layers - 1):
            got = t.pattern_row_sums(layer, rows_per_chunk, marked=marks)
            patterns = t.layer_patterns(layer).double()  # (h, n, n)
            for name, keys in marks.items():
                want = (patterns * keys).sum(dim=(-1, -2))
                assert got[name].dtype == torch.float64 and got[name].shape == (t.n_heads,)
                assert torch.allclose(got[name], want, rtol=1e-5, atol=1e-5), (name, layer, rows_per_chunk)
            assert set(got) == {"entropy", "previous", "first", "distance", "some", "none"}
    assert (t.pattern_row_sums(0, marked=marks)["none"] == 0).all()
    with pytest.raises(ValueError, match="row sum's name"):
        t.pattern_row_sums(0, marked={"entropy": marks["some"]})


def test_single_head_pooling_and_windows_match_the_full_pattern(smollm, minilm):
    text = " ".join(f"token{i}" for i in range(120))
    for model in (smollm, minilm):
        t = model.trace(text)
        full = t.pattern(3, 2)
        assert torch.allclose(t.pooled_pattern(3, 2, size=32), t.pooled_patterns(32)[3, 2], atol=1e-7)
        assert torch.allclose(t.pooled_patterns(32, layers=[5, 3], heads=slice(1, 3))[1, 1], t.pooled_pattern(3, 2, 32))
        windows = ((slice(0, 40), slice(0, 40)), (slice(50, 90), slice(10, 200)), (slice(100, None), slice(None)))
        for rows, cols in windows:
            assert torch.allclose(t.pattern_window(3, 2, rows, cols), full[rows, cols], atol=1e-6)


def test_trace_reports_progress_per_layer(minilm):
    seen = []
    minilm.trace("progress please", progress=lambda f, m: seen.append(f))
    assert seen == [(i + 1) / 6 for i in range(6)]


def test_dotted_names_have_documented_shapes(traces):
    t = traces["smollm"]
    cfg, n = t.config, t.n_tokens
    shapes = {
        "blocks.0.resid_pre": (n, cfg.d_model),
        "blocks.0.attn.q": (cfg.n_heads, n, cfg.d_head),
        "blocks.0.attn.k": (cfg.n_kv_heads, n, cfg.d_head),
        "blocks.0.attn.v": (cfg.n_kv_heads, n, cfg.d_head),
        "blocks.0.attn.scores": (cfg.n_heads, n, n),
        "blocks.0.attn.mask": (n, n),
        "blocks.0.attn.masked_scores": (cfg.n_heads, n, n),
        "blocks.0.attn.pattern": (cfg.n_heads, n, n),
        "blocks.0.attn.z": (cfg.n_heads, n, cfg.d_head),
        "blocks.0.attn.head_out": (cfg.n_heads, n, cfg.d_model),
        "blocks.0.attn_out": (n, cfg.d_model),
        "blocks.0.resid_mid": (n, cfg.d_model),
        "blocks.29.resid_post": (n, cfg.d_model),
        "logits": (n, cfg.d_vocab),
    }
    for name, shape in shapes.items():
        assert tuple(t[name].shape) == shape, name
    assert torch.equal(t["blocks.3.resid_post"], t["blocks.4.resid_pre"])
    with pytest.raises(KeyError):
        t["blocks.0.nothing"]
    with pytest.raises(IndexError):
        t.pattern(30, 0)
    with pytest.raises(IndexError):
        t.pattern(0, 9)


def test_per_head_weight_views(smollm):
    cfg = smollm.config
    assert smollm.W_Q(0).shape == (cfg.n_heads, cfg.d_model, cfg.d_head)
    assert smollm.W_K(0).shape == (cfg.n_kv_heads, cfg.d_model, cfg.d_head)
    assert smollm.W_V(0).shape == (cfg.n_kv_heads, cfg.d_model, cfg.d_head)
    assert smollm.W_O(0).shape == (cfg.n_heads, cfg.d_head, cfg.d_model)
    t = smollm.trace(TEXT)
    x = t.resid(0)
    from attention_core import blocks

    q = blocks.attention_input(x, smollm.weights, 0, cfg) @ smollm.W_Q(0)[4]  # before RoPE
    cos, sin = blocks.rope_tables(t.n_tokens, cfg, torch.device("cpu"))
    assert torch.allclose(blocks.apply_rope(q[None], cos, sin)[0], t["blocks.0.attn.q"][4], atol=1e-5)


def test_empty_text_is_a_clear_error(smollm):
    for text in ("", "   ", "\n\t"):
        with pytest.raises(InputError, match="empty"):
            smollm.trace(text)


def test_token_cap_cuts_with_notice(smollm, minilm):
    t = smollm.trace(TEXT, max_tokens=4)
    assert t.truncated and t.n_tokens == 4 and t.n_input_tokens == 10
    b = minilm.trace(TEXT, max_tokens=5)
    assert b.truncated and b.tokens[0] == "[CLS]" and b.tokens[-1] == "[SEP]" and b.n_tokens == 5
    assert not smollm.trace(TEXT).truncated
    with pytest.raises(InputError):
        minilm.trace(TEXT, max_tokens=10_000)  # beyond BERT's 512 positions


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu(smollm):
    from attention_core import load_model

    gpu = load_model("smollm2-135m", device="cuda")
    assert gpu.device.type == "cuda"
    a, b = smollm.trace(TEXT), gpu.trace(TEXT)
    for layer in range(smollm.config.n_layers):
        assert (a.layer_patterns(layer) - b.layer_patterns(layer)).abs().max().item() <= 1e-4
    assert (a.logits - b.logits).abs().max().item() <= 1e-3
