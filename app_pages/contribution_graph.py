"""Contribution graph: from which tokens (earlier ones, under a causal mask), through which layers, one token's
final embedding was built (issue 16, item 3).

Widgets → services.lens.contribution_graph (cached with the shell's trace) → viz.views.flow → viz.figures.flow.
"""

from __future__ import annotations

from functools import partial

import streamlit as st

from services.lens import contribution_graph
from ui.context import require_trace
from ui.widgets import fixed_decimals, show_chart, token_picker, warn_untrained_masking
from viz.figures.flow import flow_figure
from viz.labels import markdown_code, readable_token, readable_token_labels
from viz.views.common import display_tokens
from viz.views.export import graph_csv
from viz.views.flow import (
    DEFAULT_THRESHOLD,
    flow_view,
    hybrid_words,
    lowest_threshold,
    mixer_colour_words,
    strongest_sources,
)
from viz.views.heads import word_positions
from viz.views.sent_words import sent_formula

ctx = require_trace()
trace = ctx.trace
st.title("Contribution graph: where one token's embedding came from")
st.caption(ctx.model_label)
st.markdown(
    "Each block adds to a token's embedding: its attention adds what "
    + ("every earlier token sends " if trace.causal else "every token, before or after it, sends ")
    + f"({sent_formula(trace.config.attn_output_gate)}, summed over heads), its MLP adds what it computes from the "
    "token alone. Each part's "
    "**importance** is how much it pulls the sum towards where the sum ends up (its proximity "
    "‖y‖₁ − ‖y − part‖₁, as a share of all parts'; Ferrando & Voita 2024, the measure of the LLM "
    "Transparency Tool). Starting from the chosen token at the top, the graph keeps every part at or above "
    "the threshold, and follows it down to the token it came from."
)
cfg = trace.config
hybrid = cfg.hybrid  # some layer mixes tokens by more than attention: another mixer, or a scan beside the heads
if hybrid:  # short_conv.py, delta_net.py: each source's term of a convolution or a delta rule is exact, as attention's
    st.markdown(hybrid_words(ctx.model_title, cfg))
warn_untrained_masking(ctx, "these contributions")
shown = display_tokens(trace)  # byte pieces named by their character, as on every page
labels = readable_token_labels(shown)
c1, c2 = st.columns([3, 2])
with c1:
    words = word_positions(trace.tokens, trace.offsets)  # the last word: an encoder's last token is its [SEP]
    token = token_picker("Token whose embedding to explain", labels, words[-1] if words else trace.n_tokens - 1,
                         "flow_token")  # fmt: skip
lowest = lowest_threshold(trace.n_tokens)
threshold = c2.slider(
    "Threshold (share of a sum)", lowest, 0.5, max(DEFAULT_THRESHOLD, lowest), 0.01, key=f"flow_threshold_{lowest}",
    help="A part is drawn when it is at least this share of the sum it joins. Lower shows more paths"
    + ("." if lowest == 0.01 else f"; a text this long starts at {lowest:.2f}, below which nearly every token joins."),
)  # fmt: skip

with st.spinner("Splitting every block's update into its parts"):
    edges = contribution_graph(ctx.trace_key, trace, token, threshold)
view = flow_view(edges, shown, token, trace.n_layers, threshold,
                 [cfg.mixer_name(layer) for layer in range(cfg.n_layers)] if hybrid else ())  # fmt: skip
show_chart(flow_figure(view), "flow_graph")
reached = len(view.positions) - 1
st.caption(
    f"{view.n_edges} edges at threshold {threshold:.2f}; {reached} other token"
    f"{'' if reached == 1 else 's'} reach {markdown_code(readable_token(shown[token]))} (position {token}). "
    "Blue: attention "
    "(a curve in a token's own column is attention to itself); "
    + mixer_colour_words(cfg)
    + "orange: the MLP; grey: the residual stream "
    "passing a sublayer. Width: importance. Hover an edge's dot for its numbers."
)
st.download_button(
    "Edges as CSV", partial(graph_csv, edges, shown), mime="text/csv", icon=":material/table:",
    file_name=f"contributions_{ctx.model_name}_token_{token}_threshold_{threshold:.2f}.csv", on_click="ignore",
)  # fmt: skip

strongest = strongest_sources(edges, shown)
if strongest:
    st.subheader("The strongest moves between tokens")
    st.dataframe(strongest, hide_index=True, column_config=fixed_decimals(["importance"], "%.3f"))
elif trace.n_tokens == 1 or (trace.causal and token == 0):  # no lower threshold would show another token
    st.info(
        "No other token can send anything here: "
        + ("the text is one token." if trace.n_tokens == 1 else "under the causal mask the first token sees only "
           "itself.") + " Its embedding is built from itself alone.",
        icon=":material/info:",
    )  # fmt: skip
else:
    st.info(
        f"No {'edge' if hybrid else 'attention edge'} between two different tokens reaches "
        "this threshold: at this threshold the token's "
        "embedding is built from itself. Lower the threshold to see weaker paths.",
        icon=":material/info:",
    )
