"""GGUF apertus (Swiss AI's Apertus, as llama.cpp's converter writes it): a llama file with rows kept (llama.cpp
rotates Apertus NeoX-style), RMSNorms on q and k per head, an ungated MLP (ffn_up, ffn_down) with xIELU between, Llama
3's RoPE scaling as rope_freqs, and an output matrix of its own.

xIELU's numbers are not tensors in the file but metadata, one per layer: `xielu.alpha_p` and `xielu.alpha_n` (the
checkpoint's raw parameters: ggml takes their softplus, as transformers does) and the constants `xielu.beta` and
`xielu.eps` (a list per layer, or one number). The engine keeps α_p = softplus(alpha_p) and α_n = β + softplus(alpha_n)
as the weights `blocks.{l}.mlp.act.alpha_p` / `.alpha_n` (activations.xielu), so `xielu_tensors` hands the metadata to
the weights reader as one-number tensors `blk.{l}.xielu_alpha_p` / `_n`. β and ε must be one value for every layer
(ModelConfig.xielu).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F

from ...config import ModelConfig
from ...errors import ModelLoadError
from .llama import Weights, plain_mlp, rope_config, separate_qkv_weights, skip_rope_freqs, with_rope_freqs
from .reader import Meta, Tensors


def _per_layer(meta: Meta, key: str, n_layers: int) -> list[float]:
    """A metadata value llama.cpp reads with get_key_or_arr: one number for every layer, or a list of n_layers."""
    value = meta.key(key)
    values = value if isinstance(value, list) else [value] * n_layers
    if len(values) != n_layers or not all(isinstance(v, int | float) and np.isfinite(v) for v in values):
        raise ModelLoadError(f"{key} must be a number or a list of {n_layers} numbers (one per layer).")
    return [float(v) for v in values]


def apertus_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    cfg = rope_config(meta, name, tensor_names, arch="apertus", qk_norm="head", gated_mlp=False, act="xielu")
    constants = []
    for key in ("xielu.beta", "xielu.eps"):
        values = _per_layer(meta, key, cfg.n_layers)
        if len(set(values)) != 1:
            raise ModelLoadError(f"{key} differs between layers ({sorted(set(values))}); one value is supported.")
        constants.append(values[0])
    return with_rope_freqs(replace(cfg, xielu=(constants[0], constants[1])), meta)


def xielu_tensors(meta: Meta) -> dict[str, np.ndarray]:
    """The per-layer xIELU parameters as one-number tensors for apertus_weights."""
    n_layers = meta.count("block_count")
    out = {}
    for which in ("alpha_p", "alpha_n"):
        for layer, value in enumerate(_per_layer(meta, f"xielu.{which}", n_layers)):
            out[f"blk.{layer}.xielu_{which}"] = np.array([value], dtype=np.float32)
    return out


def apertus_weights(t: Tensors, cfg: ModelConfig) -> Weights:
    skip_rope_freqs(t)
    beta = cfg.xielu[0]

    def xielu_mlp(t: Tensors, w: Weights, src: str, dst: str) -> None:
        plain_mlp(t, w, src, dst)
        w[dst + "mlp.act.alpha_p"] = F.softplus(torch.from_numpy(t.raw(src + "xielu_alpha_p")))
        w[dst + "mlp.act.alpha_n"] = beta + F.softplus(torch.from_numpy(t.raw(src + "xielu_alpha_n")))

    return separate_qkv_weights(t, cfg, permuted=False, mlp=xielu_mlp)
