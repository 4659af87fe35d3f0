"""`make test` is the whole suite, browser tests included: on a machine without Chromium it stops before pytest with
a message saying what to install, rather than passing with every browser test skipped (a fresh clone here without
Chromium once printed "4028 passed, 120 skipped" and exited 0). The check is the Makefile's `browser-check` target,
run here with the path it looks at pointed elsewhere; `make -n test` shows that `test` runs it first."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from devtools.browser import CHROMIUM, ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True)


def test_the_check_stops_with_what_to_install_when_chromium_is_missing(tmp_path: Path) -> None:
    done = make("browser-check", f"CHROMIUM={tmp_path / 'no-chromium'}")
    assert done.returncode != 0
    assert "apt-get install -y chromium" in done.stderr and "make test-fast" in done.stderr


def test_the_check_passes_when_chromium_is_there(tmp_path: Path) -> None:
    browser = tmp_path / "chromium"
    browser.write_text("#!/bin/sh\n")
    browser.chmod(0o755)
    done = make("browser-check", f"CHROMIUM={browser}")
    assert done.returncode == 0, done.stderr


def test_make_test_runs_the_check_before_pytest_and_looks_where_the_browser_tests_do() -> None:
    lines = make("-n", "test").stdout.splitlines()
    check = next(i for i, line in enumerate(lines) if CHROMIUM in line and "test -x" in line)
    assert check < next(i for i, line in enumerate(lines) if "pytest" in line)
