"""The language model of vision-language checkpoints (attention_core/loading/hf_adapters_vision.py) against
`transformers` running the whole checkpoint on a text without images, on tiny random models: each kind's own default
text architecture (Llama for LLaVA, Mistral for Idefics2, Qwen2 for InternVL and GOT-OCR 2, ...) at d_model 64, with
a vision tower of one layer that is saved but not read.

Tolerances (max absolute difference, float32 CPU): patterns 1e-4, logits and hidden states 1e-3.
"""

from __future__ import annotations

import pytest
import torch

from attention_core import ModelLoadError, blocks, load_model
from attention_core.loading.hf_adapters import adapter_for
from attention_core.loading.hf_adapters_vision import VISION_LANGUAGE_TYPES
from tests.tiny_models import byte_bpe
from tests.tiny_models_later import tiny_vision_language

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL = 1e-4, 1e-3, 1e-3
TEXT = "the blue creature took a mole of the forest"
@pytest.fixture(scope="module", params=VISION_LANGUAGE_TYPES)
def pair(request, tmp_path_factory, monkeypatch_module):
    torch.manual_seed(0)
    hf = tiny_vision_language(request.param)
    hf.set_attn_implementation("eager")
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if p.dim() == 2 or name.endswith("bias"):
                p.normal_(0.0, 0.3)
            elif "norm" in name.lower():
                p.add_(torch.randn_like(p) * 0.3)
    folder = tmp_path_factory.mktemp(request.param)
    hf.save_pretrained(folder, safe_serialization=True)
    byte_bpe(300).save(str(folder / "tokenizer.json"))
    monkeypatch_module.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    return request.param, hf.eval(), load_model(str(folder), device="cpu")


def test_the_language_model_matches_the_checkpoint_run_on_a_text(pair):
    kind, hf, ours = pair
    trace = ours.trace(TEXT)
    ids = torch.tensor([trace.token_ids])
    with torch.inference_mode():
        out = hf(input_ids=ids, output_attentions=True, output_hidden_states=True)
    assert len(out.attentions) == ours.config.n_layers == 2
    for layer in range(ours.config.n_layers):
        ref = out.attentions[layer][0]
        assert (trace.layer_patterns(layer) - ref).abs().max() <= PATTERN_TOL, (kind, layer)
        assert ref[:, -1].max() > 3.0 / ids.shape[1], "random weights too small to make a peaked pattern"
        assert (trace.resid(layer) - out.hidden_states[layer][0]).abs().max() <= HIDDEN_TOL, (kind, layer)
    final = blocks.normalize(trace.resid(2), ours.weights, "ln_final", ours.config)
    assert (final - out.hidden_states[2][0]).abs().max() <= HIDDEN_TOL, kind
    assert (trace.logits - out.logits[0]).abs().max() <= LOGIT_TOL, kind


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
