"""The Markdown report of a results dict (what `python bench/engine.py` prints, and what --json saves).

report() also writes the derived numbers (ratios, floor) into each row of the results, so the JSON file has them.
"""

from __future__ import annotations

import statistics
from typing import Any

from .estimates import forward_flops
from .settings import FLOOR_TARGETS, GIB, PAIRED_MAX_TOKENS, RATIO_TARGETS, RSS_TARGETS, WARM_LOAD_TARGET_S

TITLE = "# attention_core vs transformers (eager, output_attentions + output_hidden_states)"
METHOD = (
    "- times: median after one warm-up; ratio = (ours trace + logits) / HF eager, from the separate workers' "
    f"medians and, up to {PAIRED_MAX_TOKENS} tokens, paired: the median of per-round ratios with one call of "
    "each back to back in one process (what the ✓/✗ is checked on where it exists); trace alone / HF "
    "(paired) = the same rounds' trace time without the logits (computed lazily: the attention views never "
    "ask for them, the experiments page only for the last position's); floor = matmul FLOPs "
    "of our trace (no unembedding) / matmul rate; peak RSS = the worker process's whole-life peak, "
    "Δ = its increase over the RSS right after the model was loaded"
)
LENGTH_HEADER = [
    "tokens",
    "ours trace (s)",
    "ours +logits (s)",
    "HF eager (s)",
    "ratio",
    "ratio (paired)",
    "trace alone / HF (paired)",
    "floor (s)",
    "trace/floor",
    "ours peak RSS",
    "ours ΔRSS",
    "HF peak RSS",
    "HF ΔRSS",
    "max abs Δlogit",
]
CUDA_HEADER = ["ours CUDA peak", "HF CUDA peak"]
LOAD_LABELS = {
    "ours_cold": "ours cold (convert GGUF + write cache)",
    "ours_warm": "ours warm (read cache)",
    "hf": "HF from_pretrained(gguf_file=…) (dequantize)",
}


def median(xs: list[float] | None) -> float | None:
    return statistics.median(xs) if xs else None


def fmt_s(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def fmt_gib(x: float | None) -> str:
    return "—" if x is None else f"{x / GIB:.2f} GiB"


def check(value: float | None, target: float, unit: str = "") -> str:
    """'✓ (≤ 0.6)' next to a value; nothing when the value is missing."""
    if value is None:
        return ""
    mark = "✓" if value <= target else "✗"
    shown = f"{target / GIB:g} GiB" if unit == "GiB" else f"{target:g}{unit}"
    return f" {mark} (≤ {shown})"


def report(results: dict[str, Any]) -> str:
    """The whole report: environment, the per-length table, the load table, the targets."""
    lines = [TITLE, ""]
    lines += environment_lines(results["env"], results["matmul"])
    lines += ["", *length_table(results)]
    if results["load"]:
        lines += ["", *load_table(results["load"])]
    lines += ["", "Targets (from the issue tracker; stated for the 2-core CPU machine):", *target_summary(results)]
    return "\n".join(lines)


def environment_lines(env: dict[str, Any], mm: dict[str, Any]) -> list[str]:
    """Device, CPU, versions, load average, the matmul rate, and how the numbers are measured."""
    dev = env["device"] + (f" ({env['gpu']}, {env['gpu_memory'] / GIB:.0f} GiB)" if "gpu" in env else "")
    lines = [
        f"- device: {dev}; CPU: {env['cpu']}, {env['cpus_usable']} of {env['cpu_count']} CPUs usable, "
        f"torch threads {env['torch_threads']}; RAM {env['ram_total'] / GIB:.1f} GiB "
        f"({env['ram_available'] / GIB:.1f} GiB available at start)",
        f"- torch {env['torch']}, transformers {env['transformers']}, Python {env['python']}",
    ]
    load_avg = env.get("load_avg_1min")
    if load_avg is not None:
        busy = load_avg >= 0.5 * (env["cpus_usable"] or 1)
        lines.append(
            f"- load average before the run: {load_avg:.2f} (1 min)"
            + ("; WARNING: other processes were using the CPU, so timings are unreliable" if busy else "")
        )
    rate = mm.get("gflops")
    if rate:
        lines.append(
            f"- fp32 matmul rate: {rate:.1f} GFLOP/s (best of {len(mm['times_s'])} × torch.mm "
            f"{mm['size']}×{mm['size']}, float32 matmul precision '{mm['fp32_precision']}')"
        )
    else:
        lines.append(f"- fp32 matmul rate: not measured ({mm.get('error')})")
    lines.append(METHOD)
    return lines


def length_table(results: dict[str, Any]) -> list[str]:
    """One row per length (deriving each row's ratios first), the FLOPs line, then the notes on failures."""
    cuda = results["env"]["device"].startswith("cuda")
    header = LENGTH_HEADER + (CUDA_HEADER if cuda else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    notes: list[str] = []
    cfg, rate = results.get("config"), results["matmul"].get("gflops")
    for row in results["rows"]:
        notes += derive_row(row, cfg, rate)
        lines.append("| " + " | ".join(row_cells(row, cuda)) + " |")
    if cfg:
        lines.append("")
        lines.append(
            "FLOPs of our trace (matmuls only; see forward_flops): "
            + ", ".join(f"{r['length']}: {r['flops'] / 1e9:.1f} GFLOP" for r in results["rows"] if r.get("flops"))
        )
    if notes:
        lines += ["", *notes]
    return lines


def derive_row(row: dict[str, Any], cfg: dict[str, Any] | None, rate: float | None) -> list[str]:
    """Write the row's ratios, floor and FLOPs into it (target_summary and the JSON read them); return its notes."""
    n, ours, hf = row["length"], row["ours"], row["hf"]
    notes = []
    if "error" in ours:
        notes.append(f"- {n} tokens: our run failed: {ours['error']}")
    if "error" in hf:
        notes.append(f"- {n} tokens: HF run failed: {hf['error']}")
    if "skipped" in hf:
        notes.append(f"- {n} tokens: HF not run: {hf['skipped']}")
    t_trace, t_logits, t_hf = (
        median(ours.get("trace_s")),
        median(ours.get("trace_logits_s")),
        median(hf.get("forward_s")),
    )
    ratio = t_logits / t_hf if t_logits and t_hf else None
    paired = row.get("paired") or {}
    paired_ratio = median(paired.get("ratios"))
    if "error" in paired:
        notes.append(f"- {n} tokens: paired run failed: {paired['error']}")
    floor = forward_flops(cfg, n, logits=False) / (rate * 1e9) if cfg and rate else None
    row.update(
        ratio=ratio,
        paired_ratio=paired_ratio,
        paired_trace_ratio=median(paired.get("trace_ratios")),
        checked_ratio=paired_ratio if paired_ratio is not None else ratio,
        floor_s=floor,
        trace_over_floor=t_trace / floor if t_trace and floor else None,
        flops=forward_flops(cfg, n, logits=False) if cfg else None,
    )
    return notes


def row_cells(row: dict[str, Any], cuda: bool) -> list[str]:
    """The table cells of one derived row, with ✓/✗ where the length has a target."""
    n, ours, hf = row["length"], row["ours"], row["hf"]
    t_hf = median(hf.get("forward_s"))
    ratio, paired_ratio, over_floor = row["ratio"], row["paired_ratio"], row["trace_over_floor"]
    hf_cell = fmt_s(t_hf) if t_hf is not None else ("skipped" if "skipped" in hf else "failed")
    cells = [
        str(n),
        fmt_s(median(ours.get("trace_s"))),
        fmt_s(median(ours.get("trace_logits_s"))),
        hf_cell,
        ("—" if ratio is None else f"{ratio:.2f}")
        + (check(ratio, RATIO_TARGETS[n]) if n in RATIO_TARGETS and paired_ratio is None else ""),
        ("—" if paired_ratio is None else f"{paired_ratio:.2f}")
        + (check(paired_ratio, RATIO_TARGETS[n]) if n in RATIO_TARGETS and paired_ratio is not None else ""),
        "—" if row["paired_trace_ratio"] is None else f"{row['paired_trace_ratio']:.2f}",
        fmt_s(row["floor_s"]),
        ("—" if over_floor is None else f"{over_floor:.2f}×")
        + (check(over_floor, FLOOR_TARGETS[n], "×") if n in FLOOR_TARGETS else ""),
        fmt_gib(ours.get("peak_rss"))
        + (check(ours.get("peak_rss"), RSS_TARGETS[n], "GiB") if n in RSS_TARGETS else ""),
        fmt_gib(ours.get("delta_rss")),
        fmt_gib(hf.get("peak_rss")),
        fmt_gib(hf.get("delta_rss")),
        "—" if hf.get("max_logit_diff") is None else f"{hf['max_logit_diff']:.1e}",
    ]
    if cuda:
        cells += [fmt_gib(ours.get("cuda_peak")), fmt_gib(hf.get("cuda_peak"))]
    return cells


def load_table(load: dict[str, Any]) -> list[str]:
    """Our cold and warm loads and HF's GGUF load, then how many times our warm load HF's takes."""
    lines = ["| load | time (s) | import (s) | peak RSS |", "|---|---|---|---|"]
    for key, label in LOAD_LABELS.items():
        r = load.get(key)
        if r is None:
            continue
        if "error" in r:
            lines.append(f"| {label} | failed: {r['error']} | | |")
            continue
        target = check(r["load_s"], WARM_LOAD_TARGET_S, " s") if key == "ours_warm" else ""
        lines.append(
            f"| {label} | {fmt_s(r['load_s'])}{target} | {fmt_s(r['import_s'])} | {fmt_gib(r.get('peak_rss'))} |"
        )
    warm, hf = load.get("ours_warm", {}), load.get("hf", {})
    if "load_s" in warm and "load_s" in hf:
        lines.append("")
        lines.append(
            f"HF's GGUF load takes {hf['load_s'] / warm['load_s']:.0f}× our warm load "
            f"(HF time measured in {hf.get('from', 'a fresh process')}; imports are not included)."
        )
    return lines


def target_summary(results: dict[str, Any]) -> list[str]:
    """One line per target that this run's lengths cover: value, target, ✓/✗ (or why there is no value)."""
    items: list[tuple[str, float | None, float, str]] = []
    for row in results["rows"]:
        n = row["length"]
        if n in RATIO_TARGETS:
            how = "paired" if row.get("paired_ratio") is not None else "separate workers"
            label = f"ratio (ours + logits) / HF at {n} tokens ({how})"
            items.append((label, row.get("checked_ratio"), RATIO_TARGETS[n], ""))
            if row.get("paired_trace_ratio") is not None:  # what the issue's wording ("our trace time") names
                label = f"ratio (our trace alone, logits left lazy) / HF at {n} tokens (paired)"
                items.append((label, row["paired_trace_ratio"], RATIO_TARGETS[n], ""))
        if n in FLOOR_TARGETS:
            items.append((f"our trace / its floor at {n} tokens", row.get("trace_over_floor"), FLOOR_TARGETS[n], "×"))
        if n in RSS_TARGETS:
            items.append((f"our peak RSS at {n} tokens", row["ours"].get("peak_rss"), RSS_TARGETS[n], "GiB"))
    if results["load"]:
        items.append(("our warm load", results["load"].get("ours_warm", {}).get("load_s"), WARM_LOAD_TARGET_S, " s"))
    out = []
    for label, value, target, unit in items:
        if value is None:
            out.append(f"- {label}: not measured (≤ {target:g}{unit} wanted)")
            continue
        shown = f"{value / GIB:.2f} GiB" if unit == "GiB" else f"{value:.2f}{unit}"
        out.append(f"- {label}: {shown}{check(value, target, unit)}")
    return out or ["- none of the targeted lengths (32, 2048, 4096) was measured"]
