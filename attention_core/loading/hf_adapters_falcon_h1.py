"""Hugging Face adapter for TII's Falcon-H1 (falcon_h1: Falcon-H1 0.5B–34B, Falcon-H1R, Falcon-H1-Tiny).

Every layer of a Falcon-H1 runs attention and a Mamba-2 scan side by side on the same normalised input and adds both
outputs to the residual, then a gated SiLU MLP (pre-norm, RMSNorm):

    mid = x + W_O·attention(RMSNorm(x)) + scan(RMSNorm(x)),   out = mid + MLP(RMSNorm(mid))

The engine's layers keep their heads (every layer attends, RoPE, grouped-query) and run the scan beside them
(ModelConfig.ssm_beside_attention, attention_core/mixers.py `beside_attention`); the scan is mamba.py's, its width
mamba_d_ssm where set, its gated RMSNorm optional (mamba_rms_norm) and before or after the gate
(mamba_norm_before_gate: ModelConfig.ssm_norm).

Falcon-H1 multiplies activations by µP factors. Each is a constant on a linear map's input or output, so it is folded
into that map's weights here and the pass has nothing to multiply: attention_in_multiplier into W_Q, W_K and W_V (not
their biases: it scales the input), key_multiplier into W_K and b_K, attention_out_multiplier into W_O and b_O,
ssm_in_multiplier into the scan's W_in, ssm_multipliers (one factor each on z, x, B, C and Δ's rows of the scan's
input projection: transformers' mup_vector) into W_in and b_in by column, ssm_out_multiplier into the scan's W_out
and b_out, mlp_multipliers (gate, down) into W_gate, b_gate and W_out, b_out. The embedding and lm_head multipliers
stay ModelConfig.embed_scale and unembed_scale (an embedding matrix the lm_head may share). The factors are listed in
ModelConfig.folded_multipliers, which the sidebar shows.
"""

from __future__ import annotations

import torch

from ..config import ModelConfig
from ..errors import ModelLoadError
from ..mamba import in_widths
from .hf_adapters import StateDict, _Reader
from .hf_adapters_hybrid import mamba_fields, mamba_weights
from .hf_adapters_modern import _decoder, pre_ff_layout
from .shape_check import mamba2_words, refuse_misfit

# the µP factors folded into the weights (module docstring), as config.json names them; ssm_multipliers and
# mlp_multipliers are lists, spelled out one factor a part
SCALARS = ("attention_in_multiplier", "key_multiplier", "attention_out_multiplier", "ssm_in_multiplier",
           "ssm_out_multiplier")  # fmt: skip
SSM_PARTS = ("z", "x", "B", "C", "dt")


def falcon_h1_config(hf: dict, name: str) -> ModelConfig:
    if hf.get("layers_block_type") not in (None, ["hybrid"] * int(hf["num_hidden_layers"])):
        raise ModelLoadError("Falcon-H1: only layers that are all 'hybrid' (attention beside a scan) are read.")
    width = int(hf.get("mamba_d_ssm") or int(hf.get("mamba_expand", 2)) * int(hf["hidden_size"]))
    scan = mamba_fields({**hf, "mamba_expand": 1, "hidden_size": width}, "Falcon-H1")  # the scan's width: d_ssm
    norm = "none" if not hf.get("mamba_rms_norm") else ("before_gate" if hf.get("mamba_norm_before_gate", True)
                                                        else "after_gate")  # fmt: skip
    return _decoder(hf, name, "falcon_h1", ssm_beside_attention=True, ssm_norm=norm,
                    attn_bias=bool(hf.get("attention_bias")), mlp_bias=bool(hf.get("mlp_bias")),
                    embed_scale=float(hf.get("embedding_multiplier") or 1.0),
                    unembed_scale=float(hf.get("lm_head_multiplier") or 1.0),
                    folded_multipliers=_multipliers(hf), **scan)  # fmt: skip


def _multipliers(hf: dict) -> tuple[tuple[str, float], ...]:
    """Every factor folded into the weights, by name (ssm_multipliers.z … .dt, mlp_multipliers.gate, .down)."""
    ssm = hf.get("ssm_multipliers") or [1.0] * len(SSM_PARTS)
    mlp = hf.get("mlp_multipliers") or [1.0, 1.0]
    if len(ssm) != len(SSM_PARTS) or len(mlp) != 2:
        raise ModelLoadError(f"Falcon-H1: ssm_multipliers {ssm} (5 factors: z, x, B, C, Δ) or mlp_multipliers {mlp} "
                             "(2: gate, down) are not the lengths the model reads.")  # fmt: skip
    named = [(key, hf.get(key)) for key in SCALARS] + list(zip([f"ssm_multipliers.{p}" for p in SSM_PARTS], ssm,
                                                               strict=True))  # fmt: skip
    named += [("mlp_multipliers.gate", mlp[0]), ("mlp_multipliers.down", mlp[1])]
    return tuple((key, float(1.0 if value is None else value)) for key, value in named)


def falcon_h1_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    def block(w: StateDict, r: _Reader, src: str, dst: str, layer: int) -> None:
        for ours, theirs in (("attn.W_Q", "self_attn.q_proj"), ("attn.W_K", "self_attn.k_proj"),
                             ("attn.W_V", "self_attn.v_proj"), ("attn.W_O", "self_attn.o_proj"),
                             ("mlp.W_gate", "feed_forward.gate_proj"), ("mlp.W_in", "feed_forward.up_proj"),
                             ("mlp.W_out", "feed_forward.down_proj")):  # fmt: skip
            w[dst + ours] = r.linear(f"{src}{theirs}.weight")
            if r.has(f"{src}{theirs}.bias"):
                w[dst + ours.replace(".W_", ".b_")] = r.get(f"{src}{theirs}.bias")
        mamba_weights(w, r, src + "mamba.", dst + "ssm.", norm=cfg.ssm_norm != "none")
        _fold(w, dst, cfg)

    return pre_ff_layout(sd, cfg, block)


def _fold(w: StateDict, dst: str, cfg: ModelConfig) -> None:
    """Multiply one layer's weights by the µP factors (module docstring), in place."""
    m = dict(cfg.folded_multipliers)
    into = m["attention_in_multiplier"]
    factors = {  # weight or bias → factor
        "attn.W_Q": into, "attn.W_K": into * m["key_multiplier"], "attn.W_V": into, "attn.b_K": m["key_multiplier"],
        "attn.W_O": m["attention_out_multiplier"], "attn.b_O": m["attention_out_multiplier"],
        "ssm.W_out": m["ssm_out_multiplier"], "ssm.b_out": m["ssm_out_multiplier"],
        "mlp.W_gate": m["mlp_multipliers.gate"], "mlp.b_gate": m["mlp_multipliers.gate"],
        "mlp.W_out": m["mlp_multipliers.down"], "mlp.b_out": m["mlp_multipliers.down"],
    }  # fmt: skip
    for name, factor in factors.items():
        if dst + name in w and factor != 1.0:
            w[dst + name] = w[dst + name] * factor
    sizes = in_widths(cfg)  # W_in's columns: z, x, B, C, Δ
    # shape_check's test of W_in, before a factor is spelled out for each column (10⁹ of them: no memory)
    refuse_misfit(w, {dst + "ssm.W_in": (cfg.d_model, sum(sizes))}, mamba2_words(cfg))
    by_column = torch.cat([torch.full((size,), m[f"ssm_multipliers.{part}"]) for size, part in
                           zip(sizes, SSM_PARTS, strict=True)])  # fmt: skip
    w[dst + "ssm.W_in"] = w[dst + "ssm.W_in"] * (by_column * m["ssm_in_multiplier"])  # [d_model, width] by column
    if dst + "ssm.b_in" in w:
        w[dst + "ssm.b_in"] = w[dst + "ssm.b_in"] * by_column


ADAPTERS = {"falcon_h1": (falcon_h1_config, falcon_h1_weights)}
