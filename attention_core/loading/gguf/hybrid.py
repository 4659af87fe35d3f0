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
- granitehybrid (Granite 4's H models, Bamba; Ollama's granite4 *-h): Mamba-2 layers beside attention. A Mamba layer's
  ssm_in, ssm_conv1d (squeezed to [width, L]) and its bias, ssm_dt.bias (Δ's bias), ssm_a (A = −exp(A_log), read
  back as A_log), ssm_d, ssm_norm ([groups, width / groups], flattened) and ssm_out; ssm.time_step_rank heads,
  ssm.inner_size channels, ssm.state_size, ssm.group_count, ssm.conv_kernel. Δ is not clamped (llama.cpp's scan does
  not). Attention's q and k rows permuted as a llama file's; rope.scaling.finetuned false (Granite 4 H) means no RoPE
  at all; Granite's scales (embedding, attention, residual: folded into each sublayer's output, logit) where the
  file has them; then ffn_norm and a dense gated MLP (the shared MLP) or the router, the experts and the shared one.
"""

from __future__ import annotations

import torch

from ...config import ModelConfig
from ...errors import ModelLoadError
from ..conventions import fold_residual_scale
from .deepseek import experts, routed_mlp
from .llama import Weights, ends, rope_config
from .reader import Meta, Tensors, matrix, unpermute_rope_rows


def _mixers(meta: Meta, n_layers: int, other: str = "short_conv") -> tuple[str, ...]:
    """Each layer's mixer: attention where head_count_kv counts heads, `other` where it is 0."""
    counts = meta.get("attention.head_count_kv")
    if not isinstance(counts, list) or len(counts) != n_layers:
        raise ModelLoadError(f"{meta.arch}.attention.head_count_kv must list each of the {n_layers} layers' key/value "
                             f"heads (0 for a layer without attention).")  # fmt: skip
    if not any(counts):
        raise ModelLoadError("This file has no attention layer (every head_count_kv is 0): no pattern to show.")
    return tuple("attention" if count else other for count in counts)


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


def ssm_fields(meta: Meta) -> dict:
    """Mamba-2's ModelConfig fields (mamba.py) from the ssm.* keys llama.cpp writes; Δ unclamped, as its scan runs."""
    heads, width = meta.count("ssm.time_step_rank"), meta.count("ssm.inner_size")
    state, groups, kernel = meta.count("ssm.state_size"), meta.count("ssm.group_count"), meta.count("ssm.conv_kernel")
    if width % heads or heads % groups:
        raise ModelLoadError(f"ssm.inner_size {width} does not split into ssm.time_step_rank {heads} heads, or they "
                             f"into ssm.group_count {groups} groups.")  # fmt: skip
    return dict(ssm_shape=(heads, width // heads, state, groups), conv_kernel=kernel, ssm_dt_limit=(0.0, float("inf")))


def granite_hybrid_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    n_layers = meta.count("block_count")
    rotates = meta.get("rope.scaling.finetuned", True) is not False  # Granite's switch for RoPE (llama.cpp's rule)
    logit = meta.unless_zero("logit_scale", meta.number) or 1.0  # each optional here; 0 or absent: no scaling
    cfg = rope_config(
        meta, name, tensor_names, hybrid=True, arch="granitemoehybrid", mixers=_mixers(meta, n_layers, "ssm"),
        rope_layers=() if rotates else (False,) * n_layers, **ssm_fields(meta),
        embed_scale=meta.unless_zero("embedding_scale", meta.number) or 1.0,
        attn_scale=meta.unless_zero("attention.scale", meta.number),
        residual_scale=meta.unless_zero("residual_scale", meta.number) or 1.0, unembed_scale=1.0 / logit,
    )  # fmt: skip
    if rotates and cfg.rotary_dim is not None:  # Bamba's half-head RoPE, on rows the converter permuted whole
        raise ModelLoadError("A granitehybrid file with RoPE on part of each head (Bamba's) is not read yet; its "
                             "Hugging Face folder is.")  # fmt: skip
    return cfg


def granite_hybrid_weights(t: Tensors, cfg: ModelConfig) -> Weights:
    w = ends(t, cfg)
    for layer in range(cfg.n_layers):
        src, dst = f"blk.{layer}.", f"blocks.{layer}."
        w[dst + "ln_attn.w"] = t.vector(src + "attn_norm.weight")
        if cfg.attends(layer):
            permuted_attention(t, w, src, dst, cfg)
        else:
            mamba_layer(t, w, src, dst + "ssm.", cfg)
        routed_mlp(t, w, src, dst)  # ffn_norm, then the dense MLP or the router, its experts and the shared one
    return fold_residual_scale(w, cfg)


def permuted_attention(t: Tensors, w: Weights, src: str, dst: str, cfg: ModelConfig) -> None:
    """A layer's attn_q, attn_k, attn_v and attn_output, q's and k's rows put back from the llama converter's order
    (which the hybrids' converters keep, RoPE or not)."""
    heads = {"q": cfg.n_heads, "k": cfg.n_kv_heads, "v": cfg.n_kv_heads}
    for part in "qkv":
        rows = t.rows(f"{src}attn_{part}.weight", heads[part], cfg.d_head)
        rows = rows if part == "v" else unpermute_rope_rows(rows, heads[part])
        w[f"{dst}attn.W_{part.upper()}"] = matrix(rows)
    w[dst + "attn.W_O"] = t.linear(src + "attn_output.weight")


def a_log(t: Tensors, name: str, heads: int) -> torch.Tensor:
    """A_log (heads,) from the tensor `name`, where the converter stored A = −exp(A_log): each must be negative."""
    A = t.vector(name)
    if A.numel() != heads or not bool((A < 0).all()):
        raise ModelLoadError(f"{name} must hold {heads} negative numbers (A = −exp(A_log)).")
    return torch.log(-A)


def mamba_layer(t: Tensors, w: Weights, src: str, dst: str, cfg: ModelConfig, norm: bool = True) -> None:
    """A Mamba-2 layer's tensors as llama.cpp's converter wrote them, under mamba.py's names; its group norm unless
    the model has none (`norm` False: Falcon-H1 without one)."""
    H, P, N, G = cfg.ssm_shape
    w[dst + "W_in"], w[dst + "W_out"] = t.linear(src + "ssm_in.weight"), t.linear(src + "ssm_out.weight")
    kernel = torch.from_numpy(t.raw(src + "ssm_conv1d.weight").copy())  # [H·P + 2·G·N, L]
    if tuple(kernel.shape) != (H * P + 2 * G * N, cfg.conv_kernel):
        raise ModelLoadError(f"{src}ssm_conv1d.weight is {tuple(kernel.shape)}, not ({H * P + 2 * G * N}, "
                             f"{cfg.conv_kernel}) (the scan's x, B and C; ssm.conv_kernel).")  # fmt: skip
    w[dst + "kernel"] = kernel
    if t.has(src + "ssm_conv1d.bias"):
        w[dst + "b_conv"] = t.vector(src + "ssm_conv1d.bias")
    w[dst + "A_log"], w[dst + "D"] = a_log(t, src + "ssm_a", H), t.vector(src + "ssm_d")
    w[dst + "dt_bias"] = t.vector(src + "ssm_dt.bias")
    if norm:
        w[dst + "norm.w"] = t.vector(src + "ssm_norm.weight")
