"""Progress while the app waits: a job's own messages in a progress bar (traces, pooling), and the
model's first load."""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from services import models
from services.cache import Job
from viz.labels import markdown_code

QUIET_S = 0.4  # a job that finishes within this draws no progress bar (no flicker on short texts)


def wait_with_progress(job: Job, label: str, slot: Any = None) -> Any:
    """The job's result; while it runs (past QUIET_S), a progress bar with the job's own messages.

    If the user changes something meanwhile, Streamlit stops this script at the next progress
    update; the job keeps running in its thread and the next run waits on the same job.
    """
    # The slot is placed whether or not the bar is ever drawn: Streamlit's browser side keys elements by their place,
    # so a slot only slow runs had would shift what follows and redraw it, closing expanders the reader had opened.
    slot = slot if slot is not None else st.empty()
    if not job.wait(QUIET_S):
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


def result_in_box(job: Job, label: str, box: Any) -> tuple[Any, Any]:
    """(where to draw the job's result in `box`, the result). A job done already (every run after a text's first)
    draws straight into the box, so the browser keeps the chart drawn there, clickable, until the new one comes; an
    empty slot put there first for a progress bar hid it (display: none) for the rest of each run, on a busy
    machine for over a second, and a quick next click fell on nothing (tests/browser/test_every_input_lands_browser.py).
    A job still running gets the slot and its progress bar."""
    if job.done():
        return box, job.result()
    slot = box.empty()
    return slot, wait_with_progress(job, label, slot)


def load_with_progress(name: str, device: str, dtype: str = models.DEFAULT_DTYPE) -> models.Model:
    """The process-wide model (services.models.load), with a progress bar while it loads the first time.

    A model the user asked for (hub id, local folder) that fails to load is dropped from the list and
    the previous model comes back, with the reason shown under *Another model*.
    """
    slot = st.empty()
    shown = markdown_code(models.name_title(name))  # a typed folder or hub id, in Markdown: a code span

    def progress(fraction: float, message: str) -> None:
        slot.progress(min(max(fraction, 0.0), 1.0), text=f"Loading {shown}: {message}")

    try:
        return models.load(name, device, progress, dtype=dtype)
    except models.AttentionCoreError as exc:
        ss = st.session_state
        previous = ss.get("_last_good_model")
        if not models.is_embedded(name) and previous and previous != name:
            ss._model_error = f"Could not load {models.shown_name(name)!r}: {exc}"
            ss._custom_models = [m for m in ss.get("_custom_models", []) if m != name]
            ss._revert_model = previous  # applied before the selectbox exists (next run)
            st.rerun()
        st.error(f"Could not load {shown}:", icon=":material/error:")
        st.code(str(exc), language=None, wrap_lines=True)  # it may quote a typed path: shown as text
        st.stop()
        raise  # unreachable: st.stop() raises; keeps type checkers honest
    finally:
        slot.empty()
