"""A run draws the same elements in the same places whether its jobs were quick or slow.

Streamlit's browser side keys each element by its place on the page: when an element appears before others in one
run but not the next, everything after it is drawn anew and loses what the reader did to it. The frame waited on
the shell's trace with `ui.progress.wait_with_progress`, which made its progress slot only when the job outlasted
QUIET_S: the first run of a long trace had one element more above the page than the cached runs after it, so the
Head atlas's "Your own corpus" panel, opened by the reader, closed again when their upload reran the page (a browser
test failed on it on a loaded machine, tests/browser/test_atlas_browser.py).
"""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _script() -> None:
    import threading
    import time

    import streamlit as st

    from ui.progress import QUIET_S, wait_with_progress

    class Job:  # ui.progress's view of a services job: finishes quickly or after QUIET_S
        def __init__(self, seconds: float) -> None:
            self.started, self.fraction, self.message = time.monotonic(), 0.0, "working"
            self._done = threading.Event()
            threading.Timer(seconds, self._done.set).start()

        def wait(self, timeout: float) -> bool:
            return self._done.wait(timeout)

        def result(self) -> str:
            return "done"

    wait_with_progress(Job(QUIET_S * 3 if st.session_state.get("slow") else 0.0), "A job")
    st.expander("A panel the reader opened")


def _panel_place(slow: bool) -> int:
    at = AppTest.from_function(_script, default_timeout=30)
    at.session_state["slow"] = slow
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    places = [i for i, e in enumerate(at.main.children.values()) if getattr(e, "type", "") == "expander"]
    assert len(places) == 1, [getattr(e, "type", type(e).__name__) for e in at.main.children.values()]
    return places[0]


def test_a_slow_job_leaves_the_elements_after_it_where_a_quick_one_does() -> None:
    assert _panel_place(slow=True) == _panel_place(slow=False)
