"""Benchmark the batched head-ablation sweep against one single-ablation trace per head.

    python bench/sweep.py                 # 32 tokens, a sample of 30 single-ablation traces, extrapolated to all heads
    python bench/sweep.py --all           # time every single-ablation trace (270 on SmolLM2: minutes)
    python bench/sweep.py --tokens 10 --sample 9
    python bench/sweep.py --threads 1     # one intra-op thread (see "Threads" below)

In one process and one run it measures: the sweep (`attention_core.sweep.head_ablation_sweep`, what the
Experiments page's "Rank all heads" runs) on a clean trace of a real English text cut to `--tokens`
tokens, then single-ablation traces `model.trace(text, interventions=[ablate_head(l, h)])` plus the
next token's log-probability, for an evenly spaced sample of heads (or all of them with --all). The
single-trace total for every head is the sample's mean × n_layers·n_heads when sampled (the table says
"extrapolated"). It also checks that the sweep's numbers equal the single ablations on the heads traced.

The machine's load average is printed with the results: on a shared CPU, other work slows both sides.

Threads: on a 2-core machine that other processes keep busy, torch's default two intra-op threads make
the sweep's batched tensors (n_heads variants at once, big enough for torch to split an op across
threads) wait at every op's barrier for a descheduled thread, while a single trace's small tensors stay
on one thread. Measure with --threads 1 and with the default to see how much that costs on your machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

# `python bench/sweep.py` puts bench/, not the repository root (where attention_core lives), on sys.path.
REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402

from attention_core import ablate_head, load_model  # noqa: E402
from attention_core.sweep import head_ablation_sweep  # noqa: E402

TEXT = (
    "Lighthouses were once the most important buildings on any dangerous coast. Before satellites and radio, a "
    "captain approaching land at night had only the stars, a compass, a chart and whatever lights he could see "
    "from the deck. A single well-placed tower could save dozens of ships every winter."
)


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--sample", type=int, default=30, help="single-ablation traces to time (ignored with --all)")
    parser.add_argument("--all", action="store_true", help="time a single-ablation trace for every head")
    parser.add_argument("--repeats", type=int, default=2, help="timed sweeps (the best is reported)")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    return parser.parse_args(argv)


def clean_trace(model: Any, tokens: int) -> tuple[Any, str]:
    """The clean trace of TEXT cut to `tokens` tokens, and that exact text (so single traces see the same input)."""
    clean = model.trace(TEXT, max_tokens=tokens)  # also the warm-up
    text = TEXT[: clean.offsets[-1][1]]
    clean = model.trace(text)
    assert clean.token_ids == model.trace(TEXT, max_tokens=tokens).token_ids
    return clean, text


def time_sweep(clean: Any, target: int, repeats: int) -> tuple[Any, list[float]]:
    """The batched sweep over every head, timed `repeats` times; (the last sweep's result, the times)."""
    sweep_times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        sweep = head_ablation_sweep(clean, target)
        sweep_times.append(time.perf_counter() - t0)
    return sweep, sweep_times


def time_single_ablations(
    model: Any, text: str, heads: list[tuple[int, int]], target: int, base_lp: torch.Tensor, sweep: Any
) -> tuple[list[float], float]:
    """One single-ablation trace + next-token log-probability per head, timed; (times, worst |Δ| vs the sweep)."""
    single_times, worst = [], 0.0
    for layer, head in heads:
        t0 = time.perf_counter()
        tr = model.trace(text, interventions=[ablate_head(layer, head)])
        lp = torch.log_softmax(tr.next_token_logits().double(), -1)
        single_times.append(time.perf_counter() - t0)
        worst = max(worst, abs(float(lp[target] - base_lp[target]) - float(sweep[layer, head])))
    return single_times, worst


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    model = load_model(args.model, device="cpu")
    cfg = model.config
    n_heads_total = cfg.n_layers * cfg.n_heads
    clean, text = clean_trace(model, args.tokens)
    base_lp = torch.log_softmax(clean.next_token_logits().double(), -1)
    target = int(base_lp.argmax())

    print(
        f"model {model.name} ({cfg.n_layers} layers × {cfg.n_heads} heads = {n_heads_total}), {clean.n_tokens} tokens"
    )
    print(f"target: top next token {model.tokenizer.decode_token(target)!r}, p = {float(base_lp[target].exp()):.4f}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    sweep, sweep_times = time_sweep(clean, target, args.repeats)
    sweep_s = min(sweep_times)

    heads = [(l, h) for l in range(cfg.n_layers) for h in range(cfg.n_heads)]  # noqa: E741
    if not args.all:
        step = max(1, len(heads) // max(1, args.sample))
        heads = heads[::step][: args.sample]
    single_times, worst = time_single_ablations(model, text, heads, target, base_lp, sweep)
    mean_single = statistics.mean(single_times)
    total_single = mean_single * n_heads_total if not args.all else sum(single_times)
    how = "measured" if args.all else f"extrapolated from {len(heads)} timed"

    print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    print("| what | time (s) |")
    print("|---|---:|")
    print(f"| batched sweep, all {n_heads_total} heads (best of {len(sweep_times)}) | {sweep_s:.2f} |")
    print(f"| one single-ablation trace (mean of {len(single_times)}) | {mean_single:.3f} |")
    print(f"| {n_heads_total} single-ablation traces ({how}) | {total_single:.1f} |")
    print(f"| ratio: single traces / sweep | {total_single / sweep_s:.1f}× |")
    print()
    print(f"max |Δ log p sweep − Δ log p single trace| over {len(heads)} heads: {worst:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
