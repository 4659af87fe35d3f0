"""Hugging Face adapter for Moonshot AI's Kimi Linear (kimi_linear: Kimi-Linear-48B-A3B).

Three of every four layers run Kimi Delta Attention (KDA): the gated delta rule of attention_core/delta_net.py with a
decay for every key channel rather than one a head, from a low-rank forget gate (f_a_proj, f_b_proj, dt_bias, A_log),
its output normalised per head and gated by σ of a low-rank gate (g_a_proj, g_b_proj; ModelConfig.delta_gate
"sigmoid"). The others run DeepSeek's multi-head latent attention without any position encoding (the shared k_rot
part is kept, never rotated). The MLP: dense in the first layers (mlp_layer_types), then DeepSeek-V3's sigmoid router
over the experts beside a shared expert.

Names: the Hub checkpoint's, which transformers 5 also saves (self_attn.f_a_proj …, q_conv1d / k_conv1d / v_conv1d,
block_sparse_moe.experts.{e}.w1 / w3 / w2), renamed here as transformers' conversion renames them on load. The
config's Hub names (linear_attn_config with 1-indexed full_attn_layers and kda_layers, num_experts_per_token,
num_expert_group, moe_renormalize, num_shared_experts, model_max_length) are read, as transformers' own.
"""

from __future__ import annotations

import re

import torch

from ..config import ModelConfig
from ..errors import ModelLoadError
from .hf_adapters import StateDict, _Reader
from .hf_adapters_hybrid import _some_attention
from .hf_adapters_latent import _latent, _latent_attention
from .hf_adapters_modern import llama_layout
from .hf_adapters_moe import deepseek_mlp, deepseek_moe

# the Hub checkpoint's config keys → transformers' names
HUB_KEYS = {"num_experts_per_token": "num_experts_per_tok", "num_expert_group": "n_group",
            "moe_renormalize": "norm_topk_prob", "num_shared_experts": "n_shared_experts",
            "model_max_length": "max_position_embeddings"}  # fmt: skip
# the Hub checkpoint's tensor names → transformers' (its conversion_mapping for kimi_linear)
HUB_NAMES = ((r"self_attn\.(f_a_proj|f_b_proj|dt_bias|A_log)", r"self_attn.forget_gate.\1"),
             (r"\.block_sparse_moe\.", ".mlp."), (r"\.experts\.(\d+)\.w1\.", r".experts.\1.gate_proj."),
             (r"\.experts\.(\d+)\.w3\.", r".experts.\1.up_proj."),
             (r"\.experts\.(\d+)\.w2\.", r".experts.\1.down_proj."))
KDA_PARTS = (("W_b", "b_proj"), ("W_fa", "forget_gate.f_a_proj"), ("W_fb", "forget_gate.f_b_proj"),
             ("W_ga", "g_a_proj"), ("W_gb", "g_b_proj"), ("W_out", "o_proj"))  # (ours, the checkpoint's), maps


def _normalised(hf: dict) -> dict:
    """config.json with the Hub's keys under transformers' names, and its layer kinds as layer_types."""
    out = {HUB_KEYS.get(key, key): value for key, value in hf.items()}
    n, linear = int(out["num_hidden_layers"]), out.get("linear_attn_config") or {}
    if not out.get("layer_types") and "full_attn_layers" in linear:  # 1-indexed in the checkpoint
        full = {int(i) - 1 for i in linear["full_attn_layers"]}
        out["layer_types"] = ["full_attention" if i in full else "linear_attention" for i in range(n)]
    out.setdefault("layer_types", ["full_attention" if i and i % 4 == 0 else "linear_attention" for i in range(n)])
    out.setdefault("linear_head_dim", linear.get("head_dim", 128))
    out.setdefault("linear_num_heads", linear.get("num_heads", 32))
    out.setdefault("linear_conv_kernel_dim", linear.get("short_conv_kernel_size", 4))
    return out


def kimi_linear_config(hf: dict, name: str) -> ModelConfig:
    hf = _normalised(hf)
    kinds, n = hf["layer_types"], int(hf["num_hidden_layers"])
    if len(kinds) != n or set(kinds) - {"full_attention", "linear_attention"}:
        raise ModelLoadError(f"Kimi Linear: layer types {kinds!r} are not 'full_attention' or 'linear_attention' for "
                             f"each of its {n} layers.")  # fmt: skip
    mixers = _some_attention(tuple("attention" if k == "full_attention" else "gated_delta" for k in kinds),
                             "Kimi Linear")  # fmt: skip
    heads, dim = int(hf["linear_num_heads"]), int(hf["linear_head_dim"])
    return _latent(hf, name, "kimi_linear", False, mixers=mixers, rope_layers=(False,) * n, delta_gate="sigmoid",
                   conv_kernel=int(hf["linear_conv_kernel_dim"]), delta_heads=(heads, heads), delta_dims=(dim, dim),
                   **deepseek_moe(hf, sigmoid=True))  # fmt: skip


def kimi_linear_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    sd = {_renamed(key): value for key, value in sd.items()}

    def block(w: StateDict, r: _Reader, src: str, dst: str) -> None:
        if cfg.attends(int(dst.split(".")[1])):
            _latent_attention(w, r, src, dst, cfg)
        else:
            _kda(w, r, src + "self_attn.", dst + "delta.")
        deepseek_mlp(w, r, src, dst, cfg)

    return llama_layout(sd, cfg, block, ("model.",), "lm_head.weight", attention=False)


def _renamed(key: str) -> str:
    for pattern, replacement in HUB_NAMES:
        key = re.sub(pattern, replacement, key)
    return key


def _kda(w: StateDict, r: _Reader, src: str, dst: str) -> None:
    """One KDA layer under delta_net.py's names: q, k and v maps side by side (W_qkv) and their kernels, β's map, the
    forget gate's and the output gate's low-rank maps, A_log, dt_bias, the norm, W_out."""
    w[dst + "W_qkv"] = torch.cat([r.linear(f"{src}{p}_proj.weight") for p in "qkv"], dim=1)  # [d_model, 3·H·K]
    kernel = torch.cat([r.get(f"{src}{p}_conv1d.weight") for p in "qkv"])  # (3·H·K, 1, L): q's, k's, v's
    w[dst + "kernel"] = kernel[:, 0, :].contiguous()  # (3·H·K, L)
    for ours, theirs in KDA_PARTS:
        w[dst + ours] = r.linear(f"{src}{theirs}.weight")
    w[dst + "A_log"] = r.get(src + "forget_gate.A_log").flatten()  # (H,)
    w[dst + "dt_bias"] = r.get(src + "forget_gate.dt_bias").flatten()  # (H·K,)
    w[dst + "norm.w"] = r.get(src + "o_norm.weight")


ADAPTERS = {"kimi_linear": (kimi_linear_config, kimi_linear_weights)}
