"""Clocks and memory probes, run inside a worker process (torch and psutil are imported on first use, so that
a worker's own timed imports are not paid here)."""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def resolve_device(requested: str) -> str:
    """'auto' follows the engine's own choice (CUDA, then MPS, else CPU) so both implementations share it."""
    if requested != "auto":
        return requested
    from attention_core.device import pick_device

    return str(pick_device(None))


def sync(device: str) -> None:
    """Kernels on a GPU run asynchronously: wait for them before reading the clock."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elif device.startswith("mps"):
        torch.mps.synchronize()


def repeats_for(n_tokens: int, base: int) -> int:
    """Fewer repeats at long lengths: one HF pass at 2048+ tokens takes many seconds on a small CPU. More
    at short ones: a 32-token pass takes ~0.1 s, and on a shared machine single passes vary by ±30%, so the
    median of 5 moved the 32-token ratio between 0.55 and 0.76 from run to run; the median of 25 is steadier."""
    if n_tokens < 256:
        return max(1, base * 5)
    if n_tokens >= 4096:
        return max(1, min(base, 2))
    if n_tokens >= 2048:
        return max(1, min(base, 3))
    return max(1, base)


def time_calls(fn: Callable[[], object], repeats: int, device: str) -> list[float]:
    """Wall time of `repeats` calls of fn (after the caller's warm-up); results are dropped outside the clock."""
    times = []
    for _ in range(repeats):
        gc.collect()  # don't let the previous call's garbage be collected inside this one's timing
        sync(device)
        t0 = time.perf_counter()
        out = fn()
        sync(device)
        times.append(time.perf_counter() - t0)
        del out
    return times


class MemoryProbe:
    """Peak memory of what happens between start() and finish(), plus the whole process's peak.

    ru_maxrss covers the process's whole life, loading included (loading can peak above the steady state).
    On Linux, writing "5" to /proc/self/clear_refs resets the high-water mark (ru_maxrss and VmHWM), so the
    increase over the post-load baseline is measured for the forward passes alone; the whole-process peak is
    kept as the max of the load peak (read before the reset) and the peak after it.
    """

    def __init__(self, device: str):
        self.device = device

    def start(self) -> None:
        import psutil
        import torch

        gc.collect()
        self.load_peak = ru_maxrss_bytes()
        self.baseline = psutil.Process().memory_info().rss
        self.hwm_reset = _reset_hwm()
        if self.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
            self.cuda_baseline = torch.cuda.memory_allocated()

    def finish(self) -> dict[str, Any]:
        import torch

        after = _hwm_bytes() if self.hwm_reset else None
        peak_since_start = after if after is not None else ru_maxrss_bytes()
        out: dict[str, Any] = {
            "peak_rss": max(self.load_peak, peak_since_start, ru_maxrss_bytes()),
            "load_peak_rss": self.load_peak,
            "baseline_rss": self.baseline,
            "delta_rss": max(0, peak_since_start - self.baseline),
            # Without a reset the delta is "process peak − baseline" and may be the load's peak instead.
            "delta_rss_exact": after is not None,
        }
        if self.device.startswith("cuda"):
            out["cuda_peak"] = torch.cuda.max_memory_allocated()
            out["cuda_baseline"] = self.cuda_baseline
        return out


def ru_maxrss_bytes() -> int:
    """This process's whole-life peak RSS in bytes."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


def _reset_hwm() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _hwm_bytes() is not None
    except OSError:
        return False


def _hwm_bytes() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # "VmHWM:   516160 kB"
    except OSError:
        pass
    return None
