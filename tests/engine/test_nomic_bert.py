"""Nomic BERT (nomic-embed-text) as its checkpoints come: config.json in Nomic's own spelling (n_embd, n_head, ...)
or transformers', tensors under Nomic's names (encoder.layers.N.attn.Wqkv, ...) or transformers' (layers.N.self_attn.
q_proj, ...): every form gives the same model, which tests/engine/test_hf_architectures.py holds to transformers."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from attention_core import ModelLoadError, load_model
from attention_core.loading.hf_adapters_encoders import nomic_bert_config
from tests.tiny_models import save_tiny

pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

TEXT = "the blue creature took a mole of the forest"
NOMIC_SPELLING = dict(model_type="nomic_bert", n_embd=64, n_head=4, n_layer=2, n_inner=96, n_positions=128,
                      layer_norm_epsilon=1e-12, rotary_emb_base=1000, rotary_emb_fraction=1.0, vocab_size=300,
                      type_vocab_size=2, activation_function="swiglu", rotary_emb_interleaved=False,
                      prenorm=False, qkv_proj_bias=False, mlp_fc1_bias=False)  # fmt: skip


def test_nomics_own_config_spelling_reads_as_transformers_spelling_does(tmp_path):
    save_tiny("nomic_bert", tmp_path)
    theirs = nomic_bert_config(json.loads((tmp_path / "config.json").read_text()), "tiny")
    ours = nomic_bert_config(NOMIC_SPELLING, "tiny")
    fields = ("n_layers", "n_heads", "d_model", "d_head", "d_mlp", "n_ctx", "rope_theta", "norm_eps", "n_token_types")
    assert all(getattr(ours, f) == getattr(theirs, f) for f in fields), [(f, getattr(ours, f)) for f in fields]
    assert (ours.norm_position, ours.causal, ours.gated_mlp, ours.act) == ("post", False, True, "silu")
    half = nomic_bert_config({**NOMIC_SPELLING, "rotary_emb_fraction": 0.5}, "tiny")
    assert half.rotary_dim == 8
    with pytest.raises(ModelLoadError, match="interleaved RoPE"):
        nomic_bert_config({**NOMIC_SPELLING, "rotary_emb_interleaved": True}, "tiny")


def test_transformers_tensor_names_give_the_same_trace_as_nomics(tmp_path, monkeypatch):
    from safetensors.torch import load_file, save_file

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    save_tiny("nomic_bert", tmp_path / "nomic")
    shutil.copytree(tmp_path / "nomic", tmp_path / "transformers")
    (file,) = (tmp_path / "transformers").glob("*.safetensors")
    state, renamed = load_file(file), {}
    assert "encoder.layers.0.attn.Wqkv.weight" in state  # as transformers 5 writes it: Nomic's names
    for key, tensor in state.items():
        key = key.replace("encoder.layers.", "layers.").replace("emb_ln.", "embeddings.LayerNorm.")
        if key.endswith("attn.Wqkv.weight"):
            for part, rows in zip("qkv", tensor.chunk(3), strict=True):
                renamed[key.replace("attn.Wqkv", f"self_attn.{part}_proj")] = rows.clone()
            continue
        for nomic, theirs in (("attn.out_proj", "self_attn.o_proj"), ("mlp.fc11", "mlp.up_proj"),
                              ("mlp.fc12", "mlp.gate_proj"), ("mlp.fc2", "mlp.down_proj"),
                              ("norm1", "post_attention_layernorm"), ("norm2", "post_mlp_layernorm")):  # fmt: skip
            key = key.replace(nomic, theirs)
        renamed[key] = tensor
    save_file(renamed, str(file), metadata={"format": "pt"})
    nomic, theirs = (load_model(str(tmp_path / name), device="cpu").trace(TEXT) for name in ("nomic", "transformers"))
    for layer in range(2):
        assert torch.equal(nomic.resid(layer + 1), theirs.resid(layer + 1))
        assert torch.equal(nomic.layer_patterns(layer), theirs.layer_patterns(layer))


def test_a_nomic_bert_gguf_file_matches_the_model_written(tmp_path, monkeypatch):
    """llama.cpp's nomic-bert (Ollama's nomic-embed-text), written from the checkpoint's own tensors as its converter
    maps them (the fused Wqkv as attn_qkv, fc11 as ffn_up, fc12 as ffn_gate): transformers does not read the file,
    so the reference is the model written, with its WordPiece vocabulary."""
    from types import SimpleNamespace

    import transformers
    from safetensors.torch import load_file

    from tests.gguf_writer import write_gguf
    from tests.tiny_models import _peaked_and_saved, wordpiece

    torch.manual_seed(0)
    tokenizer = wordpiece(300)
    cfg = transformers.NomicBertConfig(vocab_size=tokenizer.get_vocab_size(), hidden_size=64, num_hidden_layers=2,
                                       num_attention_heads=4, intermediate_size=96, max_position_embeddings=128)
    hf = _peaked_and_saved(transformers.NomicBertModel(cfg), tmp_path / "hf", tokenizer, norms_too=True)
    (file,) = (tmp_path / "hf").glob("*.safetensors")
    saved = SimpleNamespace(config=hf.config, state_dict=lambda: load_file(file))  # Nomic's names, as converted
    path = write_gguf(saved, tokenizer, tmp_path / "nomic.gguf", "nomic-bert")
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    ours = load_model(str(path), device="cpu")
    trace = ours.trace(TEXT)
    assert trace.token_ids == tokenizer.encode(TEXT).ids and len(trace.token_ids) > 5
    with torch.inference_mode():
        out = hf(torch.tensor([trace.token_ids]), output_attentions=True, output_hidden_states=True)
    for layer in range(2):
        assert (trace.layer_patterns(layer) - out.attentions[layer][0]).abs().max().item() <= 1e-4, layer
        assert (trace.resid(layer + 1) - out.hidden_states[layer + 1][0]).abs().max().item() <= 1e-3, layer
    c = ours.config
    assert (c.arch, c.norm_position, c.uses_rope, c.rope_theta, c.gated_mlp, c.causal) == (
        "nomic_bert", "post", True, 1000.0, True, False)
    assert ours.parameter_counts()["total"] == sum(p.numel() for p in hf.parameters())
