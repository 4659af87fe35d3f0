"""Open a head on the Attention patterns page from a click elsewhere (a grid cell, a table row).

Clicks arrive in on_select callbacks, which run before the next script run: they may set the sidebar's
layer, head and text, but may not switch pages, so they leave a request that the page's script follows first.
"""

from __future__ import annotations

import streamlit as st

from ui.shell import SHELL_KEYS
from viz.figures.layout import selected_point

OPEN_REQUEST = "_open_patterns"


def request_open_head(layer: int, head: int, text: str | None = None) -> None:
    """Select (layer, head), and a text if given, and ask for the patterns page."""
    ss = st.session_state
    # st.switch_page drops the values of widgets that only lived in the interrupted run (the shell's text,
    # masking, ... would reset to their defaults); re-assigning them as plain state keeps them.
    for key in SHELL_KEYS:
        if key in ss:
            ss[key] = ss[key]
    ss.layer, ss.head = layer, head
    if text is not None:
        ss.text = text
    ss[OPEN_REQUEST] = True


def follow_open_request(patterns_path: str) -> None:
    """Call first in a page script: go to the patterns page if a click asked for it."""
    if st.session_state.pop(OPEN_REQUEST, False):
        st.switch_page(patterns_path)


def selected_row(table_key: str) -> int | None:
    """The row picked in a single-row st.dataframe selection (read in its on_select callback)."""
    state = st.session_state.get(table_key)
    rows = state.get("selection", {}).get("rows", []) if hasattr(state, "get") else []
    return int(rows[0]) if rows else None


def selected_cell(chart_key: str) -> tuple[int, int] | None:
    """The (layer, head) click target picked in a layer × head chart (viz.figures.mechanism.layer_head_grid)."""
    state = st.session_state.get(chart_key)
    return selected_point(state.get("selection") if hasattr(state, "get") else getattr(state, "selection", None))
