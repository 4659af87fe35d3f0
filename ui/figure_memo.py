"""Built Plotly figures, kept per process so a rerun (a head switch back, a window move) redraws without
rebuilding: a long text's figure carries n² hover strings and takes tens of milliseconds to build.

Keyed by what the figure shows (the trace key, layer, head, orientation, window). Bounded by count: a long
text's figures are a few MB each. Figures are built by viz.figures; this module only remembers them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from services.cache import Job, JobCache

FIGURES = JobCache(max_entries=96, size_of=lambda _: 0)


def memo_figure(key: Hashable, build: Callable[[], Any]) -> Any:
    """The figure for `key`, built in this thread the first time."""
    return FIGURES.get(key, lambda _progress: build())


def memo_in_background(key: Hashable, build_all: Callable[[], Any]) -> Job:
    """Run `build_all` (which fills the memo) once, in a background thread: prefetching the next figures."""
    return FIGURES.job(key, lambda _progress: build_all())
