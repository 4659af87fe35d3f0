"""Scores and masking: raw scaled scores (masked cells as −∞) and masked vs unmasked softmax.

Long texts (past FULL_RES_MAX_TOKENS) show the same figures for the exact window chosen with the
sliders (shared with the patterns page), never the whole n×n matrices.
"""

from __future__ import annotations

import streamlit as st

from services.traces import derived, set_threads_for
from ui.context import require_trace
from ui.widgets import (
    fixed_decimals,
    image_format_radio,
    short_headers,
    show_token_heatmap,
    show_tokens,
    token_picker,
    warn_untrained_masking,
    wide_chart,
    window_selector,
)
from viz.figures.heatmaps import Cells, mask_comparison, scores_heatmap
from viz.figures.layout import image_config, orientation_caption
from viz.figures.mask_parts import bias_scores, softcap_scores, window_masks
from viz.views.export import export_basename
from viz.views.mask_parts import mask_parts, window_caption
from viz.views.patterns import (
    Window,
    head_view,
    is_long,
    second_text_at,
    tokens_of,
    window_mask_patterns,
    window_view,
)
from viz.views.position_words import bias_words, position_bias_caption
from viz.views.score_terms import score_terms

ctx = require_trace()
trace = ctx.trace
tokens = derived(ctx.trace_key, "tokens", compute=lambda: tokens_of(trace))
n = len(tokens)
long = is_long(n)
set_threads_for(n)
fmt = st.session_state.get("img_fmt_masking", "png")
base = export_basename(ctx.model_name, ctx.layer, ctx.head, ctx.causal)

st.title("Scores, masking and softmax")
st.caption(f"{ctx.model_label} · layer {ctx.layer}, head {ctx.head}")
show_tokens(ctx, tokens)
warn_untrained_masking(ctx)

if long:
    st.caption(f"{n} tokens: these figures show the window of queries × keys chosen here (at full resolution).")
    window = window_selector(n)
    wview = window_view(trace, ctx.layer, ctx.head, window, tokens)
    scores, mask = wview.scores, wview.mask
    masked, unmasked, kept_rows = window_mask_patterns(trace, ctx.layer, ctx.head, window)
    rows, cols = wview.labels()
    cells: Cells | None = Cells(rows, cols, window.q0, window.k0)
else:
    window = Window(0, n, 0, n)
    view = head_view(trace, ctx.layer, ctx.head)
    scores, mask, masked, unmasked = view.scores, view.mask, view.pattern_masked, view.pattern_unmasked
    cells = None
parts = derived(
    ctx.trace_key, "mask_parts", ctx.layer, ctx.head, *window.as_tuple(),
    compute=lambda: mask_parts(trace, ctx.layer, ctx.head, window.rows, window.cols),
)  # fmt: skip

cfg = trace.config
terms = score_terms(trace)  # the same titles and names as the library's `scores` view
more = "  (the two parts below)" if parts.has_bias else ("  (see below)" if parts.has_softcap else "")
st.subheader(terms.scores_title() + more)
if ctx.causal:
    how = (
        "This forward pass used a causal mask: a query may not look at later keys, so those scores are set "
        "to −∞ before the softmax (grey cells"
        + (" marked −∞; hover shows" if max(scores.shape) <= 40 else "; hover shows −∞ and")  # heatmaps.scores_heatmap
        + " the score the mask replaced)."
    )
else:
    how = (
        "This forward pass used no mask: every query sees every key. Turn on the causal mask in the sidebar "
        "to see the scores of later keys replaced by −∞."
    )
st.caption(f"d_head = {ctx.d_head}. {how} {orientation_caption(ctx.orient).split('. ')[0]}.")  # which way, alone
split = second_text_at(trace)  # a text pair's: a dashed line between its texts
scores_figure = scores_heatmap(scores, mask, tokens.plotly, ctx.orient, cells=cells, score_label=terms.name,
                               second_text_at=split)  # fmt: skip
show_token_heatmap(scores_figure, "scores", config=image_config(f"{base}_scores", fmt))

if parts.has_window:
    st.subheader("The sliding window: a second mask")
    st.caption(window_caption(parts.window_size, causal=parts.causal is not None))
    st.plotly_chart(
        window_masks(parts.causal, parts.window, parts.used, parts.window_size, tokens.plotly, ctx.orient, cells),
        key="window_masks",
        config=image_config(f"{base}_sliding_window", fmt),
        theme=None,
    )
if parts.has_bias:
    added, shared = bias_words(cfg.position_bias, cfg.rel_bias_per_layer)
    this = "these terms" if cfg.position_bias == "disentangled" else "this bias"  # the caption's first part says which
    st.subheader(f"Two parts: q·k and {added}")
    st.caption(
        position_bias_caption(
            cfg.position_bias, cfg.absolute_positions, cfg.causal, cfg.rel_max_distance, cfg.own_position_projections
        )
        + f". The scores above are {terms.scaled} plus {this}; here the two are shown apart, on one colour "
        f"scale, and their sum is what the mask and the softmax read. {shared}"
    )
    st.plotly_chart(
        bias_scores(
            parts.uncapped, parts.bias, parts.scores, mask, tokens.plotly, ctx.orient, cells, bias_name=terms.bias_name
        ),
        key="position_bias",
        config=image_config(f"{base}_position_bias", fmt),
        theme=None,
    )
if parts.has_softcap:
    st.subheader("Soft-capped scores: before and after the cap")
    st.caption(
        f"This model squashes every scaled score s to {parts.softcap:g}·tanh(s / {parts.softcap:g}) before the "
        f"mask and the softmax: scores near 0 barely change, large ones are pulled towards ±{parts.softcap:g}. "
        "Both panels share one colour scale; the softmax reads the right one."
    )
    st.plotly_chart(
        softcap_scores(parts.uncapped, parts.scores, mask, parts.softcap, tokens.plotly, ctx.orient, cells),
        key="softcap",
        config=image_config(f"{base}_softcap", fmt),
        theme=None,
    )

st.subheader("The same scores, softmax with and without the causal mask")
st.caption(
    "Masking does not just zero the weights of later keys: each query's weights are renormalized over the keys it may "
    "see, so the remaining weights grow. The difference panel shows that shift (red: larger with the mask). "
    + orientation_caption(ctx.orient, ctx.config.attn_sinks)
    + (" In a window, a row sums to the share of the query's weight inside it." if long else "")
    + (" The sliding window applies in both: it is part of the model." if parts.has_window else "")
)
with wide_chart("compare"):  # below 1200 px the three panels keep their width and scroll
    st.plotly_chart(
        mask_comparison(masked, unmasked, tokens.plotly, ctx.orient, cells=cells, second_text_at=split),
        key="compare",
        config=image_config(f"{base}_mask_vs_no_mask", fmt),
        theme=None,
    )

# One query's row in numbers: the masked weights are the unmasked ones over keys 0..i, divided by
# their sum. Showing that sum makes "renormalize over fewer keys" concrete with the model's numbers.
rows = [f"{i}: {tokens.readable[i]}" for i in range(window.q0, window.q1)]  # follows a new text or window
query = window.q0 + token_picker("Look at one query's row", rows, len(rows) // 2, "masking_query", first=window.q0)
r = query - window.q0
first = 0 if parts.window_size is None else max(0, query - parts.window_size + 1)  # the first key it may see
kept = float(kept_rows[r]) if long else float(unmasked[r, first : query + 1].sum())
one = first == query  # the first query of a causal text (or a window of one) sees only itself
seen = f"key {query}" if one else f"keys {first}–{query}"
them = "that key is all it has, so its weight is" if one else "those keys are all it has, so each of their weights is"
st.caption(
    f"Without the mask, query {query} puts {kept:.4f} of its weight on {seen}. With the mask {them} divided by "
    f"{kept:.4f}." + (f" The table lists keys {window.k0}–{window.k1 - 1} (the window)." if long else "")
)
keys = range(window.k0, window.k1)
columns = {"key": [f"{j}: {tokens.readable[j]}" for j in keys]}
if parts.has_bias:  # T5: the score is two terms; show both
    columns["q·k × scale"] = [float(s) for s in parts.uncapped[r]]
    columns[terms.bias_name] = [float(b) for b in parts.bias[r]]
columns[terms.name] = [float(s) for s in scores[r]]  # "scaled score" where q·k/√d_head is all there is
columns["score the softmax sees (masked)"] = [
    float(s) if allowed else float("-inf") for allowed, s in zip(parts.with_mask[r], scores[r], strict=True)
]
columns["weight without mask"] = [float(w) for w in unmasked[r]]
columns["weight with mask"] = [float(w) for w in masked[r]]
# Short headers, the full names in their tooltips: at 1024 px the long ones pushed "weight with mask", the column
# this section is about, out of sight to the right.
headers = {
    terms.name: ("score", f"The {terms.name} of query {query} with each key."),
    "score the softmax sees (masked)": ("masked score", "The score the softmax sees: −∞ where the mask hides the key."),
    "weight without mask": ("weight, no mask", "The softmax of the scores with no mask: every key gets some weight."),
    "weight with mask": ("weight, masked", "The softmax of the masked scores: exactly 0 on every hidden key."),
}
config = fixed_decimals(list(columns)[1:]) | short_headers(headers)
with st.container(key="masking_row"):  # keyed for the browser test (a plain table has no key of its own)
    st.dataframe(columns, hide_index=True, width="stretch", column_config=config)
image_format_radio("img_fmt_masking")
