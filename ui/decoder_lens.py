"""The Cross-attention page's section on an encoder-decoder's decoder, layer by layer: its logit lens over the target
(what it would predict after each target token if it stopped after each block), beside its cross-attention."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import streamlit as st

from services.lens import lens_grid
from ui.widgets import show_token_heatmap
from viz.figures.lens import lens_grid_figure
from viz.views.common import display_tokens
from viz.views.lens import LENS_WINDOW, grid_introduction
from viz.views.lens import lens_grid as grid_view


def decoder_lens_section(pair_key: Hashable, decoder: Any) -> None:
    """The decoder's lens grid over the target (its last LENS_WINDOW positions), cached with the pair."""
    first = max(0, decoder.n_tokens - LENS_WINDOW)
    ids, probs = lens_grid(pair_key, decoder, 5, first, decoder.n_tokens)
    grid = grid_view(ids, probs, display_tokens(decoder)[first:], decoder.decode_token, first)
    st.markdown("**The decoder's prediction, layer by layer** (its logit lens over the target)")
    st.caption(
        grid_introduction(grid, 5, prediction_head=decoder.config.head_act is not None)
        + " Every block's residual here has read the source through that block's cross-attention, so the rows show "
        "where on the way up the translation's next token settles."
    )
    show_token_heatmap(lens_grid_figure(grid), "cross_lens_grid", grid.column_px)
