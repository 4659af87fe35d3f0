"""OLMo Hybrid (olmo_hybrid): layers 0 and 2 run the gated delta rule (delta_net.py, β up to 2, its norm's ε 1e-5) in
pre-norm blocks, 1 and 3 are OLMo 3 blocks (a norm on each sublayer's output, q/k norms over the whole projection),
so the norms sit differently layer by layer (ModelConfig.norm_positions); against transformers' OlmoHybridForCausalLM
on tiny random models (tests.tiny_models_hybrid), as saved (OLMo-core's norm names, one conv kernel each for q, k and
v) with RoPE, and with config.json naming no rope_theta (the released checkpoints): then no RoPE, which transformers
5.23 would fill in, so its reference drops its rotary embedding for that case.

Tolerances (max absolute difference, float32 CPU): patterns 1e-4; logits and hidden states 1e-3 (transformers runs
the rule in chunks, this engine one token at a time); a split into parts against the whole it adds up to, 1e-4.
"""

from __future__ import annotations

import json

import pytest

from attention_core import ModelLoadError, blocks, delta_net, flow, load_model
from attention_core.loading.hf_adapters_olmo_hybrid import olmo_hybrid_config
from tests.engine.decoder_parity import (
    assert_generates_as_transformers,
    assert_matches_reference,
    assert_sweep_skips_layers_without_heads,
    layer_output,
    reference_run,
)
from tests.tiny_models_hybrid import save_tiny_olmo_hybrid

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL, PARTS_TOL = 1e-4, 1e-3, 1e-3, 1e-4
TEXT = "the blue creature took a mole of the forest, and the fox jumps over the lazy dog"
DELTA, ATTENTION = (0, 2), (1, 3)


@pytest.fixture(scope="module", params=["rope", "nope"])
def pair(request, tmp_path_factory, monkeypatch_module):
    folder = tmp_path_factory.mktemp("olmo_hybrid")
    hf = save_tiny_olmo_hybrid(folder).eval()
    if request.param == "nope":  # config.json as released: no rope_theta; transformers' reference without RoPE
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, "rope_parameters": None}))
        hf.model.rotary_emb = None
    monkeypatch_module.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    return request.param, hf, load_model(str(folder), device="cpu")


def test_patterns_hidden_states_and_logits_match(pair):
    kind, hf, ours = pair
    cfg = ours.config
    assert cfg.attention_layers == ATTENTION and cfg.norm_positions == ("pre", "post_sublayer") * 2
    assert all(map(cfg.rotates, ATTENTION)) == (kind == "rope") and cfg.delta_beta_scale == 2.0
    assert ("no rope_theta" in " ".join(cfg.conversion_notes)) == (kind == "nope")
    trace = ours.trace(TEXT)
    assert_matches_reference("olmo_hybrid", ours, trace, reference_run(hf, trace), (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL))


def test_the_rules_output_and_its_split_by_source(pair):
    _, hf, ours = pair
    trace = ours.trace(TEXT)
    theirs = layer_output(hf, hf.model.layers[2].linear_attn, trace.token_ids)
    assert (trace["blocks.2.delta_out"] - theirs).abs().max() <= HIDDEN_TOL
    for query in (0, 9, trace.n_tokens - 1):
        sources, parts = flow.mixer_parts(trace, 2, query)
        assert (parts.sum(0) - trace.resid_mid(2)[query]).abs().max() <= PARTS_TOL, query
    graph = trace.contribution_graph(token=trace.n_tokens - 1, threshold=0.01)
    assert {e.layer for e in graph.edges if e.kind == "delta"} <= set(DELTA) and any(e.kind == "delta"
                                                                                   for e in graph.edges)  # fmt: skip
    x_in = blocks.attention_input(trace.captured.resid_pre[0], ours.weights, 0, ours.config)  # ln_attn's output
    assert float(delta_net.inputs(x_in, ours.weights, 0, ours.config).beta.max()) > 1.0  # β past 1: scaled by 2


def test_generation_and_the_sweep(pair):
    _, hf, ours = pair
    assert_generates_as_transformers(hf, ours, "the blue creature took a mole of the forest", HIDDEN_TOL)
    assert_sweep_skips_layers_without_heads(ours, TEXT, DELTA, 3, 1)  # the rerun passes through layer 2's rule


def test_a_config_without_attention_is_refused():
    base = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, vocab_size=300, intermediate_size=96)
    with pytest.raises(ModelLoadError, match="no attention layer"):
        olmo_hybrid_config({**base, "layer_types": ["linear_attention"] * 2}, "t")
    with pytest.raises(ModelLoadError, match="do not split into groups"):
        olmo_hybrid_config({**base, "layer_types": ["linear_attention", "full_attention"],
                            "linear_num_key_heads": 3, "linear_num_value_heads": 4}, "t")  # fmt: skip
