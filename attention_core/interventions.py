"""Experiments on one head or layer: ablate it, change its temperature, or force its pattern.

An intervention is a small frozen (hashable) value, so a list of them can be part of a cache key.
They compose: several may target the same layer, and a pattern change and an ablation of the
same head both apply (the ablation wins, since it discards the head's output).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import torch

Kind = Literal["zero_head", "mean_head", "zero_layer", "temperature", "previous_token", "self_only"]
PATTERN_KINDS = ("temperature", "previous_token", "self_only")


@dataclass(frozen=True)
class Intervention:
    kind: Kind
    layer: int
    head: int | None = None  # None only for zero_layer
    temperature: float = 1.0

    def describe(self) -> str:
        where = f"L{self.layer}" if self.head is None else f"L{self.layer}H{self.head}"
        return {
            "zero_head": f"{where}: output set to zero",
            "mean_head": f"{where}: output set to its mean over positions",
            "zero_layer": f"{where}: whole attention layer removed",
            "temperature": f"{where}: scores ÷ T with T = {self.temperature:g}",
            "previous_token": f"{where}: attends only to the previous token",
            "self_only": f"{where}: attends only to itself",
        }[self.kind]


def ablate_head(layer: int, head: int, mode: Literal["zero", "mean"] = "zero") -> Intervention:
    return Intervention("zero_head" if mode == "zero" else "mean_head", layer, head)


def ablate_layer(layer: int) -> Intervention:
    return Intervention("zero_layer", layer)


def temperature(layer: int, head: int, T: float) -> Intervention:
    return Intervention("temperature", layer, head, float(T))


def force_pattern(layer: int, head: int, to: Literal["previous", "self"]) -> Intervention:
    return Intervention("previous_token" if to == "previous" else "self_only", layer, head)


def validate(
    interventions: Iterable[Intervention] | None, n_layers: int, n_heads: int,
    attention_layers: tuple[int, ...] | None = None,
) -> tuple[Intervention, ...]:  # fmt: skip
    """Check ranges once, up front, so a bad experiment is a clear error and not a wrong number.
    `attention_layers`: the layers with heads (a hybrid's; None: every layer)."""
    out = []
    for iv in interventions or ():
        if not isinstance(iv, Intervention):
            raise TypeError(f"expected an Intervention, got {type(iv).__name__}")
        if not 0 <= iv.layer < n_layers:
            raise ValueError(f"Intervention layer {iv.layer} is out of range 0..{n_layers - 1}.")
        if attention_layers is not None and iv.layer not in attention_layers:
            raise ValueError(f"Intervention layer {iv.layer} has no attention heads (a hybrid's other layer); its "
                             f"attention layers are {', '.join(map(str, attention_layers))}.")  # fmt: skip
        if iv.kind != "zero_layer" and (iv.head is None or not 0 <= iv.head < n_heads):
            raise ValueError(f"Intervention head {iv.head} is out of range 0..{n_heads - 1}.")
        if iv.kind == "temperature" and not (iv.temperature > 0 and math.isfinite(iv.temperature)):
            raise ValueError("Temperature must be a positive finite number.")
        out.append(iv)
    return tuple(out)


def for_layer(interventions: tuple[Intervention, ...], layer: int) -> tuple[Intervention, ...]:
    return tuple(iv for iv in interventions if iv.layer == layer)


def pattern_override(layer_ivs: tuple[Intervention, ...], head: int) -> Intervention | None:
    """The last pattern-changing intervention on this head (later ones override earlier ones)."""
    found = None
    for iv in layer_ivs:
        if iv.head == head and iv.kind in PATTERN_KINDS:
            found = iv
    return found


def modified_pattern(
    scores: torch.Tensor,
    causal: bool,
    iv: Intervention | None,
    row_offset: int = 0,
    window: int | None = None,
    sinks: torch.Tensor | None = None,
) -> torch.Tensor:
    """softmax of (scores / T) under the mask (causal and/or the layer's sliding window), or a forced
    one-hot pattern; scores (..., n_q, n_k) are the layer's own (scaled, soft-capped where it caps). The
    temperature divides the sink's logit too (sinks: GPT-OSS, model.softmax_keys), as it divides every other logit."""
    n_q, n_k = scores.shape[-2:]
    rows = torch.arange(row_offset, row_offset + n_q, device=scores.device)
    if iv is not None and iv.kind in ("previous_token", "self_only"):
        target = (rows - 1).clamp(min=0) if iv.kind == "previous_token" else rows  # token 0 has no previous one
        forced = torch.zeros(n_q, n_k, device=scores.device, dtype=scores.dtype)
        forced[torch.arange(n_q), target] = 1.0
        return forced.expand_as(scores)
    if iv is not None and iv.kind == "temperature":
        scores = scores / iv.temperature
        sinks = None if sinks is None else sinks / iv.temperature
    keys = torch.arange(n_k, device=scores.device)[None, :]  # (1, n_k)
    if causal:
        scores = scores.masked_fill(keys > rows[:, None], float("-inf"))  # (..., n_q, n_k)
    if window is not None:  # a query sees at most `window` keys (itself included)
        scores = scores.masked_fill((rows[:, None] - keys).abs() >= window, float("-inf"))
    from .model import softmax_keys  # the forward pass's softmax; model.py imports this module, so import on use

    return softmax_keys(scores, sinks)  # masked entries are exactly 0: exp(-inf) == 0
