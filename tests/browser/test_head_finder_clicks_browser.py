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

