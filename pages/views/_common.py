"""Streamlit pieces every page shares: the context guard, the token strip, chart selection."""

from __future__ import annotations

import streamlit as st

from viz.context import AppContext
from viz.figures import selected_point
from viz.labels import SPACE_MARK, token_strip
from viz.viewmodel import Tokens


def require_context() -> AppContext:
    """The shell's context for this run; stops the page with a clear message when there is no trace."""
    ctx: AppContext | None = st.session_state.get("ctx")
    if ctx is None:  # only when a page file is run on its own instead of through app.py
        st.info("Start the app with `streamlit run app.py` (or `make run`).")
        st.stop()
    if ctx.trace is None:
        st.info(ctx.message or "Nothing to show yet: type a sentence in the sidebar.")
        st.stop()
    return ctx


def show_tokens(ctx: AppContext, tokens: Tokens) -> None:
    """How the model split the text: plain text (st.code never interprets markup)."""
    st.code(token_strip(tokens.raw), language=None, wrap_lines=True)
    trace = ctx.trace
    note = (
        f"{len(tokens)} tokens as {ctx.model_name} split them; {SPACE_MARK} is a space that belongs to the "
        "token, so a word start and a word piece are different tokens"
    )
    if any(t.startswith("##") for t in tokens.raw):
        note += ' ("##" marks a piece that continues the previous word)'
    st.caption(note + ".")
    if trace is not None and trace.truncated:
        st.warning(
            f"The text has {trace.n_input_tokens} tokens; the app shows the first {len(tokens)} "
            "(long texts make n×n heatmaps too heavy to draw)."
        )


def select_head_from_chart(chart_key: str) -> None:
    """on_select callback: a click on a thumbnail sets layer and head before the next run.

    It runs before the script, so it may set the sidebar sliders' state (a script body may not).
    """
    state = st.session_state.get(chart_key)
    selection = state.get("selection") if hasattr(state, "get") else getattr(state, "selection", None)
    point = selected_point(selection)
    if point is None:
        return
    layer, head = point
    if layer >= 0:
        st.session_state.layer = layer
    st.session_state.head = head


def image_format_radio(key: str) -> str:
    """Which format the charts' camera button saves (Plotly renders it in the browser)."""
    return st.radio(
        "Camera button (top right of each chart) saves",
        ["png", "svg"],
        format_func=str.upper,
        horizontal=True,
        key=key,
    )
