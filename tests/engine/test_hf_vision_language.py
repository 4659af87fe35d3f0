"""The language model of vision-language checkpoints (attention_core/loading/hf_adapters_vision.py) against
`transformers` running the whole checkpoint on a text without images, on tiny random models: each kind's own default
text architecture (Llama for LLaVA, Mistral for Idefics2, Qwen2 for InternVL and GOT-OCR 2, ...) at d_model 64, with
a vision tower of one layer that is saved but not read.

Tolerances (max absolute difference, float32 CPU): patterns 1e-4, logits and hidden states 1e-3.
"""

from __future__ import annotations

import pytest
import torch

from attention_core import ModelLoadError, load_model
from attention_core.loading.hf_adapters import adapter_for
from attention_core.loading.hf_adapters_vision import VISION_LANGUAGE_TYPES
from tests.engine.decoder_parity import assert_matches_reference, reference_run
from tests.tiny_models import _peaked_and_saved, byte_bpe
from tests.tiny_models_later import tiny_vision_language

transformers = pytest.importorskip("transformers")
pytestmark = [pytest.mark.parity, pytest.mark.one_worker]  # each tiny model saved once

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL = 1e-4, 1e-3, 1e-3
TEXT = "the blue creature took a mole of the forest"
@pytest.fixture(scope="module", params=VISION_LANGUAGE_TYPES)
def pair(request, tmp_path_factory, monkeypatch_module):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp(request.param)
    hf = _peaked_and_saved(tiny_vision_language(request.param), folder, byte_bpe(300), norms_too=True)
    monkeypatch_module.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    return request.param, hf, load_model(str(folder), device="cpu")


def test_the_language_model_matches_the_checkpoint_run_on_a_text(pair):
    kind, hf, ours = pair
    trace = ours.trace(TEXT)
    out = reference_run(hf, trace)  # the whole checkpoint, given ids and no image
    assert ours.config.n_layers == 2  # (LFM2-VL's: a convolution layer, then attention; assert_matches_reference)
    assert_matches_reference(kind, ours, trace, out, (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL))


def test_only_the_language_model_is_read(pair):
    kind, hf, ours = pair
    text_model = hf.model.text_model if hasattr(hf.model, "text_model") else hf.model.language_model
    expected = sum(p.numel() for p in text_model.parameters())
    expected += 0 if ours.config.tie_embeddings else hf.lm_head.weight.numel()
    assert ours.parameter_counts()["total"] == expected, kind
    text = hf.config.get_text_config().to_dict()  # read as its text architecture's own adapter reads it
    assert ours.config.arch == adapter_for(text)[0](text, "x").arch, kind


def test_a_language_model_of_an_architecture_not_read_here_is_refused(tmp_path):
    import json

    folder = tmp_path / "llava-rwkv"
    folder.mkdir()
    config = {"model_type": "llava", "text_config": {"model_type": "rwkv"}, "vision_config": {}}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="The language model of this llava checkpoint is 'rwkv': model_type"):
        load_model(str(folder))


def test_a_llava_1_5_config_that_names_only_some_sizes_gets_llama_config_defaults_for_the_rest():
    """llava-hf/llava-1.5-7b-hf's text_config names its vocabulary, context and epsilon; transformers' LlamaConfig
    fills in Vicuna-7B's sizes, as here."""
    from attention_core.loading.hf_adapters_vision import vision_language_config

    text = {"model_type": "llama", "vocab_size": 32064, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5}
    cfg = vision_language_config({"model_type": "llava", "text_config": text}, "llava-1.5")
    reference = transformers.LlamaConfig(**text)
    assert (cfg.d_vocab, cfg.d_model, cfg.d_mlp, cfg.n_layers) == (32064, 4096, 11008, 32)
    assert (cfg.d_model, cfg.d_mlp, cfg.n_layers) == (reference.hidden_size, reference.intermediate_size,
                                                     reference.num_hidden_layers)  # fmt: skip
    assert (cfg.n_heads, cfg.n_kv_heads, cfg.d_head, cfg.norm_eps) == (32, 32, 128, 1e-5)


def test_llama_3_2_visions_text_runs_through_its_self_attention_layers_as_transformers_runs_it(tmp_path, monkeypatch):
    """Mllama (Llama 3.2 Vision): its text model skips each cross-attention layer when there is no image, so a text
    runs through the self-attention layers alone; here they are the model's layers, renumbered (the tiny one: 4
    layers, layer 1 cross-attention, so ours 0, 1, 2 are the checkpoint's 0, 2, 3), and the sidebar says so."""
    from tests.tiny_models_later import tiny_mllama

    torch.manual_seed(0)
    checkpoint = tiny_mllama()
    hf = _peaked_and_saved(checkpoint, tmp_path / "mllama", byte_bpe(300), norms_too=True)
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    ours = load_model(str(tmp_path / "mllama"), device="cpu")
    trace = ours.trace(TEXT)
    out = reference_run(hf, trace)
    assert len(out.attentions) == ours.config.n_layers == 3
    assert_matches_reference("mllama", ours, trace, out, (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL))
    assert "cross-attention (the checkpoint's layer 1), which reads the image, is skipped" in ours.notes[0]
    language = hf.model.language_model
    assert torch.equal(ours.weights["blocks.1.attn.W_Q"], language.layers[2].self_attn.q_proj.weight.T)
