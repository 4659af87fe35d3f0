"""The Logit lens page's section on a token classifier's labels, layer by layer (its head read from every token's
embedding after every block, as the lens's grid); nothing for a model without a token-classification head."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from functools import partial
from typing import Any

import streamlit as st

from services.lens import REPLACED_LABELS, tag_grid
from ui.widgets import show_token_heatmap
from viz.figures.lens import lens_grid_figure
from viz.views.export import tags_csv
from viz.views.lens import LENS_WINDOW
from viz.views.tags import tag_grid_view, tag_groups, tag_rows, tag_sentence


def tagger_section(key: Hashable, trace: Any, tokens: Sequence[str], model_title: str, model_name: str) -> bool:
    """Draw the section where the model has a token-classification head (`tokens`: the text's tokens as the pages show
    them); says whether it did."""
    found = tag_grid(key, trace)  # None at once for any other model
    if found is None:
        return False
    probs, labels = found
    st.subheader("The tagger's labels, layer by layer")
    replaced = tuple(labels) == REPLACED_LABELS  # ELECTRA's discriminator
    st.caption(tag_sentence(probs, labels, tokens, model_title, replaced=replaced) + " Below, each cell is the top "
               "label at its position after that block (the top row: the model's own labels); hover a cell for the "
               "top 3 there.")  # fmt: skip
    first, stop = 0, len(tokens)
    if len(tokens) > LENS_WINDOW:  # as the lens grid: 64 columns are as many as a screen can label
        first = st.slider(f"The text has {len(tokens)} tokens; the grid shows {LENS_WINDOW} at a time, from position",
                          0, len(tokens) - LENS_WINDOW, 0, key=f"tag_first_{len(tokens)}")  # fmt: skip
        stop = first + LENS_WINDOW
    grid = tag_grid_view(probs[:, first:stop], labels, tokens[first:stop], first)
    show_token_heatmap(lens_grid_figure(grid), "tag_grid", grid.column_px)
    st.dataframe(tag_rows(probs[:, first:stop], labels, tokens[first:stop], first), hide_index=True,
                 column_config={"probability": st.column_config.NumberColumn(format="%.3f")})  # fmt: skip
    groups = [] if replaced else tag_groups(probs[-1], labels, trace.offsets, trace.text)
    if groups:
        st.markdown("**Entities**" if "O" in labels else "**Spans**")
        st.caption("The model's own labels, adjacent tokens grouped as transformers' token-classification pipeline "
                   "groups them (aggregation \"simple\": a `B-` label starts a group; the special tokens and `O` "
                   "left out); a group's score is its tokens' mean probability.")  # fmt: skip
        st.dataframe([{"label": g["entity"], "text": g["text"], "score": g["score"], "tokens": g["positions"]}
                      for g in groups], hide_index=True,
                     column_config={"score": st.column_config.NumberColumn(format="%.3f")})  # fmt: skip
    st.download_button(
        "Every block's label probabilities at every token as CSV", partial(tags_csv, probs, labels, tokens),
        file_name=f"tags_{model_name}.csv", mime="text/csv", icon=":material/table:", on_click="ignore",
    )  # fmt: skip
    return True
