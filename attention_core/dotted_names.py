"""`trace["blocks.3.attn.pattern"]`: each dotted name of a Trace's tensors (listed with their shapes in
attention_core/trace.py's docstring) and the method that computes it. Every tensor comes out float32 on the CPU."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from . import lens
from .device import host_float

if TYPE_CHECKING:
    from .trace import Trace


def lookup(trace: Trace, name: str) -> torch.Tensor:
    """The tensor named `name` ("logits" or "blocks.{layer}.{what}"); KeyError for a name a trace does not have."""
    if name == "logits":
        logits = trace.logits
        if logits is None:
            raise KeyError("logits: encoders have no next-token logits")
        return logits
    parts = name.split(".")
    try:
        assert parts[0] == "blocks"
        layer, rest = int(parts[1]), ".".join(parts[2:])
    except (AssertionError, IndexError, ValueError):
        raise KeyError(name) from None
    trace.check(layer)
    getters = _layer_getters(trace, layer)
    if rest not in getters:
        raise KeyError(name)
    return getters[rest]()


def _layer_getters(trace: Trace, layer: int) -> dict[str, Callable[[], torch.Tensor]]:
    t, cap = trace, trace.captured
    getters: dict[str, Callable[[], torch.Tensor]] = {
        "resid_pre": lambda: t.resid(layer),
        "resid_post": lambda: t.resid(layer + 1),
        "resid_mid": lambda: t.resid_mid(layer),
        "attn.q": lambda: host_float(cap.q[layer]),
        "attn.k": lambda: host_float(cap.k[layer]),
        "attn.v": lambda: host_float(cap.v[layer]),
        "attn.scores": lambda: host_float(t._scores(layer, slice(None))),
        "attn.uncapped_scores": lambda: host_float(t._scores(layer, slice(None), capped=False, with_bias=False)),
        "attn.mask": lambda: t.mask(layer),
        "attn.masked_scores": lambda: (
            host_float(t._scores(layer, slice(None))).masked_fill(~t.mask(layer), float("-inf"))
        ),
        "attn.pattern": lambda: t.layer_patterns(layer),
        "attn.z": lambda: t.z(layer),
        "attn.head_out": lambda: t.head_out(layer),
        "attn_out": lambda: t.attn_out(layer),
    }
    if t.config.position_bias != "none":
        getters["attn.position_bias"] = lambda: host_float(t._bias(layer))
    if t.config.attn_output_gate:
        getters["attn.gate"] = lambda: host_float(lens.output_gate(t, layer))
    return getters
