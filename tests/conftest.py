"""Session-wide browser fixtures shared by every browser test folder.

Playwright's sync API allows one running instance per process, and `make test` runs every folder in one
pytest process, so there is one Chromium and one `streamlit run app.py` for the whole session; each test
gets a fresh browser context (a fresh Streamlit session). See tests/browser_support.py.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def app_url():
    from tests.browser_support import streamlit_server

    with streamlit_server("streamlit-browser-tests.log") as url:
        yield url


@pytest.fixture(scope="session")
def browser(app_url: str):
    from tests.browser_support import chromium

    with chromium() as b:
        yield b
