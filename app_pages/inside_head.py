"""Inside one head, step by step: E → Q, K (→ RoPE) → Q·Kᵀ → × the scale (÷√d_head unless the model sets its own)
(→ soft-cap) (→ + position bias) → mask → softmax → V → z → Δe."""

from __future__ import annotations

import numpy as np
import streamlit as st

from ui.context import require_trace
from ui.head_projections import output_gate_step, queries_and_keys
from ui.widgets import fixed_decimals, show_chart, show_token_strip, token_picker
from viz.figures.layout import orientation_caption
from viz.figures.mechanism import matrix_heatmap, query_key_heatmap
from viz.figures.vectors import vector_strips
from viz.labels import axis_labels, counted
from viz.views.common import display_tokens, mask_words
from viz.views.head_vectors import KIND_NAMES, KINDS, picked_vectors
from viz.views.head_window import (
    STEPS_FULL_MAX_TOKENS,
    STEPS_TOGGLE_MAX_TOKENS,
    clipped,
    kv_head_name,
    plus_bias,
    sharing_note,
    step_positions,
    steps_window,
    value_source,
)
from viz.views.mask_parts import SINK_WORDS, softmax_share_lines
from viz.views.norm_words import head_input_caption
from viz.views.patterns import is_long, second_text_at
from viz.views.position_words import bias_words, position_bias_caption, vectors_order_note
from viz.views.score_terms import score_stages, steps_terms

st.title("Inside one head, step by step")
ctx = require_trace()
trace = ctx.trace
s = trace.head_steps(ctx.layer, ctx.head)  # every intermediate, from the engine (attention_core.steps)
n, d, dm = s.n, s.d_head, s.d_model
dv = s.d_value or d  # the values' width: narrower than q and k's under latent attention (DeepSeek)
readable, labels = axis_labels(display_tokens(trace))
orient = ctx.orient
sums = "each row" if orient == "rows" else "each column"  # which way a pattern sums to 1, as drawn

st.caption(
    f"{ctx.model_label} · layer {s.layer}, head {s.head} (pick them in the sidebar) · "
    f"{mask_words(s.causal, ctx.config.window(s.layer))} · n = {counted(n, 'token')}, "
    f"d_model = {dm}, d_head = {d}" + (f", values {dv} wide" if dv != d else "")
)
if is_long(n):  # a wall of a thousand tokens would push everything else off the screen
    with st.expander(f"The {n} tokens as {ctx.model_title} split them"):
        show_token_strip(display_tokens(trace))
else:
    show_token_strip(display_tokens(trace))
if note := sharing_note(s):
    st.info(note, icon=":material/call_split:")

# ── the cell picker comes first: every matrix below frames the chosen entry ──────────────────────
st.subheader("Pick one entry of the pattern")
c1, c2 = st.columns(2)
i = token_picker("Query i (the token that is looking)", readable, n - 1, "mech_cell_query", where=c1)
j = token_picker("Key j (the token it looks at)", readable, 0, "mech_cell_key", where=c2)
cell = s.cell(i, j)
softmax_in = cell["capped"] + cell["bias"]  # the score the softmax reads (T5 adds its position bias)
engine_weight = float(trace.pattern(s.layer, s.head)[i, j])  # the engine's own softmax, for comparison
share = softmax_share_lines(cell, softmax_in, i, j, trace.causal, s.window)
# The matrices' titles, shared with the library's `steps` view: each names the model's own scale and term.
stage_titles = {stage.name: stage.title for stage in score_stages(steps_terms(s))}
if s.attn_scale == 1.0:  # T5 does not scale q·k at all
    scaling = "no scale       (this model uses q·k as it is)\n"
elif not trace.config.has_own_scale:
    scaling = f"÷ √d_head      = {cell['dot']:.6g} / √{d} = {cell['scaled']:.6g}\n"
elif k := steps_terms(s).multiple:  # DeBERTa: √(3·d_head), for q·k and its two position terms
    scaling = f"÷ √({k}·d_head)  = {cell['dot']:.6g} / √{k * d} = {cell['scaled']:.6g}\n"
else:  # the model sets its own factor (Gemma: query_pre_attn_scalar^-½)
    scaling = (
        f"× own scale    = {cell['dot']:.6g} / {s.scale:.6g} = {cell['scaled']:.6g}\n"
        f"                 (the model's own scale 1/{s.scale:.6g}, not 1/√d_head)\n"
    )
if s.softcap is not None:
    scaling += f"soft-cap       = {s.softcap:g}·tanh({cell['scaled']:.6g} / {s.softcap:g}) = {cell['capped']:.6g}\n"
if s.position_bias is not None:  # T5: its own term, added before the mask (DeBERTa: its position terms)
    whose = "the bias" if s.position_kind != "disentangled" else "q_i·K_pos + k_j·Q_pos"
    k = steps_terms(s).multiple if s.position_kind == "disentangled" else None  # DeBERTa scales its terms too
    scaled_too = f", ÷ √({k}·d_head) too" if k else ""
    scaling += (
        f"+ {steps_terms(s).bias_name} = {cell['capped']:.6g} + {cell['bias']:.6g} = {softmax_in:.6g}\n"
        f"                 ({whose} of offset {j - i:+d}, key − query{scaled_too})\n"
    )
st.code(
    f"q_i · k_j      = {cell['dot']:.6g}\n"
    f"{scaling}"
    f"{share}\n"
    f"the engine's:   trace.pattern[{s.layer}, {s.head}][{i}, {j}] = {engine_weight:.6g}",
    language=None,
)
if cell["allowed"]:
    st.caption(
        f"{cell['row_max']:.6g} is the largest score among the keys query {i} may see"
        + (" and the head's sink" if cell["sink"] is not None else "")
        + ": subtracting it before exp gives the same weights (it cancels in the fraction) without overflowing. "
        + SINK_WORDS * (cell["sink"] is not None)
        + "The last line is the engine's softmax of the q and k this forward pass computed (trace.pattern), for "
        "comparison."
    )
# ── the picked tokens' own vectors, before the full matrices ─────────────────────────────────────
st.subheader("The two picked tokens' vectors")
pv = picked_vectors(s, i, j)
st.caption(
    "Each token gets its own query q, key k and value v: "
    + (f"{d} numbers each" if dv == d else f"{d} numbers for q and k, {dv} for v")
    + ", for this head"
    + vectors_order_note(s.uses_rope, ctx.config.rope_pairs_reordered)
    + f". The score of query {i} for key {j} is the dot product q_i·k_j; "
    "the cosine is the same product without the lengths: +1 = same direction, 0 = unrelated, −1 = opposite."
)
strips = [(f"{kind} of {labels[t]}", pv.vector(kind, w)) for w, t in (("i", i), ("j", j)) for kind in KINDS]
# q and k on one scale (the score multiplies them); v on its own: its numbers can be 20x smaller than q's.
scales = ["q, k" if kind in ("q", "k") else "v" for _ in (i, j) for kind in KINDS]
title = f"q, k, v of query {labels[i]} and key {labels[j]}  " + (f"[{d} each]" if dv == d else f"[{d}, {d}, {dv}]")
show_chart(vector_strips(strips, title, scales=scales), "mech_vectors")
c1, c2 = st.columns(2)
with c1:
    st.dataframe(
        [{"token": readable[r.pop("token")], **r} for r in pv.norms()],
        hide_index=True,
        width="stretch",
        key="mech_vector_norms",
        column_config=fixed_decimals([f"|{kind}|" for kind in KINDS]),
    )
    st.caption("Lengths (L2 norms): " + ", ".join(f"|{kind}| of the {KIND_NAMES[kind]}" for kind in KINDS) + ".")
with c2:
    terms = steps_terms(s)  # T5 does not scale q·k; Gemma has its own factor and soft-cap (viz.views.score_terms)
    if terms.unscaled:
        factor = "× 1 (this model does not scale q·k)"
    else:
        factor = f"× {s.attn_scale:.4g} (the model's own scale)" if terms.own_scale else f"÷ √{d} (the scaled score)"
        if terms.multiple:
            factor = f"÷ √({terms.multiple}·{d}) (the model's own scale)"
    numbers = {f"q_{i} · k_{j}": pv.dot, factor: pv.scaled}
    if s.softcap is not None:
        numbers[terms.cap_step()] = cell["capped"]  # the title the soft-capped matrix has below
    if s.position_bias is not None:
        numbers[f"+ {terms.bias_name} (offset {j - i:+d})"] = cell["bias"]
    numbers.update({name.replace("_i", f"_{i}").replace("_j", f"_{j}"): v for name, v in pv.cosines().items()})
    st.dataframe(
        [{"quantity": name, "value": value} for name, value in numbers.items()],
        hide_index=True,
        width="stretch",
        key="mech_vector_numbers",
        column_config=fixed_decimals(["value"], "%.6f"),
    )
    st.caption("e is what the head reads (the row of E below) at each picked token.")

# ── which tokens the matrices show: every one for a short text, the picked cell's surroundings for a long one ──
every = n <= STEPS_FULL_MAX_TOKENS
if not every and n <= STEPS_TOGGLE_MAX_TOKENS:
    every = st.toggle(f"Every one of the {n} tokens in the matrices below (slower to draw)", key="mech_every_token")
w = steps_window(s, np.arange(n) if every else step_positions(n, i, j))
pos = None if w.complete else w.positions  # the window's positions, for hover and the dashed jumps
rows = f"{n}" if w.complete else f"{w.m} of {n}"  # the token side of a matrix's shape
wl = [labels[p] for p in w.positions]  # the window's row labels ("976: ␣the")
hl = (w.index(i), w.index(j))
split = second_text_at(trace)  # a text pair's: a dashed orange line between its texts
to_one = "sums to 1" if s.sink is None else "sums to 1 less the head's sink share"  # GPT-OSS's attention sinks
summed = f"{sums} {to_one}" if w.complete else f"{sums}: its weights on these keys"
if not w.complete:
    st.info(
        f"{n} tokens: the matrices below show {w.describe()} ({w.m} tokens round the picked query {i} and key {j}), "
        f"cut from the full {n}-token matrices; pick another query or key above to move them. A dashed line marks "
        f"a jump in positions. A pattern row keeps its true weights (normalised over all {n} keys), so here it sums "
        "to the share of that query's weight on the shown keys.",
        icon=":material/crop:",
    )



def qk_matrix(matrix: np.ndarray, title: str, kind: str = "diverging"):
    """One of the query × key steps, over the window's tokens, the picked entry framed."""
    return query_key_heatmap(matrix, title, wl, orient, kind, highlight=hl, positions=pos, second_text_at=split)


title = "The full matrices, every token at once" if w.complete else f"The matrices, for {w.describe()}"
full = st.expander(f"{title} (fold them away)", expanded=True)
with full:
    # ── 1. E ─────────────────────────────────────────────────────────────────────────────────────────
    st.subheader("1 · The embeddings E")
    st.caption(head_input_caption(s))
    show_chart(
        matrix_heatmap(
            w["E"], f"E  [n × d_model] = [{rows} × {dm}]", wl, None, "dimension", "token", row_positions=pos
        ),
        "mech_E",
    )

    # ── 2. Q and K ───────────────────────────────────────────────────────────────────────────────────
    queries_and_keys(ctx, s, w, wl, rows, pos)  # latent attention (DeepSeek) reads them from its latents

    # ── 3–6. scores → pattern ────────────────────────────────────────────────────────────────────────
    st.subheader("3 · Every query against every key: Q·Kᵀ")
    st.caption(orientation_caption(orient).split(". Each")[0] + "; the red frame is the entry picked above.")
    shape = f"[{rows} × {rows}]" + ("" if orient == "rows" else ", transposed: queries across")
    c1, c2 = st.columns(2)
    with c1:
        show_chart(qk_matrix(w["dots"], f"Q·Kᵀ  {shape}"), "mech_dots")
    with c2:
        show_chart(qk_matrix(w["scaled"], f"{stage_titles['scaled']}  {shape}"), "mech_scaled")
    if s.softcap is not None:  # Gemma 2: its own step, so the masked scores below add nothing but the mask
        st.subheader("3b · Soft-capped: large scores pulled towards ±cap")
        st.caption(
            f"This model squashes every scaled score s to {s.softcap:g}·tanh(s / {s.softcap:g}) before the mask: "
            f"scores near 0 barely change, large ones are pulled towards ±{s.softcap:g}. The mask and the softmax "
            "read these."
        )
        c1, _ = st.columns(2)
        with c1:
            title = f"{stage_titles['capped']}  {shape}"
            show_chart(qk_matrix(w["capped"], title), "mech_capped")
    if s.position_bias is not None:
        cfg = ctx.config
        added, shared = bias_words(cfg.position_bias, cfg.rel_bias_per_layer)
        st.subheader(f"3{'b' if s.softcap is None else 'c'} · Plus {added}: a second part")
        st.caption(
            position_bias_caption(
                cfg.position_bias, cfg.absolute_positions, cfg.causal, cfg.rel_max_distance,
                cfg.own_position_projections,
            )  # fmt: skip
            + f". It is a separate part, not q·k itself: left {added} alone, right the sum, which the mask and the "
            f"softmax read. {shared}"
        )
        c1, c2 = st.columns(2)
        with c1:
            show_chart(qk_matrix(w["position_bias"], f"{stage_titles['position_bias']}  {shape}"), "mech_bias")
        with c2:
            title = f"{stage_titles['before_mask']}  {shape}"
            show_chart(qk_matrix(w["before_mask"], title), "mech_biased")
    st.subheader("4 · Mask, then softmax")
    if s.causal:
        st.caption(
            "Causal mask: a query may not look at later keys, so those scores become −∞ (grey) before the softmax; "
            f"exp(−∞) = 0, so they get weight 0 and {sums} (one query's weights) still {to_one}."
        )
    else:
        st.caption(
            "No mask in this pass (bidirectional): every query sees every key. Turn the causal mask on in the "
            f"sidebar to see the −∞ entries. After the softmax {sums} (one query's weights) {to_one}."
        )
    c1, c2 = st.columns(2)
    with c1:
        show_chart(qk_matrix(w["masked"], f"masked scores  {shape}", "scores"), "mech_masked")
    with c2:
        show_chart(qk_matrix(w["pattern"], f"softmax → pattern A, {summed}  {shape}", "weight"), "mech_pattern")

    # ── 7–9. values → Δe ─────────────────────────────────────────────────────────────────────────────
    src, W_V, width = value_source(s)  # E and W_V, or latent attention's c_KV and W_UV
    kv = kv_head_name(s.group_size, s.head, s.kv_head)  # whose W_V: shared under grouped-query attention
    st.subheader(f"5 · Values: V = {src}·{W_V} (value-down)")
    down = (f"each embedding from d_model = {dm} down to d_head = {d}" if src == "E" else
            f"each token's {src} from {width} numbers down to {dv} (narrower than q and k's {d})")  # fmt: skip
    st.caption(
        f"The value map is factored in two: value-down {W_V} takes {down}; value-up (step 7) brings the weighted sum "
        "back up to d_model."
        + (f" W_V is key/value head {s.kv_head}'s, shared under grouped-query attention." if s.group_size > 1 else "")
    )
    c1, c2 = st.columns(2)
    with c1:
        show_chart(
            matrix_heatmap(
                s.W_V, f"{W_V} value-down ({kv})  [{s.W_V.shape[0]} × {dv}]", None, None, "d_head",
                "d_model" if src == "E" else "latent",
            ),
            "mech_WV",
        )
    with c2:
        show_chart(
            matrix_heatmap(
                w["v"], f"V = {clipped(src + '·' + W_V + plus_bias(s.has_bias, 'V'), s)}  [{rows} × {dv}]", wl, None,
                "d_head",
                "key token", row_positions=pos,
            ),
            "mech_V",
        )
    st.subheader("6 · Weighted sum: z = A·V")
    st.caption("Each query's weights in A weight the value vectors of the keys; z_i = Σ_j A[i, j]·v_j.")
    show_chart(
        matrix_heatmap(w["z"], f"z = A·V  [{rows} × {dv}]", wl, None, "d_head", "query token", row_positions=pos),
        "mech_z",
    )
    gated = s.gate is not None
    if gated:  # AFMoE: each head's z is gated, per query and dimension, before W_O
        output_gate_step(s, w, wl, rows, pos)
    st.subheader("7 · Value-up and the output matrix")
    st.caption(
        f"Head {s.head}'s value-up is its {dv} rows of the output matrix W_O. Stacking every head's value-up gives "
        f"W_O itself, [{s.n_heads}·{dv} × {dm}] = [{s.n_heads * dv} × {dm}] (head {s.head}'s band framed in red)."
    )
    c1, c2 = st.columns(2)
    with c1:
        show_chart(
            matrix_heatmap(s.W_O, f"value-up W_O[head {s.head}]  [{dv} × {dm}]", None, None, "d_model", "d_head"),
            "mech_WO",
        )
    with c2:
        show_chart(
            matrix_heatmap(
                s.W_O_all,
                f"output matrix W_O  [{s.n_heads * dv} × {dm}]",
                None,
                None,
                "d_model",
                "head · d_head",
                row_bands=dv,
                band_highlight=s.head,
                height=420,
            ),
            "mech_WO_all",
        )
    z_name = "(z ⊙ g)" if gated else "z"
    st.subheader(f"8 · Δe = {z_name}·W_O[head]: what this head adds to each embedding")
    st.caption(
        f"Row i is head {s.head}'s change to token i's embedding. The layer's full update adds every head's Δe"
        + (" and the output bias b_O once" if trace.output_bias(ctx.layer) is not None else "")
        + " (see Embedding shifts)."
    )
    show_chart(
        matrix_heatmap(
            w["delta"], f"Δe = {z_name}·W_O[{s.head}]  [{rows} × {dm}]", wl, None, "dimension", "token",
            row_positions=pos,
        ),
        "mech_delta",
    )

