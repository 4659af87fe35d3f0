"""Llama 4 (attention_core/loading/hf_adapters_llama4.py): what test_hf_architectures_modern's parity runs (its kinds
llama4_text and llama4) leave out: the cap below chunked attention and the NoPE layers' query temperature, the
config rules transformers applies where config.json is silent, and the step-by-step maths of a layer that
normalises its rotated q and k beside one that neither rotates nor normalises.

Tolerances as in test_hf_architectures_modern: patterns 1e-4 (float32 against transformers); the float64 steps
against the float32 pass 1e-6, their rotation check 1e-4.
"""

from __future__ import annotations

import pytest
import torch

from attention_core import load_model
from attention_core.errors import ModelLoadError
from attention_core.loading.hf_adapters_llama4 import llama4_config
from tests.tiny_models import save_tiny

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

TEXT = "the blue creature took a mole of the forest, and the fox jumps over the lazy dog"
SIZES = dict(vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=4, num_attention_heads=4,
             num_key_value_heads=2, head_dim=16, max_position_embeddings=128)  # fmt: skip


@pytest.fixture(scope="module")
def scout(tmp_path_factory, monkeypatch_module):
    folder = tmp_path_factory.mktemp("llama4_text")
    hf = save_tiny("llama4_text", folder)
    monkeypatch_module.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    return folder, hf


def _reloaded(folder, monkeypatch, tmp_path, **config):
    """The tiny Scout's folder with config.json changed, loaded afresh."""
    import json

    path = folder / "config.json"
    saved = json.loads(path.read_text())
    path.write_text(json.dumps({**saved, **config}))
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path))
    try:
        return load_model(str(folder), device="cpu")
    finally:
        path.write_text(json.dumps(saved))


def test_texts_stop_where_the_chunks_begin_and_match_transformers_there(scout, monkeypatch, tmp_path):
    folder, hf = scout
    ours = _reloaded(folder, monkeypatch, tmp_path, attention_chunk_size=8)
    assert ours.config.n_ctx == ours.max_tokens == 8
    assert "chunks" in ours.config.conversion_notes[0] and "capped at 8 tokens" in ours.config.conversion_notes[0]
    trace = ours.trace(TEXT)
    assert trace.truncated and trace.n_tokens == 8
    hf.config.attention_chunk_size = 8
    try:
        with torch.inference_mode():
            whole = hf(torch.tensor([ours.tokenizer.encode(TEXT, 64).ids]), output_attentions=True).attentions
            cut = hf(torch.tensor([trace.token_ids]), output_attentions=True).attentions
    finally:
        hf.config.attention_chunk_size = 8192
    assert whole[0][0, :, 8, :8].abs().max() == 0  # past the cap a rotating layer's query sees only its own chunk
    assert whole[3][0, :, 8, :8].abs().max() > 0  # the NoPE layer is not chunked
    for layer in range(4):
        assert (trace.layer_patterns(layer) - cut[layer][0]).abs().max() <= 1e-4


def test_texts_stop_before_the_nope_layers_scale_their_queries(scout, monkeypatch, tmp_path):
    folder, _ = scout
    ours = _reloaded(folder, monkeypatch, tmp_path, floor_scale=6)
    assert ours.config.n_ctx == 5 and "temperature" in ours.config.conversion_notes[0]
    untuned = _reloaded(folder, monkeypatch, tmp_path / "b", floor_scale=6, attn_temperature_tuning=False)
    assert untuned.config.n_ctx == 128 and untuned.config.conversion_notes == ()


def test_the_step_by_step_maths_of_a_normalising_and_a_nope_layer_match_the_pass(scout, monkeypatch, tmp_path):
    folder, _ = scout
    ours = _reloaded(folder, monkeypatch, tmp_path)
    trace = ours.trace(TEXT)
    rotating, nope = trace.head_steps(0, 1), trace.head_steps(3, 1)
    assert (rotating.qk_norm, rotating.qk_norm_after_rope, rotating.uses_rope) == ("head", True, True)
    assert not rotating.qk_norm_weighted  # the charts' titles and captions leave out a learned weight
    assert (nope.qk_norm, nope.qk_norm_after_rope, nope.uses_rope) == ("none", False, False)
    q = torch.from_numpy(rotating.q)
    assert torch.allclose(q.pow(2).mean(-1), torch.ones(q.shape[0], dtype=q.dtype), atol=1e-4)  # unit RMS, no weight
    for steps, layer in ((rotating, 0), (nope, 3)):
        assert abs(steps.pattern - trace.pattern(layer, 1).double().numpy()).max() < 1e-6
        assert trace.rope_check(steps) < 1e-4


def _config(**values) -> dict:
    return {"model_type": "llama4_text", **SIZES, **values}


def test_silent_configs_take_transformers_rules():
    cfg = llama4_config(_config(num_hidden_layers=8, interleave_moe_layer_step=2), "x")
    ref = transformers.Llama4TextConfig(**{**SIZES, "num_hidden_layers": 8, "interleave_moe_layer_step": 2})
    assert cfg.rope_layers == tuple(bool(r) for r in ref.no_rope_layers) == (True, True, True, False) * 2
    assert cfg.qk_norm_layers == cfg.rope_layers and cfg.n_experts == 16 and cfg.experts_per_token == 1
    assert ref.moe_layers == [1, 3, 5, 7] and cfg.d_mlp == ref.intermediate_size_mlp  # dense layers between
    assert cfg.rope_theta == 500000.0 and cfg.norm_eps == 1e-5
    dense = llama4_config(_config(moe_layers=[]), "x")
    assert dense.n_experts == 0 and dense.d_mlp == 16384
    composite = llama4_config({"model_type": "llama4", "text_config": _config(use_qk_norm=False)}, "x")
    assert composite.qk_norm == "none" and composite.arch == "llama4"


@pytest.mark.parametrize(
    ("values", "words"),
    [
        (dict(attention_bias=True), "attention biases"),
        (dict(no_rope_layers=[1, 1]), "no_rope_layers lists 2 layers for 4"),
        (dict(num_experts_per_tok=0), "1 to 16"),
    ],
)
def test_configs_we_cannot_run_are_refused_clearly(values, words):
    with pytest.raises(ModelLoadError, match=words):
        llama4_config(_config(**values), "x")


def test_a_checkpoint_whose_experts_disagree_with_its_config_is_refused(scout, monkeypatch, tmp_path):
    folder, _ = scout
    with pytest.raises(ModelLoadError, match="holds 4 experts; config.json says 8"):
        _reloaded(folder, monkeypatch, tmp_path, num_local_experts=8)
