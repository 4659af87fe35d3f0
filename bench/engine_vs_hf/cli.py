"""The command line of `python bench/engine.py` (see bench/README.md for the options)."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from .measure import resolve_device
from .report import report
from .runner import log, run_benchmark
from .workers import WORKERS


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The public options, plus the hidden ones the parent passes to a worker process."""
    p = argparse.ArgumentParser(
        description="Time and measure attention_core's trace against HF transformers eager on the same GGUF weights.",
    )
    p.add_argument(
        "--lengths",
        type=int,
        nargs="+",
        default=[32, 512, 2048],
        metavar="N",
        help="token counts to measure (default: 32 512 2048)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="timed repeats after one warm-up (×5 below 256 tokens, at most 3 from 2048 and 2 from 4096; default 5)",
    )
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, mps, or auto (the engine's choice)")
    p.add_argument(
        "--skip-hf-above",
        type=int,
        default=None,
        metavar="N",
        help="do not run transformers above N tokens (it is also skipped when its estimated memory "
        "exceeds what is available)",
    )
    p.add_argument("--skip-load", action="store_true", help="skip the load-time measurements")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write all results as JSON")
    # Internal: how the parent runs one measurement in a fresh process.
    p.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    p.add_argument("--length", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--workdir", default=None, help=argparse.SUPPRESS)
    p.add_argument("--gguf", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if any(n < 1 for n in args.lengths):
        p.error("--lengths must be positive")
    if args.repeats < 1:
        p.error("--repeats must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run one worker (--worker) or the whole benchmark: print the report, optionally save the JSON."""
    args = parse_args(argv)
    if args.worker:
        WORKERS[args.worker](args)
        return 0
    args.device = resolve_device(args.device)
    with tempfile.TemporaryDirectory(prefix="attn-bench-") as workdir:
        args.workdir = workdir
        t0 = time.perf_counter()
        results = run_benchmark(args)
        results["total_wall_s"] = time.perf_counter() - t0
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
        log(f"wrote {args.json}")
    log(f"total {results['total_wall_s']:.0f} s")
    return 0
