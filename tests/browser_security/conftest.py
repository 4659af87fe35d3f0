"""The browser fixtures of tests/browser (one `streamlit run app.py` on 127.0.0.1, Debian Chromium),
imported rather than copied. They skip when /usr/bin/chromium is missing."""

from __future__ import annotations

from tests.browser.conftest import app_url, browser, page, screenshots  # noqa: F401
