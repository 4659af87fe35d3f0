"""Logit lens: what the model would predict if it stopped after each block (issue 16).

Widgets → services.lens (cached with the shell's trace) → viz.views.lens → viz.figures.lens.
"""

from __future__ import annotations

from functools import partial

import streamlit as st

from services.lens import fills_in, has_lens, lens_grid, lens_ranks, mask_token, mask_token_id
from ui.answers import answer_section
from ui.classes import classifier_section
from ui.context import require_trace
from ui.residues import residues_section
from ui.tags import tagger_section
from ui.widgets import show_cut_notice, show_token_heatmap, token_picker, warn_untrained_masking
from viz.figures.lens import lens_grid_figure, lens_track_figure
from viz.labels import markdown_code, plotly_escape, readable_token
from viz.views.common import display_tokens, no_prediction_sentence
from viz.views.experiments import text_end
from viz.views.export import lens_csv
from viz.views.lens import (
    LENS_WINDOW,
    chosen_tokens,
    focus_place,
    focus_position,
    grid_byte_note,
    grid_escape_note,
    grid_introduction,
    lens_track,
    position_words,
    settle_caption,
)
from viz.views.lens import lens_grid as grid_view
from viz.views.patterns import tokens_of

ctx = require_trace()
st.title("Logit lens: the prediction, layer by layer")
st.caption(ctx.model_label)
classified = classifier_section(ctx.trace_key, ctx.trace, ctx.model_title)  # a sequence classifier's own prediction
shown = display_tokens(ctx.trace)  # byte pieces named by their character, as on every page
tagged = tagger_section(ctx.trace_key, ctx.trace, shown, ctx.model_title, ctx.model_name)
answered = answer_section(ctx.trace_key, ctx.trace, tokens_of(ctx.trace), ctx.model_title)  # a reader's answer span
if not has_lens(ctx.trace) and (classified or tagged or answered):
    said = "verdict above is" if classified else "labels above are" if tagged else "answer above is"
    st.caption(f"It has no unembedding over its vocabulary, so no token grid: its {said} what it predicts.")
    st.stop()
if not has_lens(ctx.trace):
    st.info(
        no_prediction_sentence(ctx.model_label, ctx.config.is_encoder_decoder)
        + " So there is no unembedding to turn a layer's embedding into token probabilities here: no logit "
        "lens to show. Pick SmolLM2 in the sidebar.",
        icon=":material/info:",
    )
    st.stop()
warn_untrained_masking(ctx, "these predictions")  # without the mask a position reads the token it predicts

trace, key = ctx.trace, ctx.trace_key
here = fills_in(trace)  # a masked-language model's predictions are for the token at each position, not the next
mask = mask_token(trace)  # the token it fills in ("[MASK]"), or None
if trace.truncated:  # the last position's prediction is the one after the cut, not after the text's end
    show_cut_notice(trace, trace.n_tokens)
first, stop = 0, trace.n_tokens
if trace.n_tokens > LENS_WINDOW:
    last_start = trace.n_tokens - LENS_WINDOW
    first = st.slider(
        f"The trace has {trace.n_tokens} tokens; the grid shows {LENS_WINDOW} positions at a time, from position",
        0, last_start, last_start, step=1, key=f"lens_first_{trace.n_tokens}",
        help="Each position is read through the unembedding once per layer, so a window is what stays quick.",
    )  # fmt: skip
    stop = first + LENS_WINDOW

with st.spinner("Reading every layer through the unembedding"):
    ids, probs = lens_grid(key, trace, 5, first, stop)
grid = grid_view(ids, probs, shown[first:stop], trace.decode_token, first, fills_in=here)
st.markdown(grid_introduction(grid, 5, prediction_head=ctx.config.head_act is not None, mask=mask))
grid_figure = lens_grid_figure(grid)
# On a phone a column keeps the width its cell text was cut for.
show_token_heatmap(grid_figure, "lens_grid", grid.column_px)

# The position followed first: a decoder's last (its prediction after the text), a masked-language model's first mask
focus = focus_position(trace.tokens, first, stop, mask, text_end(trace) if here else None)
final = readable_token(trace.decode_token(int(ids[-1, focus - first, 0])))
at_mask = mask is not None and trace.tokens[focus] == mask
where = focus_place(focus, stop, trace.n_tokens, markdown_code(mask) if at_mask else None)
st.caption(settle_caption(grid, focus - first, f"‘{final}’", where))
for note in (grid_byte_note(ids, trace.decode_token), grid_escape_note(ids, shown[first:stop], trace.decode_token)):
    if note is not None:
        st.caption(note)
st.download_button(
    "Grid as CSV (each block's top 5 at each position)",
    partial(lens_csv, ids, probs, shown[first:stop], trace.decode_token, first, fills_in=here),
    file_name=f"logit_lens_{ctx.model_name}_positions_{first}-{stop - 1}.csv", mime="text/csv",
    icon=":material/table:", on_click="ignore",
)  # fmt: skip

st.subheader("One position, layer by layer")
positions = [f"{i}: {position_words(f'‘{grid.tokens[i - first]}’', here)}" for i in range(first, stop)]
position = first + token_picker("Position", positions, focus - first, "lens_position", first=first)  # a new text: anew
chosen = chosen_tokens(ids, position - first, trace.token_ids[first:], mask_id=mask_token_id(trace))
p, r = lens_ranks(key, trace, position, chosen)
track = lens_track(chosen, p, r, trace.decode_token)
st.plotly_chart(
    lens_track_figure(track, f"{position_words(f'‘{plotly_escape(grid.tokens[position - first])}’', here)} "
                      f"(position {position})"),  # fmt: skip
    key="lens_track",
    theme=None,
)
if here:
    actual = ", and the token the text has here." if trace.tokens[position] != mask else " (the text hides this one)."
else:
    actual = ", and the token that actually comes next in the text." if position < trace.n_tokens - 1 else "."
st.caption(f"Followed: the final layer's top 3 at this position{actual} Rank 1 means the lens's most likely token "
           "after that block.")  # fmt: skip

residues_section(key, trace, trace.tokens, ctx.model_title, ctx.model_name)  # a protein model's, with its head
