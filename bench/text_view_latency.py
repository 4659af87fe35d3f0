"""One-off measurement of the Text view at the token cap: the real app (`streamlit run app.py`) in headless
Chromium, a text cut at 4,096 SmolLM2 tokens.

    .venv/bin/python bench/text_view_latency.py [--hovers 40]

Prints: submit → tokens drawn (includes the forward pass), the component's build time in the browser (JSON
parse, base64 decode, one span per token), and per hover the handler's time (decode one row or column, set the
touched spans' backgrounds) and hover → next painted frame (style, layout and paint included), for the query
and key directions and for the mean over heads. A measurement, not a test: numbers move with the machine's load.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.engine_vs_hf.text import PASSAGE  # noqa: E402  (benchmarks do not import the tests)
from devtools.browser import ROOT, app_server, chromium, new_page, wait_rerun_done  # noqa: E402

HOVER_JS = """async ([count]) => {
  const spans = window.__textView.spans();
  const handler = [], frame = [], idle = [];
  for (let t = 0; t < count; t++) {
    const t0 = performance.now();
    await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
    idle.push(performance.now() - t0);
  }
  for (let t = 0; t < count; t++) {
    const i = Math.floor((t + 0.5) * spans.length / count);
    const t0 = performance.now();
    spans[i].dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));
    handler.push(window.__textView.lastShowMs);
    await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
    frame.push(performance.now() - t0);
  }
  return {handler, frame, idle, build: window.__textView.buildMs, n: spans.length};
}"""


def frame_of(page):
    for f in page.frames:
        if f != page.main_frame and f.evaluate("() => !!window.__textView"):
            return f
    raise RuntimeError("no text view frame")


def hovers(page, count: int, label: str) -> None:
    res = frame_of(page).evaluate(HOVER_JS, [count])
    h, f, idle = res["handler"], res["frame"], res["idle"]
    print(
        f"{label}: n={res['n']} build {res['build']:.0f} ms; hover handler median {statistics.median(h):.1f} ms "
        f"(max {max(h):.1f}); hover → painted frame median {statistics.median(f):.1f} ms (max {max(f):.1f}); "
        f"two idle frames, no hover: median {statistics.median(idle):.1f} ms"
    )


def wait_drawn(page, n: int, since: float, label: str, direction: str = "query", what: str = "head") -> None:
    page.wait_for_function(
        """([n, dir, what]) => Array.from(document.querySelectorAll('iframe')).some(f => { try {
          const tv = f.contentWindow.__textView;
          return tv && tv.spans().length === n && tv.dir === dir && tv.what.includes(what); } catch (e) {
          return false; } })""",
        arg=[n, direction, what],
        timeout=600_000,
    )
    print(f"{label}: {time.monotonic() - since:.2f} s")
    wait_rerun_done(page)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hovers", type=int, default=40)
    args = parser.parse_args()
    with app_server(ROOT / "test-artifacts" / "text-view-bench.log") as (url, _), chromium() as browser:
        with new_page(browser, height=1100, timeout_ms=600_000) as page:
            page.goto(f"{url}/text_view")
            page.frame_locator("iframe").first.locator(".tok").first.wait_for()
            wait_rerun_done(page)
            box = page.locator("[data-testid='stTextArea'] textarea")
            box.fill(PASSAGE * 10)  # over 4,096 tokens: cut at the token cap
            start = time.monotonic()
            box.press("Control+Enter")
            wait_drawn(page, 4096, start, "submit → 4,096 tokens drawn (head, query)")
            hovers(page, args.hovers, "head, query")
            start = time.monotonic()
            page.get_by_text("As a key: who attends to it").click()
            wait_drawn(page, 4096, start, "switch to key → drawn", "key")
            hovers(page, args.hovers, "head, key")
            start = time.monotonic()
            page.get_by_text("heads (mean)").click()
            wait_drawn(page, 4096, start, "switch to all heads → drawn (mean of 9 heads computed)", "key", "mean")
            hovers(page, args.hovers, "all heads, key")
            size = frame_of(page).evaluate("() => document.documentElement.outerHTML.length")
            print(f"component page: {size / 1e6:.2f} M characters")


if __name__ == "__main__":
    main()
