"""Cross-attention: target-language queries reading source-language keys, in the embedded decoder."""

from __future__ import annotations

import numpy as np
import streamlit as st

from services.lens import has_lens
from services.models import InputError
from services.traces import classifier_pass_key, derived, get_classifier_pass, pair_key, short_trace_key
from ui.context import page_context
from ui.cross import (
    SOURCE_KEY,
    TARGET_KEY,
    chosen_languages,
    cross_view,
    language_pickers,
    write_target_button,
    written_note,
)
from ui.decoder_lens import decoder_lens_section
from ui.widgets import fixed_decimals, show_chart, show_token_strip
from viz.figures.heatmaps import head_heatmap
from viz.figures.mechanism import cross_attention_heatmap, layer_head_grid, matrix_heatmap
from viz.labels import readable_tokens
from viz.views.common import display_tokens
from viz.views.cross import (
    DEFAULT_SOURCE,
    DEFAULT_TARGET,
    ENCODER_DECODER_NOTE,
    EncoderDecoderCross,
    block_axis_labels,
)
from viz.views.heads import all_patterns
from viz.views.patterns import head_view, tokens_of
from viz.views.score_terms import score_terms


def show_decoder_self_attention(ctx, decoder, layer: int, head: int) -> None:
    """The same decoder layer and head's self-attention over the target: the sublayer before its cross-attention,
    causal (a target token reads only the ones before it), its rows summing to 1 over the target."""
    st.markdown(f"**Decoder layer {layer}, head {head}: its self-attention over the target** (causal)")
    view = head_view(decoder, layer, head)
    label = score_terms(decoder).name  # T5's decoder adds its own (causal) position bias
    labels = tokens_of(decoder).plotly
    figure = head_heatmap(view.pattern, view.scores, view.mask, labels, ctx.orient, score_label=label)
    show_chart(figure, key="mech_cross_encdec_self")


def show_encoder_decoder(ctx, cross: EncoderDecoderCross, key: tuple) -> None:
    """An encoder-decoder's own cross-attention sublayer: target queries × source keys, no mask."""
    st.caption(f"{ctx.model_label} is an encoder-decoder: this is its real cross-attention.")
    st.caption("Source (encoder input):")
    show_token_strip(display_tokens(cross.pair.encoder))
    classifier = bool(ctx.config.class_labels)  # BART's, mBART's: the decoder reads the source (show_classifier_pass)
    st.caption("Decoder input: its start token (mBART's and PLBART's: the text's last token, its language code), "
               "then the same tokens shifted one place right; the head reads it where the text has its last </s>:"
               if classifier else "Target (decoder input: the start token, "
               "then the target; query i predicts target token i + 1):")  # fmt: skip
    show_token_strip(display_tokens(cross.pair.decoder))
    note = written_note(cross.pair.decoder.token_ids, cross.pair.source, cross.pair.target, chosen_languages(ctx))
    if note and not classifier:
        st.caption(note)
    patterns = cross.patterns()
    spread = cross.spread(patterns)
    choices = sorted(
        ((layer, head) for layer in range(cross.n_layers) for head in range(cross.n_heads)), key=lambda lh: -spread[lh]
    )
    layer, head = st.selectbox(
        "Cross-attention head (decoder layer, head)",
        choices,
        format_func=lambda lh: f"decoder layer {lh[0]}, head {lh[1]}: spread {spread[lh]:.2f}",
        key="mech_cross_encdec_head",
    )
    block = cross.block(layer, head)
    q_labels, k_labels = block_axis_labels(cross, block)
    figure = cross_attention_heatmap(block.pattern, q_labels, k_labels, layer, head)
    show_chart(figure, key="mech_cross_encdec_block")
    st.caption(ENCODER_DECODER_NOTE)
    show_decoder_self_attention(ctx, cross.pair.decoder, layer, head)
    show_chart(
        layer_head_grid(spread, "Alignment spread of every cross-attention head", "spread", (layer, head)),
        key="mech_cross_encdec_grid",
    )
    if has_lens(cross.pair.decoder):  # not a classifier's decoder (BART's), which has no unembedding
        decoder_lens_section(key, cross.pair.decoder)  # `key`: the pair's, so the grid leaves the cache with it


CLASSIFIER_DECODER_NOTE = (
    "This model is a sequence classifier: its encoder reads the sidebar's text (and its second text), its decoder the "
    "same tokens shifted one place right, and its head reads the decoder where the text has its last </s> (the "
    "verdict, layer by "
    "layer, is on the Logit lens page). Below, that pass: the decoder's cross-attention over the encoder and its own "
    "self-attention. It writes no target and has no logit lens."
)


def show_classifier_pass(ctx) -> None:
    """An encoder-decoder's classifier (BART's bart-large-mnli, mBART's, PLBART's): the pass its verdict reads,
    drawn as an encoder-decoder's, from the sidebar's texts; no source and target boxes."""
    st.caption(CLASSIFIER_DECODER_NOTE)
    try:
        pair = get_classifier_pass(ctx.model, ctx.text, ctx.second_text)
    except InputError as exc:
        st.info(str(exc))
        st.stop()
    if pair.encoder.truncated:
        st.caption(f"Here the text is cut to {pair.encoder.n_tokens} tokens (this page's cap).")
    show_encoder_decoder(ctx, EncoderDecoderCross(pair), classifier_pass_key(ctx.model, ctx.text, ctx.second_text))

ctx = page_context()
st.title("Cross-attention")
st.caption(
    "In a translation model, cross-attention lets every word of the translation (queries) look at the words of the "
    "original (keys and values). "
    + (
        f"{ctx.model_label} has its own cross-attention: below, its decoder's queries over its encoder's keys."
        if ctx.config.is_encoder_decoder
        else f"{ctx.model_label} has no separate cross-attention, so this page feeds it one prompt that holds both "
        "texts and shows the part of its attention pattern where queries come from the target and keys from the "
        "source."
    )
)
if ctx.config.is_encoder_decoder and ctx.config.class_labels:  # BART's classifier: its own pass, then stop
    show_classifier_pass(ctx)
    st.stop()
c1, c2 = st.columns(2)
st.session_state.setdefault(SOURCE_KEY, DEFAULT_SOURCE)  # set here, not as the boxes' value: the button below
st.session_state.setdefault(TARGET_KEY, DEFAULT_TARGET)  # writes the target box through session state
own = ctx.config.is_encoder_decoder  # its own source and target, in any languages; else the prompt's English/French
source = c1.text_input("Source text" if own else "Source text (English)", key=SOURCE_KEY)
target = c2.text_input("Target text" if own else "Target text (French)", key=TARGET_KEY)
if own:
    language_pickers(ctx, c1, c2)
    write_target_button(ctx, c2)
if not source.strip() or not target.strip():
    st.info("Type both a source and a target text.")
    st.stop()
try:
    cross = cross_view(ctx, source, target)
except InputError as exc:
    st.info(str(exc))
    st.stop()
if ctx.config.is_encoder_decoder:  # a real encoder-decoder: draw its cross-attention, then stop
    show_encoder_decoder(ctx, cross, pair_key(ctx.model, source, target, chosen_languages(ctx)))
    st.stop()
trace, prompt = cross.trace, cross.trace.text  # the prompt holding both texts, as the model read it
if not cross.source or not cross.target:
    st.warning("The prompt was cut at the token cap before the target text; use shorter texts.")
    st.stop()
st.caption(f"The prompt the model reads ({ctx.model_label}):")
show_token_strip(display_tokens(trace))

patterns = derived(short_trace_key(ctx.model, prompt, ctx.causal), "all_patterns", compute=lambda: all_patterns(trace))
share = cross.source_share(patterns)
spread = cross.spread(patterns)
best = np.unravel_index(int(np.argmax(share)), share.shape)
order = st.radio(
    "Order heads by",
    ["spread", "share"],
    format_func={
        "spread": "alignment spread: how sharply, and on how many different source tokens, the target tokens land",
        "share": "share: how much of the target's attention goes to the source",
    }.get,
    key="mech_cross_order",
)
rank = spread if order == "spread" else share
choices = sorted(
    ((layer, head) for layer in range(cross.n_layers) for head in range(cross.n_heads)), key=lambda lh: -rank[lh]
)
c1, c2 = st.columns([2, 1])  # the head box's options whole at 1024 px (tests/app/fit.py)
# The sidebar's layer and head are where the picker starts (its key follows them, so moving the sidebar's sliders
# moves it); the list is ordered by the chosen measure, best first.
sidebar_head = (ctx.layer, ctx.head) if (ctx.layer, ctx.head) in choices else choices[0]
layer, head = c1.selectbox(
    "Head (starts at the sidebar's layer and head; best first below it)",
    choices,
    index=choices.index(sidebar_head),
    format_func=lambda lh: f"layer {lh[0]}, head {lh[1]}: {share[lh]:.1%} to the source, spread {spread[lh]:.2f}",
    key=f"mech_cross_head_{order}_L{ctx.layer}_H{ctx.head}",
)
block = cross.block(layer, head)
n_masked = int((~block.mask).sum())  # computed from the engine's mask, not assumed
q_labels, k_labels = block_axis_labels(cross, block)
with c2:
    st.metric(
        "Masked in this block", f"{n_masked} of {block.mask.size}",
        help="Entries of the target × source block the mask hides, counted from the engine's mask.",
    )  # fmt: skip
show_chart(
    matrix_heatmap(
        block.pattern,
        f"Layer {layer}, head {head}: target queries × source keys [{len(cross.target)} × {len(cross.source)}]",
        q_labels,
        k_labels,
        "source key (English)",
        "target query (French)",
        kind="weight",
    ),
    key="mech_cross_block",
)
mask_note = (
    "The causal mask is on, yet no entry of this block is masked: every French token comes after every English "
    "token in the prompt, so the mask never hides a source key from a target query."
    if ctx.causal and n_masked == 0
    else f"{n_masked} entries of this block are masked."
    if ctx.causal
    else "This pass uses no mask at all, so the English tokens can also look at the French ones (source queries × "
    "target keys, not drawn here); a decoder-only translator would not."
)
st.caption(
    f"{mask_note} Each row is one French query; a row's weights here sum to less than 1 because the rest goes to the "
    "prompt labels and to French tokens."
)
st.dataframe(
    [
        {"target query": f"{i}: {t}", "weight on the source": float(w)}
        for i, t, w in zip(cross.target, readable_tokens(block.queries), block.row_share, strict=True)
    ],
    hide_index=True,
    width="stretch",
    column_config=fixed_decimals(["weight on the source"]),
    key="mech_cross_rows",
)
show_chart(
    layer_head_grid(share, "Mean weight the target puts on the source, every head", "weight", (layer, head)),
    key="mech_cross_grid",
)
st.caption(f"Most source-reading head: layer {best[0]}, head {best[1]} ({share[best]:.1%}).")

st.subheader("How a real encoder-decoder differs")
st.markdown(
    """
- **Two stacks, two streams.** An encoder reads the source (bidirectionally); a decoder writes the target. A
  cross-attention sublayer in each decoder block takes its **queries from the decoder's stream** and its **keys and
  values from the encoder's final output**, with their own W_Q, W_K, W_V, W_O.
- **No mask in cross-attention.** The whole source is known before decoding starts, so every target position may read
  every source position. (The decoder's own self-attention stays causal.)
- **The pattern is target × source only.** Rows sum to 1 over the source alone; here each row also spends weight on
  the prompt labels and on the other French tokens, and the same heads do both jobs.

To see a real one, load an encoder-decoder under *Another model* in the sidebar (for example `google-t5/t5-small`,
which was trained to translate English to French, where the model hub is reachable; a Marian model needs a
`tokenizer.json` in its folder): this page then draws its own cross-attention sublayer, decoder queries × encoder
keys, instead of this prompt.
"""
)
