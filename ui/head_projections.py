"""Inside one head's step 2, queries and keys: Q = E·W_Q and K = E·W_K (with the model's q/k norms and RoPE), or, for
multi-head latent attention (DeepSeek, MiniCPM3: attention_core/latent.py), read up from the layer's latents; and,
for a model that gates each head's output (AFMoE), step 6½: the gate σ(E·W_G) and the gated z."""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from ui.context import PageContext
from ui.widgets import show_chart
from viz.figures.mechanism import matrix_heatmap
from viz.views.head_window import StepsWindow, kv_head_name, qk_titles
from viz.views.norm_words import projection_title, qk_norm_caption, qk_norm_name
from viz.views.position_words import latent_caption, nope_caption, rope_caption


def queries_and_keys(
    ctx: PageContext, s: Any, w: StepsWindow, wl: list[str], rows: str, pos: np.ndarray | None
) -> None:
    """Step 2 for the head's steps `s` (attention_core.steps.HeadSteps), drawn for the window `w` of tokens (row
    labels `wl`, `rows` tokens of the text, their positions `pos` where not every token is shown)."""
    if s.kv_input is None:
        _projections(s, w, wl, rows, pos)
    else:
        _latent_projections(ctx, s, w, wl, rows, pos)
    _rotation(ctx, s, w, wl, rows, pos)


def _token_chart(matrix: np.ndarray, title: str, wl: list[str], columns: str, rows_are: str, key: str, pos) -> None:
    show_chart(matrix_heatmap(matrix, title, wl, None, columns, rows_are, row_positions=pos), key)


def _weight_chart(matrix: np.ndarray, title: str, rows_are: str, columns: str, key: str) -> None:
    show_chart(matrix_heatmap(matrix, title, None, None, columns, rows_are), key)


def _projections(s: Any, w: StepsWindow, wl: list[str], rows: str, pos: np.ndarray | None) -> None:
    d, dm = s.d_head, s.d_model
    st.subheader("2 · Queries and keys: Q = E·W_Q, K = E·W_K")
    kv = kv_head_name(s.group_size, s.head, s.kv_head)  # whose W_K, W_V: shared under grouped-query attention
    bias = " This model adds a bias to each: b_Q and b_K." if s.has_bias else ""
    norm = qk_norm_caption(s.qk_norm, s.uses_rope, s.qk_norm_after_rope, s.qk_norm_weighted, qk_norm_name(s.norm),
                           s.qk_norm_per_head, s.qk_norm_shifted)
    clip = "" if s.qkv_clip is None else (f" This model clamps q, k and v to ±{s.qkv_clip:g} right after their maps "
                                          "(clip_qkv): the charts below show them clamped.")  # fmt: skip
    st.caption(
        f'W_Q asks "what am I looking for?", W_K answers "what do I offer?". '
        f"Both map d_model = {dm} to d_head = {d}.{bias}{norm}{clip}"
    )
    titles = qk_titles(s, rows, "before" if s.uses_rope else "")
    c1, c2 = st.columns(2)
    with c1:
        _weight_chart(s.W_Q, f"W_Q (head {s.head})  [{dm} × {d}]", "d_model", "d_head", "mech_WQ")
        _token_chart(w["q_pre"], titles["Q"], wl, "d_head", "query token", "mech_Q_pre", pos)
    with c2:
        _weight_chart(s.W_K, f"W_K ({kv})  [{dm} × {d}]", "d_model", "d_head", "mech_WK")
        _token_chart(w["k_pre"], titles["K"], wl, "d_head", "key token", "mech_K_pre", pos)


def _latent_projections(
    ctx: PageContext, s: Any, w: StepsWindow, wl: list[str], rows: str, pos: np.ndarray | None
) -> None:
    """Latent attention: c_KV (and c_Q) first, then this head's maps up from them and its q and k before RoPE."""
    d, dm, r_kv, rope = s.d_head, s.d_model, s.kv_input.shape[1], s.W_KR.shape[1]
    q_from = "E·W_Q" if s.q_input is None else "c_Q·W_UQ"
    st.subheader(f"2 · Queries and keys from latents: Q = {q_from}, K = [c_KV·W_UK | E·W_KR]")
    st.caption(latent_caption(ctx.model_title, r_kv, None if s.q_input is None else s.q_input.shape[1], d - rope,
                              rope, s.head))  # fmt: skip
    # one row each, so that the latents, the maps and the products line up across the columns
    c1, c2 = st.columns(2)
    if s.q_input is not None:
        with c1:
            _token_chart(w["q_input"], f"c_Q = RMSNorm(E·W_DQ)  [{rows} × {s.q_input.shape[1]}]", wl, "latent",
                         "query token", "mech_cQ", pos)  # fmt: skip
    with c2:
        _token_chart(w["kv_input"], f"c_KV = RMSNorm(E·W_DKV)  [{rows} × {r_kv}]", wl, "latent", "key token",
                     "mech_cKV", pos)  # fmt: skip
    c1, c2, c3 = st.columns(3)
    with c1:
        if s.q_input is not None:
            _weight_chart(s.W_Q, f"W_UQ (head {s.head})  [{s.q_input.shape[1]} × {d}]", "latent", "d_head", "mech_WQ")
        else:
            _weight_chart(s.W_Q, f"W_Q (head {s.head})  [{dm} × {d}]", "d_model", "d_head", "mech_WQ")
    with c2:
        _weight_chart(s.W_K, f"W_UK (head {s.head})  [{r_kv} × {d - rope}]", "latent", "d_nope", "mech_WK")
    with c3:
        _weight_chart(s.W_KR, f"W_KR (every head)  [{dm} × {rope}]", "d_model", "d_rope", "mech_WKR")
    titles = qk_titles(s, rows, "before" if s.uses_rope else "")
    c1, c2 = st.columns(2)
    with c1:
        _token_chart(w["q_pre"], titles["Q"], wl, "d_head", "query token", "mech_Q_pre", pos)
    with c2:
        _token_chart(w["k_pre"], titles["K"], wl, "d_head", "key token", "mech_K_pre", pos)


def _rotation(ctx: PageContext, s: Any, w: StepsWindow, wl: list[str], rows: str, pos: np.ndarray | None) -> None:
    d, cfg = s.d_head, ctx.config
    if not s.uses_rope:
        if cfg.uses_rope:  # a NoPE layer (SmolLM3's every 4th) of a model whose other layers rotate
            st.caption(nope_caption(ctx.model_title, ctx.layer))
        return
    rotary = cfg.rotary_dim or d
    factor = cfg.rope_attention_factor if cfg.rope_divisors(s.layer) else 1.0
    first = d - rotary if s.kv_input is not None else 0  # latent attention rotates a head's last dimensions
    st.caption(rope_caption(ctx.model_title, d, rotary, cfg.rope_pairs_reordered, factor, cfg.rope_scaling, first,
                            cfg.rope_reversed))  # fmt: skip

    def after(name: str) -> str:  # the rotated q or k's title (Hunyuan's normalised after the rotation)
        if s.qk_norm_after_rope:
            return projection_title(name, s.has_bias, s.qk_norm, rows, d, "after", True, s.qk_norm_weighted,
                                    s.qkv_clip)  # fmt: skip
        return f"{name} after RoPE  [{rows} × {d}]"

    c1, c2 = st.columns(2)
    with c1:
        _token_chart(w["q"], after("Q"), wl, "d_head", "query token", "mech_Q", pos)
    with c2:
        _token_chart(w["k"], after("K"), wl, "d_head", "key token", "mech_K", pos)


def output_gate_step(s: Any, w: StepsWindow, wl: list[str], rows: str, pos: np.ndarray | None) -> None:
    """Step 6½ of a model that gates each head's output (AFMoE): g = σ(E·W_G[head]), and z ⊙ g, what W_O reads."""
    dv = s.z.shape[1]
    st.subheader("6½ · Output gate: z ⊙ σ(E·W_G[head])")
    sets = (f"one number between 0 and 1 for this head (g = σ(E·W_G), W_G's column for this head; drawn on each of the "
            f"{dv} dimensions it multiplies), and z is multiplied by it" if s.gate_per_head else
            f"{dv} numbers between 0 and 1 for this head (g = σ(E·W_G), W_G is this head's own), and z is multiplied "
            "by them, dimension by dimension,")  # fmt: skip
    st.caption(
        f"This model gates each head's output: every query token sets, from its own embedding, {sets} before "
        "value-up. A key's part in a query's update is then A[i, j]·(g_i ⊙ v_j)·W_O: the same key sends more to one "
        "query than another."
    )
    c1, c2 = st.columns(2)
    with c1:
        show_chart(
            matrix_heatmap(w["gate"], f"g = σ(E·W_G[{s.head}])  [{rows} × {dv}]", wl, None, "d_head", "query token",
                           row_positions=pos),  # fmt: skip
            "mech_gate",
        )
    with c2:
        show_chart(
            matrix_heatmap(w["z_out"], f"z ⊙ g  [{rows} × {dv}]", wl, None, "d_head", "query token",
                           row_positions=pos),  # fmt: skip
            "mech_z_gated",
        )
