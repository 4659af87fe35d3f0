"""RecurrentGemma (recurrent_gemma, Griffin): the RG-LRU recurrent block (attention_core/rg_lru.py) in layers 0, 1 and
3, local multi-query attention with RoPE on half of each head in layer 2, against transformers'
RecurrentGemmaForCausalLM on tiny random models (tests.tiny_models_hybrid), with and without q/k/v biases.

Tolerances (max absolute difference, float32 CPU): patterns 1e-4; logits and hidden states 1e-3; a split into parts
against the whole it adds up to, 1e-4.
"""

from __future__ import annotations

import pytest

from attention_core import ModelLoadError, blocks, flow, load_model, rg_lru
from attention_core.loading.hf_adapters_recurrent_gemma import recurrent_gemma_config
from tests.engine.decoder_parity import (
    assert_generates_as_transformers,
    assert_matches_reference,
    assert_sweep_skips_layers_without_heads,
    layer_output,
    reference_run,
)
from tests.tiny_models_hybrid import save_tiny_recurrent_gemma

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL, PARTS_TOL = 1e-4, 1e-3, 1e-3, 1e-4
TEXT = "the blue creature took a mole of the forest, and the fox jumps over the lazy dog"
RECURRENT, ATTENTION = (0, 1, 3), (2,)


@pytest.fixture(scope="module", params=["plain", "biases"])
def pair(request, tmp_path_factory, monkeypatch_module):
    folder = tmp_path_factory.mktemp("recurrent_gemma")
    hf = save_tiny_recurrent_gemma(folder, attention_bias=request.param == "biases")
    monkeypatch_module.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    return hf, load_model(str(folder), device="cpu")


def test_patterns_hidden_states_and_logits_match(pair):
    hf, ours = pair
    cfg = ours.config
    assert cfg.mixers == ("rg_lru", "rg_lru", "attention", "rg_lru") and cfg.attention_layers == ATTENTION
    assert cfg.rotary_dim == 8 and cfg.sliding_window == 8 and cfg.final_softcap == 30.0 and cfg.d_mlp == 48
    assert ("blocks.2.attn.b_Q" in ours.weights) == hf.config.attention_bias and "blocks.2.attn.b_O" in ours.weights
    trace = ours.trace(TEXT)
    assert trace.n_tokens > 3 * cfg.sliding_window  # the window hides most keys from the last queries
    out = reference_run(hf, trace)
    assert_matches_reference("recurrent_gemma", ours, trace, out, (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL))


def test_the_recurrences_output_is_transformers_own_and_its_sources_add_up_to_it(pair):
    hf, ours = pair
    trace = ours.trace(TEXT)
    theirs = layer_output(hf, hf.model.layers[1].temporal_block, trace.token_ids)
    assert (trace["blocks.1.lru_out"] - theirs).abs().max() <= HIDDEN_TOL
    for query in (0, 7, trace.n_tokens - 1):
        sources, parts = flow.mixer_parts(trace, 1, query)
        assert sources.tolist() == list(range(query + 1))
        assert (parts.sum(0) - trace.resid_mid(1)[query]).abs().max() <= PARTS_TOL, query
    x_in = blocks.attention_input(trace.captured.resid_pre[0], ours.weights, 0, ours.config)
    _, terms, _ = rg_lru.source_terms(x_in, ours.weights, 0, ours.config, trace.n_tokens - 1)
    assert terms[:-1].abs().sum() > 0  # earlier tokens send something: the recurrence mixes tokens
    graph = trace.contribution_graph(token=trace.n_tokens - 1, threshold=0.01)
    assert {e.layer for e in graph.edges if e.kind == "recurrence"} <= set(RECURRENT) and any(
        e.kind == "recurrence" for e in graph.edges)


def test_generation_matches_transformers_and_one_pass(pair):
    hf, ours = pair
    assert_generates_as_transformers(hf, ours, "the blue creature took a mole of the forest", HIDDEN_TOL)


def test_the_sweep_and_the_parameter_count(pair):
    hf, ours = pair
    assert_sweep_skips_layers_without_heads(ours, TEXT, RECURRENT, 2, 1)  # the rerun passes through layer 3
    counts = ours.parameter_counts()
    assert counts["total"] == sum(p.numel() for p in hf.parameters())
    recurrent = (".temporal_block.linear_", ".conv_1d.", ".rg_lru.")
    named = dict(hf.named_parameters())
    assert counts["recurrence"] == sum(p.numel() for name, p in named.items() if any(r in name for r in recurrent))
    assert counts["norms"] == sum(p.numel() for name, p in named.items() if "norm" in name)
    assert "Griffin's gated linear recurrence (RG-LRU) instead of attention in 3 of 4 layers" in " ".join(
        ours.config.features())


def test_a_recurrent_gemma_config_the_engine_cannot_read_is_refused_and_a_real_ones_fields():
    base = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, vocab_size=300, intermediate_size=96)
    with pytest.raises(ModelLoadError, match="This RecurrentGemma model has no attention layer"):
        recurrent_gemma_config({**base, "block_types": ["recurrent"]}, "t")
    with pytest.raises(ModelLoadError, match=r"block_types \['attention', 'mamba'\] is not 'recurrent' or 'attention'"):
        recurrent_gemma_config({**base, "block_types": ["attention", "mamba"]}, "t")
    # recurrentgemma-2b's fields: the embeddings' √2560 = 50.596 kept in bfloat16 as 50.5, layers 2, 5, ... attend
    real = recurrent_gemma_config({"hidden_size": 2560, "num_hidden_layers": 26, "num_attention_heads": 10,
                                   "num_key_value_heads": 1, "vocab_size": 256000, "intermediate_size": 15360,
                                   "block_types": ["recurrent", "recurrent", "attention"],
                                   "attention_window_size": 2048, "logits_soft_cap": 30.0, "rope_theta": 10000.0,
                                   "partial_rotary_factor": 0.5}, "t")  # fmt: skip
    assert real.embed_scale == 50.5 and real.attention_layers == tuple(range(2, 26, 3))
    assert real.d_mlp == 7680 and real.d_head == 256 and real.rotary_dim == 128 and real.sliding_window == 2048
