"""Process-wide caches for the app: traces and what is derived from them. Pure Python, no Streamlit.

Why not st.cache_resource for traces: a 4096-token trace takes 10–20 s, and Streamlit stops a script
at its next element call when the user clicks something, so a progress bar drawn from inside the
forward pass would abort it and waste the work. Here the work runs in a background thread; the
script only *waits* for it and draws progress while it waits. A rerun (a head click mid-trace) waits
on the same job instead of starting another (single flight), and the result stays cached.

Traces are bounded by bytes (a 4096-token SmolLM2 trace holds ~0.75 GB of q, k, v and residuals),
derived results (pooled overviews, figures) by count.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

Progress = Callable[[float, str], None]


@dataclass
class Job:
    """One computation in flight or done: its progress, then its result or its exception."""

    key: Hashable
    fraction: float = 0.0
    message: str = "Starting"
    started: float = field(default_factory=time.monotonic)
    _done: threading.Event = field(default_factory=threading.Event, repr=False)
    _result: Any = field(default=None, repr=False)
    _error: BaseException | None = field(default=None, repr=False)

    def report(self, fraction: float, message: str) -> None:
        self.fraction = min(max(float(fraction), 0.0), 1.0)
        self.message = message

    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def result(self) -> Any:
        """The result (waits for it); re-raises the computation's exception."""
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._result


class JobCache:
    """Single-flight, LRU cache of results computed in background threads.

    `budget` bounds the sum of `size_of(result)` over cached results (the newest result is always
    kept, whatever its size); `max_entries` bounds their number. Failed jobs are not cached.
    """

    def __init__(
        self, budget: float = float("inf"), max_entries: int = 1_000, size_of: Callable[[Any], float] = lambda _: 1.0
    ):
        self.budget = budget
        self.max_entries = max_entries
        self.size_of = size_of
        self._jobs: OrderedDict[Hashable, Job] = OrderedDict()
        self._sizes: dict[Hashable, float] = {}
        self._lock = threading.Lock()
        self.computed = 0  # how many computations were started (tests count these)

    def __len__(self) -> int:
        return len(self._jobs)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._jobs

    def job(self, key: Hashable, compute: Callable[[Progress], Any], background: bool = True) -> Job:
        """The job for `key`: the cached or running one, else a new one running `compute(progress)`."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None:
                self._jobs.move_to_end(key)
                return job
            job = Job(key)
            self._jobs[key] = job
            self.computed += 1
        if background:
            threading.Thread(target=self._run, args=(job, compute), name=f"job-{key!r:.40}", daemon=True).start()
        else:
            self._run(job, compute)
        return job

    def get(self, key: Hashable, compute: Callable[[Progress], Any]) -> Any:
        """Compute in the calling thread (for quick results); cached like `job`."""
        return self.job(key, compute, background=False).result()

    def _run(self, job: Job, compute: Callable[[Progress], Any]) -> None:
        try:
            job._result = compute(job.report)
        except BaseException as exc:  # noqa: BLE001  # handed to whoever waits, then forgotten
            job._error = exc
            with self._lock:
                if self._jobs.get(job.key) is job:
                    del self._jobs[job.key]
        else:
            with self._lock:
                if self._jobs.get(job.key) is job:
                    self._sizes[job.key] = float(self.size_of(job._result))
                    self._evict(keep=job.key)
        finally:
            job.report(1.0, "Done")
            job._done.set()

    def _evict(self, keep: Hashable) -> None:
        """Drop least recently used finished results until within budget and entry count (lock held)."""

        def over() -> bool:
            return sum(self._sizes.values()) > self.budget or len(self._jobs) > self.max_entries

        for key in list(self._jobs):
            if not over():
                break
            if key == keep or key not in self._sizes:  # the newest result and running jobs stay
                continue
            del self._jobs[key]
            del self._sizes[key]

    def clear(self) -> None:
        with self._lock:
            self._jobs.clear()
            self._sizes.clear()


def trace_bytes(trace: Any) -> float:
    """Bytes a trace holds (its captured q, k, v and residuals)."""
    captured = getattr(trace, "captured", None)
    if captured is None:
        return 0.0
    total = 0
    for name in ("resid_pre", "q", "k", "v"):
        for t in getattr(captured, name, []):
            total += t.numel() * t.element_size()
    return float(total)


def _budget_from_env(name: str, default_mb: float) -> float:
    raw = os.environ.get(name, "")
    try:
        return float(raw) * 2**20 if raw.strip() else default_mb * 2**20
    except ValueError:
        return default_mb * 2**20


# One per process, shared by every session. ATTN_TRACE_CACHE_MB bounds the traces' memory. Default
# 256 MB: ~100 short traces; the newest trace is always kept whatever its size, so one 4096-token
# trace (~0.75 GB) still serves its head switches. Measured with bench/load.py (16 sessions × 10 texts):
# 2 GB let the server reach 1.62× one session's peak memory, 256 MB kept it at 1.49× (target ≤ 1.5×).
TRACES = JobCache(budget=_budget_from_env("ATTN_TRACE_CACHE_MB", 256), max_entries=256, size_of=trace_bytes)
# Pooled overviews, per-layer pooled thumbnails, windows and figures: small, bounded by count.
DERIVED = JobCache(max_entries=512, size_of=lambda _: 0)
# Built Plotly figures, keyed by what they show (trace key, layer, head, orientation, window). A long
# text's figures are a few MB each, so fewer of them.
FIGURES = JobCache(max_entries=96, size_of=lambda _: 0)
