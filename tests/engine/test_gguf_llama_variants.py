"""Llama files under other names, as llama.cpp writes them, whose own Hugging Face code is remote (transformers has no
class for them), so the reference is the transformers Llama written: EXAONE 3 and 3.5 ('exaone'; Ollama's exaone3.5),
whose Q/K rows llama.cpp keeps as stored for its NeoX rotation, with Llama 3's RoPE scaling as rope_freqs (EXAONE
3.5's), its config the one read from that Llama's own folder; InternLM2 ('internlm2'), rows permuted as a llama
file's. Tolerances (max absolute, float32 CPU): patterns 1e-4, logits and hidden states 1e-3.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from attention_core import load_model
from tests.engine.decoder_parity import assert_matches_reference, reference_run
from tests.engine.test_gguf_llama4 import LLAMA3  # Llama 3's rule over an original 32 tokens
from tests.engine.test_rope_scaling import llama_cpp_rope_freqs
from tests.gguf_writer import _tokenizer, finish, rope_decoder_shape
from tests.tiny_models import byte_bpe

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL = 1e-4, 1e-3, 1e-3
TEXT = "the blue creature took a mole of the forest and the sea, and the fox jumps over the lazy dog"


def _tiny_llama(folder):
    torch.manual_seed(3)
    cfg = transformers.LlamaConfig(
        vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, max_position_embeddings=128, rope_parameters=LLAMA3,
        tie_word_embeddings=False, bos_token_id=0, eos_token_id=0, attn_implementation="eager",
    )  # fmt: skip
    hf = transformers.LlamaForCausalLM(cfg)
    with torch.no_grad():
        for p in hf.parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.3)
            else:
                p.add_(torch.randn_like(p) * 0.1)
    hf.save_pretrained(folder)
    byte_bpe(300).save(str(folder / "tokenizer.json"))
    return hf.eval()


def _write(hf, path):
    """As llama.cpp's exaone converter writes it: the Llama shape keys, rope_freqs, tensors under llama.cpp's names
    with their rows as stored, a BPE vocabulary split as EXAONE's ('exaone': digits one by one, then GPT-2's)."""
    import gguf

    cfg = hf.config
    w = gguf.GGUFWriter(str(path), "exaone")
    w.add_name("tiny-exaone")
    rope_decoder_shape(w, cfg, cfg.intermediate_size)
    _tokenizer(w, byte_bpe(300), pre="exaone")
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.EXAONE, cfg.num_hidden_layers)
    tensors = {"rope_freqs.weight": llama_cpp_rope_freqs(LLAMA3, LLAMA3["rope_theta"], cfg.head_dim)}
    for hf_name, tensor in hf.state_dict().items():
        base, suffix = hf_name.rsplit(".", 1)
        tensors[f"{names.get_name(base)}.{suffix}"] = np.ascontiguousarray(tensor.float().numpy(), dtype=np.float32)
    return finish(w, path, tensors)


def test_an_exaone_file_matches_the_llama_written(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    hf = _tiny_llama(tmp_path / "hf")
    ours = load_model(str(_write(hf, tmp_path / "exaone.gguf")), device="cpu")
    trace = ours.trace(TEXT)
    assert trace.n_tokens > 32  # past the original context, where llama3's divisors change the rotation
    assert_matches_reference("exaone", ours, trace, reference_run(hf, trace), (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL))
    from_folder = load_model(str(tmp_path / "hf"), device="cpu")
    differs = {f.name for f in dataclasses.fields(ours.config)
               if getattr(ours.config, f.name) != getattr(from_folder.config, f.name)}  # fmt: skip
    # rope_scaling: its words (the file holds divisors, not llama3's factors); the divisors themselves, float32
    assert differs <= {"name", "display_name", "arch", "rope_scaling", "norm_eps", "rope_freq_divisors"}, differs
    assert (ours.config.arch, from_folder.config.arch) == ("exaone", "llama")
    for field in ("norm_eps", "rope_freq_divisors"):
        assert getattr(ours.config, field) == pytest.approx(getattr(from_folder.config, field), rel=1e-6), field


def test_an_internlm2_file_matches_the_llama_written(tmp_path, monkeypatch):
    """InternLM2 as llama.cpp writes it ('internlm2', Ollama's internlm2): a Llama (InternLM2's own Hugging Face code is
    remote), wqkv cut into q, k, v with their rows permuted as a llama file's, a SentencePiece vocabulary; plain RoPE
    (llama.cpp reads no rope_freqs for it)."""
    from tests.gguf_writer import sentencepiece_vocab, write_gguf

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    torch.manual_seed(4)
    cfg = transformers.LlamaConfig(
        vocab_size=len(sentencepiece_vocab()[0]), hidden_size=64, intermediate_size=96, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128, rope_theta=5000.0,
        tie_word_embeddings=False, attn_implementation="eager",
    )  # fmt: skip
    hf = transformers.LlamaForCausalLM(cfg)
    with torch.no_grad():
        for p in hf.parameters():
            p.normal_(0.0, 0.3) if p.dim() == 2 else p.add_(torch.randn_like(p) * 0.1)
    ours = load_model(str(write_gguf(hf.eval(), "sentencepiece", tmp_path / "internlm2.gguf", "internlm2")))
    trace = ours.trace(TEXT)
    assert_matches_reference("internlm2", ours, trace, reference_run(hf, trace), (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL))
    assert ours.config.arch == "internlm2" and ours.config.rope_theta == 5000.0 and not ours.config.rope_freq_divisors
