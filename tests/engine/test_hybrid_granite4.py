"""Granite 4's hybrids (granitemoehybrid with Mamba-2 layers, as granite-4.0-h-*): layers 0 and 2 run the state-space
scan (attention_core/mamba.py), 1 and 3 attend without RoPE, against transformers' GraniteMoeHybridForCausalLM on tiny
random models (tests.tiny_models_hybrid), dense and with a mixture of experts; and Bamba's (the same scan beside Llama
attention) against BambaForCausalLM.

Tolerances (max absolute difference, float32 CPU): patterns 1e-4; logits and hidden states 1e-3 (transformers scans
a prompt in chunks, this engine one token at a time: the same sums in another order); a split into parts against
the whole it adds up to, 1e-4.
"""

from __future__ import annotations

import pytest

from attention_core import ModelLoadError, blocks, flow, load_model, mamba
from attention_core.loading.hf_adapters_scaled import granite_hybrid_config
from tests.engine.decoder_parity import (
    assert_generates_as_transformers,
    assert_matches_reference,
    assert_sweep_skips_layers_without_heads,
    layer_output,
    reference_run,
)
from tests.tiny_models_hybrid import save_tiny_bamba, save_tiny_granite_hybrid

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL, PARTS_TOL = 1e-4, 1e-3, 1e-3, 1e-4
TEXT = "the blue creature took a mole of the forest, and the fox jumps over the lazy dog"
SSM, ATTENTION = (0, 2), (1, 3)


@pytest.fixture(scope="module", params=["dense", "moe", "bamba"])
def pair(request, tmp_path_factory, monkeypatch_module):
    folder = tmp_path_factory.mktemp("granite_hybrid")
    if request.param == "bamba":  # Bamba: the same scan beside Llama attention with RoPE on half of each head
        hf = save_tiny_bamba(folder).eval()
    else:
        hf = save_tiny_granite_hybrid(folder, experts=4 if request.param == "moe" else 0).eval()
    hf.set_attn_implementation("eager")  # so that it returns its attention weights
    monkeypatch_module.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    return hf, load_model(str(folder), device="cpu")


def test_patterns_hidden_states_and_logits_match(pair):
    hf, ours = pair
    assert ours.config.attention_layers == ATTENTION and ours.config.ssm_shape == (4, 32, 8, 2)
    trace = ours.trace(TEXT)
    assert_matches_reference("granite4", ours, trace, reference_run(hf, trace), (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL))


def test_the_scans_output_is_transformers_own_and_its_sources_add_up_to_it(pair):
    hf, ours = pair
    trace = ours.trace(TEXT)
    theirs = layer_output(hf, hf.model.layers[2].mamba, trace.token_ids)
    multiplier = getattr(hf.config, "residual_multiplier", 1.0)  # Granite's, folded into W_out (as into W_O); Bamba's 1
    assert (trace["blocks.2.ssm_out"] - theirs * multiplier).abs().max() <= HIDDEN_TOL
    x_in = blocks.attention_input(trace.captured.resid_pre[2], ours.weights, 2, ours.config)
    d = mamba.inputs(x_in, ours.weights, 2, ours.config)
    y, _ = mamba.recur(d)
    for query in (0, 7, trace.n_tokens - 1):  # y = Σ_s weight[query, s] · x_s per head: the unrolled scan
        unrolled = (mamba.source_weights(d, query)[..., None] * d.x[:, : query + 1]).sum(1)
        assert (unrolled - y[:, query]).abs().max() <= PARTS_TOL, query
        sources, parts = flow.mixer_parts(trace, 2, query)
        assert sources.tolist() == list(range(query + 1))
        assert (parts.sum(0) - trace.resid_mid(2)[query]).abs().max() <= PARTS_TOL, query
    graph = trace.contribution_graph(token=trace.n_tokens - 1, threshold=0.01)
    assert {e.layer for e in graph.edges if e.kind == "ssm"} <= set(SSM) and any(e.kind == "ssm" for e in graph.edges)


def test_generation_matches_transformers_and_one_pass(pair):
    hf, ours = pair
    assert_generates_as_transformers(hf, ours, "the blue creature took a mole of the forest", HIDDEN_TOL)


def test_the_sweep_and_the_parameter_count(pair):
    hf, ours = pair
    assert_sweep_skips_layers_without_heads(ours, TEXT, SSM, 1, 2)  # the rerun passes through layer 2's scan
    counts = ours.parameter_counts()
    assert counts["total"] == sum(p.numel() for p in hf.parameters())
    assert counts["state space"] == sum(p.numel() for name, p in hf.named_parameters() if ".mamba." in name)
    assert "a Mamba-2 state-space scan instead of attention in 2 of 4 layers" in " ".join(ours.config.features())


def test_a_granite_config_without_attention_or_with_uneven_heads_is_refused():
    base = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, vocab_size=300, shared_intermediate_size=96)
    with pytest.raises(ModelLoadError, match="at least one 'attention'"):
        granite_hybrid_config({**base, "layer_types": ["mamba", "mamba"]}, "t")
    with pytest.raises(ModelLoadError, match="do not make mamba_expand"):
        granite_hybrid_config({**base, "layer_types": ["mamba", "attention"], "mamba_n_heads": 4, "mamba_d_head": 24},
                              "t")  # fmt: skip
    cfg = granite_hybrid_config({**base, "layer_types": ["mamba", "attention"], "mamba_n_heads": 4,
                                 "time_step_limit": [0.0, {"__float__": "Infinity"}]}, "t")  # fmt: skip
    assert cfg.ssm_shape[:2] == (4, 32) and cfg.ssm_dt_limit == (0.0, float("inf"))  # "auto": 2 · 64 / 4
