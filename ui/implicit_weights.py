"""The patterns page's section on a hybrid's scan and delta-rule layers: no heads of attention, yet each of their heads
gives every earlier token one number (attention_core/implicit.py), drawn as a pattern-like matrix."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import streamlit as st

from services.lens import implicit_weights, weighted_layers
from ui.widgets import show_token_heatmap
from viz.figures.implicit import implicit_heatmap
from viz.views.implicit import implicit_sentence, implicit_view

MAX_TOKENS = 256  # a window of a longer text: as the patterns page's full-resolution limit, a cell each with its hover

FORMULAS = {
    "ssm": "A Mamba-2 head gives query t the output Σ_s weight[t, s] · x_s + D·x_t, with weight[t, s] = (C_t·B_s) · "
           "exp(A·(Δ_{s+1} + … + Δ_t)) · Δ_s: how well the query's C matches the source's B, faded by every step "
           "between them (Mamba-2's state-space duality).",
    "gated_delta": "A gated delta rule's head gives query t the output Σ_s weight[t, s] · v_s, with weight[t, s] = "
                   "β_s k_sᵀ A_{s+1}⋯A_t q_t: the source's key as the later tokens' decay and overwriting left it, "
                   "read by the query's q.",
}  # fmt: skip


def implicit_weights_section(key: Hashable, trace: Any, labels: Sequence[str], orient: str) -> None:
    """Draw the section where the model has such layers (nothing otherwise)."""
    layers = weighted_layers(trace)
    if not layers:
        return
    cfg = trace.config
    st.subheader("The scans beside the heads: what they weigh" if cfg.ssm_beside_attention else
                 "The layers without heads: what they weigh")  # fmt: skip
    st.caption(
        _what_runs(cfg, layers)
        + " ".join(FORMULAS[kind] for kind in dict.fromkeys(_kind(cfg, at) for at in layers))
        + " That weight is one number per query and earlier token, as a pattern's is, but from no softmax: it can be "
        "negative and a row need not sum to 1, so red is positive, blue negative, white 0. The causal-mask switch "
        "does not change it: a scan or a delta rule reads only earlier tokens."
    )  # fmt: skip
    pick_layer, pick_head = st.columns(2)
    layer = pick_layer.selectbox("Which of these layers", layers, key="implicit_layer",
                                 format_func=lambda at: f"{at}: {cfg.mixer_name(at)}")  # fmt: skip
    first = _window_start(trace.n_tokens)
    stop = min(trace.n_tokens, first + MAX_TOKENS)
    with st.spinner("Unrolling the layer into weights"):
        weights = implicit_weights(key, trace, layer, first, stop)  # (heads, m, m)
    head = pick_head.selectbox("Which of its heads", range(weights.shape[0]), key="implicit_head")
    view = implicit_view(weights, int(head), labels, layer, trace.n_tokens, first)
    show_token_heatmap(implicit_heatmap(view, orient), "implicit_heatmap")
    st.caption(implicit_sentence(view))


def _what_runs(cfg: Any, layers: Sequence[int]) -> str:
    """The caption's first sentence: which layers run what, instead of attention or beside its heads."""
    if cfg.ssm_beside_attention:
        return ("Every layer runs a Mamba-2 state-space scan beside its attention heads, on the same normalised "
                "input, and adds both outputs to the residual. ")  # fmt: skip
    kinds = " or ".join(dict.fromkeys(map(cfg.mixer_phrase, layers)))
    return f"Layers {', '.join(map(str, layers))} run {kinds} instead of attention. "


def _kind(cfg: Any, layer: int) -> str:
    """FORMULAS' key for `layer`: "ssm" for a scan (in place of attention or beside it), else its mixer."""
    return "ssm" if cfg.scans(layer) else cfg.mixers[layer]


def _window_start(n_tokens: int) -> int:
    """The first token of the window drawn: 0 for a text of MAX_TOKENS or fewer, else picked on a slider."""
    if n_tokens <= MAX_TOKENS:
        return 0
    return int(st.slider(f"Window of {MAX_TOKENS} tokens, from token", 0, n_tokens - MAX_TOKENS, 0,
                         key="implicit_window", help="Sources and queries alike: each weight depends only on the "
                         "tokens from its source to its query, so a window's weights are exact."))  # fmt: skip
