"""The one page context: what the frame (app.py) settled for this run (model, masking, layer, head,
orientation, text) and the shell's trace. Every page reads it through `page_context()`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import streamlit as st

from services import models, traces
from ui.progress import wait_with_progress
from ui.shell import CACHE_OWNER
from viz.labels import markdown_code

CONTEXT_KEY = "ctx"  # where the frame leaves the context in st.session_state


@dataclass(frozen=True)
class PageContext:
    model: Any  # the loaded model, an opaque handle for services.traces (attention_core.Model)
    config: Any  # its ModelConfig (a plain frozen dataclass: sizes, architecture, masking)
    model_name: str  # the registry key (URLs, file names, cache keys)
    model_title: str  # what the prose calls it: "SmolLM2-135M-Instruct"; a typed folder or hub id as a code span
    model_label: str  # the title with its kind and shape, for a page's caption (Markdown-safe, like model_title)
    model_title_plain: str  # the title as it is, for chart titles (Plotly escapes it; Markdown is not drawn there)
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
    second_text: str | None  # an encoder's second text (a text pair), None for one text
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


def _session_owner() -> str:
    """A name for this browser session, kept in its state (one pinned trace per session)."""
    ss = st.session_state
    if CACHE_OWNER not in ss:
        ss[CACHE_OWNER] = uuid.uuid4().hex
    return ss[CACHE_OWNER]


def build_page_context(model: models.Model) -> PageContext:
    """Run the shell's trace of the sidebar's text (a background job; its progress drawn here while this run
    waits) and leave the page context for this run in st.session_state."""
    ss = st.session_state
    trace, trace_key, message = None, None, None
    token_cap = int(ss.max_tokens)
    second = str(ss.get("second_text", "")) if models.reads_two_texts(model) else ""
    second_text = second if second.strip() else None  # an empty box: one text
    if not ss.text.strip():
        message = "The text is empty: type a sentence in the sidebar (or pick an example) to see its attention."
    else:
        job = traces.trace_job(model, ss.text, bool(ss.causal), token_cap, second_text=second_text)
        try:
            trace, trace_key = wait_with_progress(job, f"Running {models.title(model)}"), job.key
        except models.InputError as exc:
            message = str(exc)
        else:  # this session's pages draw from it while they compute their own traces beside it
            traces.pin_trace(_session_owner(), trace_key)
    cfg = model.config
    ctx = PageContext(
        model=model,
        config=cfg,
        model_name=model.name,
        model_title=prose_title(model),
        model_label=prose_label(model),
        model_title_plain=models.title(model),
        device=model.device.type,
        n_layers=cfg.n_layers,
        n_heads=cfg.n_heads,
        d_head=cfg.d_head,
        model_causal=cfg.causal,
        causal=bool(ss.causal),
        layer=int(ss.layer),
        head=int(ss.head),
        orient=ss.orient,
        text=ss.text,
        second_text=second_text,
        token_cap=token_cap,
        trace=trace,
        message=message,
        trace_key=trace_key,
    )
    ss[CONTEXT_KEY] = ctx
    return ctx


def prose_title(model: Any) -> str:
    """The model's title for Markdown: a built-in's name as it is; a typed folder or hub id (it may be called
    anything, and Markdown would draw it) as a code span."""
    title = models.title(model)
    return title if models.is_embedded(model.name) else markdown_code(title)


def prose_label(model: Any) -> str:
    """models.label for Markdown: the typed name part as a code span, its kind and shape as they are."""
    label = models.label(model)
    if models.is_embedded(model.name) or not label.startswith(model.name):
        return label
    return markdown_code(model.name) + label[len(model.name) :]
