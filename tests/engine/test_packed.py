"""The CPU forward pass reads weights pre-packed for oneDNN (attention_core/backend/onednn.py); check that this
changes nothing but float32 rounding, and that the canonical weights stay intact.

Tolerances:
  packed vs plain product, one matrix      1e-5 relative to the largest output (float32 sums over ≤ 1536 terms)
  packed vs plain forward pass, patterns   1e-5 absolute; residual 2e-5·max|h|; logits 5e-4
  our float32 pass vs a float64 run        residual 2.5e-5·max|h|, logits 3e-4 (measured over tests/engine/texts.py:
                                           packed 1.7e-5 and 1.8e-4, HF's float32 pass 1.3e-5 and 1.0e-4)
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from attention_core import backend, blocks, load_model
from attention_core import model as fwd
from attention_core.backend import memory_pages
from attention_core.backend import onednn as packed
from attention_core.loading import cache
from attention_core.trace import causal_mask
from tests.texts import TEXTS


def test_oneDNN_packing_is_available_on_this_build():
    if not torch.backends.mkldnn.is_available():
        pytest.fail("this PyTorch build has no oneDNN: the CPU pass would fall back to plain matmuls")
    assert packed.available() and backend.packing_available()


@pytest.mark.parametrize("shape", [(1, 576, 960), (32, 576, 3072), (7, 1536, 576), (3, 5, 576, 576)])
def test_packed_product_equals_the_plain_product(shape):
    gen = torch.Generator().manual_seed(1)
    *lead, d_in, d_out = shape
    W = torch.randn(d_in, d_out, generator=gen) / d_in**0.5
    b = torch.randn(d_out, generator=gen)
    x = torch.randn(*lead, d_in, generator=gen)
    P = packed.pack(W)
    assert packed.is_packed(P) and tuple(P.shape) == (d_out, d_in)
    assert torch.equal(packed.unpack(P), W)  # a change of layout, nothing lost
    for bias in (None, b):
        ref = x @ W + (0 if bias is None else bias)
        got = packed.packed_linear(x, P, bias)
        assert got.shape == ref.shape
        assert (got - ref).abs().max() <= 1e-5 * ref.abs().max()
    x_view = x[..., :1, :].expand(*lead[:-1], 4, d_in)  # a broadcast view, as the ablation sweep passes
    ref = x_view @ W
    assert (packed.packed_linear(x_view, P, None) - ref).abs().max() <= 1e-5 * ref.abs().max()


def test_forward_pass_reads_packed_weights_and_canonical_ones_are_intact(smollm):
    fast, w = smollm.context.pass_weights, smollm.weights
    for name in ("blocks.0.attn.W_QKV", "blocks.0.attn.W_O", "blocks.29.mlp.W_gate_in", "blocks.29.mlp.W_out"):
        assert packed.is_packed(fast[name]), name
    assert packed.is_packed(fast["unembed.W_U"])  # tied: packed from W_Eᵀ
    assert torch.equal(packed.unpack(fast["unembed.W_U"]), w["embed.W_E"].T)
    W_QKV = packed.unpack(fast["blocks.3.attn.W_QKV"])
    assert torch.equal(W_QKV, torch.cat([w["blocks.3.attn.W_Q"], w["blocks.3.attn.W_K"], w["blocks.3.attn.W_V"]], 1))
    assert not any(packed.is_packed(t) for t in w.values())
    # The canonical weights' pages were released after packing (backend/memory_pages.py): reading them gives
    # the file's bytes.
    on_disk = load_file(str(cache.entry_dir(smollm.name, smollm.source) / cache.WEIGHTS))
    assert on_disk.keys() == w.keys()
    assert all(torch.equal(on_disk[k], w[k]) for k in on_disk)


def test_releasing_pages_finds_the_weight_file_mapping_and_keeps_the_numbers(smollm, monkeypatch):
    mapped = [m for m in memory_pages.weight_file_mappings() if m[2].endswith(cache.WEIGHTS)]
    assert mapped, "the converted-weight cache is not memory-mapped"
    # A fresh model whose pages were never released (the shared one's were, at load): trace it before and after.
    monkeypatch.setenv("ATTN_RELEASE_PAGES", "0")
    fresh = load_model("smollm2-135m", device="cpu")
    monkeypatch.delenv("ATTN_RELEASE_PAGES")
    before = fresh.trace(TEXTS[0]).logits  # reads the canonical embeddings (the token lookup), resident now
    assert backend.release_pages(fresh.weights.values()) >= sum(t.numel() * 4 for t in fresh.weights.values())
    assert torch.equal(fresh.trace(TEXTS[0]).logits, before)  # pages fault back in with the same numbers


@pytest.mark.parametrize("pack", [False, True])
def test_fast_weights_never_writes_the_dict_it_is_given(smollm, pack):
    w = dict(smollm.weights)
    fast = blocks.fast_weights(w, smollm.config, pack=pack)
    assert w.keys() == smollm.weights.keys() and all(w[k] is smollm.weights[k] for k in w)
    assert "blocks.0.attn.W_QKV" in fast and "blocks.0.attn.W_QKV" not in w
    assert torch.equal(fast["blocks.0.attn.W_Q"], w["blocks.0.attn.W_Q"])  # unpacked canonical entries: same numbers


def test_prepare_pass_weights_packs_on_the_cpu_and_leaves_its_input_alone(smollm):
    w = dict(smollm.weights)
    fast = backend.prepare_pass_weights(w, smollm.config, torch.device("cpu"))
    assert all(w[k] is smollm.weights[k] for k in smollm.weights) and w.keys() == smollm.weights.keys()
    assert backend.is_packed(fast["blocks.0.attn.W_QKV"]) and not backend.is_packed(fast["embed.W_E"])


def test_packed_pass_equals_the_plain_pass(smollm):
    plain = blocks.fast_weights(smollm.weights, smollm.config, pack=False)
    for text in TEXTS[:4]:
        trace = smollm.trace(text)
        ids = torch.tensor(trace.token_ids)
        with torch.inference_mode():
            cap = fwd.run(ids, plain, smollm.config, True)
            logits = fwd.unembed(cap.resid_pre[-1], plain, smollm.config)
        for layer in range(smollm.config.n_layers + 1):
            ref = cap.resid_pre[layer]
            assert (trace.resid(layer) - ref).abs().max() <= 2e-5 * ref.abs().max() + 1e-6
        for layer in (0, 15, 29):
            scores = cap.q[layer] @ cap.k[layer].repeat_interleave(3, 0).mT / 8.0  # (9, n, n); d_head 64, 3 KV heads
            plain_pattern = scores.masked_fill(~causal_mask(len(ids), len(ids)), -torch.inf).softmax(-1)
            assert (trace.layer_patterns(layer) - plain_pattern).abs().max() <= 1e-5
        assert (trace.logits - logits).abs().max() <= 5e-4


@pytest.mark.parametrize("index", [0, 3, 12])
def test_float32_pass_is_as_close_to_float64_as_transformers_is(smollm, index):
    text = TEXTS[index]
    w64 = blocks.fast_weights({k: v.double() for k, v in smollm.weights.items()}, smollm.config, pack=False)
    trace = smollm.trace(text)
    with torch.inference_mode():
        cap = fwd.run(torch.tensor(trace.token_ids), w64, smollm.config, True)
        logits = fwd.unembed(cap.resid_pre[-1], w64, smollm.config)
    for layer in range(1, smollm.config.n_layers + 1):
        exact = cap.resid_pre[layer]
        assert (trace.resid(layer).double() - exact).abs().max() <= 2.5e-5 * exact.abs().max()
    assert (trace.logits.double() - logits).abs().max() <= 3e-4
