"""Moving one browser session around the app instead of opening a fresh one per check.

A fresh page (a new browser context, so a new Streamlit session) costs Chromium ~9 s of CPU on 2 cores: it loads
and parses Plotly's 4.7 MB chunk and draws every chart. Within one session a page switch through the sidebar's
links costs ~3 s less, and a resized window makes Plotly lay the same charts out again: their text boxes were the
same as on a fresh load at the new width (test_chart_text_fits_browser.py's docstring says how this was checked).
The app's phone rules are CSS media queries (ui/widgets.py), so a narrowed window gets them as a phone does.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from app_pages.registry import page_named
from devtools.browser import wait_rerun_done
from viz.views.chapter import STEPS, step_index

START_OUTLINE = "start_outline"  # the key of Start here's row of step pills (app_pages/start_here.py's OUTLINE)
RELAYOUT_MS = 60_000

# Every chart on screen is drawn at its box's width: after the window is resized, Streamlit hands Plotly the new
# width and Plotly lays the chart out again (margins, tick angles), so until then the old layout is on screen.
CHARTS_FIT_THEIR_BOXES_JS = """() => {
  const plots = [...document.querySelectorAll('.js-plotly-plot')].filter(p => p.getBoundingClientRect().width > 0);
  return plots.length > 0 && plots.every(p => {
    const svg = p.querySelector('.main-svg');
    return svg && Math.abs(svg.getBoundingClientRect().width - p.getBoundingClientRect().width) < 2;
  });
}"""


def resize(page, width: int, height: int, name: str = "the page") -> None:
    """Set the window to `width` × `height` and wait until every chart is laid out again for it."""
    page.set_viewport_size({"width": width, "height": height})
    try:
        page.wait_for_function(CHARTS_FIT_THEIR_BOXES_JS, timeout=RELAYOUT_MS)
    except PlaywrightTimeout:
        pytest.fail(f"{name} at {width} px: a chart is not drawn at its box's width (a figure of fixed width?)")
    page.wait_for_timeout(500)  # Plotly's own redraw after its relayout


def _in_app(page, app_url: str, nav) -> bool:
    """Whether a page of the app is open with its sidebar's links (back from the phone width, the sidebar unfolds
    again; give it a moment)."""
    if not page.url.startswith(app_url):
        return False
    try:
        nav.wait_for(timeout=5_000)
    except PlaywrightTimeout:
        return False
    return True


def open_in_session(page, app_url: str, name: str, by_url: bool = True) -> None:
    """Open the page `name` (a registry name, or `start&step=<step>`) through the app's own links when a page of it
    is open in a window wide enough for its sidebar, else by its URL (a new session: with `by_url` False that fails
    the test instead, for a test that relies on the session's state); then wait for its charts. The session's text,
    model and other sidebar state carry over, as they do for a user clicking the same links."""
    nav = page.get_by_test_id("stSidebarNavItems")
    if not _in_app(page, app_url, nav):
        if not by_url:
            pytest.fail(f"no page of the app with its sidebar's links is open to go to {name} from: {page.url}")
        page.goto(f"{app_url}/?page={name}&layer=0&head=0")
    elif name.startswith("start&step="):
        index = step_index(name.split("=", 1)[1])
        pills = page.locator(f"[class*='st-key-{START_OUTLINE}']")
        if pills.count() == 0:
            nav.get_by_role("link", name=page_named("start").title, exact=True).dispatch_event("click")
            pills.wait_for()
            wait_rerun_done(page)
        pills.get_by_role("radio", name=STEPS[index].title, exact=True).click()
        page.get_by_role("heading", name=f"{index + 1} · {STEPS[index].title}").wait_for()
    else:
        nav.get_by_role("link", name=page_named(name).title, exact=True).dispatch_event("click")
        page.wait_for_url(re.compile(rf"/{name}(\?|$)"))
    page.locator(".js-plotly-plot").first.wait_for(state="visible")
    wait_rerun_done(page, before_ms=1000, after_ms=1000)
