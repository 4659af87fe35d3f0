"""The Generate and Logit lens pages in a real browser (issue 16): generate, click a generated token, see its
step; the lens grid. Screenshots at 1280 and 1024 px (test-artifacts/screenshots/)."""

from __future__ import annotations

import pytest

from devtools import browser

pytestmark = pytest.mark.browser

TIMEOUT_MS = 300_000  # 30 tokens on 2 shared cores under load


def chart(page, key: str):
    loc = page.locator(f"[class*='st-key-{key}'] .js-plotly-plot").first
    loc.wait_for(state="visible", timeout=TIMEOUT_MS)
    return loc


def no_exception(page) -> None:
    assert page.locator("[data-testid='stException']").count() == 0


def test_generate_and_lens_pages(app_url, request) -> None:
    b = request.getfixturevalue("browser")
    shots = browser.screenshot_dir()
    with browser.new_page(b, height=1800, timeout_ms=TIMEOUT_MS, animations=False) as page:
        page.goto(f"{app_url}/?page=generate&layer=0&head=0")
        chart(page, "gen_attention")
        browser.wait_rerun_done(page, timeout_ms=TIMEOUT_MS)
        no_exception(page)
        title_before = chart(page, "gen_heads").evaluate("el => el.layout.title.text")
        pills = page.locator("[class*='st-key-gen_step'] button")
        assert pills.count() >= 10
        pills.nth(4).click()  # the 5th generated token
        browser.wait_rerun_done(page, timeout_ms=TIMEOUT_MS)
        no_exception(page)
        title_after = chart(page, "gen_heads").evaluate("el => el.layout.title.text")
        assert title_after != title_before or pills.nth(4).inner_text() in title_before
        page.screenshot(path=str(shots / "generate_1280.png"))
        page.set_viewport_size({"width": 1024, "height": 1800})
        browser.wait_rerun_done(page, timeout_ms=TIMEOUT_MS)
        page.screenshot(path=str(shots / "generate_1024.png"))
        page.goto(f"{app_url}/?page=logit_lens")
        chart(page, "lens_grid")
        browser.wait_rerun_done(page, timeout_ms=TIMEOUT_MS)
        no_exception(page)
        page.set_viewport_size({"width": 1280, "height": 1800})
        browser.wait_rerun_done(page, timeout_ms=TIMEOUT_MS)
        page.screenshot(path=str(shots / "logit_lens_1280.png"))
