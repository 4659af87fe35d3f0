"""Start here in a real browser: the app opens on it, Next walks the chapter's steps (the link follows), and a
step's link leads to the page that goes deeper. Screenshots at 1280 and 1024 px wide."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.browser import wait_rerun_done
from viz.views.chapter import STEPS

pytestmark = pytest.mark.browser


def step_heading(page, number: int):
    return page.get_by_role("heading", name=f"{number} · {STEPS[number - 1].title}")


def shoot(page, screenshots: Path, name: str) -> None:
    """The page at 1280 and at 1024 px wide (the browser test pages are 1280 wide)."""
    for width in (1280, 1024):
        page.set_viewport_size({"width": width, "height": 1500})
        wait_rerun_done(page, after_ms=500)
        page.screenshot(path=str(screenshots / f"start_here_{name}_{width}.png"))
    assert page.locator("[data-testid='stException']").count() == 0


def test_start_here_next_and_a_deeper_link(page, app_url, screenshots) -> None:
    page.goto(app_url)
    page.get_by_role("heading", name="Start here").wait_for()
    step_heading(page, 1).wait_for()
    page.locator("[data-testid='stCode']").first.wait_for()  # the token strip of the sidebar's sentence
    wait_rerun_done(page)
    assert "␣ver │ d │ ant" in page.locator("[data-testid='stCode']").first.inner_text()
    assert "page=start" in page.url
    shoot(page, screenshots, "1_tokens")
    for number in (2, 3, 4):
        page.get_by_role("button", name="Next", exact=True).click()
        step_heading(page, number).wait_for()
        wait_rerun_done(page)
        assert f"step={STEPS[number - 1].slug}" in page.url
        if number == 3:
            shoot(page, screenshots, "3_query_key")
    page.locator("[class*='st-key-start_scores'] .js-plotly-plot").first.wait_for(state="visible")
    shoot(page, screenshots, "4_dot_products")
    deeper = page.get_by_role("link", name="Go deeper: Scores & masking")
    href = deeper.get_attribute("href") or ""  # a copied link opens the same view in a fresh session
    assert all(f in href for f in ("page=masking", "text=a+fluffy", "layer=", "head=", "mask=on")), href
    assert "step=" not in href
    deeper.click()
    page.get_by_role("heading", name="Scores, masking and softmax").wait_for()
    wait_rerun_done(page)
    assert "page=masking" in page.url and "step=" not in page.url
    assert page.get_by_role("button", name="Next", exact=True).count() == 0  # the Start here page is left


def test_at_390_px_the_many_layers_overview_scrolls_sideways_at_a_size_to_tap(browser, app_url, screenshots) -> None:
    """Step 10's 30 × 9 thumbnails were squeezed into the phone's width (~10 px each): the phone rule of app.py,
    which lets the patterns page's overview keep a size to see and tap and scroll sideways, did not reach it."""
    from devtools.browser import new_page
    from tests.browser.test_small_screens_browser import MIN_THUMB_PX, THUMB_PX_JS

    with new_page(browser, height=2400, timeout_ms=300_000, animations=False, width=390) as page:
        page.goto(f"{app_url}/?step=layers&layer=0&head=0")
        overview = page.locator("[class*='st-key-start_overview_L'] .js-plotly-plot").first
        overview.wait_for(state="visible")
        wait_rerun_done(page, after_ms=1500)
        page.screenshot(path=str(screenshots / "start_here_10_layers_390.png"))
        per_layer, per_head = overview.evaluate(THUMB_PX_JS)
        assert min(per_layer, per_head) >= MIN_THUMB_PX, (per_layer, per_head)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390  # only the overview scrolls


def test_a_thumbnail_click_on_many_layers_never_blanks_the_overview(page, app_url) -> None:
    """Step 10's overview, like the patterns page's (tests/browser/test_every_input_lands_browser.py), was blanked
    by each rerun: an empty slot (for a progress bar) went to its place first and the chart only at the end of the
    run, so the browser hid it meanwhile and a quick next click fell on nothing. Read from the server's messages."""
    from devtools.browser import CLICK_TARGET_JS
    from tests.browser.test_every_input_lands_browser import record_elements

    sent = record_elements(page)
    page.goto(f"{app_url}/?step=layers&layer=0&head=0")
    overview = page.locator("[class*='st-key-start_overview_L'] .js-plotly-plot").first
    overview.wait_for(state="visible", timeout=300_000)
    wait_rerun_done(page, after_ms=1000)
    places = {place for place, kind, ident in sent if kind == "plotly_chart" and "start_overview_L" in ident}
    assert places, "the overview chart was not seen among the server's messages"
    loaded = len(sent)
    spot = overview.evaluate(CLICK_TARGET_JS, [2, 3])
    assert spot is not None
    page.mouse.move(spot[0] + 2, spot[1] + 2, steps=4)
    page.mouse.click(spot[0] + 2, spot[1] + 2, delay=80)
    page.wait_for_url("**head=3**", timeout=60_000)
    wait_rerun_done(page, after_ms=1000)
    assert "layer=2" in page.url
    # The step names the head it talks about, and the click's rerun moved that name to the head clicked.
    page.get_by_text("Layer 2, head 3 is selected").wait_for()
    blanked = [(place, kind) for place, kind, _ in sent[loaded:] if place in places and kind == "empty"]
    assert not blanked, f"the click's rerun blanked the overview before sending it again: {blanked}"


# The space between the overview's lowest drawing (its "layer" axis title) and the next element's top, in CSS px.
BLANK_BELOW_JS = """el => {
    const block = el.closest("[data-testid='stElementContainer']");
    let next = block.nextElementSibling, box = block;
    while (!next && box.parentElement) { box = box.parentElement; next = box.nextElementSibling; }
    while (next && next.getBoundingClientRect().height === 0) next = next.nextElementSibling;
    return next.getBoundingClientRect().top - el.querySelector('.xtitle').getBoundingClientRect().bottom;
}"""


@pytest.mark.parametrize("width", [1024, 1280])
def test_many_layers_leaves_no_blank_under_its_overview(browser, app_url, screenshots, width: int) -> None:
    """A browser review: at 1024 px ~200 px of blank followed step 10's overview (~130 px at 1280). Its thumbnails
    are square and its height was fixed on the server for the phone's 1400 px wide scrolling box, so a narrower
    column drew the grid at the top and left the rest of that height empty."""
    from devtools.browser import new_page

    with new_page(browser, height=2000, timeout_ms=300_000, animations=False, width=width) as page:
        page.goto(f"{app_url}/?step=layers&layer=3&head=5")
        overview = page.locator("[class*='st-key-start_overview_L'] .js-plotly-plot").first
        overview.wait_for(state="visible")
        wait_rerun_done(page, after_ms=1500)
        page.screenshot(path=str(screenshots / f"start_here_10_layers_{width}.png"))
        blank = overview.evaluate(BLANK_BELOW_JS)
        assert blank < 40, f"{blank:.0f} px of blank under the overview at {width} px"
