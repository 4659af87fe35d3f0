"""Experiments: change one head of the real model and see what happens downstream.

Four panels on the shell's text, model and selected head (sidebar): the prediction after a picked position
(default: the text's last token, i.e. after the text; elsewhere scored on the token that comes next in it), or, for
a masked-language model, at it (default: the first mask; scored on the token the text has there); an
experiment (a list of changes to heads) with that prediction before and after, the change in log p of a
chosen token and how far each later layer's embedding of a chosen position moved; the heads ranked by
how much ablating each alone lowers log p of the chosen token there; and a temperature slider on the selected
head's pattern with the entropy of each row. The panels that score the prediction are in ui/experiments.py;
numbers come from viz.views.experiments over traces from services.traces.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from services.interventions import make_intervention, valid_interventions
from services.lens import fills_in, mask_token
from services.traces import get_trace, input_texts, trace_key
from ui.answers import answer_compare, answer_sweep_panel
from ui.class_experiments import class_choice, class_compare, class_sweep_panel
from ui.context import require_trace
from ui.experiments import CHART_CONFIG, compare_panel, pick_spot, prediction_panel, prediction_sentence, sweep_panel
from ui.widgets import show_token_strip, token_picker, warn_untrained_masking
from viz.figures.experiments import drift_figure, temperature_figure
from viz.labels import plotly_token_labels, readable_token_labels
from viz.views.common import display_tokens, mask_words, no_prediction_sentence
from viz.views.experiments import (
    CHANGES,
    EXP_MAX_TOKENS,
    TEMPERATURE_FULL_MAX_TOKENS,
    TEMPERATURE_QUERIES,
    TEMPERATURES,
    next_token_logprobs,
    residual_drift,
    row_entropy,
)
from viz.views.patterns import is_long

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


ctx = require_trace()
shell_trace = ctx.trace
model = ctx.model  # an opaque handle for the trace service
cfg = ctx.config
L, H = cfg.n_layers, cfg.n_heads
layer, head = ctx.layer, ctx.head

# Interventions belong to one model (layer/head ranges differ): a model switch starts a new experiment.
if ss.get("exp_ivs_model") != ctx.model_name:
    ss.exp_ivs, ss.exp_ivs_model = [], ctx.model_name
ivs = valid_interventions(ss.get("exp_ivs", []), L, H, cfg.attention_layers)

# Experiments use the shell's tokens, up to EXP_MAX_TOKENS (each change is another full forward pass).
cap = min(shell_trace.n_tokens, EXP_MAX_TOKENS)
shell_texts = input_texts(shell_trace)  # the text, and an encoder's second text (None for one text)
if shell_trace.n_tokens <= cap and not shell_trace.interventions:
    base, base_key = shell_trace, ctx.trace_key  # max_tokens=cap reproduces exactly these tokens
else:
    base = get_trace(model, shell_texts[0], shell_trace.causal, cap, second_text=shell_texts[1])
    base_key = trace_key(model, shell_texts[0], shell_trace.causal, cap, second_text=shell_texts[1])
(text, second_text), causal = input_texts(base), base.causal
shown_tokens = display_tokens(base)  # byte pieces named by their character
labels = plotly_token_labels(shown_tokens)
readable = readable_token_labels(shown_tokens)
n = base.n_tokens

st.title("Experiments")
st.caption(
    f"{ctx.model_label} · {mask_words(causal, ctx.config.window(layer))} · selected head: "
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
mask = (mask_token(base) or "") if fills_in(base) else None  # a masked-language model's: it fills in, not continues
heading = "What the classifier decides" if cfg.class_labels else "How the tagger labels each token" if cfg.tag_labels \
    else "What the model fills in" if mask is not None else "What the model predicts next"  # fmt: skip
st.header(heading, divider="gray")
spot = pick_spot(base, readable, cfg.has_lm_head, mask)  # None: a model without logits
target_id: int | None = None
label = class_choice(base_key, base, ctx.model_title, shown_tokens, readable)  # a classifier's label to follow
if spot is None and label is None:
    st.info(
        no_prediction_sentence(ctx.model_label, cfg.is_encoder_decoder, classifier=bool(cfg.class_labels),
                               tagger=bool(cfg.tag_labels), answerer=cfg.answer_head)
        + " So no token prediction is shown. Its "
        "embeddings are real, so the experiment below still shows how far each layer's embedding moves when you "
        "change a head.",
        icon=":material/info:",
    )
elif spot is not None:
    st.caption(prediction_sentence(spot, causal))
    warn_untrained_masking(ctx, "these predictions")
    target_id = prediction_panel(spot)

# ── 2. The experiment ───────────────────────────────────────────────────────────────────────────
st.header("Experiment: change heads, see what happens downstream", divider="gray")
st.caption(
    "The chapter says each head adds something to the embeddings. Take it out (or change how it attends) and "
    "run the whole model again: "
    + ("the prediction and every later layer see the difference." if spot or label is not None else
       "every later layer sees the difference.")  # fmt: skip
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
        after = get_trace(model, text, causal, cap, ivs, second_text)

    if spot is not None:
        compare_panel(spot, after, target_id)
    elif label is not None:
        class_compare(base_key, base, after, label)
    elif cfg.answer_head:
        answer_compare(base_key, base, after)

    followed = spot.position if spot else label.position if label and label.position is not None else n - 1
    position = token_picker("Position whose embedding to follow", readable, followed, "exp_position")
    drift = residual_drift(base, after)
    first = min(iv.layer for iv in ivs)
    st.plotly_chart(
        drift_figure(
            drift,
            position,
            labels,
            [iv.layer for iv in ivs],
            f"How far the embedding of {labels[position]} moved",
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
# An encoder has no chosen token (a browser review: the heading promised one under "predicts no next token").
st.header("Most important heads for the chosen token" if spot else "Most important heads for the chosen label" if (
    label is not None) else "Most important heads for the answer" if cfg.answer_head else "Most important heads",
          divider="gray")  # fmt: skip
if label is not None:
    class_sweep_panel(base_key, base, label, (layer, head), add_intervention)
elif cfg.answer_head:  # an extractive question-answering model: its answer's span
    answer_sweep_panel(base_key, base, (layer, head), add_intervention)
else:
    sweep_panel(base_key, spot, target_id, (layer, head), shell_trace.n_input_tokens, add_intervention)

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
hot = base if T == 1.0 else get_trace(
    model, text, causal, cap, (make_intervention("temperature", layer, head, T),), second_text
)
pattern_before = base.pattern(layer, head).double().numpy()
pattern_T = hot.pattern(layer, head).double().numpy()
ent_before, ent_T = row_entropy(pattern_before), row_entropy(pattern_T)
m1, m2, m3 = st.columns(3)
# Short labels, the detail in the help: Streamlit cuts a metric's label at its column ("Mean row entropy, the mod…").
averaged = f"The mean over the pattern's {line}s (one per query) of each {line}'s entropy in bits"
m1.metric("Mean entropy, the model", f"{ent_before.mean():.3f} bits", help=f"{averaged}, at T = 1: the head as it is.")
delta = None if T == 1.0 else f"{ent_T.mean() - ent_before.mean():+.3f}"  # uncoloured: neither good nor bad
m2.metric(
    f"Mean entropy at T = {T:g}", f"{ent_T.mean():.3f} bits", delta, delta_color="off",
    help=f"{averaged}, with this head's scores divided by T = {T:g}.",
)  # fmt: skip
if spot is not None:
    hot_lp = spot.logprobs if hot is base else next_token_logprobs(hot, spot.position)
    top_hot = int(np.argmax(hot_lp))
    guess, at = ("token", "at") if spot.fills_in else ("next token", "after")
    where = "after the text" if spot.last else f"{at} token {spot.position} (the position picked above)"
    m3.metric(
        f"Predicted at T = {T:g}",
        spot.quoted(top_hot),
        help=f"The most likely {guess} {where}, p = {np.exp(hot_lp[top_hot]):.3f}; the whole model ran with "
        "this head at temperature T.",
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
