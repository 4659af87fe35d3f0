"""Falcon-H1 (falcon_h1): every layer runs attention and a Mamba-2 scan side by side on the same normalised input
(ModelConfig.ssm_beside_attention), against transformers' FalconH1ForCausalLM on tiny random models
(tests.tiny_models_hybrid): the scan without a norm (as released), with its gated RMSNorm before or after the gate (the
latter with every projection's bias), and with tied embeddings. Every µP multiplier differs from 1, so a fold left
out or put on the wrong weight shows.

Tolerances (max absolute difference, float32 CPU): patterns 1e-4; logits and hidden states 1e-3 (transformers scans
a prompt in chunks, this engine one token at a time: the same sums in another order); a split into parts against
the whole it adds up to, and a sum of heads against the layer's output, 1e-4.
"""

from __future__ import annotations

import pytest

from attention_core import ModelLoadError, ablate_layer, blocks, flow, implicit, load_model, mamba
from attention_core.loading.hf_adapters_falcon_h1 import falcon_h1_config
from tests.engine.decoder_parity import (
    assert_generates_as_transformers,
    assert_matches_reference,
    assert_sweep_skips_layers_without_heads,
    layer_output,
    reference_run,
)
from tests.tiny_models_hybrid import save_tiny_falcon_h1

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL, PARTS_TOL = 1e-4, 1e-3, 1e-3, 1e-4
TEXT = "the blue creature took a mole of the forest, and the fox jumps over the lazy dog"


@pytest.fixture(scope="module", params=["none", "before_gate", "after_gate", "tied"])
def pair(request, tmp_path_factory, monkeypatch_module):
    folder = tmp_path_factory.mktemp("falcon_h1")
    tied = request.param == "tied"
    norm = "none" if tied else request.param
    hf = save_tiny_falcon_h1(folder, norm=norm, tied=tied, biases=norm == "after_gate").eval()
    monkeypatch_module.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    return hf, load_model(str(folder), device="cpu")


def test_patterns_hidden_states_and_logits_match(pair):
    hf, ours = pair
    cfg = ours.config
    assert cfg.ssm_beside_attention and cfg.attention_layers == (0, 1, 2) and cfg.ssm_shape == (4, 32, 8, 2)
    assert cfg.ssm_norm == ("none" if not hf.config.mamba_rms_norm else
                            "before_gate" if hf.config.mamba_norm_before_gate else "after_gate")  # fmt: skip
    trace = ours.trace(TEXT)
    assert_matches_reference("falcon_h1", ours, trace, reference_run(hf, trace), (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL))


def test_attention_and_the_scan_beside_it_are_transformers_own_and_add_up(pair):
    hf, ours = pair
    trace = ours.trace(TEXT)
    for layer in range(3):
        hf_layer = hf.model.layers[layer]
        scan = layer_output(hf, hf_layer.mamba, trace.token_ids) * hf.config.ssm_out_multiplier
        attn = layer_output(hf, hf_layer.self_attn, trace.token_ids) * hf.config.attention_out_multiplier
        assert (trace[f"blocks.{layer}.ssm_out"] - scan).abs().max() <= HIDDEN_TOL, layer
        assert (trace.attn_out(layer) - attn).abs().max() <= HIDDEN_TOL, layer
        whole = trace.resid(layer) + trace.attn_out(layer) + trace[f"blocks.{layer}.ssm_out"]
        assert (trace.resid_mid(layer) - whole).abs().max() <= PARTS_TOL, layer
        b_O = trace.output_bias(layer)
        heads = trace.head_out(layer).sum(0) + (0.0 if b_O is None else b_O)  # attn_out: the heads', no scan in it
        assert (heads - trace.attn_out(layer)).abs().max() <= PARTS_TOL, layer


def test_ablating_a_layer_zeroes_its_heads_not_the_scan_beside_them(pair):
    _, ours = pair
    ablated = ours.trace(TEXT, interventions=[ablate_layer(1)])
    assert ablated.attn_out(1).abs().max() == 0
    added = ablated.resid_mid(1) - ablated.resid(1)
    assert (added - ablated["blocks.1.ssm_out"]).abs().max() <= PARTS_TOL and added.abs().max() > 0


def test_the_scans_sources_and_the_contribution_graph(pair):
    _, ours = pair
    trace = ours.trace(TEXT)
    x_in = blocks.attention_input(trace.captured.resid_pre[1], ours.weights, 1, ours.config)
    d = mamba.inputs(x_in, ours.weights, 1, ours.config)
    y, _ = mamba.recur(d)
    last = trace.n_tokens - 1
    for query in (0, 7, last):
        unrolled = (mamba.source_weights(d, query)[..., None] * d.x[:, : query + 1]).sum(1)
        assert (unrolled - y[:, query]).abs().max() <= PARTS_TOL, query
        parts = flow.beside_parts(trace, 1, query)  # resid, n attention parts, query + 1 scan parts, the biases
        assert parts.shape[0] == 1 + trace.n_tokens + query + 1 + 1
        assert (parts.sum(0) - trace.resid_mid(1)[query]).abs().max() <= PARTS_TOL, query
    mid, _ = flow.mlp_parts(trace, 1, [0, 7, last])  # the MLP's step reads resid_mid, the scan's part in it
    assert (mid - trace.resid_mid(1)[[0, 7, last]]).abs().max() <= PARTS_TOL
    weights = implicit.implicit_weights(trace, 1)  # the scan's weight per head, query and source
    assert implicit.weighted_layers(trace) == (0, 1, 2)
    assert (weights[:, last, :] - mamba.source_weights(d, last)).abs().max() <= PARTS_TOL
    graph = trace.contribution_graph(token=last, threshold=0.01)
    kinds = {e.kind for e in graph.edges}
    assert {"ssm", "attention"} <= kinds, kinds


def test_generation_matches_transformers_and_one_pass(pair):
    hf, ours = pair
    assert_generates_as_transformers(hf, ours, "the blue creature took a mole of the forest", HIDDEN_TOL)


def test_the_sweep_reruns_the_scans_and_the_parameter_count(pair):
    hf, ours = pair
    assert_sweep_skips_layers_without_heads(ours, TEXT, (), 1, 2)  # every layer has heads; the rerun scans too
    counts = ours.parameter_counts()
    assert counts["total"] == sum(p.numel() for p in hf.parameters())
    assert counts["state space"] == sum(p.numel() for name, p in hf.named_parameters() if ".mamba." in name)
    features = " ".join(ours.config.features())
    assert "a Mamba-2 state-space scan beside attention in every layer" in features, features
    assert "multipliers folded into the weights" in features, features


def test_a_falcon_h1_config_the_engine_cannot_read_is_refused():
    base = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, vocab_size=300, intermediate_size=96,
                mamba_d_ssm=128, mamba_n_heads=4)  # fmt: skip
    with pytest.raises(ModelLoadError, match="ssm_multipliers"):
        falcon_h1_config({**base, "ssm_multipliers": [1.0, 1.0]}, "t")
    with pytest.raises(ModelLoadError, match="do not make"):
        falcon_h1_config({**base, "mamba_d_head": 24}, "t")
    cfg = falcon_h1_config({**base, "mamba_rms_norm": True}, "t")
    assert cfg.ssm_shape[:2] == (4, 32) and cfg.ssm_norm == "before_gate"  # d_ssm / heads; transformers' default
    assert dict(cfg.folded_multipliers)["key_multiplier"] == 1.0
