"""`trace["blocks.3.attn.pattern"]`: each dotted name of a Trace's tensors (listed with their shapes in
attention_core/trace.py's docstring) and the method that computes it. Every tensor comes out float32 on the CPU."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

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
        "attn.q": lambda: cap.q[layer].cpu().float(),
        "attn.k": lambda: cap.k[layer].cpu().float(),
        "attn.v": lambda: cap.v[layer].cpu().float(),
        "attn.scores": lambda: t._scores(layer, slice(None)).cpu().float(),
        "attn.uncapped_scores": lambda: t._scores(layer, slice(None), capped=False, with_bias=False).cpu().float(),
        "attn.mask": lambda: t.mask(layer),
        "attn.masked_scores": lambda: (
            t._scores(layer, slice(None)).cpu().float().masked_fill(~t.mask(layer), float("-inf"))
        ),
        "attn.pattern": lambda: t.layer_patterns(layer),
        "attn.z": lambda: t.z(layer),
        "attn.head_out": lambda: t.head_out(layer),
        "attn_out": lambda: t.attn_out(layer),
    }
    if t.config.position_bias != "none":
        getters["attn.position_bias"] = lambda: t._bias().cpu().float()
    return getters
