"""RoPE scaling from a checkpoint's declared rule → ModelConfig's per-frequency divisors (llama.cpp's form).

Hugging Face config.json names a rule (`rope_scaling` / `rope_parameters`: rope_type + parameters); a GGUF
file carries llama3's divisors as the tensor rope_freqs.weight and linear and YaRN scaling as metadata. All end as
`rope_freq_divisors` (frequency i = θ^(-2i/r) / divisors[i]), which blocks.rope_tables applies in one place.
Supported: "linear", "llama3", "yarn" (its blend of stretched and kept frequencies as the divisors, its attention
factor on cos and sin), "longrope" (Phi-3.5, Phi-4-mini: its short factors as the divisors, its attention factor,
and texts capped at the original context, past which the model would switch to its long factors) and "dynamic"
(dynamic NTK: plain RoPE up to max_position_embeddings, where texts are capped, since past it the frequencies would
change with the text's length). Any other rule is refused by name rather than approximated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..config_check import MAX_HEAD_WIDTH
from ..errors import ModelLoadError

SUPPORTED = ("linear", "llama3", "yarn", "longrope", "dynamic")


@dataclass(frozen=True)
class RopeRule:
    """A scaling rule as ModelConfig holds it."""

    divisors: tuple[float, ...] = ()  # frequency i ÷ divisors[i]; () = plain RoPE
    described: str | None = None  # for the sidebar
    attention_factor: float = 1.0  # cos and sin × this (LongRoPE)
    max_tokens: int | None = None  # the longest text the rule holds for (LongRoPE's short factors)

    def fields(self) -> dict:
        """ModelConfig's fields for the rule (its max_tokens caps n_ctx where the caller builds the config)."""
        return dict(rope_freq_divisors=self.divisors, rope_scaling=self.described,
                    rope_attention_factor=self.attention_factor)  # fmt: skip

    def cap(self, n_ctx: int) -> int:
        return n_ctx if self.max_tokens is None else min(n_ctx, self.max_tokens)


def scaling_kind(params: dict) -> str:
    """The rule's name ("default" for plain RoPE), from either spelling transformers has used."""
    return str(params.get("rope_type") or params.get("type") or "default")


def rope_rule(params: dict, theta: float, rotary_dim: int, n_ctx: int) -> RopeRule:
    """The Hugging Face rope rule `params` (with original_max_position_embeddings wherever the config keeps it) of
    a model whose config says max_position_embeddings `n_ctx`; RopeRule() for plain RoPE."""
    kind = scaling_kind(params)
    if kind == "default":
        return RopeRule()
    _refuse_odd_width(rotary_dim)
    if kind not in SUPPORTED:
        raise ModelLoadError(
            f"RoPE scaling {kind!r} is not supported yet; supported: {', '.join(SUPPORTED)} (and plain RoPE)."
        )
    if kind == "longrope":
        return _longrope(params, rotary_dim, n_ctx)
    if kind == "yarn":
        return _yarn(params, theta, rotary_dim, n_ctx)
    factor = float(params["factor"])
    if kind == "dynamic":  # transformers recomputes the base only once a text is longer than n_ctx
        return RopeRule((), f"dynamic NTK, factor {factor:g} (plain RoPE up to {n_ctx} tokens)", max_tokens=n_ctx)
    if kind == "linear":
        return _linear(factor, rotary_dim)
    return RopeRule(_llama3(params, factor, theta, rotary_dim), f"llama3, factor {factor:g}")


def _refuse_odd_width(rotary_dim: int) -> None:
    """Raise ValueError where `rotary_dim` is no head's width: the rules list a frequency per rotated pair, so a
    mangled 10⁹ would fill the memory, and a negative one trips torch.arange."""
    if not 1 <= rotary_dim <= MAX_HEAD_WIDTH:
        raise ValueError(f"a rotary width of {rotary_dim} (head_dim, or the part of it that rotates) is not a head's")


def _linear(factor: float, rotary_dim: int) -> RopeRule:
    """positions / factor ≡ every frequency / factor (Hugging Face's "linear"; GGUF's rope.scaling.type linear)."""
    return RopeRule((factor,) * (rotary_dim // 2), f"linear, factor {factor:g}")


def _longrope(params: dict, rotary_dim: int, n_ctx: int) -> RopeRule:
    """transformers' _compute_longrope_parameters for a text within the original context: the short factors divide
    the frequencies, and cos and sin are scaled by the attention factor (given, or √(1 + ln(s) / ln(original)) with
    s = max_position_embeddings / original; 1 when s ≤ 1)."""
    original = int(params["original_max_position_embeddings"])
    short = tuple(float(f) for f in params["short_factor"])
    if len(short) != rotary_dim // 2:
        raise ModelLoadError(f"LongRoPE's short_factor has {len(short)} values for {rotary_dim // 2} frequencies.")
    attention = params.get("attention_factor")
    if attention is None:
        attention = longrope_attention_factor(float(params.get("factor") or n_ctx / original), original)
    return longrope_rule(short, float(attention), original)


def longrope_attention_factor(factor: float, original: int) -> float:
    """LongRoPE's default factor on cos and sin, for a model stretched `factor` times past its original context:
    √(1 + ln factor / ln original), 1 when it is not stretched (transformers' and llama.cpp's converter's rule)."""
    return 1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(original))


def longrope_rule(short: tuple[float, ...], attention_factor: float, original: int) -> RopeRule:
    """LongRoPE within the original context, from Hugging Face's rule or a GGUF's rope_factors_short tensor."""
    described = f"longrope, short factors (texts up to {original} tokens), attention factor {attention_factor:.4g}"
    return RopeRule(short, described, attention_factor, original)


def _yarn(params: dict, theta: float, rotary_dim: int, n_ctx: int) -> RopeRule:
    """transformers' _compute_yarn_parameters as divisors: frequency i blends its stretched (÷ factor) and kept
    values by a ramp over the dimensions between the ones that turn beta_fast and beta_slow times within the
    original context; cos and sin × the attention factor (given, or from mscale and mscale_all_dim, or
    0.1 ln factor + 1)."""
    original = float(params["original_max_position_embeddings"])
    factor = float(params.get("factor") or n_ctx / original)
    attention = params.get("attention_factor")
    if attention is None:
        mscale, mscale_all_dim = params.get("mscale"), params.get("mscale_all_dim")
        attention = (_yarn_mscale(factor, mscale) / _yarn_mscale(factor, mscale_all_dim) if mscale and mscale_all_dim
                     else _yarn_mscale(factor))  # fmt: skip
    low, high = _yarn_ramp_ends(params, theta, rotary_dim, original)
    if low == high:
        high += 0.001  # transformers' guard against a zero-width ramp
    ramp = ((torch.arange(rotary_dim // 2, dtype=torch.float32) - low) / (high - low)).clamp(0, 1)
    kept = 1 - ramp  # 1: the frequency as trained (fast ones); 0: stretched by the factor (slow ones)
    divisors = tuple(1.0 / (k + (1 - k) / factor) for k in kept.tolist())
    described = f"yarn, factor {factor:g} over {original:g} tokens, attention factor {float(attention):.4g}"
    return RopeRule(divisors, described, float(attention))


def _yarn_mscale(factor: float, mscale: float = 1.0) -> float:
    return 1.0 if factor <= 1 else 0.1 * mscale * math.log(factor) + 1.0


def _yarn_ramp_ends(params: dict, theta: float, rotary_dim: int, original: float) -> tuple[float, float]:
    """The dimensions (as frequency indices) where the ramp starts and ends: the one that turns beta_fast times
    within the original context, and the one that turns beta_slow times; rounded outwards unless truncate is
    False."""

    def dim_turning(turns: float) -> float:
        return rotary_dim * math.log(original / (turns * 2 * math.pi)) / (2 * math.log(theta))

    low, high = dim_turning(float(params.get("beta_fast") or 32)), dim_turning(float(params.get("beta_slow") or 1))
    if params.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    return max(low, 0), min(high, rotary_dim - 1)


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


def gguf_rule(kind: str, factor: float, rotary_dim: int, theta: float, yarn: dict) -> RopeRule:
    """GGUF metadata rope.scaling.type / .factor: "linear" (llama.cpp writes it for HF's linear rule) or "yarn",
    whose other keys `yarn` holds (original: rope.scaling.original_context_length, else the context length;
    beta_fast, beta_slow, log_mul: yarn_log_multiplier, attn_factor, ext_factor; None where absent; and truncate, False
    for a model whose ramp ends are not rounded, as llama.cpp rounds them: GPT-OSS). YaRN's factor on
    cos and sin is llama.cpp's: 0.1 ln factor + 1 (over the same with log_mul, where the file has it) × attn_factor;
    a ramp scaled by an ext_factor other than 1 is refused."""
    if kind in ("none", "") or factor == 1.0:
        return RopeRule()
    _refuse_odd_width(rotary_dim)
    if kind == "linear":
        return _linear(factor, rotary_dim)
    if kind != "yarn":
        raise ModelLoadError(f"RoPE scaling {kind!r} (factor {factor:g}) is not supported yet; supported: linear, "
                             "yarn, llama3 (rope_freqs) and plain RoPE.")  # fmt: skip
    if yarn.get("ext_factor") not in (None, 1.0):
        raise ModelLoadError(f"YaRN with rope.scaling.yarn_ext_factor {yarn['ext_factor']:g} (not 1) is not "
                             "supported yet.")  # fmt: skip
    log_mul = yarn.get("log_mul")
    attention = _yarn_mscale(factor) / (_yarn_mscale(factor, log_mul) if log_mul else 1.0)
    params = dict(factor=factor, original_max_position_embeddings=yarn["original"], beta_fast=yarn.get("beta_fast"),
                  beta_slow=yarn.get("beta_slow"), attention_factor=attention * (yarn.get("attn_factor") or 1.0),
                  truncate=yarn.get("truncate", True))
    return _yarn(params, theta, rotary_dim, int(yarn["original"]))
