"""RoPE scaling from a checkpoint's declared rule → ModelConfig's per-frequency divisors (llama.cpp's form).

Hugging Face config.json names a rule (`rope_scaling` / `rope_parameters`: rope_type + parameters); a GGUF
file carries llama3's divisors as the tensor rope_freqs.weight and linear scaling as metadata. Both end as
`rope_freq_divisors` (frequency i = θ^(-2i/r) / divisors[i]), which blocks.rope_tables applies in one place.
Supported: "linear" and "llama3". YaRN, LongRoPE and dynamic NTK also change the attention factor or depend
on the sequence length: refused by name rather than approximated.
"""

from __future__ import annotations

import math

import torch

from ..errors import ModelLoadError

SUPPORTED = ("linear", "llama3")


def scaling_kind(params: dict) -> str:
    """The rule's name ("default" for plain RoPE), from either spelling transformers has used."""
    return str(params.get("rope_type") or params.get("type") or "default")


def rope_divisors(params: dict, theta: float, rotary_dim: int) -> tuple[tuple[float, ...], str | None]:
    """(divisors, description) for a Hugging Face rope rule; ((), None) for plain RoPE."""
    kind = scaling_kind(params)
    if kind == "default":
        return (), None
    if kind not in SUPPORTED:
        raise ModelLoadError(
            f"RoPE scaling {kind!r} is not supported yet; supported: {', '.join(SUPPORTED)} (and plain RoPE)."
        )
    factor = float(params["factor"])
    if kind == "linear":  # positions / factor ≡ every frequency / factor
        return (factor,) * (rotary_dim // 2), f"linear, factor {factor:g}"
    return _llama3(params, factor, theta, rotary_dim), f"llama3, factor {factor:g}"


def _llama3(params: dict, factor: float, theta: float, rotary_dim: int) -> tuple[float, ...]:
    """transformers' _compute_llama3_parameters as divisors: long wavelengths (beyond the original context /
    low_freq_factor) ÷ factor, short ones (below original / high_freq_factor) kept, a smooth blend between."""
    low, high = float(params["low_freq_factor"]), float(params["high_freq_factor"])
    old_context = float(params["original_max_position_embeddings"])
    # the same float32 frequencies as transformers, so a wavelength on a boundary falls on the same side
    inv_freq = 1.0 / (theta ** (torch.arange(0, rotary_dim, 2, dtype=torch.int64).float() / rotary_dim))
    out = []
    for f in inv_freq.tolist():
        wavelen = 2 * math.pi / f
        if wavelen < old_context / high:
            out.append(1.0)
        elif wavelen > old_context / low:
            out.append(factor)
        else:
            smooth = (old_context / wavelen - low) / (high - low)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return tuple(out)


def gguf_linear(kind: str, factor: float, rotary_dim: int) -> tuple[tuple[float, ...], str | None]:
    """GGUF metadata rope.scaling.type / .factor (llama.cpp writes "linear" for HF's linear rule)."""
    if kind in ("none", "") or factor == 1.0:
        return (), None
    if kind != "linear":
        raise ModelLoadError(f"RoPE scaling {kind!r} (factor {factor:g}) is not supported yet; supported: linear, "
                             "llama3 (rope_freqs) and plain RoPE.")
    return (factor,) * (rotary_dim // 2), f"linear, factor {factor:g}"
