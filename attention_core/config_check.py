"""What every ModelConfig holds to, whichever format it was read from: its tuples are tuples (JSON gives lists) and its
numbers are numbers of the declared kind, in range, so a mangled config.json or GGUF header is refused at load
(ValueError, which the loaders turn into a ModelLoadError) rather than tripping the pass at the first trace."""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import types
import typing
from typing import Any

# The tuple fields and their elements' type (a config read back from JSON has lists, which would not hash)
TUPLE_FIELDS = {"sliding_layers": bool, "rope_freq_divisors": float, "rope_layers": bool, "qk_norm_layers": bool,
    "rope_thetas": float, "swiglu_clamp": float, "moe_groups": int, "layer_weights": int, "conversion_notes": str,
    "mixers": str, "mlp_layers": bool, "norm_positions": str, "kv_heads_layers": int, "delta_heads": int,
    "delta_dims": int, "ssm_shape": int, "ssm_dt_limit": float, "selective_shape": int,
    "class_labels": str, "tag_labels": str}  # fmt: skip

# More layers than any checkpoint has: a reader lists each layer's kind before a weight is read, so a config.json or
# GGUF header saying 10⁹ layers would fill the memory before the missing weights refused it; the loaders check this
# first (refuse_absurd_depth).
MAX_LAYERS = 10_000

# Wider than any head: a RoPE rule lists each rotated pair's frequency when the config is read, so a head_dim of 10⁹
# would fill the memory there before the weights' widths refused it (loading/rope_scaling.py)
MAX_HEAD_WIDTH = 65_536

# Token ids the pass embeds itself, not from the tokenizer: an encoder-decoder's first decoder tokens (seq2seq.py)
EMBEDDED_IDS = ("decoder_start_token_id", "forced_bos_token_id")

# Sizes a model has at least one of (a pass over no layers or no heads shows nothing and fails at the first trace)
AT_LEAST_ONE = ("n_layers", "n_heads", "n_kv_heads", "d_model", "d_head", "d_vocab", "n_ctx")
NOT_NEGATIVE = ("d_mlp", "n_token_types", "pos_offset", "norm_eps")


def settle(config: Any) -> None:
    """Make `config`'s tuple fields tuples, then check every number in it; raises ValueError naming the field."""
    for name, kind in TUPLE_FIELDS.items():
        object.__setattr__(config, name, tuple(kind(x) for x in getattr(config, name)))
    multipliers = tuple((str(k), float(v)) for k, v in config.folded_multipliers)
    object.__setattr__(config, "folded_multipliers", multipliers)
    for name, kind in _scalar_kinds(type(config)).items():
        _check_kind(name, getattr(config, name), kind)
    refuse_absurd_depth(config.n_layers, "its config")
    for name in AT_LEAST_ONE:
        if getattr(config, name) < 1:
            raise ValueError(f"{name} is {getattr(config, name)}; a model needs at least 1")
    for name in NOT_NEGATIVE:
        if getattr(config, name) < 0:
            raise ValueError(f"{name} is {getattr(config, name)}; it cannot be negative")
    if config.rel_buckets == 1:  # half of them each way (T5) or ±half exact (DeBERTa): one bucket divides by zero
        raise ValueError("rel_buckets is 1; relative positions take at least 2 buckets, or none")
    logarithmic = config.rel_max_distance or config.position_bias == "t5"  # DeBERTa's 0: offsets only clamped
    if config.rel_buckets and logarithmic and config.rel_max_distance <= config.rel_buckets // 2:
        # the buckets past the exact ones grow as log(distance / exact) / log(max_distance / exact): ≤ 0 or 1/0
        raise ValueError(f"rel_max_distance is {config.rel_max_distance}; past the exact buckets it must exceed "
                         f"half of rel_buckets ({config.rel_buckets})")  # fmt: skip
    for name in EMBEDDED_IDS:
        if getattr(config, name) is not None and not 0 <= getattr(config, name) < config.d_vocab:
            raise ValueError(f"{name} is {getattr(config, name)}; a token id runs from 0 to {config.d_vocab - 1:,}")
    if config.rotary_dim is not None and not 0 <= config.rotary_dim <= config.d_head:
        raise ValueError(f"rotary_dim is {config.rotary_dim}; a head rotates from none to all of its d_head "
                         f"({config.d_head}) dimensions")  # fmt: skip
    if config.n_heads % config.n_kv_heads:
        raise ValueError(f"n_heads ({config.n_heads}) is not a multiple of n_kv_heads ({config.n_kv_heads})")


def refuse_absurd_depth(n_layers: object, said: str) -> None:
    """Raise ValueError where `n_layers` (as the file states it, `said`: where) is a whole number over MAX_LAYERS."""
    if isinstance(n_layers, numbers.Integral) and n_layers > MAX_LAYERS:
        raise ValueError(f"{said} says {n_layers:,} layers; the engine reads at most {MAX_LAYERS:,}, more than any "
                         "checkpoint has")  # fmt: skip


def _check_kind(name: str, value: object, kind: tuple[type, bool]) -> None:
    """`value` is a number of `kind` (int or float, and whether None is allowed); a float is finite."""
    number, optional = kind
    if value is None and optional:
        return
    whole = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not (whole if number is int else real):
        raise ValueError(f"{name} is {value!r}; it must be {'a whole number' if number is int else 'a number'}"
                         f"{' or none' if optional else ''}")  # fmt: skip
    if number is float and not math.isfinite(value):  # type: ignore[arg-type]
        raise ValueError(f"{name} is {value!r}; it must be finite")


@functools.cache
def _scalar_kinds(cls: type) -> dict[str, tuple[type, bool]]:
    """The dataclass's int and float fields (and those that may be None): name → (int or float, optional)."""
    hints = typing.get_type_hints(cls)
    kinds = {}
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        if typing.get_origin(hint) not in (None, typing.Union, types.UnionType):  # a tuple of numbers: TUPLE_FIELDS
            continue
        args = set(typing.get_args(hint)) or {hint}
        numbers_in = args & {int, float}
        if len(numbers_in) == 1 and args <= {int, float, type(None)}:
            kinds[field.name] = (numbers_in.pop(), type(None) in args)
    return kinds
