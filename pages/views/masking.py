"""Scores and masking: raw scaled scores (masked cells as −∞) and masked vs unmasked softmax."""

from __future__ import annotations

import streamlit as st

from pages.views._common import image_format_radio, require_context, show_tokens
from viz.figures import image_config, mask_comparison, orientation_caption, scores_heatmap
from viz.viewmodel import export_basename, head_view

ctx = require_context()
view = head_view(ctx.trace, ctx.layer, ctx.head)
tokens = view.tokens
fmt = st.session_state.get("img_fmt_masking", "png")
base = export_basename(ctx.model_name, ctx.layer, ctx.head, ctx.causal)

st.title("Scores, masking and softmax")
st.caption(f"{ctx.model_label} · layer {ctx.layer}, head {ctx.head}")
show_tokens(ctx, tokens)

st.subheader("Raw scaled scores  q·k / √d_head")
if ctx.causal:
    how = (
        "This forward pass used a causal mask: a query may not look at later keys, so those scores are set "
        "to −∞ before the softmax (grey cells marked −∞; hover shows the score the mask replaced)."
    )
else:
    how = (
        "This forward pass used no mask: every query sees every key. Turn on the causal mask in the sidebar "
        "to see the scores of later keys replaced by −∞."
    )
st.caption(f"d_head = {ctx.d_head}. {how} {orientation_caption(ctx.orient).split('. ')[0]}.")
st.plotly_chart(
    scores_heatmap(view.scores, view.mask, tokens.plotly, ctx.orient),
    key="scores",
    config=image_config(f"{base}_scores", fmt),
    theme=None,
)

st.subheader("The same scores, softmax with and without the causal mask")
st.caption(
    "Masking does not just zero the weights of later keys: each query's weights are renormalized over the keys it may "
    "see, so the remaining weights grow. The difference panel shows that shift (red: larger with the mask). "
    + orientation_caption(ctx.orient)
)
st.plotly_chart(
    mask_comparison(view.pattern_masked, view.pattern_unmasked, tokens.plotly, ctx.orient),
    key="compare",
    config=image_config(f"{base}_mask_vs_no_mask", fmt),
    theme=None,
)

# One query's row in numbers: the masked weights are the unmasked ones over keys 0..i, divided by
# their sum. Showing that sum makes "renormalize over fewer keys" concrete with the model's numbers.
n = len(tokens)
query = st.selectbox(
    "Look at one query's row",
    list(range(n)),
    index=min(n - 1, max(0, n // 2)),
    format_func=lambda i: f"{i}: {tokens.readable[i]}",
    key="masking_query",
)
kept = float(view.pattern_unmasked[query, : query + 1].sum())
st.caption(
    f"Without the mask, query {query} puts {kept:.4f} of its weight on keys 0–{query}. With the mask those "
    f"keys are all it has, so each of their weights is divided by {kept:.4f}."
)
st.dataframe(
    {
        "key": [f"{j}: {tokens.readable[j]}" for j in range(n)],
        "scaled score": [float(s) for s in view.scores[query]],
        "score the softmax sees (masked)": [
            float(s) if j <= query else float("-inf") for j, s in enumerate(view.scores[query])
        ],
        "weight without mask": [float(w) for w in view.pattern_unmasked[query]],
        "weight with mask": [float(w) for w in view.pattern_masked[query]],
    },
    hide_index=True,
    width="stretch",
)
image_format_radio("img_fmt_masking")
