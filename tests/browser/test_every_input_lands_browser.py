"""Every keypress and click lands (issue 19, defect 11): sixteen quick presses of → on the Layer slider reach
layer 16, and the last of four quick thumbnail clicks is the head selected, in the sidebar, the page and the link.

Two ways a quick click was lost, seen by logging the overview's Plotly events (2026-12-01):
- Two clicks within Plotly's double-click delay (500 ms in Streamlit's Plotly) were a double click: Plotly cleared
  the selection and selected the point of its last hover, the one passed on the way (2 of 5 runs ended on an
  earlier head). Fixed: the charts whose clicks select count no double clicks (viz.figures.layout.CLICK_SELECT;
  tests/app/test_quick_clicks.py). With the fix 5 of 5 logged runs ended on the last head, without a double click.
- Still open: Plotly recomputes its hover at most every 50 ms on a timer, and a busy page handles a queued
  mouseup before that timer, so a click can arrive with no hover yet (nothing is emitted) or with the previous
  one. The click test below failed 1 of 4 runs with the fix (it ended on the second head)."""

from __future__ import annotations

import pytest

from devtools.browser import CLICK_TARGET_JS, wait_rerun_done

pytestmark = pytest.mark.browser

PRESSES = 16
PRESS_GAP_MS = 60  # quicker than a rerun (~0.3 s here): presses arrive while the app is still drawing
PRESS_JS = """(input, [count, gap]) => { for (let i = 0; i < count; i++) setTimeout(() => {
    for (const type of ['keydown', 'keyup'])
        input.dispatchEvent(new KeyboardEvent(type, {key: 'ArrowRight', code: 'ArrowRight', bubbles: true}));
}, i * gap); }"""
CLICKS = ((3, 1), (7, 2), (12, 5), (20, 4))  # (layer, head) of SmolLM2's 30 × 9 overview
CLICK_GAP_MS = 150  # with the move and the press, the next mousedown comes ~0.3 s later: inside a 500 ms delay
# A click as a hand makes it: the pointer travels to the thumbnail, and the button is held for a moment. Plotly
# takes the clicked point from its hover, recomputed at most once per 50 ms (HOVERMINTIME); a synthetic click
# that teleports and releases at once can fall inside that window and report the point hovered before it
# (seen here: a click on layer 7 reported layer 6, passed on the way), which no person's click does.
PRESS_MS = 80
MOVE_STEPS = 4
FIRST_LOAD_MS = 300_000  # a session's first page loads the model, on two cores shared by several agents


def plot(page, key: str):
    return page.locator(f"[class*='st-key-{key}'] .js-plotly-plot").first


def open_patterns(page, url: str) -> None:
    page.goto(f"{url}/?page=patterns&layer=0&head=0")  # page= works whichever page is the default
    plot(page, "head_heatmap").wait_for(state="visible", timeout=FIRST_LOAD_MS)
    plot(page, "overview_L").wait_for(state="visible", timeout=FIRST_LOAD_MS)
    wait_rerun_done(page)


def settle(page) -> None:
    """Wait until no rerun is in flight for a whole second (the quick inputs queue several)."""
    for _ in range(3):
        wait_rerun_done(page, before_ms=500, after_ms=1000)


def slider_value(page, key: str) -> str:
    return page.locator(f".st-key-{key} [data-testid='stSliderThumbValue']").inner_text()


def test_sixteen_quick_presses_reach_layer_16(page, app_url, shots) -> None:
    open_patterns(page, app_url)
    assert slider_value(page, "layer") == "0"
    thumb = page.locator(".st-key-layer input[type='range']")
    thumb.focus()
    # The presses are timed in the page, not from here: Playwright waits for each key event to be handled,
    # which on a busy machine spaced the presses out until every rerun had finished.
    thumb.evaluate(PRESS_JS, [PRESSES, PRESS_GAP_MS])
    page.wait_for_timeout(PRESSES * PRESS_GAP_MS + 500)
    settle(page)
    page.screenshot(path=str(shots / "every_press_lands.png"))
    assert slider_value(page, "layer") == str(PRESSES)
    assert page.get_by_role("heading", name=f"Layer {PRESSES}, head 0").count() == 1
    assert f"layer={PRESSES}" in page.url


@pytest.mark.xfail(
    reason="issue 19 defect 11, second cause (module docstring): a click the busy page handles before Plotly's "
    "throttled hover ran is lost or lands on the previous point; 1 of 4 runs on 2026-12-01 after the double-click fix",
    strict=False,
)
def test_four_quick_thumbnail_clicks_select_the_last(page, app_url, shots) -> None:
    open_patterns(page, app_url)
    # Each thumbnail is aimed at where it is on the screen at that moment, as a person aims: on a loaded machine
    # the page can still be settling after it first looks drawn.
    for layer, head in CLICKS:
        spot = plot(page, "overview_L").evaluate(CLICK_TARGET_JS, [layer, head])
        assert spot is not None, (layer, head)
        x, y = spot[0] + 2, spot[1] + 2
        page.mouse.move(x, y, steps=MOVE_STEPS)
        page.mouse.click(x, y, delay=PRESS_MS)
        page.wait_for_timeout(CLICK_GAP_MS)
    settle(page)
    page.screenshot(path=str(shots / "every_click_lands.png"))
    layer, head = CLICKS[-1]
    assert (slider_value(page, "layer"), slider_value(page, "head")) == (str(layer), str(head))
    assert page.get_by_role("heading", name=f"Layer {layer}, head {head}").count() == 1
    assert f"layer={layer}" in page.url and f"head={head}" in page.url
    # The overview frames the same head: its selected thumbnail (the red frame) is the last one clicked.
    framed = plot(page, "overview_L").evaluate(
        "el => { const t = el._fullData[1]; return (t.selectedpoints || []).map(i => Array.from(t.customdata[i])); }"
    )
    assert [[int(v) for v in point] for point in framed] == [[layer, head]]
