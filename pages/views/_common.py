"""Streamlit pieces every page shares: the context guard, the token strip, chart selection,
progress while a long computation runs, and the long-input window selector."""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from viz.cache import Job
from viz.context import AppContext
from viz.figures.layout import selected_point
from viz.labels import SPACE_MARK, token_strip
from viz.views.patterns import (
    WINDOW_MAX,
    Tokens,
    Window,
    clamp_span,
    cut_excerpt,
    cut_position,
    default_window,
    is_long,
)

QUIET_S = 0.4  # a job that finishes within this draws no progress bar (no flicker on short texts)


def wait_with_progress(job: Job, label: str, slot: Any = None) -> Any:
    """The job's result; while it runs (past QUIET_S), a progress bar with the job's own messages.

    If the user changes something meanwhile, Streamlit stops this script at the next progress
    update; the job keeps running in its thread and the next run waits on the same job.
    """
    if not job.wait(QUIET_S):
        slot = slot if slot is not None else st.empty()
        shown = None
        while not job.wait(0.25):
            # Redraw only when the bar would change (at most once a second for the clock): every update
            # is a message the browser renders, and on a 2-core machine that CPU comes out of the trace.
            elapsed = time.monotonic() - job.started
            now = (job.fraction, job.message, int(elapsed))
            if now != shown:
                slot.progress(job.fraction, text=f"{label}: {job.message} ({elapsed:.0f} s)")
                shown = now
        slot.empty()
    return job.result()


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
    trace = ctx.trace
    if trace is not None and trace.truncated:
        show_cut_notice(trace, len(tokens))
    if is_long(len(tokens)):
        with st.expander(f"The {len(tokens)} tokens as {ctx.model_name} split them"):
            st.code(token_strip(tokens.raw), language=None, wrap_lines=True)
    else:
        st.code(token_strip(tokens.raw), language=None, wrap_lines=True)
    note = (
        f"{len(tokens)} tokens as {ctx.model_name} split them; {SPACE_MARK} is a space that belongs to the "
        "token, so a word start and a word piece are different tokens"
    )
    if any(t.startswith("##") for t in tokens.raw):
        note += ' ("##" marks a piece that continues the previous word)'
    st.caption(note + ".")


def show_cut_notice(trace: Any, n_shown: int) -> None:
    cut = cut_position(trace)
    st.warning(
        f"The text has {trace.n_input_tokens} tokens; the token cap (sidebar) keeps the first {n_shown}. "
        f"It was cut at character {cut} of {len(trace.text)}, marked ⟂ below; the rest is not in this trace.",
        icon=":material/content_cut:",
    )
    st.code(cut_excerpt(trace.text, cut), language=None, wrap_lines=True)


def window_selector(ctx: AppContext, n: int, key_prefix: str = "win") -> Window:
    """Query and key range sliders for the exact window of a long text; shared by the pages.

    The window is kept per text length (a new text resets it to the default: the last 128 queries ×
    the same keys); spans are limited to WINDOW_MAX tokens per side.
    """
    ss = st.session_state
    q_key, k_key, saved_key = f"{key_prefix}_q", f"{key_prefix}_k", f"_{key_prefix}_saved"
    # Widget state does not follow a widget to another page, so the window also lives in a plain
    # session key, (n, q range, k range), restored into the sliders before they are drawn.
    saved = ss.get(saved_key)
    if saved is None or saved[0] != n:
        w = default_window(n)
        saved = ss[saved_key] = (n, (w.q0, w.q1 - 1), (w.k0, w.k1 - 1))
    ss[q_key], ss[k_key] = tuple(saved[1]), tuple(saved[2])

    def remember() -> None:  # on_change runs before the next script run: the user's move wins
        ss[saved_key] = (n, tuple(ss[q_key]), tuple(ss[k_key]))

    c1, c2 = st.columns(2)
    q = c1.slider(
        "Window: queries",
        0,
        n - 1,
        key=q_key,
        on_change=remember,
        help=f"At most {WINDOW_MAX} queries at full resolution.",
    )
    k = c2.slider(
        "Window: keys", 0, n - 1, key=k_key, on_change=remember, help=f"At most {WINDOW_MAX} keys at full resolution."
    )
    q0, q1 = clamp_span(*q, n)
    k0, k1 = clamp_span(*k, n)
    if (q1 - 1, k1 - 1) != (max(q), max(k)):
        st.caption(
            f"The window is limited to {WINDOW_MAX} tokens per side: showing queries {q0}–{q1 - 1}, keys {k0}–{k1 - 1}."
        )
    return Window(q0, q1, k0, k1)


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


def fixed_decimals(columns: list[str], fmt: str = "%.4f") -> dict[str, Any]:
    """column_config giving these number columns one format (st.dataframe drops trailing zeros: 0.09 next to 0.1906)."""
    return {name: st.column_config.NumberColumn(format=fmt) for name in columns}
