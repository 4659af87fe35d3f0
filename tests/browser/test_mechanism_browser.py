"""The mechanism pages in a real browser: open each, use its main control, save a 1280 px screenshot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from devtools.browser import wait_rerun_done

pytestmark = pytest.mark.browser


def chart(page, key: str):
    loc = page.locator(f"[class*='st-key-{key}'] .js-plotly-plot").first
    loc.wait_for(state="visible")
    return loc


TEXT = "a+fluffy+blue+creature+roamed+the+verdant+forest"


def open_page(page, url: str, link: str, first_chart: str, query: str = "") -> None:
    """Open the app at its home (as a user does, with the chapter's sentence), then follow the sidebar link."""
    page.goto(f"{url}/?text={TEXT}" + (f"&{query.lstrip('?')}" if query else ""))
    page.get_by_role("link", name=link).wait_for()  # the shell has run and registered the pages
    wait_rerun_done(page)
    page.get_by_role("link", name=link).click()
    chart(page, first_chart)
    wait_rerun_done(page)
    assert page.locator("[data-testid='stException']").count() == 0


def pick(page, label: str, option: str) -> None:
    """Choose `option` in the selectbox labelled `label`."""
    page.get_by_role("combobox", name=label).click()  # Streamlit's selectbox is a react-aria combobox
    page.get_by_role("option", name=option, exact=True).click()
    wait_rerun_done(page)


def shoot(page, shots: Path, name: str, height: int) -> None:
    page.set_viewport_size({"width": 1280, "height": height})
    wait_rerun_done(page)
    # Typing into a widget scrolls Streamlit's own container; start the picture at the page title.
    page.evaluate("() => document.querySelectorAll('*').forEach(e => { if (e.scrollTop) e.scrollTop = 0; })")
    page.wait_for_timeout(300)
    page.screenshot(path=str(shots / f"{name}.png"))
    assert page.locator("[data-testid='stException']").count() == 0


def test_inside_head(mech_page, mech_url, shots) -> None:
    page = mech_page
    open_page(page, mech_url, "Inside one head", "mech_pattern", "?layer=16&head=0")
    pick(page, "Key j", "2: ␣blue")
    pick(page, "Query i", "3: ␣creature")
    code = page.locator("[data-testid='stCode']").nth(1).inner_text()
    assert "trace.pattern[16, 0][3, 2]" in code
    weights = re.findall(r"= (0\.\d+)", code)
    assert weights and abs(float(weights[-1]) - float(weights[-2])) < 1e-6  # page softmax == engine's weight
    frame = chart(page, "mech_pattern").evaluate("el => el.layout.shapes[0]")
    assert frame["x0"] == 1.5 and frame["y0"] == 2.5  # the picked cell is framed
    shoot(page, shots, "inside_head", 5450)


def test_embedding_shifts(mech_page, mech_url, shots) -> None:
    page = mech_page
    open_page(page, mech_url, "Embedding shifts", "mech_share", "?layer=16&head=0")
    box = page.get_by_label("Sentences (one per line)")
    box.fill("American shrew mole\none mole of carbon dioxide\ntake a biopsy of the mole\nthe mole on my arm itched")
    box.press("Control+Enter")
    wait_rerun_done(page)
    n_lines = chart(page, "mech_mole_cos").evaluate("el => el.data.length")
    assert n_lines == 6  # 4 sentences → 6 pairs
    shoot(page, shots, "embedding_shifts", 4300)


def test_head_finder_row_click_opens_the_head(mech_page, mech_url, shots) -> None:
    page = mech_page
    open_page(page, mech_url, "Head finder", "mech_find_grid")
    assert "layer 16, head 0" in page.locator("[data-testid='stMetric']").first.inner_text()
    shoot(page, shots, "head_finder", 1900)
    page.set_viewport_size({"width": 1280, "height": 2400})
    grid = page.locator("[class*='st-key-mech_head_stats'] [data-testid='stDataFrameResizable']").first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    # Glide data grid: a ~37 px header, then 35 px rows; the first column holds the row checkboxes.
    page.mouse.click(box["x"] + 18, box["y"] + 37 + 35 * 5 + 17)  # row 5's checkbox: layer 0, head 5
    page.get_by_role("heading", name="Layer 0, head 5").wait_for()  # the Attention patterns page, that head
    wait_rerun_done(page)
    assert "head=5" in page.url and "layer=0" in page.url and "page=patterns" in page.url
    # The shell's other settings survive the page switch (text and masking are not reset).
    assert "text=a+fluffy+blue+creature" in page.url and "mask=on" in page.url


def test_cross_attention(mech_page, mech_url, shots) -> None:
    page = mech_page
    open_page(page, mech_url, "Cross-attention", "mech_cross_block")
    target = page.get_by_label("Target text (French)")
    target.fill("Le chat dort sur le tapis rouge.")
    target.press("Enter")
    wait_rerun_done(page)
    ticks = chart(page, "mech_cross_block").evaluate("el => Array.from(el.layout.yaxis.ticktext)")
    assert len(ticks) > 9 and any(t.endswith("␣rou") for t in ticks)  # 9 tokens before " rou", "ge" were added
    assert "0 of" in page.locator("[data-testid='stMetric']").first.inner_text()
    shoot(page, shots, "cross_attention", 2300)


def test_parameters_measure(mech_page, mech_url, shots) -> None:
    page = mech_page
    open_page(page, mech_url, "Parameters & context", "mech_ctx_growth")
    assert "58.0 billion" in page.locator("[data-testid='stMetric']").nth(2).inner_text()
    assert "57,982,058,496 attention parameters" in page.locator("[data-testid='stAlert']").first.inner_text()
    page.get_by_role("button", name="Measure").click()
    chart(page, "mech_timing_chart")
    wait_rerun_done(page)
    xs = chart(page, "mech_timing_chart").evaluate("el => Array.from(el.data[0].x)")
    assert xs == [64, 256, 1024]
    shoot(page, shots, "parameters", 2500)


def test_switching_page_mid_run_keeps_the_shell_state(mech_page, mech_url) -> None:
    """Regression: a page link clicked while the first run was still going left the browser holding the
    sidebar's widget defaults, so the next rerun blanked the text and switched the mask off."""
    page = mech_page
    for k in range(3):  # a new text each time: its trace is not cached, so the click lands mid-run
        text = f"the+mole+number+{k}+is+a+unit+in+chemistry+and+{k * 7}+moles+weigh+more"
        page.goto(f"{mech_url}/?text={text}&layer=3&head=1")
        page.get_by_role("link", name="Embedding shifts").click()
        box = page.get_by_label("Sentences (one per line)")
        box.fill("one mole of carbon dioxide\nthe mole on my arm itched")
        box.press("Control+Enter")
        wait_rerun_done(page)
        assert f"text={text}" in page.url and "mask=on" in page.url and "layer=3" in page.url, page.url
        chart(page, "mech_mole_cos")



# page and text → the container of a table that must show all its columns (browser review at 1024 px):
WIDE_TABLES = {
    # One query's row: it scrolled sideways and hid "weight with mask", the column the section is about (638 px of
    # columns in 562).
    f"masking?text={TEXT}": "masking_row",
    # Every head at a glance, with a text that repeats (induction and duplicate-token columns): 814 px of columns in
    # 562, scrolled to "mean distan…".
    "head_finder?text=the+cat+sat+on+the+mat.+the+cat+sat+on+the+mat.": "mech_head_stats",
    # The head atlas's ranking, beside the layer × head grid, with mean distance's three-digit values: sized for the
    # first statistic shown it cut "102.3454" to "02.3454"; at fixed widths it scrolled to "1790…" at 1280 px.
    "atlas?stat=mean_distance": "atlas_ranking",
}


def table_extent(browser, url: str, container: str, width: int) -> list[int]:
    """[scrollWidth, clientWidth, scrollHeight, clientHeight] of the st.dataframe in the keyed `container`."""
    from devtools.browser import new_page

    with new_page(browser, height=2400, timeout_ms=180_000, animations=False, width=width) as page:
        page.goto(url)
        scroller = page.locator(f"[class*='st-key-{container}'] .dvn-scroller").first
        scroller.wait_for()
        wait_rerun_done(page)
        return scroller.evaluate("el => [el.scrollWidth, el.clientWidth, el.scrollHeight, el.clientHeight]")


@pytest.mark.parametrize("width", [1024, 1280])
@pytest.mark.parametrize("where", sorted(WIDE_TABLES))
def test_wide_tables_show_every_column(browser, mech_url, where: str, width: int) -> None:
    """Short headers, each header's tooltip the full name: no table scrolls sideways at 1024 or 1280 px."""
    widths = table_extent(browser, f"{mech_url}/{where}", WIDE_TABLES[where], width)[:2]
    assert widths[0] <= widths[1], f"{WIDE_TABLES[where]} scrolls sideways at {width} px: {widths}"


# page → the container of a table whose every row must be in view (browser review, 1280 px): st.dataframe's default
# height is ten rows.
SHORT_TABLES = {
    # MiniLM's 12 kinds of parameter: the table stopped at "mlp", its "total" row behind a scroll bar.
    "parameters?model=minilm-l6": "parameters_loaded",
    # Start here's softmax step on MiniLM's 13 tokens of the default text: rows 10 to 12 were behind a scroll bar.
    "?step=softmax&model=minilm-l6": "start_softmax",  # Start here is the app's first page, at /
}


@pytest.mark.parametrize("where", sorted(SHORT_TABLES))
def test_short_tables_show_every_row(browser, mech_url, where: str) -> None:
    heights = table_extent(browser, f"{mech_url}/{where}", SHORT_TABLES[where], 1280)[2:]
    assert heights[0] <= heights[1], f"{SHORT_TABLES[where]} scrolls down: {heights}"
