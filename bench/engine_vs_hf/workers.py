"""Workers: each runs in a fresh process (`python bench/engine.py --worker KIND …`) and prints one JSON line.

A process's peak RSS never goes down, so each (implementation, length) gets its own process for an honest
peak. torch, transformers and attention_core are imported inside the workers, where their import is timed.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .measure import MemoryProbe, repeats_for, ru_maxrss_bytes, sync, time_calls
from .settings import MODEL_NAME, RESULT_MARK
from .text import build_text


def emit(result: dict[str, Any]) -> None:
    """Print the worker's result on the one line the parent reads (after RESULT_MARK)."""
    print(RESULT_MARK + json.dumps(result), flush=True)


def load_hf(gguf_path: str, device: str) -> Any:
    """HF's GGUF load: dequantized into float32, eager attention (the implementation that returns patterns)."""
    import torch
    from transformers import AutoModelForCausalLM

    gguf = Path(gguf_path)
    hf = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32, attn_implementation="eager"
    )
    return hf.to(device).eval()


def hf_forward(hf: Any, ids: Any) -> Callable[[], object]:
    """The HF call we compare against: every layer's attention patterns and hidden states returned."""
    import torch

    def forward() -> object:
        with torch.inference_mode():
            return hf(ids, output_attentions=True, output_hidden_states=True)

    return forward


def worker_ours(args: argparse.Namespace) -> None:
    """Our trace (and trace + logits) at one length; saves token ids and last-position logits for the HF worker."""
    import torch

    t0 = time.perf_counter()
    import attention_core as ac

    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = ac.load_model(MODEL_NAME, device=args.device)
    load_s = time.perf_counter() - t0
    n = args.length
    text = build_text(model, n)
    probe = MemoryProbe(args.device)
    probe.start()

    def trace_only() -> object:
        return model.trace(text, max_tokens=n)

    def trace_and_logits() -> object:
        tr = model.trace(text, max_tokens=n)
        return tr, tr.logits  # HF always computes logits for every position, so this is the fair comparison

    sync(args.device)
    warm = trace_and_logits()  # warm-up: first-call allocations, kernel selection, lazy initialisation
    sync(args.device)
    trace, logits = warm
    assert trace.n_tokens == n, f"asked for {n} tokens, traced {trace.n_tokens}"
    workdir = Path(args.workdir)
    (workdir / f"ids-{n}.json").write_text(json.dumps(list(trace.token_ids)))
    torch.save(logits[-1].clone(), workdir / f"logits-{n}.pt")
    del warm, trace, logits
    reps = repeats_for(n, args.repeats)
    trace_s = time_calls(trace_only, reps, args.device)
    trace_logits_s = time_calls(trace_and_logits, reps, args.device)
    emit(
        {
            "impl": "ours",
            "length": n,
            "trace_s": trace_s,
            "trace_logits_s": trace_logits_s,
            "import_s": import_s,
            "load_s": load_s,
            "threads": torch.get_num_threads(),
            "config": json.loads(model.config.to_json()),
            "source": str(model.source),
            **probe.finish(),
        }
    )


def worker_hf(args: argparse.Namespace) -> None:
    """HF eager forward with attentions and hidden states on the token ids our worker traced (length 0: load only)."""
    t0 = time.perf_counter()
    import torch
    from transformers import AutoModelForCausalLM  # noqa: F401  (timed here, as the import, not in the load)

    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    hf = load_hf(args.gguf, args.device)
    sync(args.device)
    load_s = time.perf_counter() - t0
    result: dict[str, Any] = {"impl": "hf", "length": args.length, "import_s": import_s, "load_s": load_s}
    if args.length == 0:
        emit({**result, "peak_rss": ru_maxrss_bytes()})
        return
    n = args.length
    workdir = Path(args.workdir)
    ids = torch.tensor([json.loads((workdir / f"ids-{n}.json").read_text())], device=args.device)
    probe = MemoryProbe(args.device)
    probe.start()
    forward = hf_forward(hf, ids)
    sync(args.device)
    out = forward()  # warm-up
    sync(args.device)
    assert len(out.attentions) == hf.config.num_hidden_layers and out.attentions[0].shape[-1] == n
    # Same weights, same ids: the last position's logits should agree to float32 round-off.
    ours_last = torch.load(workdir / f"logits-{n}.pt")
    max_diff = float((out.logits[0, -1].float().cpu() - ours_last).abs().max())
    del out
    times = time_calls(forward, repeats_for(n, args.repeats), args.device)
    emit(
        {**result, "forward_s": times, "max_logit_diff": max_diff, "threads": torch.get_num_threads(), **probe.finish()}
    )


def worker_paired(args: argparse.Namespace) -> None:
    """Ours (trace + logits) and HF's forward alternately in one process, so both meet the same machine.

    On a shared machine the speed drifts by tens of percent over seconds, and the separate workers run
    seconds apart; here each round times one call of each back to back (alternating which goes first) and
    the ratio is the median of the rounds' ratios. Timing only: memory is the separate workers' business.
    """
    import torch

    import attention_core as ac

    model = ac.load_model(MODEL_NAME, device=args.device)
    hf = load_hf(args.gguf, args.device)
    n = args.length
    text = build_text(model, n)
    ids = torch.tensor([model.trace(text, max_tokens=n).token_ids], device=args.device)

    trace_s: list[float] = []  # the trace alone, inside each timed call of ours()

    def ours() -> object:
        t0 = time.perf_counter()
        tr = model.trace(text, max_tokens=n)
        sync(args.device)
        trace_s.append(time.perf_counter() - t0)
        return tr, tr.logits

    theirs = hf_forward(hf, ids)
    ours(), theirs()  # warm-up
    trace_s.clear()
    ours_s, hf_s = paired_rounds(ours, theirs, repeats_for(n, args.repeats), args.device)
    ratios = [a / b for a, b in zip(ours_s, hf_s, strict=True)]
    trace_ratios = [a / b for a, b in zip(trace_s, hf_s, strict=True)]
    emit(
        {
            "impl": "paired",
            "length": n,
            "ours_s": ours_s,
            "trace_s": trace_s,
            "hf_s": hf_s,
            "ratios": ratios,
            "trace_ratios": trace_ratios,
        }
    )


def paired_rounds(
    ours: Callable[[], object], theirs: Callable[[], object], rounds: int, device: str
) -> tuple[list[float], list[float]]:
    """Each round times one call of each back to back, alternating which goes first; (ours_s, theirs_s)."""
    ours_s: list[float] = []
    theirs_s: list[float] = []
    for round_ in range(rounds):
        first, second = (ours, theirs) if round_ % 2 == 0 else (theirs, ours)
        (a,) = time_calls(first, 1, device)
        (b,) = time_calls(second, 1, device)
        ours_s.append(a if first is ours else b)
        theirs_s.append(b if first is ours else a)
    return ours_s, theirs_s


def worker_load_ours(args: argparse.Namespace) -> None:
    """One load of our model; the parent points ATTN_CACHE_DIR at an empty folder (cold) or a filled one (warm)."""
    t0 = time.perf_counter()
    import attention_core as ac

    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = ac.load_model(MODEL_NAME, device=args.device)
    sync(args.device)
    load_s = time.perf_counter() - t0
    emit(
        {
            "impl": "ours-load",
            "import_s": import_s,
            "load_s": load_s,
            "source": str(model.source),
            "notes": model.notes,
            "peak_rss": ru_maxrss_bytes(),
        }
    )


def worker_matmul(args: argparse.Namespace) -> None:
    """The machine's fp32 matmul rate: best of a few 4096×4096 torch.mm (2·4096³ FLOPs each)."""
    import torch

    size = 4096
    a = torch.randn(size, size, dtype=torch.float32, device=args.device)
    b = torch.randn(size, size, dtype=torch.float32, device=args.device)
    torch.mm(a, b)  # warm-up: thread pool start, BLAS/cuBLAS initialisation
    times = time_calls(lambda: torch.mm(a, b), 3, args.device)
    best = min(times)
    emit(
        {
            "impl": "matmul",
            "size": size,
            "times_s": times,
            "gflops": 2 * size**3 / best / 1e9,
            "threads": torch.get_num_threads(),
            "fp32_precision": torch.get_float32_matmul_precision(),
        }
    )


WORKERS: dict[str, Callable[[argparse.Namespace], None]] = {
    "ours": worker_ours,
    "hf": worker_hf,
    "load-ours": worker_load_ours,
    "paired": worker_paired,
    "matmul": worker_matmul,
}
