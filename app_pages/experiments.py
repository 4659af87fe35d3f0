"""Experiments: change one head of the real model and see what happens downstream.

Four panels on the shell's text, model and selected head (sidebar): the next-token prediction; an
experiment (a list of changes to heads) with the prediction before and after, the change in log p of a
chosen token and how far each later layer's embedding of a chosen position moved; the heads ranked by
how much ablating each alone lowers log p of the chosen token; and a temperature slider on the selected
head's pattern with the entropy of each row. Numbers come from viz.views.experiments over traces from services.traces.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from services.interventions import make_intervention, valid_interventions
from services.traces import get_sweep, get_trace, has_sweep, trace_key
from ui.context import require_trace
from ui.widgets import fixed_decimals, show_token_strip, token_picker, warn_untrained_masking
from viz.figures.experiments import drift_figure, prediction_bars, sweep_heatmap, temperature_figure
from viz.labels import plotly_escape, plotly_token_labels, predicted_byte_note, readable_token, readable_token_labels
from viz.views.common import display_tokens, no_prediction_sentence
from viz.views.experiments import (
    CHANGES,
    EXP_MAX_TOKENS,
    SWEEP_MAX_TOKENS,
    TEMPERATURE_FULL_MAX_TOKENS,
    TEMPERATURE_QUERIES,
    TEMPERATURES,
    TOP_K,
    compare_predictions,
    next_token_logprobs,
    prediction_table,
    rank_heads_by_effect,
    rank_of,
    residual_drift,
    row_entropy,
    text_tail,
    top_ids,
    typed_token_id,
)
from viz.views.patterns import is_long

CHART_CONFIG = {"displaylogo": False}
TYPED = -1  # the token selectbox's "type another token" option

ss = st.session_state


def add_intervention(iv) -> None:
    items = list(ss.get("exp_ivs", []))
    if iv not in items:
        items.append(iv)
    ss.exp_ivs = items


def remove_intervention(index: int) -> None:
    items = list(ss.get("exp_ivs", []))
    if 0 <= index < len(items):
        del items[index]
    ss.exp_ivs = items


def clear_interventions() -> None:
    ss.exp_ivs = []


def quoted(token_id: int) -> str:
    """A token as plain text between quotes (a lone ',' or '␣' is easy to miss otherwise)."""
    return f"‘{readable_token(base.decode_token(token_id))}’"


ctx = require_trace()
shell_trace = ctx.trace
model = ctx.model  # an opaque handle for the trace service
cfg = ctx.config
L, H = cfg.n_layers, cfg.n_heads
layer, head = ctx.layer, ctx.head

# Interventions belong to one model (layer/head ranges differ): a model switch starts a new experiment.
if ss.get("exp_ivs_model") != ctx.model_name:
    ss.exp_ivs, ss.exp_ivs_model = [], ctx.model_name
ivs = valid_interventions(ss.get("exp_ivs", []), L, H)

# Experiments use the shell's tokens, up to EXP_MAX_TOKENS (each change is another full forward pass).
cap = min(shell_trace.n_tokens, EXP_MAX_TOKENS)
if shell_trace.n_tokens <= cap and not shell_trace.interventions:
    base, base_key = shell_trace, ctx.trace_key  # max_tokens=cap reproduces exactly these tokens
else:
    base = get_trace(model, shell_trace.text, shell_trace.causal, cap)
    base_key = trace_key(model, shell_trace.text, shell_trace.causal, cap)
text, causal = base.text, base.causal
shown_tokens = display_tokens(base)  # byte pieces named by their character
labels = plotly_token_labels(shown_tokens)
readable = readable_token_labels(shown_tokens)
tail = text_tail(base)  # the end of what the model read, for a chart title (whole on a 390 px phone)
n = base.n_tokens

st.title("Experiments")
st.caption(
    f"{ctx.model_label} · {'causal mask on' if causal else 'no mask (bidirectional)'} · selected head: "
    f"layer {layer}, head {head} (change it in the sidebar)"
)
if shell_trace.n_tokens > cap:
    st.warning(
        f"The text has {shell_trace.n_input_tokens} tokens; experiments run on the first {cap} "
        "(every change is a full forward pass).",
        icon=":material/content_cut:",
    )
if is_long(n):  # hundreds of tokens: a wall of text above every panel
    with st.expander(f"The {n} tokens the experiments run on"):
        show_token_strip(shown_tokens)
else:
    show_token_strip(shown_tokens)

# ── 1. Next-token prediction ────────────────────────────────────────────────────────────────────
st.header("What the model predicts next", divider="gray")
before_lp = next_token_logprobs(base)
target_id: int | None = None
if before_lp is None:
    st.info(
        no_prediction_sentence(ctx.model_label, cfg.is_encoder_decoder) + " So no prediction is shown. Its "
        "embeddings are real, so the experiment below still shows how far each layer's embedding moves when you "
        "change a head.",
        icon=":material/info:",
    )
else:
    st.caption(
        "The chapter's claim: a transformer exists to predict the next token. These are the model's "
        f"{TOP_K} most likely tokens after the text (softmax of its last position's logits)."
    )
    warn_untrained_masking(ctx, "these predictions")
    rows = compare_predictions(before_lp, before_lp, base.decode_token)
    c1, c2 = st.columns([3, 2], gap="medium")
    with c1:
        st.plotly_chart(
            prediction_bars(rows, f"Top {TOP_K} next tokens after “{plotly_escape(tail)}”", False),
            key="exp_next",
            theme=None,
            config=CHART_CONFIG,
        )
    with c2:
        options = top_ids(before_lp, TOP_K) + [TYPED]
        choice = st.selectbox(
            "Chosen token (for Δ log p and the head ranking)",
            options,
            format_func=lambda i: (
                "another token (type it)…"
                if i == TYPED
                else f"{readable_token(base.decode_token(i))}  (p = {np.exp(before_lp[i]):.3f})"
            ),
            key="exp_token",
        )
        if choice == TYPED:
            typed = st.text_input("Token", value=" Paris", key="exp_typed", help="Leading spaces count: ' Paris'.")
            target_id, note = typed_token_id(base, typed)
            st.caption(note)
        else:
            target_id = int(choice)
        st.dataframe(
            prediction_table(rows, with_after=False),
            hide_index=True,
            width="stretch",
            column_config=fixed_decimals(["p"]),
            key="exp_next_table",
        )
    if target_id is not None:
        st.caption(
            f"Chosen token: {quoted(target_id)}, p = "
            f"{np.exp(before_lp[target_id]):.4f}, log p = {before_lp[target_id]:.3f}, rank "
            f"{rank_of(before_lp, target_id)} of {before_lp.shape[0]}."
        )
    if (note := predicted_byte_note([row.token for row in rows])):  # the top 10 as the chart shows them
        st.caption(note)

# ── 2. The experiment ───────────────────────────────────────────────────────────────────────────
st.header("Experiment: change heads, see what happens downstream", divider="gray")
st.caption(
    "The chapter says each head adds something to the embeddings. Take it out (or change how it attends) and "
    "run the whole model again: the prediction and every later layer see the difference."
)
c1, c2, c3 = st.columns([3, 1, 1], vertical_alignment="bottom")
change = c1.selectbox(
    f"Change to apply to layer {layer}, head {head}", list(CHANGES), format_func=CHANGES.get, key="exp_change"
)
T_add = 1.0
if change == "temperature":
    T_add = c2.select_slider("T", TEMPERATURES, value=2.0, key="exp_add_T")
new_iv = make_intervention(change, layer, head, T_add)
c3.button("Add to experiment", key="exp_add", on_click=add_intervention, args=(new_iv,), type="primary")

if not ivs:
    st.info(
        f"No changes yet: pick one above and click **Add to experiment** (it will apply to layer {layer}, head "
        f"{head}; pick another head in the sidebar to add more)."
    )
else:
    st.markdown(f"**This experiment ({len(ivs)} change{'s' if len(ivs) > 1 else ''}):**")
    for i, iv in enumerate(ivs):
        d1, d2 = st.columns([6, 1], vertical_alignment="center")
        d1.code(iv.describe(), language=None)
        d2.button("Remove", key=f"exp_remove_{i}", on_click=remove_intervention, args=(i,))
    st.button("Clear the experiment", key="exp_clear", on_click=clear_interventions)

    with st.spinner("Running the model with these changes…"):
        after = get_trace(model, text, causal, cap, ivs)

    if before_lp is not None:
        after_lp = next_token_logprobs(after)
        both = compare_predictions(before_lp, after_lp, base.decode_token)
        top_before, top_after = int(np.argmax(before_lp)), int(np.argmax(after_lp))
        name_before, name_after = quoted(top_before), quoted(top_after)
        m1, m2, m3 = st.columns(3)
        if target_id is not None:
            dlogp = float(after_lp[target_id] - before_lp[target_id])
            m1.metric(
                f"Δ log p({quoted(target_id)})",
                f"{dlogp:+.3f}",
                help="Natural log. Negative: the changed heads were helping the model predict this token.",
            )
            p_before, p_after = float(np.exp(before_lp[target_id])), float(np.exp(after_lp[target_id]))
            m2.metric(f"p after (before: {p_before:.3f})", f"{p_after:.3f}", f"{p_after - p_before:+.3f}")
        m3.metric("Top prediction after", name_after, help=f"Before: {name_before}")
        if top_after != top_before:
            st.success(
                f"The top prediction changed: {name_before} (p = {np.exp(before_lp[top_before]):.3f}) → "
                f"{name_after} (p = {np.exp(after_lp[top_after]):.3f}).",
                icon=":material/swap_horiz:",
            )
        else:
            st.caption(f"The top prediction is still {name_before}.")
        c1, c2 = st.columns([1, 1], gap="medium")
        with c1:
            st.plotly_chart(
                prediction_bars(both, "Next-token probabilities before and after the change", True),
                key="exp_compare",
                theme=None,
                config=CHART_CONFIG,
            )
        with c2:
            st.dataframe(
                prediction_table(both, with_after=True),
                hide_index=True,
                width="stretch",
                key="exp_compare_table",
                column_config={
                    "p before": st.column_config.NumberColumn(format="%.4f"),
                    "p after": st.column_config.NumberColumn(format="%.4f"),
                    "Δ log p": st.column_config.NumberColumn(format="%+.3f"),
                },
            )

    position = token_picker("Position whose embedding to follow", readable, n - 1, "exp_position")
    drift = residual_drift(base, after)
    first = min(iv.layer for iv in ivs)
    st.plotly_chart(
        drift_figure(
            drift,
            position,
            labels,
            [iv.layer for iv in ivs],
            f"How far the embedding of {labels[position]} moved, layer by layer",
        ),
        key="exp_drift",
        theme=None,
        config=CHART_CONFIG,
    )
    st.caption(
        f"‖resid_after(l) − resid_before(l)‖ / ‖resid_before(l)‖ for the residual stream entering each layer "
        f"(dotted lines: the changed layers). Layers up to {first} are untouched (exactly 0); the change enters "
        f"at layer {first + 1} and the later layers carry it, amplify it or wash it out. At the final residual, "
        f"{readable[position]} moved by {drift[-1, position]:.1%}."
    )

# ── 3. Most important heads ─────────────────────────────────────────────────────────────────────
st.header("Most important heads for the chosen token", divider="gray")
if before_lp is None:
    st.info("The ranking needs next-token probabilities, which this model does not give here (see above).")
elif target_id is None:
    st.info("Choose a token above.")
elif n > SWEEP_MAX_TOKENS:
    st.info(
        f"The ranking runs on texts up to {SWEEP_MAX_TOKENS} tokens; this one has {shell_trace.n_input_tokens}. "
        "Shorten the text."
    )
else:
    target_name = quoted(target_id)
    st.caption(
        f"Ablate (zero) each of the {L * H} heads alone, run the rest of the model, and measure the change in "
        f"log p({target_name}) after the text. Batched: each layer's {H} variants run through the later layers "
        "together from the unchanged residual: the same numbers as one trace per head, in less time (bench/sweep.py)."
    )
    if has_sweep(base_key, target_id) or st.button(f"Rank all {L * H} heads", key="exp_sweep", type="primary"):
        with st.spinner(f"Ablating each of {L * H} heads in turn…"):
            sweep = get_sweep(base_key, base, target_id)
        ranked = rank_heads_by_effect(sweep)
        best = ranked[0]
        p0 = float(np.exp(before_lp[target_id]))
        c1, c2 = st.columns([3, 2], gap="medium")
        with c1:
            st.plotly_chart(
                sweep_heatmap(
                    sweep, f"Change in log p({plotly_escape(target_name)}) when one head is zeroed", (layer, head)
                ),
                key="exp_sweep_map",
                theme=None,
                config=CHART_CONFIG,
            )
        with c2:
            st.metric(
                f"Most important: layer {best.layer}, head {best.head}",
                f"{best.dlogp:+.3f}",
                help="Change in log p of the chosen token when this head alone is zeroed.",
            )
            st.dataframe(
                [
                    {
                        "layer": e.layer,
                        "head": e.head,
                        "Δ log p": e.dlogp,
                        "p after": p0 * float(np.exp(e.dlogp)),
                    }
                    for e in ranked[:TOP_K]
                ],
                hide_index=True,
                width="stretch",
                key="exp_sweep_table",
                column_config={
                    "Δ log p": st.column_config.NumberColumn(format="%+.3f"),
                    "p after": st.column_config.NumberColumn(format="%.4f"),
                },
            )
            st.button(
                f"Add L{best.layer}H{best.head} (zeroed) to the experiment",
                key="exp_add_top",
                on_click=add_intervention,
                args=(make_intervention("zero", best.layer, best.head),),
            )
        st.caption(
            f"Red: zeroing the head lowers p({target_name}), so the head was helping; blue: it was working against "
            f"it. The framed cell is the selected head (layer {layer}, head {head}: "
            f"{sweep[layer, head]:+.3f}). {int(np.sum(sweep < -0.1))} of {L * H} heads lower log p by more than 0.1."
        )

# ── 4. Temperature ──────────────────────────────────────────────────────────────────────────────
st.header(f"Temperature of layer {layer}, head {head}", divider="gray")
line = "row" if ctx.orient == "rows" else "column"  # how a query's weights are drawn (the sidebar's orientation)
st.caption(
    f"Divide the head's scores by T before the softmax: T < 1 sharpens each query's weights (a {line} of the "
    f"pattern below, summing to 1) towards its largest score, T > 1 flattens them towards uniform. Entropy (bits) "
    f"measures how spread a {line} is: 0 = all weight on one key, log₂(keys) = uniform."
)
c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
T = c1.select_slider("Temperature T", TEMPERATURES, value=1.0, key="exp_T")
c2.button(
    f"Add T = {T:g} to the experiment",
    key="exp_T_add",
    on_click=add_intervention,
    args=(make_intervention("temperature", layer, head, T),),
    disabled=T == 1.0,
)
hot = base if T == 1.0 else get_trace(model, text, causal, cap, (make_intervention("temperature", layer, head, T),))
pattern_before = base.pattern(layer, head).double().numpy()
pattern_T = hot.pattern(layer, head).double().numpy()
ent_before, ent_T = row_entropy(pattern_before), row_entropy(pattern_T)
m1, m2, m3 = st.columns(3)
m1.metric(f"Mean {line} entropy, the model (T = 1)", f"{ent_before.mean():.3f} bits")
delta = None if T == 1.0 else f"{ent_T.mean() - ent_before.mean():+.3f}"  # uncoloured: neither good nor bad
m2.metric(f"Mean {line} entropy at T = {T:g}", f"{ent_T.mean():.3f} bits", delta, delta_color="off")
if before_lp is not None:
    hot_lp = next_token_logprobs(hot)
    top_hot = int(np.argmax(hot_lp))
    m3.metric(
        f"Top prediction at T = {T:g}",
        quoted(top_hot),
        help=f"p = {np.exp(hot_lp[top_hot]):.3f}; the whole model ran with this head at temperature T.",
    )
q0 = 0 if n <= TEMPERATURE_FULL_MAX_TOKENS else n - TEMPERATURE_QUERIES  # the first query the map draws
if q0:
    st.caption(
        f"The map shows the last {TEMPERATURE_QUERIES} queries (positions {q0}–{n - 1}), each {line} with all of its "
        f"{n} keys; the mean entropies above are over all {n} queries."
    )
st.plotly_chart(
    temperature_figure(
        pattern_T[q0:],
        ent_T[q0:],
        ent_before[q0:],
        labels,
        f"Layer {layer}, head {head} at T = {T:g}",
        T,
        ctx.orient,
        q0,
    ),
    key="exp_temperature",
    theme=None,
    config=CHART_CONFIG,
)
