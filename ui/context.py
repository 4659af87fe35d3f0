"""The one page context: what the frame (app.py) settled for this run (model, masking, layer, head,
orientation, text) and the shell's trace. Every page reads it through `page_context()`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

CONTEXT_KEY = "ctx"  # where the frame leaves the context in st.session_state


@dataclass(frozen=True)
class PageContext:
    model: Any  # the loaded model, an opaque handle for services.traces (attention_core.Model)
    config: Any  # its ModelConfig (a plain frozen dataclass: sizes, architecture, masking)
    model_name: str
    model_label: str
    device: str
    n_layers: int
    n_heads: int
    d_head: int
    model_causal: bool  # the model's own masking (decoder: True, encoder: False)
    causal: bool  # the masking this view asked for
    layer: int
    head: int
    orient: str  # "rows" or "cols": which axis holds the queries
    text: str
    token_cap: int
    trace: Any | None  # attention_core.Trace; None when there is nothing to show, `message` says why
    message: str | None = None
    # What identifies the trace for the things derived from it (services.traces.trace_key).
    trace_key: tuple | None = None


def page_context() -> PageContext:
    """The frame's context for this run; a page script run on its own (not through app.py) stops here."""
    ctx: PageContext | None = st.session_state.get(CONTEXT_KEY)
    if ctx is None:
        st.info("Start the app with `streamlit run app.py` (or `make run`).")
        st.stop()
    return ctx  # type: ignore[return-value]  # st.stop() raises


def require_trace() -> PageContext:
    """The context, for a page that needs the shell's trace: stops with a clear message when there is none
    (an empty text, bad input)."""
    ctx = page_context()
    if ctx.trace is None:
        st.info(ctx.message or "Nothing to show yet: type a sentence in the sidebar.")
        st.stop()
    return ctx
