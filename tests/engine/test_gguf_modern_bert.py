"""ModernBERT as llama.cpp writes it ('modern-bert': granite-embedding r2, gte-modernbert, modernbert-embed).
transformers does not read such a file, so the reference is the transformers model the file was written from.

The tiny model has 4 layers: 0 and 3 global (RoPE base 160000), 1 and 2 local (base 10000, keys at most 2 tokens
away: local_attention 4, written as attention.sliding_window), so a wrong window, base or layer pattern moves real
weight; no norm before layer 0's attention. Tolerances (max absolute, float32 CPU): patterns 1e-4, hidden states 1e-3.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attention_core import ModelLoadError, load_model
from tests.engine.test_gguf_architectures import randomize
from tests.gguf_writer import _tokenizer, finish
from tests.tiny_models import byte_bpe

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, HIDDEN_TOL = 1e-4, 1e-3
TEXT = "the blue creature took a mole of the forest and the sea"


def _tiny():
    torch.manual_seed(0)
    cfg = transformers.ModernBertConfig(
        vocab_size=300, hidden_size=64, intermediate_size=48, num_hidden_layers=4, num_attention_heads=4,
        max_position_embeddings=128, local_attention=4, pad_token_id=0, bos_token_id=2, eos_token_id=3,
        cls_token_id=2, sep_token_id=3, attn_implementation="eager",
    )  # fmt: skip
    hf = transformers.ModernBertModel(cfg)
    randomize(hf)
    return hf.eval()


def _write(hf, path, eps_key: str, pattern) -> object:
    """As llama.cpp's converter writes ModernBERT: its norm_eps found as an RMS epsilon (the key it looks up for
    `norm_eps`), or under the LayerNorm key; the global-layer period, or one flag per layer."""
    import gguf

    cfg = hf.config
    w = gguf.GGUFWriter(str(path), "modern-bert")
    w.add_name("tiny-modernbert")
    w.add_causal_attention(False)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_attention_heads)
    getattr(w, eps_key)(cfg.norm_eps)
    w.add_rope_freq_base(cfg.rope_parameters["full_attention"]["rope_theta"])
    w.add_rope_freq_base_swa(cfg.rope_parameters["sliding_attention"]["rope_theta"])
    w.add_sliding_window(cfg.local_attention)
    w.add_sliding_window_pattern(pattern)
    _tokenizer(w, byte_bpe(300))
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.MODERN_BERT, cfg.num_hidden_layers)
    tensors = {}
    for hf_name, tensor in hf.state_dict().items():
        base, suffix = hf_name.rsplit(".", 1)
        tensors[f"{names.get_name(base)}.{suffix}"] = np.ascontiguousarray(tensor.float().numpy(), dtype=np.float32)
    return finish(w, path, tensors)


@pytest.mark.parametrize(("eps_key", "pattern"), [("add_layer_norm_rms_eps", 3),
                                                  ("add_layer_norm_eps", [False, True, True, False])])
def test_a_modern_bert_file_matches_the_model_written(tmp_path, monkeypatch, eps_key, pattern):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    hf = _tiny()
    ours = load_model(str(_write(hf, tmp_path / "mb.gguf", eps_key, pattern)), device="cpu")
    trace = ours.trace(TEXT)
    assert trace.token_ids == byte_bpe(300).encode(TEXT).ids and len(trace.token_ids) > 6
    with torch.inference_mode():
        out = hf(torch.tensor([trace.token_ids]), output_attentions=True, output_hidden_states=True)
    for layer in range(4):
        assert (trace.layer_patterns(layer) - out.attentions[layer][0]).abs().max().item() <= PATTERN_TOL, layer
    # transformers' last hidden state is after the final norm; the engine's residual stream is before it
    for layer in range(3):
        assert (trace.resid(layer + 1) - out.hidden_states[layer + 1][0]).abs().max().item() <= HIDDEN_TOL, layer
    cfg = ours.config
    assert cfg.sliding_layers == (False, True, True, False) and cfg.sliding_window == 3 and cfg.skip_first_attn_norm
    assert (cfg.rope_theta, cfg.rope_theta_local) == (160000.0, 10000.0)
    assert ours.parameter_counts()["total"] == sum(p.numel() for p in hf.parameters())


def test_a_bias_llama_cpp_would_not_read_is_refused(tmp_path):
    import gguf

    path = _write(_tiny(), tmp_path / "mb.gguf", "add_layer_norm_eps", 3)
    reader = gguf.GGUFReader(str(path))
    w = gguf.GGUFWriter(str(tmp_path / "biased.gguf"), "modern-bert")
    for key, field in reader.fields.items():
        if not key.startswith("GGUF.") and key != "general.architecture":
            w.add_key_value(key, field.contents(), field.types[0], field.types[-1] if len(field.types) > 1 else None)
    tensors = {t.name: np.asarray(t.data, dtype=np.float32) for t in reader.tensors}
    tensors["blk.1.attn_qkv.bias"] = np.zeros(192, np.float32)
    finish(w, tmp_path / "biased.gguf", tensors)
    with pytest.raises(ModelLoadError, match="blk.1.attn_qkv.bias"):
        load_model(str(tmp_path / "biased.gguf"), device="cpu")
