"""The patterns page's value-weighted switch (issue 16): what each key actually sends, and a note on sinks."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import streamlit as st

from services.lens import value_weighted
from ui.widgets import show_token_heatmap
from viz.figures.lens import value_weighted_heatmap
from viz.views.lens import sink_sentence
from viz.views.sent_words import GATE_NOTE, sent_formula


def value_weighted_view(
    key: Hashable, trace: Any, layer: int, head: int, pattern: np.ndarray, labels: Sequence[str], orient: str
) -> None:
    """Draw ‖A[i,j]·v_j·W_O^h‖ of one head under its pattern, with this head's own attention-sink numbers."""
    sent, gated = value_weighted(key, trace, layer, head), trace.config.attn_output_gate
    figure = value_weighted_heatmap(sent, pattern, list(labels), orient, sent_formula(gated, short=True))
    show_token_heatmap(figure, "value_weighted_heatmap")
    st.caption(
        "A weight says how much a query looks at a key; what the key adds to the query's embedding is "
        f"{sent_formula(gated)} (W_O: this head's slice of the output matrix), and its length is drawn here. "
        + (GATE_NOTE + " " if gated else "")
        + "Many heads park most of their weight on the first token when nothing else fits (an *attention sink*); a "
        "sink's value is small, so little is sent. "
        + sink_sentence(pattern, sent)
    )  # fmt: skip
