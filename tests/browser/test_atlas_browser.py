"""Head atlas in the browser (issue 15): a click on a cell of the layer × head grid opens that head on the
Attention patterns page with its top example loaded as the text. Uses the shipped SmolLM2 atlas."""

from __future__ import annotations

import urllib.parse

import pytest

from devtools.browser import CLICK_TARGET_JS, screenshot_dir, wait_rerun_done
from services.atlas import SHIPPED, load_atlas

pytestmark = pytest.mark.browser


def click_head(page, plot, layer: int, head: int) -> dict[str, list[str]]:
    """Click (layer, head)'s click target in `plot`, wait for the patterns page, and return its link's fields (checked
    to name that head)."""
    plot.scroll_into_view_if_needed()
    xy = plot.evaluate(CLICK_TARGET_JS, [layer, head])
    assert xy, f"no click target for layer {layer}, head {head}"
    page.mouse.click(*xy)
    page.get_by_role("heading", name="Attention patterns").wait_for()
    wait_rerun_done(page)
    query = urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)
    assert query["page"] == ["patterns"] and query["layer"] == [str(layer)] and query["head"] == [str(head)]
    return query


def test_a_grid_cell_opens_its_head_with_its_top_example(mech_page, mech_url) -> None:
    data = load_atlas(SHIPPED / "smollm2-135m.parquet")
    stat = data.statistics.index("previous_token")
    layer, head = (int(i) for i in divmod(int(data.values[stat].argmax()), data.values.shape[2]))
    example_text = data.head_examples("previous_token", layer, head)[0]["text"]
    page = mech_page
    page.goto(f"{mech_url}/?page=patterns&text=a+fluffy+blue+creature")
    page.get_by_role("link", name="Head atlas").wait_for()
    wait_rerun_done(page)
    page.get_by_role("link", name="Head atlas").click()
    plot = page.locator("[class*='st-key-atlas_grid'] .js-plotly-plot").first
    plot.wait_for(state="visible")
    wait_rerun_done(page)
    page.screenshot(path=str(screenshot_dir() / "atlas.png"), full_page=True)
    query = click_head(page, plot, layer, head)
    assert query["text"] == [example_text]  # the example (≤ 1,000 characters) is the text now
    assert page.get_by_text(f"layer {layer}, head {head}").first.is_visible()


def test_a_point_of_the_two_statistic_scatter_opens_its_head(mech_page, mech_url) -> None:
    """The scatter's points carry (layer, head) as the grid's cells do: a click on the strongest induction head's
    point opens it on the patterns page with its top example of the x statistic (previous token)."""
    data = load_atlas(SHIPPED / "smollm2-135m.parquet")
    stat = data.statistics.index("induction")
    layer, head = (int(i) for i in divmod(int(data.values[stat].argmax()), data.values.shape[2]))
    page = mech_page
    page.goto(f"{mech_url}/atlas?text=a+fluffy+blue+creature")
    plot = page.locator("[class*='st-key-atlas_scatter'] .js-plotly-plot").first
    plot.wait_for(state="visible")
    wait_rerun_done(page)
    query = click_head(page, plot, layer, head)
    assert query["text"] == [data.head_examples("previous_token", layer, head)[0]["text"]]


def test_a_corpus_uploads_through_the_browser_and_a_bad_one_says_why(mech_page, mech_url, tmp_path) -> None:
    """The real upload path (Streamlit's upload endpoint, the page's check): a good file offers the job with its
    document count; a broken one shows the message with the file's own name. No job is started here."""
    good, bad = tmp_path / "notes.jsonl", tmp_path / "broken.jsonl"
    good.write_text('{"text": "the cat sat"}\n{"text": "a dog ran"}\n{"text": "birds sing"}\n', encoding="utf-8")
    bad.write_text('{"text": "ok"}\n{oops\n', encoding="utf-8")
    page = mech_page
    page.goto(f"{mech_url}/?page=atlas")
    page.locator("[class*='st-key-atlas_grid'] .js-plotly-plot").first.wait_for(state="visible")
    wait_rerun_done(page)  # a click during the first runs could be undone by the next one, closing the panel again
    page.get_by_text("Your own corpus").click()
    page.get_by_text("Corpus file").wait_for()  # the panel is open
    upload = page.locator("[class*='st-key-atlas_upload'] input[type=file]")
    upload.set_input_files(str(good))
    page.get_by_text("Documents (the first of 3)").wait_for()
    compute = page.get_by_role("button", name="Compute the atlas on this corpus")
    compute.wait_for()  # drawn after the number boxes in the same run: on a loaded machine, a moment after them
    assert compute.is_visible()
    upload.set_input_files(str(bad))
    page.get_by_text("This file cannot be used as a corpus").wait_for()
    shown = page.locator("[data-testid='stCode']").last.inner_text()
    assert "broken.jsonl, line 2: not valid JSON" in shown, shown
    assert not page.get_by_role("button", name="Compute the atlas on this corpus").count()
