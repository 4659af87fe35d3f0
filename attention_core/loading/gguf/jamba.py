"""GGUF jamba (AI21's Jamba as llama.cpp's converter writes it): Mamba's selective scan (selective_scan.py) in the
layers whose attention.head_count_kv is 0, attention without any position encoding in the others (q and k rows as
the checkpoint has them: nothing rotates, so the converter permutes nothing), then ffn_norm and a dense gated MLP or
a softmax router over stacked experts whose chosen weights are not renormalised (llama.cpp's graph).

A scan layer's tensors: ssm_in (x | z), ssm_conv1d (squeezed to [channels, L]) and its bias, ssm_x (dt | B | C),
ssm_dt (Δ's map, [channels, rank], and its bias), ssm_a (A = −exp(A_log), [channels, state], read back as A_log),
ssm_d, ssm_out, and the RMSNorms on dt, B and C (ssm_dt_norm, ssm_b_norm, ssm_c_norm); ssm.inner_size channels,
ssm.state_size, ssm.time_step_rank, ssm.conv_kernel.
"""

from __future__ import annotations

import torch

from ...config import ModelConfig
from ...errors import ModelLoadError
from .deepseek import routed_mlp
from .hybrid import _mixers
from .llama import Weights, ends, expert_counts, rope_config
from .reader import Meta, Tensors

NORMS = (("dt_norm.w", "ssm_dt_norm.weight"), ("B_norm.w", "ssm_b_norm.weight"), ("C_norm.w", "ssm_c_norm.weight"))


def jamba_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    n_layers = meta.count("block_count")
    routed = {}
    if any(t.endswith("ffn_gate_inp.weight") for t in tensor_names):
        n, used = expert_counts(meta)
        routed = dict(n_experts=n, experts_per_token=used, moe_renormalize=False)
    shape = (meta.count("ssm.inner_size"), meta.count("ssm.state_size"), meta.count("ssm.time_step_rank"))
    return rope_config(
        meta, name, tensor_names, hybrid=True, experts=routed, arch="jamba",
        mixers=_mixers(meta, n_layers, "selective_scan"), rope_layers=(False,) * n_layers, selective_shape=shape,
        conv_kernel=meta.count("ssm.conv_kernel"),
    )  # fmt: skip


def jamba_weights(t: Tensors, cfg: ModelConfig) -> Weights:
    w = ends(t, cfg)
    for layer in range(cfg.n_layers):
        src, dst = f"blk.{layer}.", f"blocks.{layer}."
        w[dst + "ln_attn.w"] = t.vector(src + "attn_norm.weight")
        if cfg.attends(layer):
            for part in "qkv":
                w[f"{dst}attn.W_{part.upper()}"] = t.linear(f"{src}attn_{part}.weight")
            w[dst + "attn.W_O"] = t.linear(src + "attn_output.weight")
        else:
            _selective(t, w, src, dst + "ssm.", cfg)
        routed_mlp(t, w, src, dst)  # ffn_norm, then the dense MLP or the router and its experts
    return w


def _selective(t: Tensors, w: Weights, src: str, dst: str, cfg: ModelConfig) -> None:
    """A Mamba layer's tensors as llama.cpp's converter wrote them, under selective_scan.py's names."""
    D, N, R = cfg.selective_shape
    for ours, theirs in (("W_in", "ssm_in"), ("W_x", "ssm_x"), ("W_dt", "ssm_dt"), ("W_out", "ssm_out")):
        w[dst + ours] = t.linear(f"{src}{theirs}.weight")
    kernel = torch.from_numpy(t.raw(src + "ssm_conv1d.weight").copy())  # [D, L]
    A = torch.from_numpy(t.raw(src + "ssm_a").copy()).float()  # [D, N]
    shapes = {"ssm_x": (w[dst + "W_x"].shape, (D, R + 2 * N)), "ssm_conv1d": (kernel.shape, (D, cfg.conv_kernel)),
              "ssm_a": (A.shape, (D, N))}  # fmt: skip
    for name, (found, wanted) in shapes.items():
        if tuple(found) != wanted:
            raise ModelLoadError(f"{src}{name} is {tuple(found)}, not {wanted} (ssm.inner_size, ssm.state_size, "
                                 "ssm.time_step_rank, ssm.conv_kernel).")  # fmt: skip
    if not bool((A < 0).all()):
        raise ModelLoadError(f"{src}ssm_a must hold negative numbers (A = −exp(A_log)).")
    w[dst + "kernel"], w[dst + "A_log"] = kernel, torch.log(-A)
    w[dst + "D"], w[dst + "dt_bias"] = t.vector(src + "ssm_d"), t.vector(src + "ssm_dt.bias")
    if t.has(src + "ssm_conv1d.bias"):
        w[dst + "b_conv"] = t.vector(src + "ssm_conv1d.bias")
    for ours, theirs in NORMS:
        if t.has(src + theirs):
            w[dst + ours] = t.vector(src + theirs)
