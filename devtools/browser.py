"""The app in a real browser, for the browser tests and the benchmarks: a real `streamlit run app.py` on a free
127.0.0.1 port (stopped by its own process id), Debian's Chromium, and where a chart's click target is.

No pytest here: tests/conftest.py builds the session's server and Chromium fixtures from these (and skips when
/usr/bin/chromium is missing: `playwright install` cannot download browsers offline, and CI installs the Debian
package); bench/app_latency.py and bench/load.py start their own server with `app_server`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WIDTH = 1280


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode} before serving")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"streamlit did not answer {url} within {timeout} s")


@contextlib.contextmanager
def app_server(
    log_path: Path, extra_env: dict[str, str] | None = None, timeout: float = 60
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Serve app.py on a free loopback port, output to `log_path`; yield (URL, process); stop it after."""
    port = _free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(ROOT / "app.py"),
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
                "--server.headless",
                "true",
                "--server.fileWatcherType",
                "none",
                "--browser.gatherUsageStats",
                "false",
            ],  # fmt: skip
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(extra_env or {})},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, timeout=timeout)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


# Streamlit animates while a rerun runs (the status widget, stale elements fading); in headless Chromium every
# frame of that is drawn in software. The browser tests switch it off as Playwright's screenshots do: measured on
# the patterns page, a fresh page's load cost Chromium about 8.5 s of CPU instead of 11.5 s.
NO_ANIMATIONS_JS = """document.addEventListener('DOMContentLoaded', () => {
    const style = document.createElement('style');
    style.textContent = '*, *::before, *::after { animation: none !important; transition: none !important; }';
    document.head.appendChild(style);
});"""


@contextlib.contextmanager
def new_page(
    browser, height: int, timeout_ms: int, downloads: bool = False, animations: bool = True, width: int = WIDTH,
    touch: bool = False,
) -> Iterator[object]:  # fmt: skip
    """A fresh browser context (so a fresh Streamlit session), at the README's width unless told; `animations=False`
    for tests; `touch` a phone's touch screen (taps, no hover)."""
    # Tall viewport: Streamlit scrolls inside its own container, so full_page screenshots would only
    # show the first screen; a tall window shows the whole page at the README's 1280 px width.
    context = browser.new_context(
        viewport={"width": width, "height": height},
        accept_downloads=downloads,
        reduced_motion=None if animations else "reduce",  # None: Chromium's own default, as before
        has_touch=touch,
        is_mobile=touch,
    )
    if not animations:
        context.add_init_script(NO_ANIMATIONS_JS)
    pg = context.new_page()
    pg.set_default_timeout(timeout_ms)  # the first run loads the model; 2 shared cores
    try:
        yield pg
    finally:
        context.close()


def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


# The screen position of the click target (a transparent scatter point, see viz.figures) whose customdata
# is (layer, head), in a Plotly chart element: (el, [layer, head]) → [x, y] or null.
CLICK_TARGET_JS = """(el, [layer, head]) => {
    if (!el || !el._fullLayout) return null;
    const fl = el._fullLayout;
    for (const tr of el._fullData) {
        if (tr.type !== 'scatter' || !tr.customdata) continue;
        for (let i = 0; i < tr.x.length; i++) {
            const c = tr.customdata[i];
            if (Number(c[0]) === layer && Number(c[1]) === head) {
                const xa = fl[tr.xaxis.replace('x', 'xaxis')], ya = fl[tr.yaxis.replace('y', 'yaxis')];
                const box = el.getBoundingClientRect();
                return [box.left + xa._offset + xa.l2p(tr.x[i]), box.top + ya._offset + ya.l2p(tr.y[i])];
            }
        }
    }
    return null;
}"""


def wait_rerun_done(page, timeout_ms: float | None = None, before_ms: int = 300, after_ms: int = 800) -> None:
    """Wait until a Streamlit rerun has finished drawing: it marks stale elements while a rerun is in flight, so
    wait until none are left and the status widget has gone, then give Plotly a moment to draw."""
    page.wait_for_timeout(before_ms)
    page.wait_for_function(
        "() => !document.querySelector('[data-stale=\"true\"]')"
        " && !document.querySelector('[data-testid=\"stStatusWidget\"]')",
        timeout=timeout_ms,
    )
    page.wait_for_timeout(after_ms)
