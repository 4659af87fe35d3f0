"""The browser benchmarks still run to the end: each drives the real app, so a change to a page can break one without
any test noticing (bench/load.py waited 180 s per session for a heatmap after the app began opening on Start here;
bench/app_latency.py's head switches clicked below its window once the page above the heads' grid had grown). Small
runs, and no timings asserted: tests check that the bench works, the numbers are the bench's to report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devtools.browser import CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing (apt-get install -y chromium)"),
]


def test_app_latency_clicks_every_head_of_the_grid(tmp_path: Path) -> None:
    """Eight switches from the head the warm-up left selected go round all nine thumbnails, the grid's last row too."""
    from bench import app_latency

    out = tmp_path / "latency.json"
    assert app_latency.main(["--lengths", "32", "--switches", "8", "--timeout", "90", "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())["rows"]
    assert row["n"] == 32 and len(row["switch"]) == 8 and all(t > 0 for t in row["switch"])


def test_load_draws_every_text_of_two_sessions() -> None:
    from bench import load

    found = load.measure(sessions=2, n_texts=2, time_limit=240, timeout_ms=90_000, env={})
    assert found["error_list"] == [] and found["drawn"] == found["submitted"] == 4
