"""GGUF 'chatglm' (GLM-4-9B-Chat, CodeGeeX4: Ollama's codegeex4) as llama.cpp's converter writes it: q, k and
v fused in attn_qkv with their biases, gate and up fused in ffn_up, half of each head rotating in neighbouring pairs
on the rows as stored. transformers reads no chatglm file, so the reference is the transformers GLM (GlmForCausalLM,
Hugging Face's port of the same model) written. Tolerances (max absolute, float32 CPU): patterns 1e-4, logits and
hidden states 1e-3.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from attention_core import load_model
from tests.engine.decoder_parity import assert_matches_reference, reference_run
from tests.gguf_writer import _tokenizer, finish
from tests.tiny_models import _peaked_and_saved, byte_bpe

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL = 1e-4, 1e-3, 1e-3
TEXT = "the blue creature took a mole of the forest and the sea"


def _tiny_glm(folder):
    torch.manual_seed(4)
    cfg = transformers.GlmConfig(
        vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, max_position_embeddings=128, pad_token_id=0, bos_token_id=0,
        eos_token_id=0,
    )  # fmt: skip
    return _peaked_and_saved(transformers.GlmForCausalLM(cfg), folder, byte_bpe(300), norms_too=True)


def _write(hf, path, fused: bool = True, add_bos: bool = False):
    """As llama.cpp's ChatGLM converter writes it: no head widths (d_model / heads), half of each head's dimensions
    rotating, rows as stored; q | k | v in attn_qkv (`fused`) or apart, gate | up in ffn_up; GLM-4's BPE
    ('chatglm-bpe'), asking for a BOS where `add_bos`."""
    import gguf

    cfg = hf.config
    w = gguf.GGUFWriter(str(path), "chatglm")
    w.add_name("tiny-glm-4")
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_dimension_count(cfg.head_dim // 2)
    _tokenizer(w, byte_bpe(300), pre="chatglm-bpe")
    if add_bos:
        w.add_add_bos_token(True)
    sd = {k: np.ascontiguousarray(v.float().numpy()) for k, v in hf.state_dict().items()}
    tensors = {"token_embd.weight": sd["model.embed_tokens.weight"], "output_norm.weight": sd["model.norm.weight"],
               "output.weight": sd["lm_head.weight"]}  # fmt: skip
    for i in range(cfg.num_hidden_layers):
        src, dst = f"model.layers.{i}.", f"blk.{i}."
        for kind in ("weight", "bias"):
            parts = [sd[f"{src}self_attn.{p}_proj.{kind}"] for p in "qkv"]
            if fused:
                tensors[f"{dst}attn_qkv.{kind}"] = np.concatenate(parts)
            else:
                tensors.update({f"{dst}attn_{p}.{kind}": part for p, part in zip("qkv", parts, strict=True)})
        tensors[f"{dst}attn_output.weight"] = sd[src + "self_attn.o_proj.weight"]
        tensors[f"{dst}attn_norm.weight"] = sd[src + "input_layernorm.weight"]
        tensors[f"{dst}ffn_norm.weight"] = sd[src + "post_attention_layernorm.weight"]
        tensors[f"{dst}ffn_up.weight"] = sd[src + "mlp.gate_up_proj.weight"]
        tensors[f"{dst}ffn_down.weight"] = sd[src + "mlp.down_proj.weight"]
    return finish(w, path, tensors)


@pytest.mark.parametrize("fused", [True, False])
def test_a_chatglm_file_matches_the_glm_written(tmp_path, monkeypatch, fused):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    hf = _tiny_glm(tmp_path / "hf")
    ours = load_model(str(_write(hf, tmp_path / "glm.gguf", fused)), device="cpu")
    trace = ours.trace(TEXT)
    assert_matches_reference("chatglm", ours, trace, reference_run(hf, trace), (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL))
    from_folder = load_model(str(tmp_path / "hf"), device="cpu")
    differs = {f.name for f in dataclasses.fields(ours.config)
               if getattr(ours.config, f.name) != getattr(from_folder.config, f.name)}  # fmt: skip
    assert differs == {"name", "display_name", "norm_eps"}, differs
    assert ours.config.norm_eps == pytest.approx(from_folder.config.norm_eps)  # float32 in the file
    assert (ours.config.arch, ours.config.rotary_dim, ours.config.rope_pairs_reordered) == ("glm", 8, True)


def test_glm_4s_vocabulary_adds_no_bos_whatever_the_file_says(tmp_path, monkeypatch):
    """llama.cpp drops the BOS of a 'chatglm-bpe' or 'glm4' vocabulary (GLM-4's prompt starts with [gMASK]<sop>, which
    its chat template writes): a file that asks for one gets none, as llama.cpp tokenizes it."""
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    hf = _tiny_glm(tmp_path / "hf")
    ours = load_model(str(_write(hf, tmp_path / "glm.gguf", add_bos=True)), device="cpu")
    assert ours.trace(TEXT).token_ids == byte_bpe(300).encode(TEXT).ids
