"""GGUF granite, granitemoe, minicpm and command-r → canonical weights: the decoders that scale what a Llama leaves
alone (IBM's Granite: Ollama's granite3.x and granite3-moe; openbmb's MiniCPM; Cohere's Command R and Aya), read with
llama.cpp's own rules for its keys (granitemoe: granite with a mixture of experts in every layer, read as llama's).

- granite: llama.cpp's llama converter wrote it, so W_Q's and W_K's rows are permuted as a llama file's. The
  embeddings × `embedding_scale`, q·k × `attention.scale` (0 or absent: 1/√d_head), each sublayer's output ×
  `residual_scale` (folded into W_O and W_out: conventions.fold_residual_scale), the logits ÷ `logit_scale`. A file
  whose `rope.scaling.finetuned` is false runs without RoPE in llama.cpp: refused. minicpm: the same (llama.cpp
  runs it with its granite graph), with LongRoPE's factors where MiniCPM4 has them.
- command-r, cohere2: one LayerNorm without a bias feeds attention and MLP side by side; the logits × `logit_scale` (the
  same key as Granite's, multiplied here, as llama.cpp does); rows kept as Hugging Face's, which llama.cpp rotates
  in neighbouring pairs: reordered to the engine's halves (conventions.pairs_to_halves, the q/k norms' weights with
  them). Command R+'s attn_q_norm and attn_k_norm ([heads, d_head]): a LayerNorm over each head's q and k, each head
  its own weight. Attention biases are refused.
"""

from __future__ import annotations

from dataclasses import replace

from ...config import ModelConfig
from ...errors import ModelLoadError
from ..conventions import fold_residual_scale, pairs_to_halves
from .layernorm import head_layernorms
from .llama import Weights, ends, gated_mlp, llama_config, llama_weights, rope_config, with_longrope
from .reader import Meta, Tensors, matrix


def granite_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    if meta.get("rope.scaling.finetuned", True) is False:
        raise ModelLoadError("Granite files without RoPE (rope.scaling.finetuned false) are not supported yet.")
    if any(".ffn_up.bias" in t or ".ffn_down.bias" in t or ".ffn_gate.bias" in t for t in tensor_names):
        raise ModelLoadError("Granite files with MLP biases are not supported yet.")
    residual = meta.unless_zero("residual_scale", meta.number) or 1.0  # llama.cpp: 0 or absent, no scaling
    return replace(
        llama_config(meta, name, tensor_names), arch="granitemoe" if meta.arch == "granitemoe" else "granite",
        embed_scale=meta.unless_zero("embedding_scale", meta.number) or 1.0,
        attn_scale=meta.unless_zero("attention.scale", meta.number), residual_scale=residual,
        unembed_scale=1.0 / meta.number("logit_scale"),  # required by llama.cpp
    )  # fmt: skip


def granite_weights(t: Tensors, cfg: ModelConfig) -> Weights:
    t.skip("rope_factors_short.weight", "rope_factors_long.weight")  # a minicpm file's LongRoPE: not weights
    return fold_residual_scale(llama_weights(t, cfg), cfg)


def minicpm_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    """MiniCPM 1, 2 and 4 (openbmb's MiniCPM-2B, MiniCPM4 GGUF): a llama file that llama.cpp runs with its granite
    graph, so granite's scales from the same keys (the converter writes no attention.scale: 1/√d_head), and LongRoPE
    where the file has its factors (MiniCPM4)."""
    return with_longrope(meta, replace(granite_config(meta, name, tensor_names), arch="minicpm"))


def cohere2_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    """Command R7B: command-r's blocks; layers 0, 1, 2 of every 4 in a sliding window (attention.sliding_window) and
    rotating q and k, every 4th global and without RoPE, as llama.cpp runs cohere2."""
    cfg = command_r_config(meta, name, tensor_names)
    sliding = tuple(i % 4 < 3 for i in range(cfg.n_layers))
    return replace(cfg, arch="cohere2", sliding_window=meta.count("attention.sliding_window"), sliding_layers=sliding,
                   rope_layers=sliding)  # fmt: skip


def command_r_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    if "blk.0.attn_q.bias" in tensor_names:
        raise ModelLoadError("Command R files with attention biases are not supported yet.")
    return rope_config(
        meta, name, tensor_names, arch="cohere", norm="layer", norm_eps=meta.number("attention.layer_norm_epsilon"),
        parallel_blocks=True, shared_block_norm=True, rope_pairs_reordered=True,
        unembed_scale=meta.unless_zero("logit_scale", meta.number) or 1.0,
        qk_norm="head" if "blk.0.attn_q_norm.weight" in tensor_names else "none",  # Command R+
    )  # fmt: skip


def command_r_weights(t: Tensors, cfg: ModelConfig) -> Weights:
    w = ends(t, cfg)
    for layer in range(cfg.n_layers):
        src, dst = f"blk.{layer}.", f"blocks.{layer}."
        w[dst + "ln_attn.w"] = t.vector(src + "attn_norm.weight")  # attention's and the MLP's: no ffn_norm
        for part, heads in (("q", cfg.n_heads), ("k", cfg.n_kv_heads), ("v", cfg.n_kv_heads)):
            w[f"{dst}attn.W_{part.upper()}"] = matrix(t.rows(f"{src}attn_{part}.weight", heads, cfg.d_head))
        w[dst + "attn.W_O"] = t.linear(src + "attn_output.weight")
        head_layernorms(t, w, cfg, src, dst)
        gated_mlp(t, w, src, dst)
    return pairs_to_halves(w, cfg)
