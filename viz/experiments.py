"""Experiments on the real model: change one head (ablate it, change its temperature, force its pattern)
and see what happens downstream: the next-token prediction, the log-probability of one token, and how
far each later layer's embedding of one position moved. Plus a ranking of every head by how much
ablating it alone lowers the log-probability of a chosen next token (the engine's batched sweep).

This module keeps the running part, no Streamlit: `run_trace` / `run_sweep` through a small
process-wide cache whose key includes the interventions (they are frozen, hashable values), so "before"
and "after" are never confused. The view models are in viz.views.experiments, the figures in
viz.figures.experiments.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from attention_core import Intervention, ablate_head, ablate_layer, force_pattern, temperature
from viz.views.experiments import CHANGES


def make_intervention(change: str, layer: int, head: int, T: float = 1.0) -> Intervention:
    """The engine's intervention for one of CHANGES on (layer, head)."""
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
    raise ValueError(f"unknown change {change!r}; expected one of {sorted(CHANGES)}")


def valid_interventions(items: Sequence[Any], n_layers: int, n_heads: int) -> tuple[Intervention, ...]:
    """The interventions (from session state) that fit this model, in order, without duplicates."""
    out: list[Intervention] = []
    for item in items:
        if not isinstance(item, Intervention) or not 0 <= item.layer < n_layers:
            continue
        if item.head is not None and not 0 <= item.head < n_heads:
            continue
        if item not in out:
            out.append(item)
    return tuple(out)


# ── running, cached ──────────────────────────────────────────────────────────────────────────────
class ResultCache:
    """A small thread-safe LRU bounded by an estimate of bytes held (traces keep O(n·d) per layer).

    Computing happens outside the lock: two sessions asking for the same new key may both compute it
    (rare, and harmless), but a long sweep never blocks other sessions' lookups.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, compute: Callable[[], Any], size: Callable[[Any], int] = lambda _: 1) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
        value = compute()
        nbytes = int(size(value))
        with self._lock:
            self._items[key] = (value, nbytes)
            self._items.move_to_end(key)
            while len(self._items) > 1 and sum(b for _, b in self._items.values()) > self.max_bytes:
                self._items.popitem(last=False)
        return value

    def __contains__(self, key: tuple) -> bool:
        with self._lock:
            return key in self._items

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


RESULTS = ResultCache(max_bytes=768 * 2**20)


def trace_bytes(trace: Any) -> int:
    """Bytes a trace holds: residuals (n_layers + 1) and q, k, v per layer, float32."""
    cfg = trace.model.config
    per_layer = 2 * cfg.d_model + 2 * cfg.n_kv_heads * cfg.d_head  # resid, q (= d_model), k, v
    return 4 * trace.n_tokens * (cfg.n_layers + 1) * per_layer


def trace_key(model: Any, text: str, causal: bool, cap: int, interventions: Sequence[Intervention]) -> tuple:
    """What identifies a trace: the forward pass is deterministic, so equal keys mean equal traces."""
    return ("trace", model.key, str(model.device), text, bool(causal), int(cap), tuple(interventions))


def run_trace(model: Any, text: str, causal: bool, cap: int, interventions: Sequence[Intervention] = ()) -> Any:
    """`model.trace(text, causal, cap, interventions)`, cached by (model, device, text, masking, cap, interventions)."""
    ivs = tuple(interventions)
    key = trace_key(model, text, causal, cap, ivs)
    compute = lambda: model.trace(text, causal=causal, max_tokens=cap, interventions=ivs)  # noqa: E731
    return RESULTS.get(key, compute, trace_bytes)


def sweep_key(model: Any, text: str, causal: bool, cap: int, target_id: int, mode: str = "zero") -> tuple:
    return ("sweep", model.key, str(model.device), text, bool(causal), int(cap), int(target_id), mode)


def run_sweep(trace: Any, cap: int, target_id: int, mode: str = "zero") -> np.ndarray:
    """[n_layers, n_heads] change in log p(target_id) after the last token when each head alone is ablated
    (the engine's batched `head_ablation_sweep` on a clean trace), cached."""
    from attention_core.sweep import head_ablation_sweep

    key = sweep_key(trace.model, trace.text, trace.causal, cap, target_id, mode)
    compute = lambda: head_ablation_sweep(trace, int(target_id), position=-1, mode=mode).numpy().astype(np.float64)  # noqa: E731
    return RESULTS.get(key, compute, lambda a: a.nbytes)


def has_sweep(trace: Any, cap: int, target_id: int, mode: str = "zero") -> bool:
    return sweep_key(trace.model, trace.text, trace.causal, cap, target_id, mode) in RESULTS
