"""Page fixtures for every browser test; the server and Chromium come from tests/conftest.py (one of each per pytest
process, each test gets a fresh browser context: a fresh Streamlit session, with animations off)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.browser import new_page, screenshot_dir


@pytest.fixture
def page(browser):
    with new_page(browser, height=2000, timeout_ms=90_000, downloads=True, animations=False) as pg:
        yield pg


@pytest.fixture
def exp_page(browser):
    """The Experiments page is tall; its first all-heads sweep is slow on 2 shared cores."""
    with new_page(browser, height=4800, timeout_ms=180_000, animations=False) as pg:
        yield pg


@pytest.fixture
def mech_page(browser):
    with new_page(browser, height=2400, timeout_ms=120_000, animations=False) as pg:
        yield pg


@pytest.fixture(scope="session")
def exp_url(app_url: str) -> str:
    return app_url


@pytest.fixture(scope="session")
def mech_url(app_url: str) -> str:
    return app_url


@pytest.fixture(scope="session")
def screenshots() -> Path:
    return screenshot_dir()


@pytest.fixture(scope="session")
def exp_shots() -> Path:
    return screenshot_dir()


@pytest.fixture(scope="session")
def shots() -> Path:
    return screenshot_dir()
