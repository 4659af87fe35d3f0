"""Head finder (issue 19, defect 13): a click on a row of the ranking table, or on a cell of the layer × head
grid, opens that head on the Attention patterns page, keeping the text and masking."""

from __future__ import annotations

import pytest

from devtools.browser import CLICK_TARGET_JS, wait_rerun_done
from viz.views.heads import all_patterns, default_query_keys, rank_heads_by_attention

pytestmark = pytest.mark.browser

TEXT = "a fluffy blue creature roamed the verdant forest"


def open_head_finder(page, url: str) -> None:
    page.goto(f"{url}/?text={TEXT.replace(' ', '+')}")
    page.get_by_role("link", name="Head finder").wait_for()
    wait_rerun_done(page)
    page.get_by_role("link", name="Head finder").click()
    page.locator("[class*='st-key-mech_find_grid'] .js-plotly-plot").first.wait_for(state="visible")
    wait_rerun_done(page)


def landed_on(page, layer: int, head: int) -> None:
    page.get_by_role("heading", name=f"Layer {layer}, head {head}").wait_for()
    wait_rerun_done(page)
    assert f"layer={layer}" in page.url and f"head={head}" in page.url and "page=patterns" in page.url
    assert "text=a+fluffy+blue+creature" in page.url and "mask=on" in page.url


def test_a_ranking_row_opens_its_head(mech_page, mech_url, smollm) -> None:
    trace = smollm.trace(TEXT)
    query, keys = default_query_keys(trace.tokens, trace.offsets)
    third = rank_heads_by_attention(all_patterns(trace), query, keys)[2]
    page = mech_page
    open_head_finder(page, mech_url)
    table = page.locator("[class*='st-key-mech_find_table'] [data-testid='stDataFrameResizable']").first
    table.scroll_into_view_if_needed()
    box = table.bounding_box()
    # Glide data grid: a ~37 px header, then 35 px rows; the first column holds the row checkboxes.
    page.mouse.click(box["x"] + 18, box["y"] + 37 + 35 * 2 + 17)  # the third-ranked head's row
    landed_on(page, third.layer, third.head)


def test_a_grid_cell_opens_its_head(mech_page, mech_url) -> None:
    page = mech_page
    open_head_finder(page, mech_url)
    plot = page.locator("[class*='st-key-mech_find_grid'] .js-plotly-plot").first
    plot.scroll_into_view_if_needed()
    wait_rerun_done(page)
    xy = plot.evaluate(CLICK_TARGET_JS, [12, 3])
    assert xy, "no click target for layer 12, head 3"
    page.mouse.click(*xy)
    landed_on(page, 12, 3)


@pytest.mark.parametrize("width", [1024, 1280])
def test_every_head_at_a_glance_shows_all_its_columns(browser, mech_url, width: int) -> None:
    """Browser review at 1024 px: the table of every head's statistics scrolled sideways and ended at "mean distan…",
    its value out of sight (814 px of columns in 562 with a text that repeats, which adds induction and duplicate
    token). Short headers, the full meaning in each header's tooltip."""
    from devtools.browser import new_page

    repeating = "the cat sat on the mat. the cat sat on the mat."
    with new_page(browser, height=2400, timeout_ms=180_000, animations=False, width=width) as page:
        page.goto(f"{mech_url}/head_finder?text={repeating.replace(' ', '+')}")
        scroller = page.locator("[class*='st-key-mech_head_stats'] .dvn-scroller").first
        scroller.wait_for()
        wait_rerun_done(page)
        widths = scroller.evaluate("el => [el.scrollWidth, el.clientWidth]")
        assert widths[0] <= widths[1], f"the table scrolls sideways at {width} px: {widths}"
