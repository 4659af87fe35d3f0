"""GGUF qwen35 and qwen35moe: Qwen3.5's language model as llama.cpp's converter writes it, read with llama.cpp's
rules. The same layers as the Hugging Face folders (hf_adapters_hybrid.py): the gated delta rule (delta_net.py) in
every layer but each full_attention_interval-th, which runs Qwen3-Next's gated attention.

What the converter changed, undone here:
- every RMSNorm that multiplies by 1 + w is stored as 1 + w (attn_norm, post_attention_norm, attn_q_norm,
  attn_k_norm, output_norm), read as it is; the delta rule's own gated norm (ssm_norm) is not;
- where a key head serves several value heads, the value heads are stored tiled, [G0 v0, G1 v0, …, G0 v1, …], not
  grouped by key head as in transformers [G0 v0, G0 v1, …, G1 v0, …] (llama.cpp's broadcast): the V rows of attn_qkv
  (the fused q, k, v map) and of the conv kernel, attn_gate's rows (the output gate's z), ssm_beta's and ssm_alpha's
  rows, ssm_a and ssm_dt.bias, and ssm_out's columns are put back in groups, so head h is transformers' head h;
- ssm_a holds A = −exp(A_log), read back as A_log; the conv kernel squeezed to [width, L];
- attention's attn_q keeps each head's rows [query | gate], split into W_Q and W_G; no row permutation (NEOX RoPE
  on rope.dimension_count dims of each head; for a text its M-RoPE sections all read one position: plain RoPE).
qwen35moe: the router, stacked experts and the shared expert behind its sigmoid gate (ffn_gate_inp_shexp), the chosen
experts' weights renormalised (Qwen3.5's rule), their gate and up maps apart or fused (ffn_gate_up_exps). The last
nextn_predict_layers blocks (Qwen3.5's multi-token prediction layer, which the converter appends unless told not to)
are in the file but not run.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ...config import ModelConfig
from ...errors import ModelLoadError
from .hybrid import a_log
from .llama import Weights, _mlp, ends, expert_counts, rope_config
from .reader import Meta, Tensors, layers_run, matrix


def qwen35_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    n_layers, interval = layers_run(meta), meta.count("full_attention_interval", 4)
    n_k, n_v = meta.count("ssm.group_count"), meta.count("ssm.time_step_rank")
    d_k, width = meta.count("ssm.state_size"), meta.count("ssm.inner_size")
    if n_v % n_k or width % n_v:
        raise ModelLoadError(f"ssm.time_step_rank {n_v} value heads must split into groups of ssm.group_count {n_k} "
                             f"key heads, and ssm.inner_size {width} into those heads.")  # fmt: skip
    mixers = tuple("attention" if (layer + 1) % interval == 0 else "gated_delta" for layer in range(n_layers))
    if "attention" not in mixers:
        raise ModelLoadError(f"full_attention_interval {interval} leaves none of the {n_layers} layers attending.")
    routed = {}
    if any(t.endswith("ffn_gate_inp.weight") for t in tensor_names):
        n, used = expert_counts(meta)
        routed = dict(n_experts=n, experts_per_token=used, moe_renormalize=True)
    return rope_config(
        meta, name, tensor_names, experts=routed, arch="qwen3_5_moe_text" if routed else "qwen3_5_text",
        n_layers=n_layers, qk_norm="head", attn_output_gate=True, mixers=mixers,
        conv_kernel=meta.count("ssm.conv_kernel"), delta_heads=(n_k, n_v), delta_dims=(d_k, width // n_v),
    )  # fmt: skip


def _grouped(x: torch.Tensor, dim: int, cfg: ModelConfig, size: int) -> torch.Tensor:
    """`x` with its value heads (each `size` long along `dim`) put back from llama.cpp's tiled order into groups by
    key head: tiled position (v, g) holds grouped (g, v)."""
    n_k, n_v = cfg.delta_heads
    shape = list(x.shape)
    tiled = x.reshape(shape[:dim] + [n_v // n_k, n_k, size] + shape[dim + 1 :])
    return tiled.transpose(dim, dim + 1).reshape(shape)


def qwen35_weights(t: Tensors, cfg: ModelConfig, delta_rule: Callable | None = None) -> Weights:
    """The weights; `delta_rule` reads a delta-rule layer (qwen3next's, which keeps its value heads grouped and its
    maps fused: qwen3next.py), by default qwen35's."""
    delta_rule = _delta_rule if delta_rule is None else delta_rule
    t.skip_blocks_from(cfg.n_layers)  # the prediction layer: in the file, not run
    w = ends(t, cfg)  # output_norm already 1 + w
    for layer in range(cfg.n_layers):
        src, dst = f"blk.{layer}.", f"blocks.{layer}."
        w[dst + "ln_attn.w"] = t.vector(src + "attn_norm.weight")
        (_gated_attention if cfg.attends(layer) else delta_rule)(t, w, src, dst, cfg)
        _mlp(t, w, src, dst, norm="post_attention_norm")
    return w


def _gated_attention(t: Tensors, w: Weights, src: str, dst: str, cfg: ModelConfig) -> None:
    both = torch.from_numpy(t.rows(src + "attn_q.weight", 2 * cfg.n_heads, cfg.d_head).copy())
    both = both.view(cfg.n_heads, 2, cfg.d_head, cfg.d_model)  # per head [query | gate] rows
    w[dst + "attn.W_Q"] = both[:, 0].reshape(-1, cfg.d_model).T.contiguous()  # [d_model, n_heads·d_head]
    w[dst + "attn.W_G"] = both[:, 1].reshape(-1, cfg.d_model).T.contiguous()
    for part, heads in (("k", cfg.n_kv_heads), ("v", cfg.n_kv_heads)):
        w[f"{dst}attn.W_{part.upper()}"] = matrix(t.rows(f"{src}attn_{part}.weight", heads, cfg.d_head))
    w[dst + "attn.W_O"] = t.linear(src + "attn_output.weight")
    w[dst + "attn.q_norm.w"], w[dst + "attn.k_norm.w"] = (t.vector(f"{src}attn_{p}_norm.weight") for p in "qk")


def _delta_rule(t: Tensors, w: Weights, src: str, dst: str, cfg: ModelConfig) -> None:
    (n_k, n_v), (d_k, d_v) = cfg.delta_heads, cfg.delta_dims
    qk = 2 * n_k * d_k  # the q and k rows come first, as they are; the v rows after them were tiled
    dst += "delta."
    qkv = torch.from_numpy(t.raw(src + "attn_qkv.weight").copy())  # (2·n_k·d_k + n_v·d_v, d_model)
    kernel = torch.from_numpy(t.raw(src + "ssm_conv1d.weight").copy())  # (the same rows, L)
    if qkv.shape[0] != qk + n_v * d_v or tuple(kernel.shape) != (qkv.shape[0], cfg.conv_kernel):
        raise ModelLoadError(f"{src}attn_qkv and ssm_conv1d have {qkv.shape[0]} and {kernel.shape[0]} rows; "
                             f"q, k and v need {qk + n_v * d_v} (and a kernel of {cfg.conv_kernel}).")  # fmt: skip
    w[dst + "W_qkv"] = torch.cat([qkv[:qk], _grouped(qkv[qk:], 0, cfg, d_v)]).T.contiguous()
    w[dst + "kernel"] = torch.cat([kernel[:qk], _grouped(kernel[qk:], 0, cfg, d_v)])
    w[dst + "W_z"] = _grouped(t.linear(src + "attn_gate.weight"), 1, cfg, d_v)  # [d_model, n_v·d_v]
    w[dst + "W_b"] = _grouped(t.linear(src + "ssm_beta.weight"), 1, cfg, 1)  # [d_model, n_v]
    w[dst + "W_a"] = _grouped(t.linear(src + "ssm_alpha.weight"), 1, cfg, 1)
    w[dst + "A_log"] = _grouped(a_log(t, src + "ssm_a", n_v), 0, cfg, 1)
    w[dst + "dt_bias"] = _grouped(t.vector(src + "ssm_dt.bias"), 0, cfg, 1)
    w[dst + "norm.w"] = t.vector(src + "ssm_norm.weight")
    w[dst + "W_out"] = _grouped(t.linear(src + "ssm_out.weight"), 0, cfg, d_v)  # [n_v·d_v, d_model]: its rows
