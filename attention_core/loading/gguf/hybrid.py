"""GGUF hybrids: files whose layers mix tokens by attention in some layers and another way in the rest
(ModelConfig.mixers). llama.cpp marks a layer without attention by 0 in the per-layer attention.head_count_kv.

- lfm2 (Liquid AI's LFM2, as llama.cpp's converter writes it): q, k and v rows as the checkpoint has them (llama.cpp
  rotates LFM2 NeoX-style), per-head q/k RMSNorms (attn_q_norm, attn_k_norm), the operator norm as attn_norm; a
  convolution layer's shortconv.in_proj, shortconv.conv (the depthwise kernel, [d_model, L]: the converter squeezes
  Conv1d's middle axis) and shortconv.out_proj, its kernel length as shortconv.l_cache; the final norm named
  token_embd_norm (llama.cpp's name for transformers' embedding_norm, which LFM2 applies after the last layer).
- lfm2moe (LFM2 MoE): lfm2's layers; after leading_dense_block_count dense MLPs a router (ffn_gate_inp) scored by
  sigmoid, chosen with exp_probs_b, always renormalised (llama.cpp's graph normalises whatever the file says) and
  scaled by expert_weights_scale where the file has it, over the stacked ffn_*_exps.
"""

from __future__ import annotations

import torch

from ...config import ModelConfig
from ...errors import ModelLoadError
from .deepseek import experts, routed_mlp
from .llama import Weights, rope_config
from .reader import Meta, Tensors, matrix


def _mixers(meta: Meta, n_layers: int) -> tuple[str, ...]:
    counts = meta.get("attention.head_count_kv")
    if not isinstance(counts, list) or len(counts) != n_layers:
        raise ModelLoadError(f"{meta.arch}.attention.head_count_kv must list each of the {n_layers} layers' key/value "
                             "heads (0 for a convolution layer).")  # fmt: skip
    return tuple("attention" if count else "short_conv" for count in counts)


def lfm2_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    n_layers = meta.count("block_count")
    routed = experts(meta, tensor_names, n_layers, gating_default=2, grouped=False)
    if routed:  # lfm2moe: llama.cpp's graph renormalises the chosen experts' weights whatever the file says
        routed["moe_renormalize"] = True
    return rope_config(
        meta, name, tensor_names, hybrid=True, experts=routed, arch="lfm2_moe" if routed else "lfm2",
        qk_norm="head", mixers=_mixers(meta, n_layers), conv_kernel=meta.count("shortconv.l_cache"),
    )  # fmt: skip


def lfm2_weights(t: Tensors, cfg: ModelConfig) -> Weights:
    w: Weights = {"embed.W_E": torch.from_numpy(t.raw("token_embd.weight")),
                  "ln_final.w": t.vector("token_embd_norm.weight")}  # fmt: skip
    if not cfg.tie_embeddings:
        w["unembed.W_U"] = t.linear("output.weight")  # [d_model, d_vocab]
    heads = {"q": cfg.n_heads, "k": cfg.n_kv_heads, "v": cfg.n_kv_heads}
    for layer in range(cfg.n_layers):
        src, dst = f"blk.{layer}.", f"blocks.{layer}."
        w[dst + "ln_attn.w"] = t.vector(src + "attn_norm.weight")
        if cfg.attends(layer):
            for part in "qkv":
                w[f"{dst}attn.W_{part.upper()}"] = matrix(t.rows(f"{src}attn_{part}.weight", heads[part], cfg.d_head))
            w[dst + "attn.W_O"] = t.linear(src + "attn_output.weight")
            w[dst + "attn.q_norm.w"] = t.vector(src + "attn_q_norm.weight")
            w[dst + "attn.k_norm.w"] = t.vector(src + "attn_k_norm.weight")
        else:
            w[dst + "conv.W_in"] = t.linear(src + "shortconv.in_proj.weight")  # [d_model, 3·d_model]
            w[dst + "conv.kernel"] = torch.from_numpy(t.raw(src + "shortconv.conv.weight").copy())  # [d_model, L]
            w[dst + "conv.W_out"] = t.linear(src + "shortconv.out_proj.weight")
            if tuple(w[dst + "conv.kernel"].shape) != (cfg.d_model, cfg.conv_kernel):
                raise ModelLoadError(f"{src}shortconv.conv.weight is {tuple(w[dst + 'conv.kernel'].shape)}, not "
                                     f"({cfg.d_model}, {cfg.conv_kernel}) (d_model, shortconv.l_cache).")  # fmt: skip
        routed_mlp(t, w, src, dst)  # ffn_norm, then the dense MLP or the router and its experts
    return w
