"""Browser fixtures for the app's own pages; the server and Chromium come from tests/conftest.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser_support import new_page, screenshot_dir


@pytest.fixture
def page(browser):
    with new_page(browser, height=2000, timeout_ms=90_000, downloads=True) as pg:
        yield pg


@pytest.fixture(scope="session")
def screenshots() -> Path:
    return screenshot_dir()
