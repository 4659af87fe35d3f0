"""GGUF chatglm (GLM-4-9B-Chat and CodeGeeX4, Ollama's codegeex4), glm4 (GLM-4-0414) and glm4moe (GLM-4.5,
4.6, their Air models) → canonical weights and config, read with llama.cpp's rules for them.

llama.cpp's chatglm graph: pre-norm RMSNorm blocks, q, k and v fused in attn_qkv (rows q | k | v, their biases
alike; separate attn_q/k/v in files that have them), no bias on attn_output, the MLP's gate and up fused in ffn_up
(rows gate | up), RoPE on the first rope.dimension_count dimensions in neighbouring pairs (its "normal" rotation, on
the rows as ChatGLM's code keeps them): Hugging Face's glm (GlmForCausalLM), reordered to halves alike.

llama.cpp's glm4 graph: an RMSNorm before and after each sublayer (attn_norm, post_attention_norm; ffn_norm,
post_ffw_norm: the sandwich of Gemma 2, with plain weights), biases on q, k and v, the MLP's gate and up fused in
ffn_up (rows gate | up, as its SwiGLU splits them), and RoPE on the first rope.dimension_count dimensions of each
head in neighbouring pairs (llama.cpp's "normal" rotation; the converter keeps Hugging Face's rows): reordered to
the engine's halves (conventions.pairs_to_halves). Files for the multimodal GLM-4V (M-RoPE sections) and files
with extra next-token prediction layers are refused.

llama.cpp's glm4moe graph: pre-norm blocks (attn_norm; post_attention_norm is the MLP's input norm), biases on q, k
and v, per-head q/k RMSNorms where the file has them (GLM-4.5, not Air), RoPE on the first rope.dimension_count
dimensions in halves (its "neox" rotation: rows as Hugging Face's), the first leading_dense_block_count MLPs dense,
then DeepSeek-V3's router (sigmoid unless the file says otherwise, a correction bias, never grouped) with one shared
expert. The last nextn_predict_layers blocks (multi-token prediction) are in the file but not run: block_count counts
them, the model's layers are the ones before.
"""

from __future__ import annotations

from functools import partial

import torch

from ...config import ModelConfig
from ...errors import ModelLoadError
from ..conventions import pairs_to_halves
from .deepseek import experts, routed_mlp
from .llama import Weights, ends, fused_gated_mlp, rope_config, separate_qkv_weights
from .reader import Meta, Tensors, layers_run, matrix, split_rows


def chatglm_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    return rope_config(meta, name, tensor_names, arch="glm", rope_pairs_reordered=True)


def chatglm_weights(t: Tensors, cfg: ModelConfig) -> Weights:
    mlp = partial(_fused_mlp, d_mlp=cfg.d_mlp)
    if not t.has("blk.0.attn_qkv.weight"):  # llama.cpp reads separate attn_q, attn_k, attn_v where a file has them
        return pairs_to_halves(separate_qkv_weights(t, cfg, permuted=False, mlp=mlp), cfg)
    w = ends(t, cfg)
    widths = [cfg.n_heads * cfg.d_head, cfg.n_kv_heads * cfg.d_head, cfg.n_kv_heads * cfg.d_head]
    for layer in range(cfg.n_layers):
        src, dst = f"blk.{layer}.", f"blocks.{layer}."
        w[dst + "ln_attn.w"] = t.vector(src + "attn_norm.weight")
        for part, rows in zip("QKV", split_rows(t.raw(src + "attn_qkv.weight"), widths, "attn_qkv"), strict=True):
            w[f"{dst}attn.W_{part}"] = matrix(rows)
        if cfg.attn_bias:
            biases = split_rows(t.raw(src + "attn_qkv.bias"), widths, "attn_qkv.bias")
            for part, bias in zip("QKV", biases, strict=True):
                w[f"{dst}attn.b_{part}"] = torch.from_numpy(bias.copy())
        w[dst + "attn.W_O"] = t.linear(src + "attn_output.weight")
        mlp(t, w, src, dst)
    return pairs_to_halves(w, cfg)


def _fused_mlp(t: Tensors, w: Weights, src: str, dst: str, d_mlp: int) -> None:
    w[dst + "ln_mlp.w"] = t.vector(src + "ffn_norm.weight")
    fused_gated_mlp(t, w, src, dst, d_mlp)


def glm4_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    if any(meta.get("rope.dimension_sections", [0])):
        raise ModelLoadError("GLM-4V files (M-RoPE sections) are not supported; GLM-4 text files are.")
    if meta.unless_zero("nextn_predict_layers", meta.count):
        raise ModelLoadError("GLM files with next-token prediction layers are not supported yet.")
    return rope_config(meta, name, tensor_names, arch="glm4", norm_position="sandwich", rope_pairs_reordered=True)


def glm4_weights(t: Tensors, cfg: ModelConfig) -> Weights:
    def sandwich_mlp(t: Tensors, w: Weights, src: str, dst: str) -> None:
        norms = {"ln_attn_out": "post_attention_norm", "ln_mlp": "ffn_norm", "ln_mlp_out": "post_ffw_norm"}
        for ours, theirs in norms.items():
            w[f"{dst}{ours}.w"] = t.vector(f"{src}{theirs}.weight")
        fused_gated_mlp(t, w, src, dst, cfg.d_mlp)

    return pairs_to_halves(separate_qkv_weights(t, cfg, permuted=False, mlp=sandwich_mlp), cfg)


def glm4moe_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    if any(meta.get("rope.dimension_sections", [0])):
        raise ModelLoadError("GLM-4.5V files (M-RoPE sections) are not supported; GLM-4.5 text files are.")
    n_layers = layers_run(meta)
    routed = experts(meta, tensor_names, n_layers, gating_default=2, grouped=False)  # llama.cpp: sigmoid, no groups
    qk_norm = "head" if "blk.0.attn_q_norm.weight" in tensor_names else "none"
    return rope_config(meta, name, tensor_names, arch="glm4_moe", n_layers=n_layers, qk_norm=qk_norm, experts=routed)


def glm4moe_weights(t: Tensors, cfg: ModelConfig) -> Weights:
    def mlp(t: Tensors, w: Weights, src: str, dst: str) -> None:
        routed_mlp(t, w, src, dst, norm="post_attention_norm")

    t.skip_blocks_from(cfg.n_layers)  # the prediction layers: in the file, not run
    return separate_qkv_weights(t, cfg, permuted=False, mlp=mlp)
