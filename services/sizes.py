"""Parameter counts and context size, from the engine: the calculator's breakdown (attention_core.params
formulas), the loaded model's exact counts, and measured trace times. The pure n² arithmetic lives in
viz.views.sizes."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from attention_core.params import GPT3, attention_breakdown, attention_parameters, model_parameters

GPT3_PRESET = {k: GPT3[k] for k in ("d_model", "d_head", "n_heads", "n_layers")}
GPT3_TOTAL = model_parameters(**GPT3)["total"]  # 175,181,291,520 in 3Blue1Brown's accounting

# A repeatable filler text for timing: long enough to cut to any measured length.
FILLER = "a fluffy blue creature roamed the verdant forest. " * 800


@dataclass(frozen=True)
class Breakdown:
    d_model: int
    d_head: int
    n_heads: int
    n_layers: int
    per_matrix_per_head: int  # query, key, value-down, value-up: each d_model·d_head
    per_head: int
    per_layer: int
    total: int

    COUNT_COLUMNS = ("per head", "per layer", "all layers")  # exact counts, as text: they can pass int64

    def rows(self) -> list[dict[str, str]]:
        """Table rows for the page (strings with thousands separators: these are exact integers)."""
        names = ["query (W_Q)", "key (W_K)", "value-down (W_V)", "value-up (W_O slice)"]
        out = [
            {
                "matrix": name,
                "shape": f"{self.d_model} × {self.d_head}" if i < 3 else f"{self.d_head} × {self.d_model}",
                "per head": f"{self.per_matrix_per_head:,}",
                "per layer": f"{self.per_matrix_per_head * self.n_heads:,}",
                "all layers": f"{self.per_matrix_per_head * self.n_heads * self.n_layers:,}",
            }
            for i, name in enumerate(names)
        ]
        out.append(
            {
                "matrix": "all four",
                "shape": "",
                "per head": f"{self.per_head:,}",
                "per layer": f"{self.per_layer:,}",
                "all layers": f"{self.total:,}",
            }
        )
        return out


def breakdown(d_model: int, d_head: int, n_heads: int, n_layers: int) -> Breakdown:
    b = attention_breakdown(d_model, d_head, n_heads, n_layers)
    assert b["total"] == attention_parameters(d_model, d_head, n_heads, n_layers)  # two routes, one number
    return Breakdown(d_model, d_head, n_heads, n_layers, b["per_head_each"], b["per_head"], b["per_layer"], b["total"])


def share_text(part: int, total: int) -> str:
    """part / total as a percentage to one decimal; a nonzero share that would round to 0.0% gets two significant
    digits instead, so it does not read as none ("0.026%")."""
    share = 100 * part / total
    return f"{share:.2g}%" if 0 < share < 0.05 else f"{share:.1f}%"


# Attention's tensors in the order the pass reads them: the query's maps, the keys', the values', the output gate's
# (AFMoE), the output; latent attention's (DeepSeek: latent.py) among them where they stand. Anything else follows, by
# name.
_ATTENTION_ORDER = (
    "W_Q", "b_Q", "W_DQ", "b_DQ", "q_latent_norm.w", "W_UQ", "W_K", "b_K", "W_DKV", "b_DKV", "kv_latent_norm.w", "W_KR",
    "b_KR", "W_UK", "W_V", "b_V", "W_UV", "W_G", "b_G", "W_O", "b_O",
)  # fmt: skip


def component_order(names: Sequence[str]) -> list[str]:
    """Parameter components as the page lists them: attention first, its matrices in the chapter's order (query, key,
    value, output: W_Q, b_Q, W_K, ...; latent attention's maps where the pass reads them; then its norms and biases by
    name), cross-attention next, the rest by name."""

    def key(name: str) -> tuple:
        group, _, tensor = name.partition(".")
        rank = {"attention": 0, "cross_attention": 1}.get(group, 2) if tensor else 2
        place = _ATTENTION_ORDER.index(tensor) if tensor in _ATTENTION_ORDER else len(_ATTENTION_ORDER)
        return rank, place, tensor, name

    return sorted(names, key=key)


def loaded_breakdown(model: Any) -> list[dict[str, str]]:
    """The loaded model's exact parameter count by component (model.parameter_counts())."""
    counts = model.parameter_counts()
    total = counts["total"]
    order = component_order([k for k in counts if k != "total"])
    rows = [{"component": k, "parameters": f"{counts[k]:,}", "share": share_text(counts[k], total)} for k in order]
    rows.append({"component": "total", "parameters": f"{total:,}", "share": "100.0%"})
    return rows


@dataclass(frozen=True)
class Timing:
    n_tokens: int
    seconds: float  # best of `repeats` runs of model.trace (the forward pass; patterns are computed lazily)
    repeats: int


def measure_trace(model: Any, lengths: Sequence[int], repeats: int = 2) -> list[Timing]:
    """Time model.trace on FILLER cut to each length; best of `repeats` (the first run warms caches)."""
    out = []
    for n in sorted(set(int(x) for x in lengths)):
        n = min(n, model.max_tokens)
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            trace = model.trace(FILLER, max_tokens=n)
            best = min(best, time.perf_counter() - t0)
        out.append(Timing(trace.n_tokens, best, repeats))
    return out
