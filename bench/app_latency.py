"""App latency in a real browser: `streamlit run app.py` driven by headless Chromium (Playwright).

    python bench/app_latency.py                          # 32, 512 and 4096 tokens
    python bench/app_latency.py --lengths 32 512 --switches 3
    python bench/app_latency.py --pages --lengths 32 1000   # every registered page, once the trace is cached

For each length it submits a text of exactly that many tokens (a fresh text each time, so no cache
hit) and measures, from the Ctrl+Enter that submits it:
  * submit → heatmap: until the big heatmap of the new text is drawn in the page;
  * submit → overview: until the layer × head overview of the new text is drawn;
then clicks other heads' thumbnails and measures click → that head's heatmap drawn (for long texts,
the downsampled view *and* the exact window). "Drawn" means Plotly has plotted a figure whose
`layout.meta` names this text (sha1 prefix), length, layer and head: the page puts it there.

With --pages it measures every page of app_pages/registry.PAGES instead, at each length: it submits the text
(submit → the page drawn, trace included, is the reference), then opens each page from the sidebar and measures
click → that page fully drawn: its title changed, no element stale, no status widget, spinner or progress bar,
and every Plotly chart plotted, continuously for a second (the time is the start of that quiet second). Each
page's own derived results (head statistics, a split of Δe) are computed in that visit, as for a reader. The
trace alone, timed in this process on the same text, is printed beside them.

The trace floor (FLOPs of the 4096-token forward pass, bench/engine.py's `forward_flops`, divided by
the fp32 matmul rate measured in this same run) makes the 4096-token overview target machine-relative.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.engine_vs_hf.estimates import forward_flops  # noqa: E402
from bench.engine_vs_hf.text import PASSAGE  # noqa: E402
from devtools.browser import CHROMIUM, CHROMIUM_ARGS, CLICK_TARGET_JS, app_server  # noqa: E402

MODEL_NAME = "smollm2-135m"

# Targets from issue 6 (2-core CPU). None: measured and printed, no target.
TARGETS = {
    32: {"submit_heatmap": 1.0, "switch": 0.3},
    4096: {"switch": 1.5, "overview_over_floor": 2.5},
}


def matmul_gflops(size: int = 4096, repeats: int = 3) -> float:
    """Best-of-`repeats` fp32 torch.mm rate, as bench/engine.py measures it (2·size³ FLOPs per call)."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * size**3 / best / 1e9


def exact_text(model: Any, passage: str, n_tokens: int, tag: str) -> str:
    """A text that the model's tokenizer splits into exactly n_tokens (cut at a token boundary)."""
    text = f"{tag}. {passage}"
    while len(model.tokenizer.tokenizer.encode(text).ids) < n_tokens + 8:
        text += "\n\n" + passage
    enc = model.tokenizer.encode(text, n_tokens)
    cut = max(end for _start, end in enc.offsets)
    text = text[:cut]
    assert len(model.tokenizer.tokenizer.encode(text).ids) == n_tokens, "token boundary moved"
    return text


def digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]


DRAWN_JS = """([key, want]) => {
    const el = document.querySelector(`[class*='st-key-${key}'] .js-plotly-plot`);
    const m = el && el._fullLayout && el.layout && el.layout.meta;
    if (!m) return false;
    return Object.entries(want).every(([k, v]) => m[k] === v);
}"""

META_JS = """(key) => document.querySelector(`[class*='st-key-${key}'] .js-plotly-plot`).layout.meta"""
N_HEADS = 9  # SmolLM2-135M


def wait_drawn(page: Any, key: str, want: dict, timeout_s: float, polling: str | int = "raf") -> float:
    """Seconds (perf_counter) when the chart `key` shows `want`. Polling every animation frame is exact to
    a frame but costs CPU in Chromium and here; waits that last seconds (a long trace) poll every 100 ms
    instead, so the measurement does not take the 2-core machine's CPU away from what it measures."""
    try:
        page.wait_for_function(DRAWN_JS, arg=[key, want], polling=polling, timeout=timeout_s * 1000)
    except Exception as exc:
        shot = REPO_ROOT / "test-artifacts" / "app-latency-timeout.png"
        page.screenshot(path=str(shot))
        raise RuntimeError(f"{key} with {want} not drawn within {timeout_s} s (screenshot: {shot})") from exc
    return time.perf_counter()


def _measure_length(page: Any, model: Any, passage: str, n: int, rep: int, switches: int, timeout_s: float) -> dict:
    text = exact_text(model, passage, n, f"Run {rep} at {n}")
    tag = digest(text)
    long = n > 256
    head0 = page.evaluate(META_JS, "head_heatmap")["head"]  # the selected head carries over between texts
    box = page.locator("[data-testid='stTextArea'] textarea")
    box.fill(text)
    page.wait_for_timeout(300)
    t0 = time.perf_counter()
    box.press("Control+Enter")
    first = {"text": tag, "tokens": n, "layer": 0, "head": head0}
    every = 100 if long else "raf"
    t_heatmap = wait_drawn(page, "head_heatmap", first, timeout_s, every) - t0
    if long:
        t_heatmap = max(t_heatmap, wait_drawn(page, "head_window", first, timeout_s, every) - t0)
    t_overview = wait_drawn(page, "overview", first, timeout_s, every) - t0
    page.wait_for_timeout(500)
    times = []
    for i in range(switches):
        prev, head = (head0 + i) % N_HEADS, (head0 + i + 1) % N_HEADS
        heads = page.locator(f"[class*='st-key-heads_L0_H{prev}'] .js-plotly-plot").first
        # In view first: the grid's last row sat below the 2,000 px window once the page above it grew, and a click
        # off the window lands nowhere (the bench then waited out its timeout for a head that was never picked).
        heads.scroll_into_view_if_needed()
        pos = heads.evaluate(CLICK_TARGET_JS, [0, head])
        if pos is None:
            raise RuntimeError(f"no click target for head {head}")
        page.mouse.move(pos[0] + 3, pos[1] + 2)
        page.wait_for_timeout(150)
        t1 = time.perf_counter()
        page.mouse.click(pos[0] + 3, pos[1] + 2)
        want = {"text": tag, "tokens": n, "layer": 0, "head": head}
        t_done = wait_drawn(page, "head_heatmap", want, timeout_s)
        if long:
            t_done = max(t_done, wait_drawn(page, "head_window", want, timeout_s))
        times.append(t_done - t1)
        wait_drawn(page, "overview", want, timeout_s)  # let the rest of the page settle before the next click
        page.wait_for_timeout(400)
    return {"n": n, "submit_heatmap": t_heatmap, "submit_overview": t_overview, "switch": times}


SETTLED_JS = """() => {
    if (document.querySelector('[data-stale="true"], [data-testid="stStatusWidget"], [data-testid="stSpinner"],'
        + ' [data-testid="stProgress"]')) return false;
    const h1 = document.querySelector('[data-testid="stMain"] h1');
    const plots = [...document.querySelectorAll('.js-plotly-plot')];
    return plots.every((el) => el._fullLayout) ? (h1 ? h1.innerText : '') : false;
}"""
PAGE_BUDGET_S = 5.0  # issue 19: every page ready ≤ 5 s after the trace, at 1,000 tokens


def _settle(page: Any, old_title: str | None, timeout_s: float, quiet_s: float = 1.0) -> float | None:
    """perf_counter time when the page became (and then stayed, for `quiet_s`) fully drawn; None on timeout.
    While the title is still `old_title` the old page counts as not drawn (for the first 10 s: a page may
    share a title)."""
    start, since = time.perf_counter(), None
    while time.perf_counter() - start < timeout_s:
        title = page.evaluate(SETTLED_JS)
        now = time.perf_counter()
        ok = title is not False and (title != old_title or now - start > 10)
        if not ok:
            since = None
        elif since is None:
            since = now
        elif now - since >= quiet_s:
            return since
        page.wait_for_timeout(100)
    return None


def _server_quiet(proc: Any, limit_s: float = 120.0, busy_percent: float = 15.0) -> float:
    """Wait until the app server has used under `busy_percent` of a core for a whole second (a page may leave
    work running after it is drawn, e.g. the patterns page's prefetch of the next layer), at most `limit_s`;
    returns the seconds waited."""
    start = time.perf_counter()
    proc.cpu_percent(None)  # starts psutil's interval
    while time.perf_counter() - start < limit_s:
        time.sleep(1.0)
        if proc.cpu_percent(None) < busy_percent:
            break
    return time.perf_counter() - start


def _measure_pages(
    page: Any, model: Any, n: int, timeout_s: float, shots: Path | None, quiet: Callable[[], float]
) -> dict:
    """Submit a fresh text of n tokens, then open every registered page from the sidebar, timing each once the
    server has finished what the previous page left running (so each page is timed on its own)."""
    from app_pages.registry import PAGES
    from attention_core.backend import set_threads_for

    text = exact_text(model, PASSAGE, n, f"Pages at {n}")
    set_threads_for(n)
    t0 = time.perf_counter()
    model.trace(text, max_tokens=n)  # the reference: the trace alone, in this process (the app's is separate)
    trace_s = time.perf_counter() - t0
    old = page.evaluate(SETTLED_JS) or None
    box = page.locator("[data-testid='stTextArea'] textarea")
    box.fill(text)
    page.wait_for_timeout(300)
    t0 = time.perf_counter()
    box.press("Control+Enter")
    done = _settle(page, None, timeout_s)
    submit_s = None if done is None else done - t0
    times: dict[str, float | None] = {}
    order = list(PAGES[1:]) + [PAGES[0]]  # the submit drew the first page; it is measured last, from another
    for spec in order:
        waited = quiet()
        if waited > 2:
            print(f"  (waited {waited:.1f} s for the server to finish the previous page's work)", flush=True)
        old = page.evaluate(SETTLED_JS) or None
        link = page.locator("[data-testid='stSidebarNav'] a", has_text=spec.title).first
        more = page.locator("[data-testid='stSidebarNavViewButton']")
        if not link.is_visible() and more.count() and "more" in more.first.inner_text().lower():
            more.first.click()  # Streamlit folds a long page list behind "View more"
        t1 = time.perf_counter()
        link.click()
        done = _settle(page, old, timeout_s)
        times[spec.name] = None if done is None else done - t1
        print(f"  {n} tokens, {spec.name}: {_fmt(times[spec.name])}", flush=True)
        if shots is not None:
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / f"page_{spec.name}_{n}.png"), full_page=True)
    return {"n": n, "trace_s": trace_s, "submit_s": submit_s, "pages": times}


def _pages_report(rows: list[dict], args: argparse.Namespace, load: tuple[float, float], gflops: float) -> str:
    from app_pages.registry import PAGES

    lines = [
        f"Page latency, `python bench/app_latency.py --pages --lengths {' '.join(map(str, args.lengths))}` "
        f"({MODEL_NAME}, CPU, {os.cpu_count()} cores, headless Chromium, 1280 px); load average "
        f"{load[0]:.2f} at the start, {load[1]:.2f} at the end; fp32 matmul {gflops:.1f} GFLOP/s. "
        "Seconds from the sidebar click to the page fully "
        f"drawn, the trace already cached (✓/✗: the {PAGE_BUDGET_S:g} s budget at 1,000 tokens).",
        "",
        "| page | " + " | ".join(f"{r['n']} tokens" for r in rows) + " |",
        "|---|" + "---:|" * len(rows),
    ]
    for spec in PAGES:
        cells = []
        for r in rows:
            t = r["pages"].get(spec.name)
            cells.append(_fmt(t, PAGE_BUDGET_S if r["n"] >= 1000 else None))
        lines.append(f"| {spec.title} | " + " | ".join(cells) + " |")
    lines.append(
        "| *reference: the trace alone (bench process)* | " + " | ".join(_fmt(r["trace_s"]) for r in rows) + " |"
    )
    lines.append("| *reference: submit → first page drawn* | " + " | ".join(_fmt(r["submit_s"]) for r in rows) + " |")
    return "\n".join(lines)


def _fmt(x: float | None, target: float | None = None, unit: str = " s") -> str:
    if x is None:
        return "—"
    s = f"{x:.2f}{unit}"
    if target is not None:
        s += f" ({'✓' if x <= target else '✗'} ≤ {target}{unit.strip() or '×'})"
    return s


def _report(rows: list[dict], floor_s: float, gflops: float, args: argparse.Namespace) -> str:
    lines = [
        f"App latency, `python bench/app_latency.py --lengths {' '.join(map(str, args.lengths))} "
        f"--switches {args.switches}` ({MODEL_NAME}, CPU, {os.cpu_count()} cores, headless Chromium)",
        f"fp32 matmul rate measured in this run: {gflops:.1f} GFLOP/s; trace floor at 4096 tokens "
        f"(forward FLOPs / rate): {floor_s:.1f} s",
        "",
        "| tokens | submit → heatmap | submit → overview | overview / trace floor | head switch (median; all) |",
        "|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        t = TARGETS.get(r["n"], {})
        med = statistics.median(r["switch"]) if r["switch"] else None
        over = r["submit_overview"] / floor_s if r["n"] == 4096 else None
        lines.append(
            f"| {r['n']} | {_fmt(r['submit_heatmap'], t.get('submit_heatmap'))} | {_fmt(r['submit_overview'])} | "
            f"{_fmt(over, t.get('overview_over_floor'), '×') if over is not None else '—'} | "
            f"{_fmt(med, t.get('switch'))}; " + ", ".join(f"{x:.2f}" for x in r["switch"]) + " |"
        )
    return "\n".join(lines)


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lengths", type=int, nargs="+", default=[32, 512, 4096])
    p.add_argument("--switches", type=int, default=3, help="head clicks measured per length")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for one step")
    p.add_argument("--json", type=Path, help="also write the measurements here")
    p.add_argument("--screenshots", type=Path, help="save a screenshot per length (per page with --pages) here")
    p.add_argument("--pages", action="store_true", help="time every registered page instead (default lengths 32 1000)")
    args = p.parse_args(argv)
    if args.pages and args.lengths == [32, 512, 4096]:
        args.lengths = [32, 1000]
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: apt-get install -y chromium", file=sys.stderr)
        return 2

    from attention_core import load_model

    model = load_model(MODEL_NAME, device="cpu")  # tokenizer and config only; the app loads its own
    cfg = json.loads(model.config.to_json())
    gflops = matmul_gflops()
    floor_s = forward_flops(cfg, 4096, logits=False) / (gflops * 1e9)
    print(f"matmul {gflops:.1f} GFLOP/s → 4096-token trace floor {floor_s:.1f} s", flush=True)

    if args.pages:
        return _main_pages(args, model, gflops)
    rows = []
    with _app_page("?page=patterns") as page:
        # The first run loads the model and traces the default sentence: not measured.
        page.wait_for_function(DRAWN_JS, arg=["overview", {"layer": 0, "head": 0}], timeout=180_000)
        # A warm-up length, so the first measured submit does not pay one-off costs (imports, JIT).
        _measure_length(page, model, PASSAGE, 24, 0, 1, args.timeout)
        for n in args.lengths:
            row = _measure_length(page, model, PASSAGE, n, 1, args.switches, args.timeout)
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.screenshots:
                args.screenshots.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(args.screenshots / f"app_latency_{n}.png"))
    print()
    print(_report(rows, floor_s, gflops, args))
    if args.json:
        args.json.write_text(json.dumps({"gflops": gflops, "floor_s": floor_s, "rows": rows}, indent=2))
    return 0


@contextlib.contextmanager
def _app_page(query: str, server: list | None = None) -> Iterator[Any]:
    """A served app and one 1280 px Chromium page opened on it (with `query`, e.g. "?page=patterns"); the server's
    process is appended to `server` when given."""
    from playwright.sync_api import sync_playwright

    with app_server(REPO_ROOT / "test-artifacts" / "app-latency-streamlit.log", timeout=90) as (url, proc):
        if server is not None:
            server.append(proc)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 2000})
            page.goto(f"{url}/{query}")
            try:
                yield page
            finally:
                browser.close()


def _main_pages(args: argparse.Namespace, model: Any, gflops: float) -> int:
    load_start = os.getloadavg()[0]
    rows = []
    server: list = []
    with _app_page("", server) as page:
        if _settle(page, None, 300) is None:  # loads the model and traces the default sentence: not measured
            raise RuntimeError("the first page was not drawn within 300 s")
        quiet = functools.partial(_server_quiet, psutil.Process(server[0].pid))
        _measure_pages(page, model, 24, args.timeout, None, quiet)  # warm-up: imports, first figures of each page
        for n in args.lengths:
            rows.append(_measure_pages(page, model, n, args.timeout, args.screenshots, quiet))
            print(json.dumps(rows[-1]), flush=True)
    print()
    print(_pages_report(rows, args, (load_start, os.getloadavg()[0]), gflops))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
