"""LFM2, the first hybrid: layers 0 and 2 mix tokens by a short convolution, 1 and 3 by attention
(tests.tiny_models_hybrid). Parity with transformers' Lfm2ForCausalLM (with and without the convolution's biases),
Lfm2MoeForCausalLM (its experts chosen with a bias) and Lfm3ForCausalLM (layer 1 sliding, layer 3 with proportional
RoPE; gated heads; a norm on each sublayer's output) on tiny random models saved as safetensors.

Tolerances (max absolute difference, float32 CPU), as for the other decoders: patterns 1e-4; logits and hidden
states 1e-3; a split into parts against the whole it adds up to, 1e-4.
"""

from __future__ import annotations

import pytest
import torch

from attention_core import ablate_head, blocks, flow, load_model, short_conv
from attention_core.errors import ModelLoadError
from attention_core.loading.hf_adapters_hybrid import lfm2_config
from tests.engine.decoder_parity import (
    assert_generates_as_transformers,
    assert_sweep_skips_layers_without_heads,
    layer_output,
)
from tests.tiny_models_hybrid import save_tiny_lfm2, save_tiny_lfm2_moe, save_tiny_lfm3

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL, PARTS_TOL = 1e-4, 1e-3, 1e-3, 1e-4
TEXT = "the blue creature took a mole of the forest, and the fox jumps over the lazy dog"
CONV, ATTENTION = (0, 2), (1, 3)


@pytest.fixture(scope="module", params=["no_bias", "conv_bias", "moe", "lfm3"])
def pair(request, tmp_path_factory, monkeypatch_module):
    folder = tmp_path_factory.mktemp("lfm2")
    if request.param == "moe":  # LFM2 MoE: the same layers, with a mixture of experts after the first
        hf = save_tiny_lfm2_moe(folder)
    elif request.param == "lfm3":  # LFM3: a window and proportional RoPE, gated heads, norms on sublayer outputs
        hf = save_tiny_lfm3(folder)
    else:
        hf = save_tiny_lfm2(folder, conv_bias=request.param == "conv_bias")
    monkeypatch_module.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    return hf, load_model(str(folder), device="cpu")


def test_the_layers_are_read_as_the_config_names_them(pair):
    _, ours = pair
    cfg = ours.config
    assert cfg.mixers == ("short_conv", "attention", "short_conv", "attention")
    assert cfg.attention_layers == ATTENTION and cfg.conv_kernel == 3
    assert cfg.d_mlp == 96  # LFM2: 96 × 2/3 × 1.3 = 83, rounded up to a multiple of 32; LFM2 MoE: as it stands
    if cfg.n_experts:
        assert (cfg.n_experts, cfg.experts_per_token, cfg.moe_router, cfg.moe_scale) == (4, 2, "sigmoid", 1.5)
    if cfg.arch == "lfm3":  # layer 1 slides with its own base; layer 3 turns 4 of its 8 pairs
        assert [cfg.window(i) for i in ATTENTION] == [4, None] and cfg.rope_base(1) == 100.0
        assert cfg.rope_divisors(1) == () and cfg.rope_divisors(3) == (1.0,) * 4 + (float("inf"),) * 4
        assert "RoPE scaling: proportional (4 of each head's 8 pairs turn)" in " ".join(cfg.features())


def test_patterns_hidden_states_and_logits_match(pair):
    hf, ours = pair
    trace = ours.trace(TEXT)
    ids = torch.tensor([trace.token_ids])
    with torch.inference_mode():
        out = hf(ids, output_attentions=True, output_hidden_states=True)
    assert len(out.attentions) == len(ATTENTION)  # transformers returns the attention layers' weights alone
    for layer, ref in zip(ATTENTION, out.attentions, strict=True):
        assert (trace.layer_patterns(layer) - ref[0]).abs().max() <= PATTERN_TOL, layer
        assert ref[0][:, -1].max() > 3.0 / ids.shape[1], "random weights too small to make a peaked pattern"
    for layer in range(ours.config.n_layers):
        assert (trace.resid(layer) - out.hidden_states[layer][0]).abs().max() <= HIDDEN_TOL, layer
    final = blocks.normalize(trace.resid(4), ours.weights, "ln_final", ours.config)
    assert (final - out.hidden_states[-1][0]).abs().max() <= HIDDEN_TOL
    assert (trace.logits - out.logits[0]).abs().max() <= LOGIT_TOL


def test_a_convolution_layers_output_is_transformers_own(pair):
    hf, ours = pair
    trace = ours.trace(TEXT)
    theirs = layer_output(hf, hf.model.layers[2].conv, trace.token_ids)
    assert (trace["blocks.2.conv_out"] - theirs).abs().max() <= HIDDEN_TOL
    assert torch.equal(trace["blocks.2.conv_out"], trace.attn_out(2))
    out = trace.attn_out(2)  # what the block adds: the convolution's output, through LFM3's norm on it
    if ours.config.norm_position == "sandwich":
        out = blocks.normalize(out, ours.weights, "blocks.2.ln_attn_out", ours.config)
    assert (trace.resid_mid(2) - (trace.resid(2) + out)).abs().max() <= PARTS_TOL
    for row in (0, 5):  # the contribution graph's parts of it add up to it
        _, parts = flow.mixer_parts(trace, 2, row)
        assert (parts.sum(0) - trace.resid_mid(2)[row]).abs().max() <= PARTS_TOL


def test_a_convolution_layer_has_no_heads_to_show(pair):
    _, ours = pair
    trace = ours.trace(TEXT)
    with pytest.raises(ValueError, match=r"layer 0 of .* runs a short convolution: .*attention layers: 1, 3"):
        trace.pattern(0, 1)
    for name in ("blocks.2.attn.pattern", "blocks.2.attn.q", "blocks.2.attn_out"):
        with pytest.raises(KeyError):
            trace[name]
    assert trace["blocks.1.attn.pattern"].shape == (4, trace.n_tokens, trace.n_tokens)
    with pytest.raises(ValueError, match="layer 2 has no attention heads"):
        ours.trace(TEXT, interventions=[ablate_head(2, 0)])


def test_the_convolution_reads_only_earlier_tokens_whatever_the_causal_switch(pair):
    _, ours = pair
    causal, both_ways = ours.trace(TEXT), ours.trace(TEXT, causal=False)
    assert torch.equal(causal.attn_out(0), both_ways.attn_out(0))  # layer 0 sees the same embeddings either way
    assert not torch.allclose(causal.attn_out(1), both_ways.attn_out(1))  # attention does read later keys


def test_generation_matches_transformers_and_one_pass(pair):
    hf, ours = pair
    prompt = "the blue creature took a mole of the forest"
    assert_generates_as_transformers(hf, ours, prompt, HIDDEN_TOL)
    gen = ours.generate(prompt, max_new_tokens=8)
    with pytest.raises(ValueError, match="runs a short convolution"):
        gen.step_patterns(0)
    assert gen.step_patterns(3).shape == (4, 8, gen.trace.n_tokens - 1)


def test_the_ablation_sweep_skips_the_convolution_layers(pair):
    _, ours = pair
    assert_sweep_skips_layers_without_heads(ours, TEXT, CONV, 1, 2)  # the rerun passes through layer 2's convolution


def test_the_convolutions_parts_add_up_and_reach_back_its_kernel(pair):
    _, ours = pair
    trace = ours.trace(TEXT)
    x_in = blocks.attention_input(trace.captured.resid_pre[2], ours.weights, 2, ours.config)
    for query in (0, 1, 9):
        sources, terms, constant = short_conv.source_terms(x_in, ours.weights, 2, ours.config, query)
        assert sources.tolist() == list(range(max(0, query - 2), query + 1))
        whole = terms.sum(0) + constant
        assert (whole - trace.attn_out(2)[query]).abs().max() <= PARTS_TOL
    graph = trace.contribution_graph(token=trace.n_tokens - 1, threshold=0.01)
    conv = [e for e in graph.edges if e.kind == "convolution"]
    assert conv and {e.layer for e in conv} <= set(CONV) and all(0 <= e.target - e.source < 3 for e in conv)
    assert not any(e.kind == "attention" and e.layer in CONV for e in graph.edges)


def test_parameter_counts_match(pair):
    hf, ours = pair
    counts = ours.parameter_counts()
    biases = sum(b.numel() for name, b in hf.named_buffers() if name.endswith("expert_bias"))  # LFM2 MoE's: a buffer
    assert counts["total"] == sum(p.numel() for p in hf.parameters()) + biases  # there, read as a weight here
    convs = [p.numel() for name, p in hf.named_parameters() if ".conv." in name]
    assert counts["convolution"] == sum(convs)


def test_a_config_with_only_full_attn_idxs_and_a_bad_one():
    base = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4, vocab_size=300)
    assert lfm2_config({**base, "full_attn_idxs": [2]}, "t").mixers == ("short_conv", "short_conv", "attention")
    assert lfm2_config(base, "t").attention_layers == (0, 1, 2)  # transformers' default: every layer attends
    assert lfm2_config({**base, "block_auto_adjust_ff_dim": False}, "t").d_mlp == 96
    with pytest.raises(ModelLoadError, match="layer_types"):
        lfm2_config({**base, "layer_types": ["conv", "mamba", "full_attention"]}, "t")
