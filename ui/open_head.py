"""Open a head on the Attention patterns page from a click elsewhere (a grid cell, a table row).

Clicks arrive in on_select callbacks, which run before the next script run: they may set the sidebar's
layer, head and text, but may not switch pages, so they leave a request that the page's script follows first.
"""

from __future__ import annotations

import streamlit as st

from ui.shell import SHELL_KEYS

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
