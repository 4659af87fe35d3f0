"""Browser fixtures for the mechanism page(s); the server and Chromium come from tests/conftest.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser_support import new_page, screenshot_dir


@pytest.fixture(scope="session")
def mech_url(app_url: str) -> str:
    return app_url


@pytest.fixture
def mech_page(browser):
    with new_page(browser, height=2400, timeout_ms=120_000) as pg:
        yield pg


@pytest.fixture(scope="session")
def shots() -> Path:
    return screenshot_dir()
