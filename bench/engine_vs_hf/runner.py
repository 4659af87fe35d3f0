"""The parent process: records the environment, runs each measurement in a fresh worker, collects the results."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .estimates import estimate_hf_bytes, free_bytes_for_hf
from .settings import GIB, PAIRED_MAX_TOKENS, RESULT_MARK

REPO_ROOT = Path(__file__).resolve().parents[2]
ENTRY_SCRIPT = REPO_ROOT / "bench" / "engine.py"  # what a worker process runs, with --worker KIND


def log(message: str) -> None:
    """Progress goes to stderr; stdout is the report."""
    print(message, file=sys.stderr, flush=True)


def run_worker(kind: str, args: argparse.Namespace, extra: list[str], env: dict[str, str] | None = None) -> dict:
    """Run one worker in a fresh interpreter; returns its JSON or {"error": ...} when it failed (e.g. OOM kill)."""
    cmd = [
        sys.executable,
        str(ENTRY_SCRIPT),
        "--worker",
        kind,
        "--device",
        args.device,
        "--repeats",
        str(args.repeats),
        "--workdir",
        args.workdir,
        *extra,
    ]
    full_env = {**os.environ, **(env or {})}
    full_env.setdefault("HF_HUB_OFFLINE", "1")  # the GGUF is local; never reach for the network
    full_env.setdefault("TRANSFORMERS_OFFLINE", "1")
    full_env.setdefault("TOKENIZERS_PARALLELISM", "false")
    log(f"  running {kind} {' '.join(extra)}".rstrip())
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, cwd=REPO_ROOT)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            result = json.loads(line[len(RESULT_MARK) :])
            result["wall_s"] = time.perf_counter() - t0
            return result
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    why = f"exit code {proc.returncode}" + (" (killed: out of memory?)" if proc.returncode in (-9, 137) else "")
    return {"error": f"{why}: {' | '.join(tail)}"}


def environment(device: str) -> dict[str, Any]:
    """The machine and library versions, as the report's first lines show them."""
    import psutil
    import torch

    env: dict[str, Any] = {
        "device": device,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "ram_total": psutil.virtual_memory().total,
        "ram_available": psutil.virtual_memory().available,
        # Other processes on a small machine make 2-thread timings swing by several times: say so in the output.
        "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    try:
        import transformers

        env["transformers"] = transformers.__version__
    except ImportError:
        env["transformers"] = None
    if device.startswith("cuda"):
        env["gpu"] = torch.cuda.get_device_name(torch.device(device))
        env["gpu_memory"] = torch.cuda.get_device_properties(torch.device(device)).total_memory
    return env


def _cpu_name() -> str:
    cpu_name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu_name


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement, in order, each in a fresh worker; the results dict that report.report reads."""
    results: dict[str, Any] = {"env": environment(args.device), "lengths": args.lengths, "rows": [], "load": {}}
    log(f"device {args.device}; {len(args.lengths)} lengths; each measurement in a fresh process")

    log("matmul rate")
    results["matmul"] = run_worker("matmul", args, [])
    cache_env = None if args.skip_load else measure_our_loads(args, results["load"])

    gguf: str | None = None
    for n in args.lengths:
        log(f"{n} tokens")
        row = measure_length(n, args, cache_env, gguf, results)
        results["rows"].append(row)
        gguf = gguf or row["ours"].get("source")

    if not args.skip_load:
        measure_hf_load(args, results, gguf)
    return results


def measure_our_loads(args: argparse.Namespace, load: dict[str, Any]) -> dict[str, str]:
    """Our load, cold then warm, into a private cache folder; returns the environment that points at it.

    The per-length workers then reuse that warm cache, so that no conversion happens inside a measured
    process and the user's cache is left alone.
    """
    log("our load: cold (empty cache) and warm")
    cache_dir = Path(args.workdir) / "attn-cache"
    cache_dir.mkdir()
    cache_env = {"ATTN_CACHE_DIR": str(cache_dir)}
    load["ours_cold"] = run_worker("load-ours", args, [], cache_env)
    load["ours_warm"] = run_worker("load-ours", args, [], cache_env)
    return cache_env


def measure_length(
    n: int, args: argparse.Namespace, cache_env: dict[str, str] | None, gguf: str | None, results: dict[str, Any]
) -> dict[str, Any]:
    """One table row: ours at n tokens, then HF on the same ids (unless skipped), then the paired worker."""
    row: dict[str, Any] = {"length": n, "ours": run_worker("ours", args, ["--length", str(n)], cache_env)}
    ours = row["ours"]
    if "error" in ours:
        row["hf"] = {"skipped": "our run failed, so there are no token ids to give HF"}
        return row
    gguf = gguf or ours["source"]
    cfg = results["config"] = ours["config"]
    skipped = hf_skip_reason(cfg, n, args)
    if skipped:
        row["hf"] = {"skipped": skipped}
        return row
    row["hf"] = run_worker("hf", args, ["--length", str(n), "--gguf", gguf])
    if n <= PAIRED_MAX_TOKENS and "forward_s" in row["hf"]:
        row["paired"] = run_worker("paired", args, ["--length", str(n), "--gguf", gguf], cache_env)
    return row


def hf_skip_reason(cfg: dict[str, Any], n: int, args: argparse.Namespace) -> str | None:
    """Why HF is not run at n tokens (asked, or its estimated memory does not fit), or None to run it."""
    need = estimate_hf_bytes(cfg, n)
    have, what = free_bytes_for_hf(args.device)
    if args.skip_hf_above is not None and n > args.skip_hf_above:
        return f"--skip-hf-above {args.skip_hf_above}"
    if need > have:
        return (
            f"estimated HF peak {need / GIB:.1f} GiB (2 × {cfg['n_layers']} layers × "
            f"{cfg['n_heads']} heads × {n}² × 4 B of patterns, + logits, hidden states, "
            f"weights) exceeds {what} {have / GIB:.1f} GiB"
        )
    return None


def measure_hf_load(args: argparse.Namespace, results: dict[str, Any], gguf: str | None) -> None:
    """HF's load time: every HF worker is a fresh process that loads the GGUF, so the first one is the
    measurement; when no HF forward ran, one load-only worker."""
    hf_loads = [r["hf"] for r in results["rows"] if "load_s" in r["hf"]]
    if hf_loads:
        results["load"]["hf"] = {**hf_loads[0], "from": f"the HF worker at {hf_loads[0]['length']} tokens"}
    elif gguf is not None:
        log("HF load (no HF forward ran)")
        results["load"]["hf"] = run_worker("hf", args, ["--length", "0", "--gguf", gguf])
