"""Streamlit glue for the mechanism pages: the shared model/trace/layer/head from the app shell, with
a standalone fallback, and cached extra traces (the mole sentences, the translation prompt).

The shell (app.py) runs before every page and leaves `st.session_state.ctx` (viz.context.AppContext);
its trace carries the model it came from, and viz.engine.load shares one model per process, so
pages never load a second copy. When a page runs without the shell (AppTest.from_file on the page
file) it falls back to the default model and text.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import streamlit as st

from viz import engine
from viz.labels import token_strip as _strip
from viz.state import DEFAULT_TEXT


@dataclass(frozen=True)
class MechContext:
    model: Any  # attention_core.Model
    model_name: str
    model_label: str
    device: str
    layer: int
    head: int
    causal: bool
    text: str
    trace: Any | None  # attention_core.Trace; None when there is nothing to show (see message)
    message: str | None
    standalone: bool  # True when running without the shell's sidebar


def _model(name: str, device: str) -> Any:
    # viz.engine.load keeps one model per (name, device) per process: the same object the shell uses.
    return engine.load(name, device)


@st.cache_resource(show_spinner="Running the model…", max_entries=64)
def cached_trace(name: str, device: str, text: str, causal: bool | None, max_tokens: int, _model: Any) -> Any:
    # Keyed by (model, device, text, masking, cap); the model rides along unhashed. Traces are
    # read-only and hold O(n·d) tensors per layer, so 64 short sentences stay small.
    return _model.trace(text, causal=causal, max_tokens=max_tokens)


def run_trace(ctx: MechContext, text: str, causal: bool | None = None) -> Any:
    """A cached trace of `text` on the page's model, capped like the shell's traces. Raises engine.InputError."""
    model = ctx.model
    return cached_trace(model.key, ctx.device, text, causal, min(engine.APP_MAX_TOKENS, model.max_tokens), model)


@st.cache_resource(show_spinner="Running the encoder and decoder…", max_entries=16)
def cached_pair(name: str, device: str, source: str, target: str, max_tokens: int, _model: Any) -> Any:
    return _model.trace_pair(source, target, max_tokens=max_tokens)


def run_pair(ctx: MechContext, source: str, target: str) -> Any:
    """A cached encoder-decoder trace (attention_core.PairTrace). Raises engine.InputError."""
    model = ctx.model
    return cached_pair(model.key, ctx.device, source, target, min(engine.APP_MAX_TOKENS, model.max_tokens), model)


def mechanism_context() -> MechContext:
    """The shell's model, text and layer/head for this run (or the defaults when there is no shell)."""
    ss = st.session_state
    app_ctx = ss.get("ctx")
    if app_ctx is None:
        return _standalone()
    trace = app_ctx.trace
    model = trace.model if trace is not None else _model(app_ctx.model_request or app_ctx.model_name, app_ctx.device)
    return MechContext(
        model=model,
        model_name=app_ctx.model_name,
        model_label=app_ctx.model_label,
        device=app_ctx.device,
        layer=int(app_ctx.layer),
        head=int(app_ctx.head),
        causal=bool(app_ctx.causal),
        text=str(ss.get("text", "")),
        trace=trace,
        message=app_ctx.message,
        standalone=False,
    )


def _standalone() -> MechContext:
    ss = st.session_state
    name = ss.get("model", engine.DEFAULT_MODEL)
    device = engine.available_devices()[0]
    model = _model(name, device)
    cfg = model.config
    text = ss.get("text", DEFAULT_TEXT)
    layer = min(max(int(ss.get("layer", 0)), 0), cfg.n_layers - 1)
    head = min(max(int(ss.get("head", 0)), 0), cfg.n_heads - 1)
    causal = bool(ss.get("causal", cfg.causal))
    ctx = MechContext(
        model, name, engine.MODEL_NAMES.get(name, name), device, layer, head, causal, text, None, None, True
    )
    if not text.strip():
        return _replace(ctx, message="The text is empty: type a sentence to see its attention.")
    try:
        trace = run_trace(ctx, text, causal)
    except engine.InputError as exc:
        return _replace(ctx, message=str(exc))
    return _replace(ctx, trace=trace)


def _replace(ctx: MechContext, **changes: Any) -> MechContext:
    return replace(ctx, **changes)


def require_trace(ctx: MechContext) -> Any:
    """The shared trace, or a clear message and stop (empty text, bad input)."""
    if ctx.standalone:
        st.caption(
            f"Running without the app's sidebar: {ctx.model_name}, layer {ctx.layer}, head {ctx.head}, "
            "default text. Open the app's home page to change them."
        )
    if ctx.trace is None:
        st.info(ctx.message or "Nothing to show yet: type a sentence in the sidebar.")
        st.stop()
    return ctx.trace


def token_strip(tokens: list[str]) -> None:
    """How the model split the text, as plain text (st.code never interprets markup)."""
    st.code(_strip(tokens), language=None, wrap_lines=True)


@st.cache_resource(show_spinner="Computing every head's pattern…", max_entries=8)
def _cached_patterns(name: str, device: str, text: str, causal: bool, n_tokens: int, _trace: Any) -> Any:
    from viz.views.heads import all_patterns

    return all_patterns(_trace)


def trace_patterns(ctx: MechContext, trace: Any) -> Any:
    """[n_layers, n_heads, n, n] numpy patterns of a trace, cached by (model, device, text, masking, length)."""
    return _cached_patterns(trace.model.key, ctx.device, trace.text, bool(trace.causal), trace.n_tokens, trace)
