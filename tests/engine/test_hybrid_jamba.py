"""Jamba (jamba): Mamba's selective scan (attention_core/selective_scan.py) in layers 0, 2 and 3, attention without
any position encoding in layer 1, a mixture of experts in the MLPs of layers 1 and 3, against transformers'
JambaForCausalLM on tiny random models (tests.tiny_models_hybrid), with experts and dense.

Tolerances (max absolute difference, float32 CPU): patterns 1e-4; logits and hidden states 1e-3; a split into parts
against the whole it adds up to, 1e-4.
"""

from __future__ import annotations

import pytest

from attention_core import ModelLoadError, blocks, flow, load_model, selective_scan
from attention_core.loading.hf_adapters_jamba import jamba_config
from tests.engine.decoder_parity import (
    assert_generates_as_transformers,
    assert_matches_reference,
    assert_sweep_skips_layers_without_heads,
    layer_output,
    reference_run,
)
from tests.tiny_models_hybrid import save_tiny_jamba

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL, PARTS_TOL = 1e-4, 1e-3, 1e-3, 1e-4
TEXT = "the blue creature took a mole of the forest, and the fox jumps over the lazy dog"
SCANS, ATTENTION = (0, 2, 3), (1,)


@pytest.fixture(scope="module", params=["experts", "dense"])
def pair(request, tmp_path_factory, monkeypatch_module):
    folder = tmp_path_factory.mktemp("jamba")
    hf = save_tiny_jamba(folder, experts=4 if request.param == "experts" else 0).eval()
    monkeypatch_module.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    return hf, load_model(str(folder), device="cpu")


def test_patterns_hidden_states_and_logits_match(pair):
    hf, ours = pair
    cfg = ours.config
    assert cfg.mixers == ("selective_scan", "attention", "selective_scan", "selective_scan")
    assert cfg.selective_shape == (128, 8, 4) and not any(map(cfg.rotates, range(4)))
    if hf.config.num_experts > 1:  # softmax scores, the chosen experts' not renormalised
        assert cfg.n_experts == 4 and cfg.experts_per_token == 2 and not cfg.moe_renormalize
    else:
        assert cfg.n_experts == 0
    trace = ours.trace(TEXT)
    assert_matches_reference("jamba", ours, trace, reference_run(hf, trace), (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL))


def test_the_scans_output_is_transformers_own_and_its_sources_add_up_to_it(pair):
    hf, ours = pair
    trace = ours.trace(TEXT)
    theirs = layer_output(hf, hf.model.layers[2].mamba, trace.token_ids)
    assert (trace["blocks.2.ssm_out"] - theirs).abs().max() <= HIDDEN_TOL
    for query in (0, 7, trace.n_tokens - 1):
        sources, parts = flow.mixer_parts(trace, 2, query)
        assert sources.tolist() == list(range(query + 1))
        assert (parts.sum(0) - trace.resid_mid(2)[query]).abs().max() <= PARTS_TOL, query
    x_in = blocks.attention_input(trace.captured.resid_pre[0], ours.weights, 0, ours.config)
    _, terms, constant = selective_scan.source_terms(x_in, ours.weights, 0, ours.config, trace.n_tokens - 1)
    assert terms[:-1].abs().sum() > 0  # earlier tokens send something: the scan mixes tokens
    graph = trace.contribution_graph(token=trace.n_tokens - 1, threshold=0.01)
    assert {e.layer for e in graph.edges if e.kind == "ssm"} <= set(SCANS) and any(e.kind == "ssm" for e in graph.edges)


def test_generation_matches_transformers_and_one_pass(pair):
    hf, ours = pair
    assert_generates_as_transformers(hf, ours, "the blue creature took a mole of the forest", HIDDEN_TOL)


def test_the_sweep_and_the_parameter_count(pair):
    hf, ours = pair
    assert_sweep_skips_layers_without_heads(ours, TEXT, SCANS, 1, 2)  # the rerun passes through layers 2 and 3
    counts = ours.parameter_counts()
    assert counts["total"] == sum(p.numel() for p in hf.parameters())
    assert counts["state space"] == sum(p.numel() for name, p in hf.named_parameters() if ".mamba." in name)
    assert "a Mamba selective state-space scan instead of attention in 3 of 4 layers" in " ".join(
        ours.config.features())


def test_a_jamba_config_the_engine_cannot_read_is_refused():
    base = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, vocab_size=300, intermediate_size=96)
    with pytest.raises(ModelLoadError, match="This Jamba model has no attention layer"):
        jamba_config({**base, "layers_block_type": ["mamba", "mamba"]}, "t")
    with pytest.raises(ModelLoadError, match="is not 'attention' or 'mamba'"):
        jamba_config({**base, "layers_block_type": ["mamba", "moe"]}, "t")
    cfg = jamba_config({**base, "attn_layer_period": 2, "attn_layer_offset": 1}, "t")
    assert cfg.mixers == ("selective_scan", "attention") and cfg.selective_shape == (128, 16, 4)  # "auto": ⌈64/16⌉
    assert cfg.n_experts == 0
