"""The changes the Experiments page offers, as the engine's interventions (frozen, hashable values that
are part of a trace's cache key). Pages keep them in session state and hand them back to services.traces;
they read only `.layer`, `.head` and `.describe()`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from attention_core import Intervention, ablate_head, ablate_layer, force_pattern, temperature

# The page's change names (viz.views.experiments.CHANGES labels them), in the order it offers them.
CHANGE_NAMES = ("zero", "mean", "previous", "self", "temperature", "layer")


def make_intervention(change: str, layer: int, head: int, T: float = 1.0) -> Intervention:
    """The engine's intervention for one of CHANGE_NAMES on (layer, head)."""
    if change == "zero":
        return ablate_head(layer, head, mode="zero")
    if change == "mean":
        return ablate_head(layer, head, mode="mean")
    if change == "previous":
        return force_pattern(layer, head, "previous")
    if change == "self":
        return force_pattern(layer, head, "self")
    if change == "temperature":
        return temperature(layer, head, T)
    if change == "layer":
        return ablate_layer(layer)
    raise ValueError(f"unknown change {change!r}; expected one of {sorted(CHANGE_NAMES)}")


def valid_interventions(
    items: Sequence[Any], n_layers: int, n_heads: int, attention_layers: Sequence[int] | None = None
) -> tuple[Intervention, ...]:
    """The interventions (from session state) that fit this model, in order, without duplicates; a hybrid's
    `attention_layers` (None: every layer) are the only ones with heads to change."""
    out: list[Intervention] = []
    for item in items:
        if not isinstance(item, Intervention) or not 0 <= item.layer < n_layers:
            continue
        if attention_layers is not None and item.layer not in attention_layers:
            continue
        if item.head is not None and not 0 <= item.head < n_heads:
            continue
        if item not in out:
            out.append(item)
    return tuple(out)
