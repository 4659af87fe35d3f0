"""The browser benchmarks still run to the end: each drives the real app, so a change to a page can break one without
any test noticing (bench/load.py waited 180 s per session for a heatmap after the app began opening on Start here;
bench/app_latency.py's head switches clicked below its window once the page above the heads' grid had grown). Small
runs, each in its own process as a reader would start it (a test worker already runs Playwright's event loop for the
other browser tests), and no timings asserted: tests check that the bench works, the numbers are the bench's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.browser import CHROMIUM, ROOT

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing (apt-get install -y chromium)"),
]


def run_bench(*args: str) -> None:
    done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_app_latency_clicks_every_head_of_the_grid(tmp_path: Path) -> None:
    """Eight switches from the head the warm-up left selected go round all nine thumbnails, the grid's last row too."""
    out = tmp_path / "latency.json"
    run_bench("bench/app_latency.py", "--lengths", "32", "--switches", "8", "--timeout", "90", "--json", str(out))
    (row,) = json.loads(out.read_text())["rows"]
    assert row["n"] == 32 and len(row["switch"]) == 8 and all(t > 0 for t in row["switch"])


def test_load_draws_every_text_of_two_sessions(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    # The memory ratio is the bench's target to report, not this test's: any ratio passes here.
    run_bench(
        "bench/load.py", "--sessions", "2", "--texts", "2", "--timeout", "90", "--max-ratio", "1e9", "--json", str(out)
    )
    rows = json.loads(out.read_text())["rows"]
    assert [(r["sessions"], r["errors"], r["drawn"], r["submitted"]) for r in rows] == [(1, 0, 2, 2), (2, 0, 4, 4)]
