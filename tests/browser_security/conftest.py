"""Browser tests of hostile input reuse the session's server and Chromium (tests/conftest.py) and
tests/browser's page fixture."""

from __future__ import annotations

from tests.browser.conftest import page, screenshots  # noqa: F401
