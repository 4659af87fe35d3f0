"""The Logit lens page's section on an extractive question-answering model's answer, layer by layer (its head read
from every token's embedding after every block); nothing for a model without a question-answering head."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import streamlit as st

from services.answers import answer_logits
from ui.widgets import show_chart
from viz.figures.answers import answer_figure
from viz.labels import markdown_code
from viz.views.answers import answer_rows, answer_sentence, answer_view, answer_window
from viz.views.lens import LENS_WINDOW
from viz.views.patterns import Tokens


def answer_section(key: Hashable, trace: Any, tokens: Tokens, model_title: str) -> bool:
    """Draw the section where the model has a question-answering head; says whether it did."""
    logits = answer_logits(key, trace)  # None at once for any other model
    if logits is None:
        return False
    second = None if trace.segments is None else trace.segments.second_token
    st.subheader("The answer, layer by layer")
    view = answer_view(logits, trace.offsets, trace.text, second)
    if view is None:
        st.info("The token cap left no token of the context to answer from: raise it in the sidebar.")
        return True
    st.caption(answer_sentence(view, model_title, quote=markdown_code))
    window = answer_window(view, LENS_WINDOW)
    shown = "" if window.stop - window.start == view.candidates.size else f" ({LENS_WINDOW} around the answer)"
    st.markdown(f"**After the last block: each context token's p(start) and p(end){shown}**")
    show_chart(answer_figure(view, tokens.plotly, window), "answer_bars")
    st.dataframe(answer_rows(view), hide_index=True, column_config={
        name: st.column_config.NumberColumn(format="%.3f") for name in ("p(start)", "p(end)", "p(start) × p(end)")})
    return True
