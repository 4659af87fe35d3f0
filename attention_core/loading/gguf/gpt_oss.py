"""GGUF gpt-oss and gptoss → canonical weights and config: OpenAI's GPT-OSS as llama.cpp's converter writes it
('gpt-oss', its graph openai-moe) and as Ollama's does ('gptoss'), the same model as a Hugging Face folder gives
(loading/hf_adapters_moe.py):

- attention: q/k/v/output with biases, rows kept (both rotate it NeoX-style, Hugging Face's rotate-half), scale
  1/√d_head, one learned sink logit per head (attn_sinks); layers slide in turn from layer 0
  (attention.sliding_window_pattern, a period or per-layer flags, else the period 2 both fix), every layer with the
  same RoPE and YaRN scaling (Ollama's files name no rope.scaling.type: its GPT-OSS is always YaRN).
- YaRN's ramp untruncated, as OpenAI's and transformers' GPT-OSS compute it (rope_scaling's truncate=False):
  llama.cpp and Ollama (ggml's RoPE) round its ends to whole dimensions, which moves a few frequencies slightly.
- the MLP's input norm (post_attention_norm; Ollama: ffn_norm); a router with a bias (ffn_gate_inp) whose chosen
  experts' logits are softmaxed (= renormalised top-k probabilities); experts with biases, gate and up separate
  (ffn_gate_exps, ffn_up_exps) or fused (ffn_gate_up_exps, rows gate | up), usually MXFP4, which the gguf package
  dequantises; and the clamped SwiGLU, whose constants both fix (α 1.702, limit 7) and the file does not hold.
- Ollama's names: attn_out for attn_output, attn_sinks without ".weight", and, converted from OpenAI's own
  checkpoint layout, q, k and v fused in attn_qkv (rows q | k | v).
"""

from __future__ import annotations

import numpy as np
import torch

from ...config import ModelConfig
from ...errors import ModelLoadError
from .llama import Weights, ends, rope_config
from .reader import Meta, Tensors, matrix, sliding_layers, split_rows

SWIGLU_CLAMP = (7.0, 1.702)  # (limit, α): llama.cpp's swiglu_oai and Ollama's SILUAlphaLimit constants
_PERIOD = 2  # llama.cpp's default and Ollama's fixed rule: every other layer slides, layer 0 first


def gpt_oss_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    n_layers = meta.count("block_count")
    cfg = rope_config(
        meta, name, tensor_names, scaling="yarn" if meta.arch == "gptoss" else "none", yarn_truncate=False,
        arch="gpt_oss", attn_sinks=True, act="swiglu_clamped", swiglu_clamp=SWIGLU_CLAMP, mlp_bias=True,
        sliding_window=meta.count("attention.sliding_window"), sliding_layers=sliding_layers(meta, n_layers, _PERIOD),
    )  # fmt: skip
    local = meta.get("rope.freq_base_swa", None)
    if local is not None and float(local) != cfg.rope_theta:  # GPT-OSS rotates every layer alike
        raise ModelLoadError(f"gpt-oss files with another RoPE base on the sliding layers (rope.freq_base_swa "
                             f"{float(local):g}, {cfg.rope_theta:g} elsewhere) are not supported yet.")  # fmt: skip
    if not cfg.n_experts:
        raise ModelLoadError("This gpt-oss file has no router (blk.0.ffn_gate_inp.weight).")
    return cfg


def _gate_and_up(t: Tensors, src: str, d_mlp: int) -> tuple[np.ndarray, ...]:
    """Each expert's gate and up matrices, (n_experts, d_mlp, d_model), and their biases, (n_experts, d_mlp)."""
    if not t.has(src + "ffn_gate_up_exps.weight"):
        return tuple(t.raw(f"{src}ffn_{part}_exps.{kind}") for part in ("gate", "up") for kind in ("weight", "bias"))
    fused, bias = t.raw(src + "ffn_gate_up_exps.weight"), t.raw(src + "ffn_gate_up_exps.bias")
    if fused.shape[1] != 2 * d_mlp or bias.shape[-1] != 2 * d_mlp:
        raise ModelLoadError(f"{src}ffn_gate_up_exps has {fused.shape[1]} rows per expert; gate and up need {d_mlp} "
                             "each.")  # fmt: skip
    return fused[:, :d_mlp], bias[:, :d_mlp], fused[:, d_mlp:], bias[:, d_mlp:]


def _first_present(t: Tensors, src: str, names: tuple[str, ...]) -> str:
    """The first of `names` (llama.cpp's, then Ollama's) the block has, with its prefix."""
    return next((src + n for n in names if t.has(src + n)), src + names[0])  # the first: a missing one is named


def _qkv(t: Tensors, src: str, kind: str, rows: list[int]) -> list[np.ndarray]:
    """q, k and v's `kind` ("weight" or "bias"): separate, or split from Ollama's attn_qkv (rows q | k | v)."""
    fused = f"{src}attn_qkv.{kind}"
    if t.has(fused):
        return split_rows(t.raw(fused), rows, fused)
    return [t.raw(f"{src}attn_{part}.{kind}") for part in "qkv"]


def _attention(t: Tensors, w: Weights, cfg: ModelConfig, src: str, dst: str) -> None:
    """The input norm, q/k/v and the output, with biases where the file has them, and the sinks."""
    w[dst + "ln_attn.w"] = t.vector(src + "attn_norm.weight")
    rows = [cfg.n_heads * cfg.d_head, cfg.n_kv_heads * cfg.d_head, cfg.n_kv_heads * cfg.d_head]
    for part, data in zip("QKV", _qkv(t, src, "weight", rows), strict=True):
        w[f"{dst}attn.W_{part}"] = matrix(data)
    out = _first_present(t, src, ("attn_output.weight", "attn_out.weight")).removesuffix(".weight")
    w[dst + "attn.W_O"] = t.linear(out + ".weight")
    if cfg.attn_bias:
        for part, data in zip("QKV", _qkv(t, src, "bias", rows), strict=True):
            w[f"{dst}attn.b_{part}"] = torch.from_numpy(np.ascontiguousarray(data))
        w[dst + "attn.b_O"] = t.vector(out + ".bias")
    w[dst + "attn.sinks"] = t.vector(_first_present(t, src, ("attn_sinks.weight", "attn_sinks")))  # (n_heads,)


def _experts(t: Tensors, w: Weights, src: str, dst: str) -> None:
    """The MLP's norm, the router and the experts (each [in, out] with its biases)."""
    w[dst + "ln_mlp.w"] = t.vector(_first_present(t, src, ("post_attention_norm.weight", "ffn_norm.weight")))
    w[dst + "mlp.router.W"] = t.linear(src + "ffn_gate_inp.weight")  # [d_model, n_experts]
    w[dst + "mlp.router.b"] = t.vector(src + "ffn_gate_inp.bias")
    down, down_b = t.raw(src + "ffn_down_exps.weight"), t.raw(src + "ffn_down_exps.bias")  # (E, d_model, d_mlp)
    gate, gate_b, up, up_b = _gate_and_up(t, src, down.shape[-1])
    for e in range(down.shape[0]):
        p = f"{dst}mlp.experts.{e}."
        w[p + "W_gate"], w[p + "W_in"], w[p + "W_out"] = matrix(gate[e]), matrix(up[e]), matrix(down[e])
        for ours, bias in (("b_gate", gate_b), ("b_in", up_b), ("b_out", down_b)):
            w[p + ours] = torch.from_numpy(np.ascontiguousarray(bias[e]))


def gpt_oss_weights(t: Tensors, cfg: ModelConfig) -> Weights:
    w = ends(t, cfg)
    for layer in range(cfg.n_layers):
        src, dst = f"blk.{layer}.", f"blocks.{layer}."
        _attention(t, w, cfg, src, dst)
        _experts(t, w, src, dst)
    return w
