"""Attention patterns: tokens, one head large, every head of the layer, every layer × head, export."""

from __future__ import annotations

from functools import partial

import streamlit as st

from pages.views._common import image_format_radio, require_context, select_head_from_chart, show_tokens
from viz.figures import head_heatmap, image_config, layer_small_multiples, orientation_caption, overview_mosaic
from viz.viewmodel import export_basename, head_view, layer_patterns, overview, pattern_csv, pattern_npz

ctx = require_context()
trace = ctx.trace
view = head_view(trace, ctx.layer, ctx.head)
tokens = view.tokens
mask_word = "causal mask on" if ctx.causal else "no mask (bidirectional)"

st.title("Attention patterns")
st.caption(f"{ctx.model_label} · {mask_word} · layer {ctx.layer}, head {ctx.head}")
show_tokens(ctx, tokens)

fmt = st.session_state.get("img_fmt_patterns", "png")  # the radio is drawn in the export section below
base = export_basename(ctx.model_name, ctx.layer, ctx.head, ctx.causal)

left, right = st.columns([3, 2], gap="medium")
with left:
    st.subheader(f"Layer {ctx.layer}, head {ctx.head}")
    st.caption(orientation_caption(ctx.orient) + " Hover a cell for its weight and raw score.")
    st.plotly_chart(
        head_heatmap(view.pattern, view.scores, view.mask, tokens.plotly, ctx.orient),
        key="head_heatmap",
        config=image_config(base, fmt),
        theme=None,
    )
with right:
    st.subheader(f"All {ctx.n_heads} heads of layer {ctx.layer}")
    st.caption("Click a head to select it (red frame: the selected head).")
    # The key carries the selection so the chart is rebuilt (and its old click cleared) when it changes.
    key = f"heads_L{ctx.layer}_H{ctx.head}"
    st.plotly_chart(
        layer_small_multiples(layer_patterns(trace, ctx.layer), ctx.head, ctx.orient, layer=ctx.layer),
        key=key,
        on_select=partial(select_head_from_chart, key),
        selection_mode="points",
        config=image_config(f"{base}_layer", fmt),
        theme=None,
    )

st.subheader(f"Every layer × head ({ctx.n_layers} × {ctx.n_heads})")
st.caption(
    "Each thumbnail is one head's pattern, averaged over blocks of tokens for long texts. "
    "Click one to select that layer and head."
)
overview_key = f"overview_L{ctx.layer}_H{ctx.head}"
st.plotly_chart(
    overview_mosaic(overview(trace), (ctx.layer, ctx.head), ctx.orient),
    key=overview_key,
    on_select=partial(select_head_from_chart, overview_key),
    selection_mode="points",
    config=image_config(f"{ctx.model_name}_overview", fmt),
    theme=None,
)

st.subheader("Export the selected pattern")
st.caption("Files always have one row per query (rows sum to 1), whatever the orientation on screen.")
c1, c2, c3 = st.columns([1, 1, 2])
c1.download_button(
    "Pattern as CSV", pattern_csv(view), file_name=f"{base}.csv", mime="text/csv", icon=":material/table:"
)
c2.download_button(
    "Pattern as NPZ",
    pattern_npz(view, ctx.model_name),
    file_name=f"{base}.npz",
    mime="application/octet-stream",
    icon=":material/download:",
)
with c3:
    image_format_radio("img_fmt_patterns")
