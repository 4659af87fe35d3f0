"""GGUF decoders with LayerNorm (and mostly biases) → canonical weights: phi2 (Phi 1, 1.5, 2), stablelm, starcoder2,
gptneox, falcon, nemotron (RoPE; their configs here), and gpt2, starcoder, bloom and mpt (configs in gpt2.py; MPT's
LayerNorms have no bias).

What llama.cpp's files hold and how we read them:
- Q/K rows are not permuted: llama.cpp rotates these models NeoX-style (Hugging Face's rotate-half), on the
  first rope.dimension_count dimensions of each head (partial rotary).
- phi2: one LayerNorm per block (attn_norm) feeds attention and MLP side by side; Q, K, V separate with biases
  (attn_q/k/v) or fused (attn_qkv, rows q | k | v, older conversions); a plain GELU MLP (ffn_up, ffn_down) with
  biases; the unembedding has a bias (output.bias).
- stablelm: a SwiGLU MLP; a block without ffn_norm is a parallel one (use_parallel_residual), its MLP reading
  attn_norm's output, as llama.cpp decides it. StableLM 2 12B's attn_q_norm and attn_k_norm ([heads, d_head]) are a
  LayerNorm over each head's q and k, each head its own weight (head_layernorms).
- starcoder2: biases everywhere, a plain GELU MLP. llama.cpp's file keeps no sliding window, and llama.cpp
  attends to every earlier token; so do we.
"""

from __future__ import annotations

import numpy as np
import torch

from ...config import ModelConfig
from ...errors import ModelLoadError
from .llama import gated_mlp, rope_config
from .reader import Meta, Tensors, matrix, split_rows

Weights = dict[str, torch.Tensor]
NO_NORM_BIAS = ("mpt",)  # architectures whose LayerNorms have no bias (the others' bias is required)


def _layernorm_config(meta: Meta, name: str, tensor_names: set[str], **features) -> ModelConfig:
    return rope_config(
        meta, name, tensor_names, norm="layer", norm_eps=meta.number("attention.layer_norm_epsilon"), **features
    )


def phi2_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    return _layernorm_config(
        meta, name, tensor_names, arch="phi", act="gelu_tanh", gated_mlp=False, parallel_blocks=True,
        shared_block_norm=True, mlp_bias=True,
    )  # fmt: skip


def stablelm_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    parallel = "blk.0.ffn_norm.weight" not in tensor_names
    return _layernorm_config(
        meta, name, tensor_names, arch="stablelm", parallel_blocks=parallel, shared_block_norm=parallel,
        qk_norm="head" if "blk.0.attn_q_norm.weight" in tensor_names else "none",
    )  # fmt: skip


def starcoder2_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    biases = "blk.0.ffn_up.bias" in tensor_names
    return _layernorm_config(
        meta, name, tensor_names, arch="starcoder2", act="gelu_tanh", gated_mlp=False, mlp_bias=biases
    )


def gptneox_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    """GPT-NeoX (Pythia): partial rotary, biases everywhere, a plain GELU MLP (the exact one Pythia was trained with;
    llama.cpp runs the tanh approximation), attention and MLP side by side from two norms where
    use_parallel_residual; q | k | v fused (llama.cpp regrouped the head-by-head query_key_value, as BLOOM's)."""
    return _layernorm_config(
        meta, name, tensor_names, arch="neox", act="gelu", gated_mlp=False, mlp_bias=True,
        parallel_blocks=bool(meta.get("use_parallel_residual", True)),
    )  # fmt: skip


def nemotron_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    """Nemotron (Minitron, Nemotron-Mini): LayerNorms with biases, their weights stored as 1 + w (llama.cpp adds the
    1 when converting: the canonical weight, read as it is), partial rotary, a plain MLP with squared ReLU."""
    return _layernorm_config(meta, name, tensor_names, arch="nemotron", act="relu2", gated_mlp=False)


def jais2_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    """Jais 2 (llama.cpp's jais2): LayerNorms with biases, biases on q, k, v and the output, NeoX RoPE (rows kept),
    a plain squared-ReLU MLP with biases."""
    return _layernorm_config(meta, name, tensor_names, arch="jais2", act="relu2", gated_mlp=False,
                             mlp_bias="blk.0.ffn_up.bias" in tensor_names)  # fmt: skip


def falcon_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    """Falcon: attention and MLP side by side, from one LayerNorm (7B) or two (40B: attn_norm_2 feeds attention,
    attn_norm the MLP, as llama.cpp runs them); no biases; a plain GELU MLP; q | k | v fused (llama.cpp regrouped
    Falcon's per-group query_key_value)."""
    one_norm = "blk.0.attn_norm_2.weight" not in tensor_names
    return _layernorm_config(
        meta, name, tensor_names, arch="falcon", act="gelu", gated_mlp=False, parallel_blocks=True,
        shared_block_norm=one_norm,
    )  # fmt: skip


def _ends(t: Tensors, cfg: ModelConfig) -> Weights:
    """Token embedding (with GPT-2's position table, BLOOM's embedding LayerNorm), the final LayerNorm and the
    unembedding (absent when tied) with any bias."""
    w: Weights = {"embed.W_E": torch.from_numpy(t.raw("token_embd.weight"))}
    if cfg.absolute_positions:  # GPT-2; the others' positions are RoPE's rotations or BLOOM's ALiBi slopes
        w["embed.W_pos"] = torch.from_numpy(t.raw("position_embd.weight"))
    if t.has("token_embd_norm.weight"):  # BLOOM normalises its embeddings
        _layer_norm(t, w, "embed.ln", "token_embd_norm", cfg)
    _layer_norm(t, w, "ln_final", "output_norm", cfg)
    if not cfg.tie_embeddings:
        w["unembed.W_U"] = t.linear("output.weight")  # [d_model, d_vocab]
    if t.has("output.bias"):
        w["unembed.b_U"] = t.vector("output.bias")
    return w


def _layer_norm(t: Tensors, w: Weights, ours: str, theirs: str, cfg: ModelConfig) -> None:
    w[ours + ".w"] = t.vector(theirs + ".weight")
    if cfg.arch not in NO_NORM_BIAS:
        w[ours + ".b"] = t.vector(theirs + ".bias")


def _qkv(t: Tensors, cfg: ModelConfig, src: str) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """q, k and v: each its rows (out, in) and, where the config has attention biases, its bias (then required),
    from attn_q/k/v or the fused attn_qkv."""
    heads = {"q": cfg.n_heads, "k": cfg.n_kv_heads, "v": cfg.n_kv_heads}
    if not t.has(src + "attn_qkv.weight"):
        return {p: (t.rows(f"{src}attn_{p}.weight", heads[p], cfg.d_head),
                    t.raw(f"{src}attn_{p}.bias") if cfg.attn_bias else None) for p in "qkv"}  # fmt: skip
    sizes = [heads[p] * cfg.d_head for p in "qkv"]
    rows = split_rows(t.raw(src + "attn_qkv.weight"), sizes, src + "attn_qkv.weight")
    biases = split_rows(t.raw(src + "attn_qkv.bias"), sizes, src + "attn_qkv.bias") if cfg.attn_bias else [None] * 3
    return dict(zip("qkv", zip(rows, biases, strict=True), strict=True))


def _attention(t: Tensors, w: Weights, cfg: ModelConfig, src: str, dst: str) -> None:
    """W_Q, W_K, W_V, W_O and their biases: q, k and v's with attn_bias; the output's wherever the model has biases
    everywhere (mlp_bias: gpt2, bloom, phi2, starcoder2), else where the file has one (stablelm has none)."""
    for part, (rows, bias) in _qkv(t, cfg, src).items():
        w[f"{dst}attn.W_{part.upper()}"] = matrix(rows)
        if bias is not None:
            w[f"{dst}attn.b_{part.upper()}"] = torch.from_numpy(bias.reshape(-1).copy())
    w[dst + "attn.W_O"] = t.linear(src + "attn_output.weight")
    if cfg.mlp_bias or t.has(src + "attn_output.bias"):
        w[dst + "attn.b_O"] = t.vector(src + "attn_output.bias")


def head_layernorms(t: Tensors, w: Weights, cfg: ModelConfig, src: str, dst: str) -> None:
    """attn_q_norm and attn_k_norm, where the file has them: a LayerNorm over each head's q (k), each head its own
    weight ([heads, d_head]: StableLM 2 12B, Command R+) or one for every head ([d_head]), and a bias if stored."""
    for which, heads in (("q", cfg.n_heads), ("k", cfg.n_kv_heads)):
        for part, ours in (("weight", "w"), ("bias", "b")):
            name = f"{src}attn_{which}_norm.{part}"
            if not t.has(name):
                continue
            data = t.raw(name)
            if data.shape not in ((heads, cfg.d_head), (cfg.d_head,)):
                raise ModelLoadError(f"{name} has shape {data.shape}; {heads} heads of {cfg.d_head} dimensions need "
                                     f"({heads}, {cfg.d_head}) or ({cfg.d_head},).")  # fmt: skip
            w[f"{dst}attn.{which}_norm.{ours}"] = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))


def _plain_mlp(t: Tensors, w: Weights, src: str, dst: str, biases: bool) -> None:
    """act(x W_in + b_in) W_out + b_out, the biases (required) where the config has them."""
    w[dst + "mlp.W_in"], w[dst + "mlp.W_out"] = t.linear(src + "ffn_up.weight"), t.linear(src + "ffn_down.weight")
    if biases:
        w[dst + "mlp.b_in"], w[dst + "mlp.b_out"] = t.vector(src + "ffn_up.bias"), t.vector(src + "ffn_down.bias")


def layernorm_weights(t: Tensors, cfg: ModelConfig) -> Weights:
    """phi2, stablelm, starcoder2, gpt2 or bloom (llama.cpp names their tensors alike): LayerNorms with biases,
    ffn_norm only where the block has a norm of its own for the MLP (not with shared_block_norm), a gated MLP or a
    plain one."""
    w = _ends(t, cfg)
    for layer in range(cfg.n_layers):
        src, dst = f"blk.{layer}.", f"blocks.{layer}."
        attn_norm, mlp_norm = "attn_norm", "ffn_norm"
        if t.has(src + "attn_norm_2.weight"):  # Falcon 40B: attn_norm_2 feeds attention, attn_norm the MLP
            attn_norm, mlp_norm = "attn_norm_2", "attn_norm"
        _layer_norm(t, w, dst + "ln_attn", src + attn_norm, cfg)
        _attention(t, w, cfg, src, dst)
        head_layernorms(t, w, cfg, src, dst)
        if not cfg.shared_block_norm:
            _layer_norm(t, w, dst + "ln_mlp", src + mlp_norm, cfg)
        if cfg.gated_mlp:
            gated_mlp(t, w, src, dst)
        else:
            _plain_mlp(t, w, src, dst, cfg.mlp_bias)
    return w
