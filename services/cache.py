"""The app's one result cache: traces (plain, with interventions, encoder-decoder pairs), sweeps and what
is derived from them (pooled overviews, thumbnails, windows), bounded by bytes. Pure Python, no Streamlit.

Why not st.cache_resource for traces: a 4096-token trace takes 10–20 s, and Streamlit stops a script
at its next element call when the user clicks something, so a progress bar drawn from inside the
forward pass would abort it and waste the work. Here the work runs in a background thread; the
script only *waits* for it and draws progress while it waits. A rerun (a head click mid-trace) waits
on the same job instead of starting another (single flight), and the result stays cached.

Everything is bounded by bytes (a 4096-token SmolLM2 trace holds ~0.75 GB of q, k, v and residuals); a
trace and what is derived from it are evicted together.
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
    """Single-flight, LRU cache of results computed in background threads, evicted a group at a time.

    A group is a trace and everything derived from it (its pooled overview, thumbnails, windows): they are
    used together and leave together, so a derived result never pushes out the trace it came from. A key
    is its own group unless `job(..., group=...)` names one. `budget` bounds the sum of `size_of(result)`
    over cached results, `max_entries` their number; the newest group is always kept, whatever its size.
    A group pinned by an owner (`pin`: a session's current trace, which that session holds and draws from anyway,
    so dropping it would free nothing and only make its next rerun trace the text again) is not evicted either;
    each owner pins one group at a time, and only the MAX_PINS most recent owners count, for PIN_TTL_S seconds after
    they last pinned (Streamlit forgets a disconnected session after 120 s; a session that is gone pins nothing).
    Failed jobs are not cached.
    """

    MAX_PINS = 32
    PIN_TTL_S = 120.0

    def __init__(
        self, budget: float = float("inf"), max_entries: int = 1_000, size_of: Callable[[Any], float] = lambda _: 1.0
    ):
        self.budget = budget
        self.max_entries = max_entries
        self.size_of = size_of
        self._jobs: dict[Hashable, Job] = {}
        self._sizes: dict[Hashable, float] = {}
        self._groups: OrderedDict[Hashable, set[Hashable]] = OrderedDict()  # least recently used first
        self._group_of: dict[Hashable, Hashable] = {}
        # owner → (the group it pins, when), oldest first
        self._pins: OrderedDict[Hashable, tuple[Hashable, float]] = OrderedDict()
        self._lock = threading.Lock()
        self.computed = 0  # how many computations were started (tests count these)

    def __len__(self) -> int:
        return len(self._jobs)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._jobs

    def held_bytes(self) -> float:
        """What the finished results hold, by `size_of`."""
        with self._lock:
            return sum(self._sizes.values())

    def job(
        self, key: Hashable, compute: Callable[[Progress], Any], background: bool = True, group: Hashable = None
    ) -> Job:
        """The job for `key`: the cached or running one, else a new one running `compute(progress)`."""
        with self._lock:
            job = self._jobs.get(key)
            if job is None:
                job = self._jobs[key] = Job(key)
                group = key if group is None else group
                self._group_of[key] = group
                self._groups.setdefault(group, set()).add(key)
                self.computed += 1
                fresh = True
            else:
                fresh = False
            self._groups.move_to_end(self._group_of[key])
        if fresh and background:
            threading.Thread(target=self._run, args=(job, compute), name=f"job-{key!r:.40}", daemon=True).start()
        elif fresh:
            self._run(job, compute)
        return job

    def pin(self, owner: Hashable, group: Hashable) -> None:
        """`owner` (e.g. a browser session) is using `group`: keep it until the owner pins another."""
        with self._lock:
            self._pins[owner] = (group, time.monotonic())
            self._pins.move_to_end(owner)
            while len(self._pins) > self.MAX_PINS:
                self._pins.popitem(last=False)

    def get(self, key: Hashable, compute: Callable[[Progress], Any], group: Hashable = None) -> Any:
        """Compute in the calling thread (for quick results); cached like `job`."""
        return self.job(key, compute, background=False, group=group).result()

    def _run(self, job: Job, compute: Callable[[Progress], Any]) -> None:
        try:
            job._result = compute(job.report)
        except BaseException as exc:  # noqa: BLE001  # handed to whoever waits, then forgotten
            job._error = exc
            with self._lock:
                if self._jobs.get(job.key) is job:
                    self._forget(job.key)
        else:
            with self._lock:
                if self._jobs.get(job.key) is job:
                    self._sizes[job.key] = float(self.size_of(job._result))
                    self._evict(keep=self._group_of[job.key])
        finally:
            job.report(1.0, "Done")
            job._done.set()

    def _forget(self, key: Hashable) -> None:
        """Drop one key (lock held)."""
        del self._jobs[key]
        self._sizes.pop(key, None)
        group = self._group_of.pop(key)
        members = self._groups[group]
        members.discard(key)
        if not members:
            del self._groups[group]

    def _evict(self, keep: Hashable) -> None:
        """Drop least recently used groups until within budget and entry count (lock held). The group just
        computed stays, and so do pinned groups and any group with a job still running."""
        recent = time.monotonic() - self.PIN_TTL_S
        pinned = {group for group, when in self._pins.values() if when >= recent}
        for group in list(self._groups):
            if sum(self._sizes.values()) <= self.budget and len(self._jobs) <= self.max_entries:
                break
            members = self._groups[group]
            if group == keep or group in pinned or any(key not in self._sizes for key in members):
                continue
            for key in list(members):
                self._forget(key)

    def clear(self) -> None:
        with self._lock:
            self._jobs.clear()
            self._sizes.clear()
            self._groups.clear()
            self._group_of.clear()
            self._pins.clear()


def bytes_of(value: Any) -> float:
    """Bytes a cached result holds: a trace or pair says so itself (`nbytes()`), arrays and tensors by size,
    tuples / lists / dicts as the sum of their items; anything else (a float, a small dataclass) counts 0."""
    nbytes = getattr(value, "nbytes", None)
    if callable(nbytes):  # Trace, PairTrace
        return float(nbytes())
    if isinstance(nbytes, int):  # numpy arrays
        return float(nbytes)
    if hasattr(value, "element_size") and hasattr(value, "numel"):  # torch tensors, without importing torch
        return float(value.element_size() * value.numel())
    if isinstance(value, (tuple, list)):
        return float(sum(bytes_of(item) for item in value))
    if isinstance(value, dict):
        return float(sum(bytes_of(item) for item in value.values()))
    if hasattr(value, "__dataclass_fields__"):  # view models: the arrays they hold
        return float(sum(bytes_of(getattr(value, name)) for name in value.__dataclass_fields__))
    return 0.0


def _budget_from_env(name: str, default_mb: float) -> float:
    raw = os.environ.get(name, "")
    try:
        return float(raw) * 2**20 if raw.strip() else default_mb * 2**20
    except ValueError:
        return default_mb * 2**20


# One per process, shared by every session: every trace, pair, sweep and derived array of the app.
# ATTN_TRACE_CACHE_MB bounds its memory. Default 256 MB: ~100 short traces; the newest result is always kept
# whatever its size, so one 4096-token trace (~0.75 GB) still serves its head switches. Measured with
# bench/load.py (16 sessions × 10 texts): 2 GB let the server reach 1.62× one session's peak memory, 256 MB
# kept it at 1.49× (target ≤ 1.5×).
RESULTS = JobCache(budget=_budget_from_env("ATTN_TRACE_CACHE_MB", 256), max_entries=1_024, size_of=bytes_of)
