"""Layer-by-layer results of a trace (issue 16): the logit-lens grid, one position's chosen tokens across
layers, value-weighted attention and one token's contribution graph. Each is derived from a cached trace and
cached in its group (services.traces.derived), so it leaves the cache with that trace. numpy out.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from attention_core import Trace
from services.traces import derived, set_threads_for

__all__ = ["contribution_graph", "has_lens", "lens_grid", "lens_ranks", "value_weighted"]


def has_lens(trace: Trace) -> bool:
    """Whether the model has an unembedding to read layers through (decoders; not MiniLM)."""
    return trace.config.has_lm_head


def lens_grid(
    base_key: Hashable, trace: Trace, k: int = 5, start: int = 0, stop: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """([n_layers, m, k] token ids, [n_layers, m, k] probabilities): every layer's top k at positions
    start..stop-1 (default: every position; m = stop - start)."""
    stop = trace.n_tokens if stop is None else int(stop)

    def compute() -> tuple[np.ndarray, np.ndarray]:
        # Threads for the grid's own size: its rows are every (layer, position), each projected onto the whole
        # vocabulary, so even a 64-token text is 1,920 rows × 49,152 tokens on SmolLM2 (~108 GFLOP), work a
        # second core pays for, where the 64-token trace itself runs best on one (backend/threads.py).
        set_threads_for(trace.n_layers * (stop - start))
        top = trace.lens_top(int(k), int(start), stop)
        return top.ids.numpy(), top.probs.numpy().astype(np.float64)

    return derived(base_key, "lens_top", int(k), int(start), stop, compute=compute)


def lens_ranks(
    base_key: Hashable, trace: Trace, position: int, token_ids: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """([n_layers, t] probability, [n_layers, t] rank, 0 = top-1) of each token at `position`, every layer."""
    ids = tuple(int(t) for t in token_ids)

    def compute() -> tuple[np.ndarray, np.ndarray]:
        probs, ranks = trace.lens_ranks(int(position), list(ids))
        return probs.numpy().astype(np.float64), ranks.numpy()

    return derived(base_key, "lens_ranks", int(position), ids, compute=compute)


def value_weighted(base_key: Hashable, trace: Trace, layer: int, head: int) -> np.ndarray:
    """[n_q, n_k] ‖A[i,j]·v_j·W_O^h‖ of one head (float64)."""
    return derived(
        base_key, "value_weighted", int(layer), int(head),
        compute=lambda: trace.value_weighted(int(layer), int(head)).numpy().astype(np.float64),
    )  # fmt: skip


def contribution_graph(base_key: Hashable, trace: Trace, token: int, threshold: float) -> dict[str, np.ndarray]:
    """The edges of `token`'s contribution graph (attention_core/flow.py) as columns of equal length: layer,
    kind ("attention", "residual_attn", "mlp", "residual_mlp"), source, target (positions), importance."""

    def compute() -> dict[str, np.ndarray]:
        set_threads_for(trace.n_tokens)
        edges = trace.contribution_graph(int(token), float(threshold)).edges
        return {
            "layer": np.array([e.layer for e in edges], dtype=np.int64),
            "kind": np.array([e.kind for e in edges], dtype=object),
            "source": np.array([e.source for e in edges], dtype=np.int64),
            "target": np.array([e.target for e in edges], dtype=np.int64),
            "importance": np.array([e.importance for e in edges], dtype=np.float64),
        }

    return derived(base_key, "contribution_graph", int(token), round(float(threshold), 6), compute=compute)
