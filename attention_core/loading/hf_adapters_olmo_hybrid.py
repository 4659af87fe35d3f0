"""Hugging Face adapter for AllenAI's OLMo Hybrid (olmo_hybrid: Olmo-Hybrid-7B).

Most layers ("linear_attention") run the gated delta rule (attention_core/delta_net.py, Qwen3.5's rule) in a pre-norm
Llama block (input_layernorm, post_attention_layernorm before the MLP); every fourth ("full_attention") is an OLMo 3
block: no input norms, a norm on each sublayer's output (post_attention_layernorm, post_feedforward_layernorm), q and
k RMS-normalised over the whole projection (q_norm, k_norm). So the norms sit differently layer by layer
(ModelConfig.norm_positions). The rule's maps come apart here (q_proj, k_proj, v_proj: W_qkv's rows; g_proj: the
output gate's z; a_proj, b_proj), β × 2 where linear_allow_neg_eigval (its eigenvalues may be negative), its gated
norm's ε 1e-5 (FLA's, whatever rms_norm_eps says). Its attention layers rotate where config.json names a
rope_theta; the released checkpoints name none (transformers' own comment: they use no RoPE), and then they run
without, with a conversion note, as transformers 5.23 does not: it fills in a default rope_theta and rotates.

Files keep OLMo-core's names, which transformers renames as it loads (its conversion mapping), and so does this
reader: attention_layer_norm → input_layernorm, feedforward_layer_norm → post_attention_layernorm, and the three
q_conv1d, k_conv1d, v_conv1d kernels one after another → conv1d.
"""

from __future__ import annotations

import torch

from ..config import ModelConfig
from ..errors import ModelLoadError
from .hf_adapters import StateDict, _Reader
from .hf_adapters_hybrid import _some_attention
from .hf_adapters_modern import _decoder, _unembed
from .hf_adapters_moe import GATED

DELTA_NORM_EPS = 1e-5  # transformers' OlmoHybridRMSNormGated(eps=1e-5), as FLA's fused norm
NO_ROPE = ("config.json names no rope_theta, so the attention layers run without RoPE, as OLMo Hybrid's released "
           "checkpoints were trained; transformers 5.23 fills in a default rope_theta and rotates them.")


def olmo_hybrid_config(hf: dict, name: str) -> ModelConfig:
    n_layers = int(hf["num_hidden_layers"])
    types = hf.get("layer_types") or ["full_attention" if i % 4 == 3 else "linear_attention" for i in range(n_layers)]
    if len(types) != n_layers or set(types) - {"linear_attention", "full_attention"}:
        raise ModelLoadError(f"OLMo Hybrid: layer_types {types!r} do not give 'linear_attention' or 'full_attention' "
                             "to each layer.")  # fmt: skip
    heads = int(hf["num_attention_heads"])
    n_k, n_v = int(hf.get("linear_num_key_heads") or heads), int(hf.get("linear_num_value_heads") or heads)
    d_k = int(hf.get("linear_key_head_dim") or int(0.75 * int(hf["hidden_size"]) / n_k))
    d_v = int(hf.get("linear_value_head_dim") or 2 * d_k)
    if n_v % n_k:
        raise ModelLoadError(f"OLMo Hybrid: {n_v} value heads do not split into groups of its {n_k} key heads.")
    rope = hf.get("rope_parameters") or hf.get("rope_scaling") or {}
    rotates = rope.get("rope_theta") is not None or hf.get("rope_theta") is not None
    attends = [t == "full_attention" for t in types]
    return _decoder(
        {**hf, "layer_types": None, "sliding_window": None}, name, "olmo_hybrid", qk_norm="full",
        conversion_notes=() if rotates else (NO_ROPE,),
        mixers=_some_attention(tuple("attention" if a else "gated_delta" for a in attends), "OLMo Hybrid"),
        norm_positions=tuple("post_sublayer" if a else "pre" for a in attends),
        rope_layers=() if rotates else (False,) * n_layers, conv_kernel=int(hf.get("linear_conv_kernel_dim", 4)),
        delta_heads=(n_k, n_v), delta_dims=(d_k, d_v), delta_norm_eps=DELTA_NORM_EPS,
        delta_beta_scale=2.0 if hf.get("linear_allow_neg_eigval", True) else 1.0,
    )  # fmt: skip


def olmo_hybrid_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    r = _Reader(sd, ("model.",))
    w: StateDict = {"embed.W_E": r.get("embed_tokens.weight"), "ln_final.w": r.get("norm.weight")}
    for layer in range(cfg.n_layers):
        src, dst = f"layers.{layer}.", f"blocks.{layer}."
        if cfg.attends(layer):
            for part in "qkvo":
                w[f"{dst}attn.W_{part.upper()}"] = r.linear(f"{src}self_attn.{part}_proj.weight")
            w[dst + "attn.q_norm.w"] = r.get(src + "self_attn.q_norm.weight")
            w[dst + "attn.k_norm.w"] = r.get(src + "self_attn.k_norm.weight")
            w[dst + "ln_attn_out.w"] = _norm(r, src, "post_attention_layernorm")
            w[dst + "ln_mlp_out.w"] = r.get(src + "post_feedforward_layernorm.weight")
        else:
            _delta_rule(w, r, src + "linear_attn.", dst + "delta.")
            w[dst + "ln_attn.w"] = _norm(r, src, "input_layernorm")
            w[dst + "ln_mlp.w"] = _norm(r, src, "post_attention_layernorm")
        for ours, theirs in GATED:
            w[f"{dst}mlp.{ours}"] = r.linear(f"{src}mlp.{theirs}.weight")
    _unembed(w, sd, cfg)
    return w


def _delta_rule(w: StateDict, r: _Reader, src: str, dst: str) -> None:
    """The rule's separate maps under delta_net.py's names: W_qkv's rows q | k | v, the kernel, A_log, dt_bias, the
    gated norm (o_norm) and W_out (o_proj)."""
    w[dst + "W_qkv"] = torch.cat([r.linear(f"{src}{p}_proj.weight") for p in "qkv"], dim=1)  # [d_model, width]
    for ours, theirs in (("W_z", "g_proj"), ("W_a", "a_proj"), ("W_b", "b_proj"), ("W_out", "o_proj")):
        w[dst + ours] = r.linear(f"{src}{theirs}.weight")
    if r.has(src + "conv1d.weight"):
        kernel = r.get(src + "conv1d.weight")
    else:  # as stored: one kernel each for q, k and v
        kernel = torch.cat([r.get(f"{src}{p}_conv1d.weight") for p in "qkv"])
    w[dst + "kernel"] = kernel[:, 0, :].contiguous()  # (width, L)
    w[dst + "A_log"], w[dst + "dt_bias"] = r.get(src + "A_log"), r.get(src + "dt_bias")
    w[dst + "norm.w"] = r.get(src + "o_norm.weight")


# transformers' name of a norm ← the name it has in OLMo-core's files
STORED_NORMS = {"input_layernorm": "attention_layer_norm", "post_attention_layernorm": "feedforward_layer_norm"}


def _norm(r: _Reader, src: str, name: str) -> torch.Tensor:
    """A block's norm weight under transformers' `name`, or the stored name transformers renames to it."""
    return r.get(f"{src}{name if r.has(f'{src}{name}.weight') else STORED_NORMS[name]}.weight")


ADAPTERS = {"olmo_hybrid": (olmo_hybrid_config, olmo_hybrid_weights)}
