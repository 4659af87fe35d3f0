"""Load test: many browser sessions typing into one `streamlit run app.py` on 127.0.0.1.

    python bench/load.py                      # 1 session alone, then 16 at once; 10 texts each
    python bench/load.py --sessions 4 --texts 3 --time-limit 300

For each phase a fresh server is started on a free loopback port (so the single-session baseline
and the concurrent run start from the same empty caches), and Debian's Chromium opens one browser
context per session. Each session fills the sidebar text area with its next text, presses
Ctrl+Enter and waits until the big heatmap's axis labels spell that text; the time from the key
press to then is one latency sample. A session's texts differ from every other session's, so
every submission is a real forward pass (no shared cache hits).

While a phase runs, the server's process tree is sampled with psutil (RSS, every 0.2 s) for its
peak memory. Errors: a submission that times out, a page showing a Streamlit exception, a
JavaScript dialog, or a session that fails to start. Bounded: at most --time-limit seconds per
phase (default 600), then everything still open is closed and counted as errors. Only servers this
script starts are contacted, and only on 127.0.0.1; it stops them (by their own process id).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.browser import CHROMIUM, CHROMIUM_ARGS, app_server  # noqa: E402

SUBJECTS = [
    "the teacher", "a small fox", "my neighbour", "the old sailor", "a quiet student", "the baker",
    "a tired pilot", "the young doctor", "a clever robot", "the night guard", "a lost tourist",
    "the farmer", "a curious child", "the painter", "a busy waiter", "the librarian",
]  # fmt: skip
PREDICATES = [
    "walked to the river and sat down",
    "read a long letter about the war",
    "found a blue stone near the road",
    "cooked soup for the whole village",
    "counted the stars above the hill",
    "lost a key under the wooden bridge",
    "sang an old song in the kitchen",
    "painted the door of the red house",
    "wrote a note to the mayor today",
    "watched the rain fall on the roof",
]


def texts_for(session: int, n: int) -> list[str]:
    """Session s's n texts: distinct across sessions and within a session, plain words (no escaping)."""
    subject = SUBJECTS[session % len(SUBJECTS)]
    return [f"{subject} {PREDICATES[i % len(PREDICATES)]} ({session}.{i})" for i in range(n)]


WAIT_DRAWN = """(text) => {
    const el = document.querySelector("[class*='st-key-head_heatmap'] .js-plotly-plot");
    if (!el || !el.layout || !el.layout.xaxis || !el.layout.xaxis.ticktext) return false;
    return Array.from(el.layout.xaxis.ticktext).join("").replaceAll("\\u2423", " ") === text;
}"""


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    submitted: int = 0


class MemorySampler(threading.Thread):
    """Peak RSS of a process and all its children, sampled every `interval` seconds."""

    def __init__(self, pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._stop_event = threading.Event()

    def rss(self) -> int:
        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        return total

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.peak = max(self.peak, self.rss())
                self.samples += 1
            except psutil.NoSuchProcess:
                return
            self._stop_event.wait(self.interval)

    def stop(self) -> int:
        self._stop_event.set()
        self.join(timeout=5)
        return self.peak


async def run_session(browser, url: str, session: int, n_texts: int, timeout_ms: int, result: Result) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 1400})
    try:
        page = await context.new_page()
        page.set_default_timeout(timeout_ms)
        page.on("dialog", lambda d: (result.errors.append(f"s{session}: dialog {d.message!r}"), d.dismiss()))
        # The patterns page by name: the app opens on Start here, which has no main heatmap to wait for.
        await page.goto(f"{url}/patterns")
        await page.wait_for_selector("[class*='st-key-head_heatmap'] .js-plotly-plot")
        box = page.locator("[data-testid='stTextArea'] textarea")
        for text in texts_for(session, n_texts):
            result.submitted += 1
            await box.fill(text)
            t0 = time.perf_counter()
            await box.press("Control+Enter")
            try:
                await page.wait_for_function(WAIT_DRAWN, arg=text, polling=50)
            except Exception as exc:  # noqa: BLE001  # a timeout is an error to count, not to stop on
                result.errors.append(f"s{session}: {text!r} not drawn: {type(exc).__name__}")
                continue
            result.latencies.append(time.perf_counter() - t0)
            if await page.locator("[data-testid='stException']").count():
                result.errors.append(f"s{session}: exception shown after {text!r}")
    except Exception as exc:  # noqa: BLE001
        result.errors.append(f"s{session}: {type(exc).__name__}: {str(exc)[:200]}")
    finally:
        await context.close()


async def run_phase(url: str, sessions: int, n_texts: int, time_limit: float, timeout_ms: int) -> Result:
    from playwright.async_api import async_playwright

    result = Result()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            tasks = [
                asyncio.create_task(run_session(browser, url, s, n_texts, timeout_ms, result)) for s in range(sessions)
            ]
            done, pending = await asyncio.wait(tasks, timeout=time_limit)
            for task in pending:
                task.cancel()
            if pending:
                result.errors.append(f"time limit {time_limit:.0f} s: {len(pending)} session(s) cut short")
                await asyncio.gather(*pending, return_exceptions=True)
        finally:
            await browser.close()
    expected = sessions * n_texts
    if len(result.latencies) < expected and not result.errors:
        result.errors.append(f"only {len(result.latencies)} of {expected} submissions were drawn")
    return result


def measure(sessions: int, n_texts: int, time_limit: float, timeout_ms: int, env: dict[str, str]) -> dict:
    with app_server(ROOT / "test-artifacts" / f"load-{sessions}-sessions.log", env, timeout=90) as (url, proc):
        sampler = MemorySampler(proc.pid)
        idle = sampler.rss()
        sampler.start()
        t0 = time.perf_counter()
        result = asyncio.run(run_phase(url, sessions, n_texts, time_limit, timeout_ms))
        wall = time.perf_counter() - t0
        peak = sampler.stop()
    lat = sorted(result.latencies)
    return {
        "sessions": sessions,
        "texts_per_session": n_texts,
        "submitted": result.submitted,
        "drawn": len(lat),
        "errors": len(result.errors),
        "error_list": result.errors[:20],
        "p50_s": statistics.median(lat) if lat else None,
        "p95_s": lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))] if lat else None,
        "max_s": lat[-1] if lat else None,
        "wall_s": wall,
        "idle_rss_mb": idle / 2**20,
        "peak_rss_mb": peak / 2**20,
        "memory_samples": sampler.samples,
    }


def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "–" if x is None else format(x, spec)


def table(rows: list[dict]) -> str:
    base = rows[0]["peak_rss_mb"]
    lines = [
        "| sessions | texts each | drawn | errors | p50 latency (s) | p95 latency (s) | max (s) | wall (s) "
        "| server peak RSS (MB) | × one session |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['sessions']} | {r['texts_per_session']} | {r['drawn']}/{r['submitted']} | {r['errors']} "
            f"| {_fmt(r['p50_s'])} | {_fmt(r['p95_s'])} | {_fmt(r['max_s'])} | {_fmt(r['wall_s'], '.0f')} "
            f"| {_fmt(r['peak_rss_mb'], '.0f')} | {_fmt(r['peak_rss_mb'] / base)} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=16, help="concurrent sessions in the second phase")
    parser.add_argument("--texts", type=int, default=10, help="texts each session submits")
    parser.add_argument("--time-limit", type=float, default=600, help="hard cap per phase, seconds")
    parser.add_argument("--timeout", type=float, default=180, help="wait for one text to be drawn, seconds")
    parser.add_argument("--max-ratio", type=float, default=1.5, help="allowed peak memory vs one session")
    parser.add_argument("--json", type=Path, default=ROOT / "test-artifacts" / "load.json")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="server environment for both phases, e.g. ATTN_TRACE_CACHE_MB=256 (repeatable)",
    )
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: apt-get install -y chromium", file=sys.stderr)
        return 2
    if not 1 <= args.sessions <= 32 or not 1 <= args.texts <= 50:
        parser.error("--sessions must be 1–32 and --texts 1–50 (a bounded load test)")
    rows = []
    for sessions in (1, args.sessions):
        print(f"… {sessions} session(s) × {args.texts} texts", flush=True)
        rows.append(measure(sessions, args.texts, args.time_limit, int(args.timeout * 1000), env))
    print()
    print("server environment:", " ".join(f"{k}={v}" for k, v in env.items()) or "defaults")
    print(table(rows))
    ratio = rows[1]["peak_rss_mb"] / rows[0]["peak_rss_mb"]
    errors = sum(r["errors"] for r in rows)
    for r in rows:
        for e in r["error_list"]:
            print(f"error ({r['sessions']} sessions): {e}")
    ok = errors == 0 and ratio <= args.max_ratio
    print(
        f"\nerrors: {errors} (must be 0); peak memory {ratio:.2f}× one session (must be ≤ {args.max_ratio}×): "
        f"{'PASS' if ok else 'FAIL'}"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"env": env, "rows": rows, "ratio": ratio, "ok": ok}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
