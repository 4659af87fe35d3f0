"""Text view: the text as running tokens; hover or click a token to shade every other token by its attention
weight, as a query (what it attends to: its row of the pattern) or as a key (who attends to it: its column), for
the sidebar's head or the mean of the layer's heads. In the spirit of BertViz's lines, CircuitsVis's coloured
tokens and Neuronpedia's hover; the drawing is a small self-contained HTML page (viz/figures/text_view.py)."""

from __future__ import annotations

import hashlib

import streamlit as st

from services.traces import derived, derived_job, set_threads_for
from ui.context import require_trace
from ui.progress import wait_with_progress
from ui.widgets import show_cut_notice, warn_untrained_masking
from viz.figures.text_view import Legend, text_view_html
from viz.views.common import mask_words
from viz.views.text_view import encode_both, head_matrix, text_pieces

DIRECTIONS = {"query": "As a query: what it attends to", "key": "As a key: who attends to it"}

ctx = require_trace()
trace, key = ctx.trace, ctx.trace_key
n = trace.n_tokens
set_threads_for(n)
mask_word = mask_words(ctx.causal, ctx.config.window(ctx.layer))

st.title("Text view")
st.caption(f"{ctx.model_label} · {mask_word} · layer {ctx.layer} · {n} tokens")
if trace.truncated:
    show_cut_notice(trace, n)
warn_untrained_masking(ctx, "these weights")

left, right = st.columns(2)
direction = left.radio(
    "Shade the other tokens", list(DIRECTIONS), format_func=DIRECTIONS.get, horizontal=True, key="tv_direction"
)
heads = right.radio(
    "Heads",
    ["head", "all"],
    format_func=lambda h: f"Head {ctx.head} (sidebar)" if h == "head" else f"All {ctx.n_heads} heads (mean)",
    horizontal=True,
    key="tv_heads",
)
head = ctx.head if heads == "head" else None
what = f"layer {ctx.layer}, head {ctx.head}"
if head is None:
    what = f"the mean over layer {ctx.layer}'s {ctx.n_heads} heads"

packed = wait_with_progress(
    derived_job(
        key,
        "text_view",
        ctx.layer,
        head,
        compute=lambda progress: encode_both(head_matrix(trace, ctx.layer, head, progress)),
    ),
    f"Layer {ctx.layer}'s weights",
)
pieces = derived(key, "text_view_pieces", compute=lambda: text_pieces(trace))
store = "tv-pin:" + hashlib.sha1(f"{ctx.model_name}\0{ctx.causal}\0{trace.text}".encode()).hexdigest()[:16]
st.iframe(text_view_html(pieces, packed[direction], Legend(what, bool(trace.causal), store)), height="content")
st.caption(
    "In 3Blue1Brown's words: each token's query is compared with every key; the softmax of those scores is the "
    "token's row of the attention pattern. Shading by query shows that row on the text; shading by key shows a "
    "column: which tokens' queries found this token's key relevant. The sidebar's layer and head pick the pattern."
)
