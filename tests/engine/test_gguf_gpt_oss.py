"""GGUF gpt-oss (OpenAI's GPT-OSS as llama.cpp writes it) against the model the file was written from: transformers'
GGUF reader has a GPT-OSS entry, but for tensors (ffn_*_projs, block_sparse_moe.experts.N) that neither llama.cpp's
files nor its own GptOss model have, so the reference is transformers' GptOss model itself (as for the other
architectures it does not read: tests/engine/test_gguf_architectures.py).

The tiny model: 2 layers, layer 0 in an 8-token window (the text is longer), sinks drawn at std 1 (each takes a
visible share), YaRN ×4 over an original 32 tokens with its ramp untruncated, 4 experts with 2 per token, every weight
and bias at std 0.3 and the MLP's norm at 3, so that the SwiGLU's clamp at 7 (llama.cpp's, fixed) bites. Files: float32
with gate and up apart (as the converter writes a dequantised checkpoint), gate and up fused (ffn_gate_up_exps), and
the experts in MXFP4 (as llama.cpp's files of OpenAI's checkpoints hold them; the original's experts then rounded
through the same MXFP4, so both sides hold the same numbers).

Tolerances (max absolute difference, float32 CPU): patterns 1e-4; logits and hidden states 1e-3.
"""

from __future__ import annotations

import gguf
import numpy as np
import pytest
import torch

from attention_core import ModelLoadError, load_model
from attention_core.loading.rope_scaling import gguf_rule
from tests.gguf_writer import rewrite_gguf, write_gguf
from tests.gguf_writer_gpt_oss import write_ollama_gptoss
from tests.tiny_models import byte_bpe

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL = 1e-4, 1e-3, 1e-3
TEXT = "the blue creature took a mole of the forest"
V, WINDOW, LIMIT = 300, 8, 7.0
YARN = dict(rope_type="yarn", rope_theta=100.0, factor=4.0, original_max_position_embeddings=32, beta_fast=32.0,
            beta_slow=1.0, truncate=False)  # fmt: skip


def tiny_gpt_oss():
    torch.manual_seed(0)
    cfg = transformers.GptOssConfig(
        vocab_size=V, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, max_position_embeddings=128, sliding_window=WINDOW,
        layer_types=["sliding_attention", "full_attention"], num_local_experts=4, num_experts_per_tok=2,
        swiglu_limit=LIMIT, rope_parameters=YARN, tie_word_embeddings=False, attn_implementation="eager",
    )  # fmt: skip
    hf = transformers.GptOssForCausalLM(cfg).eval()
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if name.endswith("post_attention_layernorm.weight"):
                p.fill_(3.0)
            elif "norm" in name:
                p.add_(torch.randn_like(p) * 0.1)
            else:  # matrices, stacked experts, biases and sinks
                p.normal_(0.0, 1.0 if name.endswith("sinks") else 0.3)
    return hf


def round_through_mxfp4(hf) -> None:
    """The original's experts as an MXFP4 file holds them: blocks of 32 along each GGUF row (the input dimension)."""
    with torch.no_grad():
        for layer in hf.model.layers:
            for p in (layer.mlp.experts.gate_up_proj, layer.mlp.experts.down_proj):  # [E, in, out]
                rows = np.ascontiguousarray(p.transpose(-1, -2).numpy())  # [E, out, in], as the file's
                blocks = gguf.quants.quantize(rows, gguf.GGMLQuantizationType.MXFP4)
                back = gguf.quants.dequantize(blocks, gguf.GGMLQuantizationType.MXFP4)
                p.copy_(torch.from_numpy(back).transpose(-1, -2))


def clamp_bites(hf, ids: torch.Tensor) -> bool:
    """Whether some expert's gate (or up) value passes the clamp's limit on this text."""
    seen = []
    hooks = [layer.mlp.experts.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
             for layer in hf.model.layers]  # fmt: skip
    with torch.no_grad():
        hf(ids)
        for hook in hooks:
            hook.remove()
        experts = [layer.mlp.experts for layer in hf.model.layers]
        return any(((x.reshape(-1, x.shape[-1]) @ e.gate_up_proj + e.gate_up_proj_bias[:, None]).abs() > LIMIT).any()
                   for x, e in zip(seen, experts, strict=True))  # fmt: skip


def write(variant: str, folder):
    """(the original model, its GGUF file) of one variant: llama.cpp's "float32", "fused" or "mxfp4", or Ollama's
    "ollama" (MXFP4 experts) or "ollama_qkv" (float32, q, k and v fused)."""
    hf = tiny_gpt_oss()
    mxfp4 = gguf.GGMLQuantizationType.MXFP4 if variant in ("mxfp4", "ollama") else None
    if mxfp4 is not None:
        round_through_mxfp4(hf)
    if variant.startswith("ollama"):
        return hf, write_ollama_gptoss(hf, byte_bpe(V), folder / "tiny.gguf", mxfp4, fused_qkv=variant == "ollama_qkv")
    path = write_gguf(hf, byte_bpe(V), folder / "tiny.gguf", "gpt-oss", fuse_gate_up=variant == "fused",
                      experts_qtype=mxfp4)  # fmt: skip
    return hf, path


@pytest.fixture(scope="module", params=["float32", "fused", "mxfp4", "ollama", "ollama_qkv"])
def written(request, tmp_path_factory):
    """(the file's variant, the original model, its GGUF file)."""
    return request.param, *write(request.param, tmp_path_factory.mktemp(f"gpt-oss-{request.param}"))


def test_a_gpt_oss_file_matches_the_model_it_was_written_from(written, tmp_path, monkeypatch):
    variant, hf, path = written
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    ours = load_model(str(path), device="cpu")
    trace = ours.trace(TEXT)
    ids = torch.tensor([trace.token_ids])
    assert trace.n_tokens > WINDOW and clamp_bites(hf, ids)  # the window cuts keys off; the clamp changes values
    with torch.inference_mode():
        out = hf(ids, output_attentions=True, output_hidden_states=True)
    for layer in range(2):
        diff = (trace.layer_patterns(layer) - out.attentions[layer][0]).abs().max().item()
        assert diff <= PATTERN_TOL, f"{variant} layer {layer} pattern differs by {diff}"
        assert (trace.resid(layer) - out.hidden_states[layer][0]).abs().max().item() <= HIDDEN_TOL, layer
    assert (trace.logits - out.logits[0]).abs().max().item() <= LOGIT_TOL, variant
    assert ours.parameter_counts()["total"] == sum(p.numel() for p in hf.parameters())
    cfg = ours.config
    assert cfg.arch == "gpt_oss" and cfg.attn_sinks and cfg.attn_bias and cfg.mlp_bias
    assert (cfg.n_experts, cfg.experts_per_token, cfg.moe_renormalize) == (4, 2, True)
    assert cfg.sliding_layers == (True, False) and cfg.sliding_window == WINDOW
    assert cfg.swiglu_clamp == (LIMIT, 1.702) and cfg.act == "swiglu_clamped"


def test_its_yarn_ramp_is_untruncated_as_the_models_own(written, tmp_path, monkeypatch):
    """The same divisors as the model's config gives through a Hugging Face folder, where llama.cpp's rounded ramp
    would give others (so the rounding would show)."""
    _, hf, path = written
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    hf.save_pretrained(tmp_path / "folder")
    byte_bpe(V).save(str(tmp_path / "folder" / "tokenizer.json"))
    from_folder = load_model(str(tmp_path / "folder"), device="cpu").config
    ours = load_model(str(path), device="cpu").config
    assert ours.rope_freq_divisors == pytest.approx(from_folder.rope_freq_divisors, rel=1e-6)
    assert ours.rope_attention_factor == pytest.approx(from_folder.rope_attention_factor, rel=1e-6)
    rounded = gguf_rule("yarn", 4.0, 16, 100.0, dict(original=32))
    assert rounded.divisors != pytest.approx(ours.rope_freq_divisors, rel=1e-3)


def test_a_file_with_another_rope_base_on_its_sliding_layers_is_refused(tmp_path, monkeypatch):
    _, path = write("float32", tmp_path)
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    fields = {"gpt-oss.rope.freq_base_swa": (500.0, gguf.GGUFValueType.FLOAT32)}
    other = rewrite_gguf(path, tmp_path / "swa-base.gguf", fields)
    with pytest.raises(ModelLoadError, match=r"rope\.freq_base_swa 500"):
        load_model(str(other), device="cpu")


def test_ollamas_file_splits_its_text_as_o200k_though_it_says_default(tmp_path, monkeypatch):
    """Ollama writes tokenizer.ggml.pre 'default' for GPT-OSS's o200k tokenizer and splits with o200k's regex in its
    gptoss model: so do we, with no note; GPT-2's split (what 'default' means elsewhere) would cut this otherwise."""
    from tokenizers import Regex, pre_tokenizers

    from attention_core.loading.gguf.tokenizer import SPLITS

    _, path = write("ollama_qkv", tmp_path)
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    ours = load_model(str(path), device="cpu")
    text = "It's 12345 DOLLARS, isn't it?"
    split = pre_tokenizers.Split(Regex(SPLITS["gpt-4o"][0]), behavior="isolated").pre_tokenize_str(text)
    o200k = [piece.replace(" ", "Ġ") for piece, _ in split]  # as byte-level pieces
    gpt2 = [piece for piece, _ in pre_tokenizers.ByteLevel(add_prefix_space=False).pre_tokenize_str(text)]
    assert o200k != gpt2  # "It's" whole, "123" "45" apart: GPT-2 cuts "It" "'s" and keeps "Ġ12345"
    pieces = ours.tokenizer.tokenizer.pre_tokenizer.pre_tokenize_str(text)
    assert [piece for piece, _ in pieces] == o200k and ours.notes == []


def test_ollama_gpt_oss_loads_from_an_ollama_store(tmp_path, monkeypatch):
    """`ollama:gpt-oss:20b` as `ollama pull` lays it out: the store's manifest names the blob, the blob is the
    gptoss file; it loads and matches the model written."""
    from tests.gguf_writer import add_to_ollama_store

    hf, path = write("ollama", tmp_path)
    add_to_ollama_store(tmp_path / "store", path, "gpt-oss", tag="20b")
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "store"))
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    ours = load_model("ollama:gpt-oss:20b", device="cpu")
    trace = ours.trace(TEXT)
    with torch.inference_mode():
        logits = hf(torch.tensor([trace.token_ids])).logits[0]
    assert ours.config.arch == "gpt_oss" and (trace.logits - logits).abs().max().item() <= LOGIT_TOL
