"""Kimi Linear (kimi_linear): Kimi Delta Attention (the gated delta rule with a decay per key channel, its output
gated by a sigmoid; attention_core/delta_net.py) in layers 0–2, latent attention without position encoding in layer
3, DeepSeek-V3's router over experts beside a shared expert after a dense first MLP, against transformers'
KimiLinearForCausalLM on a tiny random model (tests.tiny_models_hybrid), saved as transformers 5 saves it: in the Hub
checkpoint's names (separate q/k/v kernels, the forget gate's tensors on self_attn, block_sparse_moe with w1/w2/w3).

Tolerances (max absolute difference, float32 CPU): patterns 1e-4; logits and hidden states 1e-3 (transformers runs
the rule in chunks, this engine one token at a time); a split into parts, and weights times values, against the whole
they add up to, 1e-4.
"""

from __future__ import annotations

import json

import pytest
import torch

from attention_core import ModelLoadError, blocks, delta_net, flow, implicit, load_model
from attention_core.loading.hf_adapters_kimi_linear import kimi_linear_config
from tests.engine.decoder_parity import (
    assert_generates_as_transformers,
    assert_matches_reference,
    assert_sweep_skips_layers_without_heads,
    layer_output,
    reference_run,
)
from tests.tiny_models_hybrid import save_tiny_kimi_linear

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL, PARTS_TOL = 1e-4, 1e-3, 1e-3, 1e-4
TEXT = "the blue creature took a mole of the forest, and the fox jumps over the lazy dog"
KDA, ATTENTION = (0, 1, 2), (3,)


@pytest.fixture(scope="module")
def pair(tmp_path_factory, monkeypatch_module):
    folder = tmp_path_factory.mktemp("kimi_linear")
    hf = save_tiny_kimi_linear(folder).eval()  # saved in the Hub checkpoint's names, as transformers 5 saves it
    monkeypatch_module.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    return hf, load_model(str(folder), device="cpu")


def test_patterns_hidden_states_and_logits_match(pair):
    hf, ours = pair
    cfg = ours.config
    assert cfg.mixers == ("gated_delta",) * 3 + ("attention",) and cfg.delta_heads == (2, 2)
    assert cfg.delta_gate == "sigmoid" and cfg.kv_latent_rank == 16 and not cfg.rotates(3)
    trace = ours.trace(TEXT)
    assert_matches_reference("kimi_linear", ours, trace, reference_run(hf, trace),
                             (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL))  # fmt: skip


def test_the_rule_decays_each_channel_and_its_sources_add_up(pair):
    hf, ours = pair
    trace = ours.trace(TEXT)
    theirs = layer_output(hf, hf.model.layers[1].self_attn, trace.token_ids)
    assert (trace["blocks.1.delta_out"] - theirs).abs().max() <= HIDDEN_TOL
    x_in = blocks.attention_input(trace.captured.resid_pre[1], ours.weights, 1, ours.config)
    d = delta_net.inputs(x_in, ours.weights, 1, ours.config)
    assert d.alpha.shape == (2, trace.n_tokens, 16) and d.alpha.std(-1).min() > 0  # a decay per key channel
    o, _ = delta_net.recur(d)
    weights = implicit.implicit_weights(trace, 1)  # (heads, n, n)
    assert (torch.einsum("hts,hsd->htd", weights, d.v) - o).abs().max() <= PARTS_TOL
    for query in (0, 9, trace.n_tokens - 1):
        sources, parts = flow.mixer_parts(trace, 1, query)
        assert (parts.sum(0) - trace.resid_mid(1)[query]).abs().max() <= PARTS_TOL, query


def test_generation_matches_transformers_and_one_pass(pair):
    hf, ours = pair
    assert_generates_as_transformers(hf, ours, "the blue creature took a mole of the forest", HIDDEN_TOL)


def test_the_sweep_and_the_parameter_count(pair):
    hf, ours = pair
    assert_sweep_skips_layers_without_heads(ours, TEXT, KDA, 3, 2)
    counts = ours.parameter_counts()
    buffers = sum(b.numel() for name, b in hf.named_buffers() if "e_score_correction_bias" in name)
    assert counts["total"] == sum(p.numel() for p in hf.parameters()) + buffers  # the correction bias: a buffer
    features = " ".join(ours.config.features())
    assert "a gated delta rule (linear attention) instead of attention in 3 of 4 layers" in features
    assert "Kimi Delta Attention: a decay for every key channel" in features and "RoPE on" not in features
    assert "the last 4 of 12 dimensions of every head's key shared by every head, unrotated" in features


def test_a_hub_config_is_read_and_a_bad_one_refused():
    base = dict(hidden_size=64, num_hidden_layers=4, num_attention_heads=4, vocab_size=300, intermediate_size=96,
                kv_lora_rank=16, qk_rope_head_dim=4, qk_nope_head_dim=8, v_head_dim=8, num_experts=4,
                num_experts_per_token=2, num_expert_group=1, moe_renormalize=True)  # fmt: skip
    hub = {**base, "linear_attn_config": {"full_attn_layers": [4], "kda_layers": [1, 2, 3], "head_dim": 16,
                                          "num_heads": 2, "short_conv_kernel_size": 4}}  # fmt: skip
    cfg = kimi_linear_config(json.loads(json.dumps(hub)), "t")
    assert cfg.mixers == ("gated_delta",) * 3 + ("attention",) and cfg.delta_dims == (16, 16)
    assert cfg.experts_per_token == 2 and cfg.moe_renormalize
    with pytest.raises(ModelLoadError, match="no attention layer"):
        kimi_linear_config({**base, "layer_types": ["linear_attention"] * 4}, "t")
