"""GGUF llama4 (attention_core/loading/gguf/llama4.py) against the transformers model the file was written from
(tests/gguf_writer_llama4.py writes it as llama.cpp's converter does; `transformers` reads no llama4 GGUF).

Variants: "scout" (Llama4ForCausalLM: every MLP a mixture, q/k normalised in the layers that rotate, llama3 RoPE
scaling written as rope_freqs; llama.cpp's keys only, so the q/k norm follows llama.cpp's rule on the experts'
count) and "maverick" (Llama4ForConditionalGeneration: experts every other layer, no q/k norm, as Ollama's converter
writes it, with use_qk_norm false and attention.chunk_size).

Tolerances as for the other GGUF architectures (float32 files): patterns 1e-4, hidden states and logits 1e-3.
"""

from __future__ import annotations

import gguf
import pytest
import torch

from attention_core import load_model
from attention_core.errors import ModelLoadError
from attention_core.loading.gguf import gguf_config_and_tokenizer
from tests.gguf_writer import rewrite_gguf
from tests.gguf_writer_llama4 import write_llama4_gguf
from tests.tiny_models import _peaked_and_saved, byte_bpe

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL = 1e-4, 1e-3, 1e-3
TEXT = "the blue creature took a mole of the forest, and the fox jumps over the lazy dog"
LLAMA3 = dict(rope_type="llama3", rope_theta=1000.0, factor=4.0, low_freq_factor=1.0, high_freq_factor=4.0,
              original_max_position_embeddings=32)  # fmt: skip


def tiny_llama4(variant: str, folder):
    """A tiny random Llama 4 of the variant (module docstring), 4 layers (layer 3 NoPE), 4 experts, 1 per token."""
    maverick = variant == "maverick"
    torch.manual_seed(1)
    text = transformers.Llama4TextConfig(
        vocab_size=300, hidden_size=64, intermediate_size=96, intermediate_size_mlp=128, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=128, num_local_experts=4,
        num_experts_per_tok=1, interleave_moe_layer_step=2 if maverick else 1, use_qk_norm=not maverick,
        rope_parameters=dict(rope_type="default", rope_theta=1000.0) if maverick else LLAMA3, pad_token_id=0,
        bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    if maverick:
        vision = transformers.Llama4VisionConfig(hidden_size=32, intermediate_size=48, num_hidden_layers=1,
                                                 num_attention_heads=2, image_size=32, patch_size=16,
                                                 vision_output_dim=32, projector_input_dim=32,
                                                 projector_output_dim=64)  # fmt: skip
        hf = transformers.Llama4ForConditionalGeneration(transformers.Llama4Config(text_config=text,
                                                                                   vision_config=vision))
    else:
        hf = transformers.Llama4ForCausalLM(text)
    hf = _peaked_and_saved(hf, folder, byte_bpe(300), norms_too=True)
    return hf, write_llama4_gguf(hf, byte_bpe(300), folder / "tiny.gguf", ollama_keys=maverick)


@pytest.fixture(scope="module", params=["scout", "maverick"])
def written(request, tmp_path_factory):
    return request.param, *tiny_llama4(request.param, tmp_path_factory.mktemp(request.param))


@pytest.fixture(scope="module")
def scout(tmp_path_factory):
    """The scout file alone, for the tests that change its keys."""
    return tiny_llama4("scout", tmp_path_factory.mktemp("scout-keys"))[1]


def test_a_llama4_file_matches_the_model_it_was_written_from(written, tmp_path, monkeypatch):
    variant, hf, path = written
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    ours = load_model(str(path), device="cpu")
    trace = ours.trace(TEXT)
    ids = torch.tensor([trace.token_ids])
    with torch.inference_mode():
        out = hf(ids, output_attentions=True, output_hidden_states=True)
    for layer in range(4):
        diff = (trace.layer_patterns(layer) - out.attentions[layer][0]).abs().max().item()
        assert diff <= PATTERN_TOL, f"{variant} layer {layer} pattern differs by {diff}"
        assert (trace.resid(layer) - out.hidden_states[layer][0]).abs().max().item() <= HIDDEN_TOL, layer
    assert (trace.logits - out.logits[0]).abs().max().item() <= LOGIT_TOL, variant
    language = hf.language_model if variant == "maverick" else hf  # the file holds no vision tower
    assert ours.parameter_counts()["total"] == sum(p.numel() for p in language.parameters())
    cfg = ours.config
    assert cfg.arch == "llama4" and cfg.rope_layers == (True, True, True, False) and cfg.rope_pairs_reordered
    assert (cfg.n_experts, cfg.experts_per_token, cfg.moe_router, cfg.moe_scales_input) == (4, 1, "sigmoid", True)
    assert cfg.qk_norm == ("none" if variant == "maverick" else "head") and cfg.d_mlp == 128
    assert bool(cfg.rope_freq_divisors) == (variant == "scout") and cfg.conversion_notes == ()


def _config(scout, tmp_path, **fields):
    """The config a copy of the scout file gives with `fields` (key → (value, gguf value type)) set in it."""
    return gguf_config_and_tokenizer(rewrite_gguf(scout, tmp_path / "changed.gguf", fields), "x")[0]


def test_without_the_key_the_q_k_norm_follows_llama_cpps_rule_on_the_experts_count(scout, tmp_path):
    uint32, boolean = gguf.GGUFValueType.UINT32, gguf.GGUFValueType.BOOL
    assert _config(scout, tmp_path, **{"llama4.expert_count": (128, uint32)}).qk_norm == "none"  # Maverick's
    assert _config(scout, tmp_path, **{"llama4.expert_count": (16, uint32)}).qk_norm == "head"  # Scout's
    assert _config(scout, tmp_path, **{"llama4.use_qk_norm": (False, boolean)}).qk_norm == "none"


def test_long_contexts_are_capped_below_the_chunks_and_said_so(scout, tmp_path):
    uint32 = gguf.GGUFValueType.UINT32
    cfg = _config(scout, tmp_path, **{"llama4.context_length": (10485760, uint32)})
    assert cfg.n_ctx == 8191 and "8,192-token chunks" in cfg.conversion_notes[0]
    cfg = _config(scout, tmp_path, **{"llama4.context_length": (10485760, uint32),
                                         "llama4.attention.chunk_size": (64, uint32)})  # fmt: skip
    assert cfg.n_ctx == 64 and "capped at 64 tokens" in cfg.conversion_notes[0]


@pytest.mark.parametrize(("fields", "words"), [
    ({"llama4.attention.sliding_window": (0, gguf.GGUFValueType.UINT32)}, "without chunked attention"),
    ({"llama4.expert_used_count": (5, gguf.GGUFValueType.UINT32)}, "use 5 of 4 experts"),
])  # fmt: skip
def test_files_we_cannot_run_are_refused_clearly(scout, tmp_path, fields, words):
    with pytest.raises(ModelLoadError, match=words):
        _config(scout, tmp_path, **fields)
