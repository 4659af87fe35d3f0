"""Logit lens: what the model would predict if it stopped after each block (issue 16).

Widgets → services.lens (cached with the shell's trace) → viz.views.lens → viz.figures.lens.
"""

from __future__ import annotations

import streamlit as st

from services.lens import has_lens, lens_grid, lens_ranks
from services.traces import get_trace, trace_key
from ui.context import require_trace
from viz.figures.lens import lens_grid_figure, lens_track_figure
from viz.labels import readable_token
from viz.views.lens import chosen_tokens, lens_track
from viz.views.lens import lens_grid as grid_view

LENS_MAX_TOKENS = 256  # the grid draws n_layers × n cells, each with its own hover

ctx = require_trace()
st.title("Logit lens: the prediction, layer by layer")
st.caption(ctx.model_label)
if not has_lens(ctx.trace):
    st.info(
        f"{ctx.model_label} is an encoder without its language-model head: it has no unembedding to turn a "
        "layer's embedding into next-token probabilities, so there is no logit lens to show. Pick SmolLM2 "
        "in the sidebar.",
        icon=":material/info:",
    )
    st.stop()

trace, key = ctx.trace, ctx.trace_key
if trace.n_tokens > LENS_MAX_TOKENS:
    st.warning(f"The text has {trace.n_tokens} tokens; the lens shows the first {LENS_MAX_TOKENS}.")
    trace = get_trace(ctx.model, trace.text, trace.causal, LENS_MAX_TOKENS)
    key = trace_key(ctx.model, trace.text, trace.causal, LENS_MAX_TOKENS)

st.markdown(
    "After every block the embedding at each position is still a vector in the same space the last block "
    "writes to. The **logit lens** sends it through the model's own final normalisation and unembedding, as "
    "if the model stopped there: each cell is the most likely next token after that block, coloured by its "
    "probability; hover for the top 5. The top row is the model's real prediction."
)
with st.spinner("Reading every layer through the unembedding"):
    ids, probs = lens_grid(key, trace, 5)
grid = grid_view(ids, probs, trace.tokens, trace.decode_token)
st.plotly_chart(lens_grid_figure(grid), key="lens_grid", theme=None)

last = trace.n_tokens - 1
final = readable_token(trace.decode_token(int(ids[-1, last, 0])))
settled = int(grid.settles[last])
st.caption(
    f"At the last position the final answer is ‘{final}’; the lens first shows it, and keeps it to the end, "
    f"after block {settled} of {trace.n_layers - 1}."
)

st.subheader("One position, layer by layer")
position = st.selectbox(
    "Position",
    range(trace.n_tokens),
    index=last,
    format_func=lambda i: f"{i}: after ‘{grid.tokens[i]}’",
    key="lens_position",
)
chosen = chosen_tokens(ids, position, trace.token_ids)
p, r = lens_ranks(key, trace, position, chosen)
track = lens_track(chosen, p, r, trace.decode_token)
st.plotly_chart(
    lens_track_figure(track, f"after ‘{grid.tokens[position]}’ (position {position})"),
    key="lens_track",
    theme=None,
)
st.caption(
    "Followed: the final layer's top 3 at this position"
    + (", and the token that actually comes next in the text." if position < last else ".")
    + " Rank 1 means the lens's most likely token after that block."
)
