"""Embedding shifts: how one layer's attention moves each token ("a fluffy blue creature"), and how the
same word ("mole") drifts apart across sentences, layer by layer."""

from __future__ import annotations

import numpy as np
import streamlit as st

from services.models import InputError
from services.traces import derived, set_threads_for, short_trace
from ui.context import require_trace
from ui.figure_memo import memo_figure
from ui.sidebar import MOLE_HINT
from ui.widgets import fixed_decimals, show_chart, show_token_strip, token_picker
from viz.figures.mechanism import source_bars
from viz.figures.shifts import (
    closest_sense_figure,
    layer_lines,
    named_head_sources,
    named_source_bars,
    shift_arrows,
    trajectories_figure,
)
from viz.labels import axis_labels, markdown_literal, plotly_escape, readable_token
from viz.views.common import display_tokens
from viz.views.heads import default_query_keys
from viz.views.patterns import is_long
from viz.views.sent_words import GATE_NOTE, value_up
from viz.views.shifts import (
    ARROW_MAX,
    FIRST_TOKEN_OUTLIER,
    delta_by_source,
    drawn_sources,
    drawn_sources_sentence,
    first_token_outlier,
    layer_shift,
    pairwise_cosines,
    parse_lines,
    residual_after_attention_label,
    residual_norms,
    sense_match,
    trajectories,
    word_trace,
)

C_J_AXIS = "|c_j| (length of the vector it adds)"
MASKED_HELP = "The causal mask (or the layer's sliding window) hides this source from the query: every weight is 0."
DEFAULT_SENTENCES = "American shrew mole\none mole of carbon dioxide\ntake a biopsy of the mole"
DEFAULT_SENSES = [
    ("animal", "the mole dug a tunnel in the garden"),
    ("chemistry unit", "a mole of a substance contains Avogadro's number of particles"),
    ("skin", "the doctor examined the mole on her skin"),
]


st.title("Embedding shifts")
if st.session_state.get(MOLE_HINT):  # set by the sidebar's mole examples (ui/sidebar.py)
    st.info(st.session_state[MOLE_HINT], icon=":material/compare_arrows:")
ctx = require_trace()
trace = ctx.trace
layer = ctx.layer
gated = ctx.config.attn_output_gate  # AFMoE: each source's part carries the query's gate
readable, labels = axis_labels(display_tokens(trace))
n = trace.n_tokens
long = is_long(n)
set_threads_for(n)

# ── Part 1: who moved this token? ────────────────────────────────────────────────────────────────
st.header("How attention moves one token")
st.caption(
    f"{ctx.model_label} · layer {layer} (pick it in the sidebar) · the update Δe that layer {layer}'s attention adds "
    "to one token, split by the source token it came from: source j contributes Σ_heads "
    f"A[i, j]·({value_up(gated)}[head]).{' ' + GATE_NOTE if gated else ''}"
)
if long:
    with st.expander(f"The {n} tokens as {ctx.model_title} split them"):
        show_token_strip(display_tokens(trace))
else:
    show_token_strip(display_tokens(trace))
default_q, _ = default_query_keys(trace.tokens, trace.offsets)
query = token_picker("Token to explain", readable, default_q, "mech_shift_query")
split = derived(ctx.trace_key, "delta_by_source", layer, query, compute=lambda: delta_by_source(trace, layer, query))
shares = split.share_along_delta()
norms = np.linalg.norm(split.per_source, axis=-1)
check = float(np.abs(split.delta - split.attn_out).max())
plus_bias = " + b_O" if split.has_bias else ""  # llama-style models have no output bias
st.caption(
    f"Check against the engine: Σ over heads and sources{plus_bias} equals trace.attn_out[{query}] to within "
    f"{check:.2g} (|Δe| = {np.linalg.norm(split.attn_out):.4g})."
)
with_bias = " with b_O" if split.has_bias else ""
share_title = f"Each source's share of Δe (sums to {shares.sum() + split.bias_share():.3f}{with_bias})"
heads_title = f"Per head: |A[i, j]·({value_up(gated)}[head])| for query {plotly_escape(readable[query])}"
shown = drawn_sources(norms, split.allowed, query)  # None: every token fits
if shown is not None:
    kept = float(norms[shown].sum() / max(norms.sum(), 1e-30))
    st.info(drawn_sources_sentence(n, shown, split.allowed, kept), icon=":material/filter_list:")
    names = [labels[j] for j in shown]
    c1, c2 = st.columns(2)
    with c1:
        show_chart(named_source_bars(names, shares[shown], share_title, "c_j·Δe / |Δe|²", labels[query]), "mech_share")
    with c2:
        show_chart(
            named_source_bars(names, norms[shown], "Size of each source's contribution |c_j|", C_J_AXIS, labels[query]),
            "mech_norms",
        )
    show_chart(
        named_head_sources(split.head_norms()[:, shown], names, heads_title, split.allowed[shown]), "mech_heads_sources"
    )
else:
    c1, c2 = st.columns(2)
    with c1:
        show_chart(source_bars(labels, shares, share_title, "c_j·Δe / |Δe|²", query), "mech_share")
    with c2:
        show_chart(
            source_bars(labels, norms, "Size of each source's contribution |c_j|", C_J_AXIS, query),
            "mech_norms",
        )
    show_chart(named_head_sources(split.head_norms(), labels, heads_title, split.allowed), "mech_heads_sources")
# Averaged over every head of the layer, beside the per-head chart above: the header says so.
MEAN_WEIGHT = f"mean weight over the layer's {split.weights.shape[0]} heads"
bias_row = [
    {
        "source": "b_O (output bias, from no token)",
        "share of Δe": split.bias_share(),
        "|contribution|": float(np.linalg.norm(split.bias)),
        MEAN_WEIGHT: float("nan"),
        "masked": None,
    }
]
st.dataframe(
    [
        {
            "source": readable[j],
            "share of Δe": float(shares[j]),
            "|contribution|": float(norms[j]),
            MEAN_WEIGHT: float(split.weights[:, j].mean()),
            "masked": not bool(split.allowed[j]),
        }
        for j in range(n)
    ]
    + (bias_row if np.any(split.bias) else []),
    hide_index=True,
    width="stretch",
    column_config=fixed_decimals(["share of Δe", "|contribution|", MEAN_WEIGHT])
    | {"masked": st.column_config.CheckboxColumn(help=MASKED_HELP)},
    key="mech_shift_table",
)

st.subheader(f"Every token before and after layer {layer}'s attention")
after_what = residual_after_attention_label(trace.config.norm_position, trace.config.norm,
                                            trace.config.ssm_beside_attention)  # fmt: skip
rn = derived(ctx.trace_key, "residual_norms", layer, compute=lambda: residual_norms(trace, layer))


def picture(skip_first: bool) -> object:
    """The arrows' picture (viz.views.shifts.layer_shift), cached with the trace."""
    return derived(
        ctx.trace_key,
        "layer_shift",
        layer,
        skip_first,
        query,
        ARROW_MAX,
        compute=lambda: layer_shift(trace, layer, skip_first=skip_first, max_tokens=ARROW_MAX, keep=query),
    )


outlier = first_token_outlier(picture(False))  # NaN: too few tokens, or the first not among those drawn
skip_first = st.checkbox(
    "Leave out the first token",
    value=bool(outlier > FIRST_TOKEN_OUTLIER),
    key="mech_skip_first",
    help="Some models put the first token far from the rest: decoders give it a residual many times longer (an "
    "attention sink), and BERT's attention can move its [CLS] several times as far as the other tokens. In the "
    "picture it would take the whole first axis and squash every other token into a corner. Ticked at first when "
    f"it lies more than {FIRST_TOKEN_OUTLIER:g}× as far out as a typical token.",
)
shift = picture(skip_first)
shown = [labels[i] for i in shift.included]
hl = shift.included.index(query) if query in shift.included else None
if len(shift.included) < shift.n_eligible:
    st.info(
        f"{shift.n_eligible} tokens: arrows for {len(shift.included)} of them, the token picked above and the "
        f"{len(shift.included) - (hl is not None)} whose residual this layer's attention moved most (|after − before| "
        "in the full space); the PCA is of their points alone.",
        icon=":material/filter_list:",
    )
st.caption(
    "Each arrow goes from a token's residual entering the layer to the residual after this layer's attention "
    f"({after_what}), projected on the first two principal axes of those {2 * len(shown)} points (PCA by SVD)."
    + (
        f" Here the first token lies {outlier:.1f}× as far from the others' centre as a typical token does (in the "
        f"picture drawn with it, before or after the attention), and its residual is "
        f"{rn[0] / np.median(rn[1:]):.1f}× the median length."
        if np.isfinite(outlier)
        else ""
    )
)
arrows = memo_figure(
    ("shift_arrows", ctx.trace_key, layer, skip_first, query, ARROW_MAX),
    lambda: shift_arrows(shown, shift.before, shift.after, hl, shift.explained),
)
show_chart(arrows, "mech_arrows")

# ── Part 2: the same word in different sentences ─────────────────────────────────────────────────
st.header("One word, many meanings")
st.caption(
    (
        "The word's embedding entering layer 0 is the same in every sentence (this model has no position embedding); "
        if not trace.config.absolute_positions
        else "The word's embedding entering layer 0 differs only by its position embedding; "
    )
    + "each layer's attention pulls in context. Compare its contextual embeddings (the residual entering each block, "
    "averaged over the word's tokens) across sentences and against one reference sentence per sense."
)
word = st.text_input("Word", "mole", key="mech_word")
sentences = parse_lines(st.text_area("Sentences (one per line)", DEFAULT_SENTENCES, key="mech_sentences", height=130))
st.markdown("**Sense references** (the word's embedding in each sentence defines that sense)")
senses: list[tuple[str, str]] = []
for k, (name, sentence) in enumerate(DEFAULT_SENSES):
    c1, c2 = st.columns([1, 3])
    nm = c1.text_input(f"Sense {k + 1}", name, key=f"mech_sense_name_{k}")
    tx = c2.text_input(f"Reference sentence {k + 1}", sentence, key=f"mech_sense_text_{k}")
    if nm.strip() and tx.strip():
        senses.append((nm.strip(), tx.strip()))

if not word.strip():
    st.info("Type the word to follow.")
    st.stop()
if len(sentences) < 2:
    st.info("Give at least two sentences (one per line) that contain the word.")
    st.stop()


def occurrences(texts: list[str]) -> tuple[list, list[str]]:
    found, missing = [], []
    for text in texts:
        try:
            wt = word_trace(short_trace(ctx.model, text, ctx.causal), word)
        except InputError as exc:
            st.warning(f"{exc}")
            wt = None
        if wt is None:
            missing.append(text)
        else:
            found.append(wt)
    return found, missing


words, missing = occurrences(sentences)
for text in missing:
    st.warning(f"The word does not occur in this sentence (or lies past the token cap): {markdown_literal(text)}")
if len(words) < 2:
    st.info("Fewer than two sentences contain the word; nothing to compare.")
    st.stop()
names = [plotly_escape(w.text) for w in words]
rows = []
for w in words:
    pieces = " + ".join(readable_token(p) for p in w.pieces)
    note = ""
    if w.right_context_hidden:
        note = "causal model: the words after it cannot affect it"
    elif w.has_right_context:
        note = "bidirectional: sees the words after it too"
    rows.append({"sentence": w.text, "tokens of the word": pieces, "positions": str(w.positions), "context": note})
st.dataframe(rows, hide_index=True, width="stretch", key="mech_mole_table")
if any(w.right_context_hidden for w in words):
    st.info(
        f'{ctx.model_title} reads left to right (causal mask), so in a sentence like "one mole of carbon dioxide" the '
        "telling context comes after the word and cannot reach it: its embedding there is the same as in any sentence "
        "with the same words before it. A bidirectional model (MiniLM) can use it.",
        icon=":material/arrow_forward:",
    )
cos = pairwise_cosines(words)
series = {f"{names[a]}  ↔  {names[b]}": v for (a, b), v in cos.items()}
c1, c2 = st.columns(2)
with c1:
    show_chart(
        layer_lines(series, f"Cosine similarity of “{plotly_escape(word)}” between sentences", "cosine similarity"),
        "mech_mole_cos",
    )
with c2:
    coords, ratio = trajectories(words)
    st.caption(
        "Path of the word's embedding across layers (unit-length vectors, joint 2-D PCA). Big dots: first "
        "and last layer."
    )
    show_chart(trajectories_figure(names, coords, ratio), "mech_mole_traj")

if senses:
    refs, ref_missing = occurrences([t for _, t in senses])
    for text in ref_missing:
        st.warning(f"The word does not occur in this reference sentence: {markdown_literal(text)}")
    kept = [name for (name, text) in senses if text not in ref_missing]
    if refs:
        match = sense_match(words, refs, kept)
        st.subheader("Which sense is each occurrence closest to?")
        st.caption("Closest by cosine similarity to the sense reference at the same layer. Hover for every cosine.")
        show_chart(
            closest_sense_figure(names, [plotly_escape(k) for k in kept], match.closest, match.similarity),
            "mech_mole_senses",
        )
        last = match.similarity.shape[-1] - 1
        st.dataframe(
            [
                {
                    "sentence": w.text,
                    "closest at the last layer": kept[match.closest[s, last]] if match.closest[s, last] >= 0 else "tie",
                }
                | {f"cos to {k} (last layer)": float(match.similarity[s, r, last]) for r, k in enumerate(kept)}
                for s, w in enumerate(words)
            ],
            hide_index=True,
            width="stretch",
            column_config=fixed_decimals([f"cos to {k} (last layer)" for k in kept]),
            key="mech_sense_table",
        )
