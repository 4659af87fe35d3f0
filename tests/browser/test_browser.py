"""The app in a real browser: typing, masking, clicking thumbnails, downloading, screenshots."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from devtools.browser import CLICK_TARGET_JS, wait_rerun_done

pytestmark = pytest.mark.browser


def plot(page, key: str):
    return page.locator(f"[class*='st-key-{key}'] .js-plotly-plot").first


def wait_for_chart(page, key: str):
    locator = plot(page, key)
    locator.wait_for(state="visible")
    return locator


def heatmap_z(page) -> list[list[float]]:
    """The z matrix of the big heatmap as Plotly drew it (rows = drawn rows).

    `_fullData`, not `data`: Plotly keeps the typed-array spec ({dtype, bdata, shape}) in `data` and
    the decoded rows in `_fullData`.
    """
    z = wait_for_chart(page, "head_heatmap").evaluate("el => Array.from(el._fullData[0].z, r => Array.from(r))")
    assert len(z) > 1 and all(len(r) == len(z) for r in z), z  # never check an empty matrix
    return z


def x_ticks(page) -> list[str]:
    return wait_for_chart(page, "head_heatmap").evaluate("el => Array.from(el.layout.xaxis.ticktext)")


def open_app(page, url: str, path: str = "patterns") -> None:
    """Open a page (by default Attention patterns; the app itself opens on Start here) and wait for its chart."""
    page.goto(f"{url}/{path}")
    wait_for_chart(page, "head_heatmap" if not path.startswith("masking") else "scores")
    wait_rerun_done(page)


def click_point(page, key: str, layer: int, head: int) -> None:
    """Click the screen position of the click target whose customdata is (layer, head)."""
    pos = plot(page, key).evaluate(CLICK_TARGET_JS, [layer, head])
    assert pos is not None, f"no click target for layer {layer}, head {head} in {key}"
    page.mouse.move(pos[0] + 3, pos[1] + 2)  # off-centre on purpose: anywhere on the thumbnail works
    page.wait_for_timeout(200)
    page.mouse.click(pos[0] + 3, pos[1] + 2)


def shot(page, screenshots: Path, name: str) -> None:
    page.screenshot(path=str(screenshots / f"{name}.png"))


def test_default_view_then_type_a_new_sentence(page, app_url, screenshots) -> None:
    open_app(page, app_url)
    assert x_ticks(page)[6:9] == ["␣ver", "d", "ant"]
    shot(page, screenshots, "patterns")
    box = page.locator("[data-testid='stTextArea'] textarea")
    box.fill("the cat sat on the mat")
    box.press("Control+Enter")
    page.wait_for_function(
        "() => { const el = document.querySelector(\"[class*='st-key-head_heatmap'] .js-plotly-plot\");"
        " return el && el.layout && Array.from(el.layout.xaxis.ticktext).includes('␣mat'); }"
    )
    wait_rerun_done(page)
    assert x_ticks(page) == ["the", "␣cat", "␣sat", "␣on", "␣the", "␣mat"]
    assert "text=the+cat+sat+on+the+mat" in page.url
    # The tick labels the user sees, read from the SVG, not just Plotly's data.
    drawn = plot(page, "head_heatmap").locator(".xtick text").all_text_contents()
    assert "␣mat" in drawn and drawn.count("␣the") == 1 and "the" in drawn
    shot(page, screenshots, "patterns_new_sentence")


def test_toggle_masking(page, app_url, screenshots) -> None:
    open_app(page, app_url)
    z = heatmap_z(page)
    assert all(z[i][j] == 0 for i in range(len(z)) for j in range(i + 1, len(z)))
    page.get_by_text("Causal mask in every layer").click()
    page.wait_for_function(
        "() => { const el = document.querySelector(\"[class*='st-key-head_heatmap'] .js-plotly-plot\");"
        " const z = el && el._fullData && el._fullData[0].z; return !!(z && z[0] && z[0][1] > 0); }"
    )
    wait_rerun_done(page)
    z = heatmap_z(page)
    assert any(z[i][j] > 0 for i in range(len(z)) for j in range(i + 1, len(z)))
    assert "mask=off" in page.url
    shot(page, screenshots, "patterns_unmasked")


def test_click_thumbnails_select_layer_and_head(page, app_url, screenshots) -> None:
    open_app(page, app_url)
    click_point(page, "overview_L0_H0", 5, 3)
    page.get_by_role("heading", name="Layer 5, head 3").wait_for()
    wait_rerun_done(page)
    assert "layer=5" in page.url and "head=3" in page.url
    shot(page, screenshots, "patterns_overview_click")
    click_point(page, "heads_L5_H3", 5, 7)
    page.get_by_role("heading", name="Layer 5, head 7").wait_for()
    wait_rerun_done(page)
    # The click reran only the head panel first; the app rerun after it brought the rest along:
    # the link, the sidebar's slider and the overview (now drawn for head 7).
    assert "head=7" in page.url
    assert page.locator(".st-key-head [data-testid='stSliderThumbValue']").inner_text() == "7"
    assert page.locator("[class*='st-key-overview_L5_H7'] .js-plotly-plot").count() == 1


def test_download_csv_rows_sum_to_one(page, app_url, tmp_path) -> None:
    open_app(page, app_url)
    with page.expect_download() as info:
        page.get_by_role("button", name="Pattern as CSV").click()
    target = tmp_path / "pattern.csv"
    info.value.save_as(target)
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert rows[0][:2] == ["query_pos", "query_token"]
    assert [r[1] for r in rows[1:]][6:9] == [" ver", "d", "ant"]
    for r in rows[1:]:
        assert abs(sum(float(x) for x in r[2:]) - 1.0) < 1e-5


def test_masking_page_and_orientation(page, app_url, screenshots) -> None:
    open_app(page, app_url, "masking?layer=2&head=1")
    scores = wait_for_chart(page, "scores")
    texts = scores.locator(".textpoint text").all_text_contents()
    assert texts and set(texts) == {"−∞"}  # masked cells carry −∞, not a colour
    shot(page, screenshots, "masking")
    page.get_by_text("Columns are queries (3Blue1Brown)").click()
    page.get_by_text("Each column sums to 1", exact=False).first.wait_for()
    wait_rerun_done(page)
    assert "orient=cols" in page.url
    shot(page, screenshots, "masking_columns_as_queries")


def test_guide_and_shared_link(page, app_url, screenshots) -> None:
    open_app(page, app_url, "patterns?model=minilm-l6&text=take+a+biopsy+of+the+mole&layer=1&head=4&orient=cols")
    assert x_ticks(page)[0] == "[CLS]"
    page.get_by_role("heading", name="Layer 1, head 4").wait_for()
    shot(page, screenshots, "patterns_minilm_columns")
    page.goto(f"{app_url}/guide")
    page.get_by_role("heading", name="How to read this").wait_for()
    wait_rerun_done(page)
    shot(page, screenshots, "guide")


def test_download_the_head_as_vector_svg_and_standalone_html(page, app_url, tmp_path) -> None:
    """The app's SVG and HTML files are those of attention_viz (the notebook's and the CLI's): the SVG's token labels
    are <text>, and the HTML holds plotly.js itself (it opens with no network) and draws the head with it."""
    import xml.etree.ElementTree as ET

    open_app(page, app_url)
    files = {}
    for fmt in ("SVG", "HTML"):
        with page.expect_download(timeout=120_000) as info:
            page.get_by_role("button", name=f"Head as {fmt}").click()
        files[fmt] = tmp_path / f"head.{fmt.lower()}"
        info.value.save_as(files[fmt])
    texts = [t.text or "" for t in ET.parse(files["SVG"]).iter() if t.tag.endswith("text")]
    assert any("fluffy" in t for t in texts) and any("forest" in t for t in texts)
    html = files["HTML"].read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\ssrc=", html) and "Plotly.newPlot" in html  # no script fetched from anywhere
    assert len(html) > 1_000_000  # plotly.js itself is inside


def slider_value(page, key: str) -> str:
    return page.locator(f".st-key-{key} [data-testid='stSliderThumbValue']").inner_text()


def pick_model(page, title: str) -> None:
    page.get_by_role("combobox", name="Model").click()  # Streamlit's selectbox is a react-aria combobox
    page.get_by_role("option", name=title).first.click()
    page.wait_for_timeout(500)
    wait_rerun_done(page)


@pytest.mark.parametrize("path", ["patterns", "logit_lens"])
def test_a_model_switch_keeps_a_layer_and_head_the_new_model_has(page, app_url, path) -> None:
    """Streamlit resets a keyed slider whose maximum changes to its minimum unless the value is set again: a switch
    to MiniLM and back left layer 3, head 4 at 0, 0 in the sliders while the page and the URL (on the Logit lens)
    still said 3, 4. Out-of-range values clamp (tests/app); in-range ones stay, and slider, URL and page agree."""
    page.goto(f"{app_url}/{path}?layer=3&head=4&text=the+cat+sat+on+the+mat")
    page.locator(".st-key-layer [data-testid='stSliderThumbValue']").wait_for()
    wait_rerun_done(page)
    for title in ("all-MiniLM-L6-v2", "SmolLM2-135M-Instruct"):
        pick_model(page, title)
        assert "layer=3" in page.url and "head=4" in page.url, (title, page.url)
        assert (slider_value(page, "layer"), slider_value(page, "head")) == ("3", "4"), (title, page.url)
