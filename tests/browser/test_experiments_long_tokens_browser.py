"""The Experiments page's tables show a long predicted token whole (browser review: "␣Madame" read "␣Madam").

st.dataframe draws on a canvas (Glide Data Grid) and sizes its columns to their text once, when the table first
appears; a table that stays the same element through a rerun keeps those widths. So after a new text, a table sized
for the last text's short tokens (',', '.') cut the new ones: "␣Einstein" read "␣Einste" at 1280 px. The test
finds the token column's right border in the canvas's pixels and measures each token's text in the grid's font;
it also checks that every column and every row is in view (the before/after table's six columns, beside its chart at
1280 px, and its rows: as many as the chart's bars).
"""

from __future__ import annotations

import pytest

from devtools.browser import new_page, wait_rerun_done

pytestmark = pytest.mark.browser

LONG_TEXT = "My favourite scientist is Albert"  # SmolLM2's top prediction after it: "␣Einstein"
LONG_TOKEN = "␣Einstein"

# (canvas) → {border, tokens: [[label, width]]}: the x of the first column's right border (a vertical line of the
# grid's border colour down the whole canvas) and each first-column cell's text (the grid's accessible table, kept
# inside the canvas) measured in the grid's own font.
TOKEN_COLUMN_JS = """(canvas) => {
    const grid = canvas.closest('.stDataFrameGlideDataEditor');
    const style = getComputedStyle(grid);
    const font = style.getPropertyValue('--gdg-base-font-style').trim() + ' '
        + style.getPropertyValue('--gdg-font-family').trim();
    const [r, g, b] = style.getPropertyValue('--gdg-border-color').trim().match(/[0-9a-f]{2}/gi)
        .map(h => parseInt(h, 16));
    const scale = canvas.width / canvas.getBoundingClientRect().width;
    const { width, height } = canvas;
    const data = canvas.getContext('2d').getImageData(0, 0, width, height).data;
    let border = null;
    for (let x = 2; x < width && border === null; x++) {
        let hits = 0;
        for (let y = 0; y < height; y++) {
            const i = (y * width + x) * 4;
            if (Math.abs(data[i] - r) < 4 && Math.abs(data[i + 1] - g) < 4 && Math.abs(data[i + 2] - b) < 4) hits++;
        }
        if (hits > 0.8 * height) border = x / scale;
    }
    const measure = document.createElement('canvas').getContext('2d');
    measure.font = font;
    const cells = Array.from(canvas.querySelectorAll('td[aria-colindex="1"]'));
    return { border, font, tokens: cells.map(td => [td.textContent, measure.measureText(td.textContent).width]) };
}"""
PADDING = 8  # --gdg-cell-horizontal-padding: the text starts this far into its cell


def token_column(page, name: str, token: str) -> dict:
    """The token column of table `name` once a cell of it reads `token`: under load the grid may draw its cells a
    moment after the rerun has finished (the make test run of 02c38ab read none)."""
    table = page.locator(f"[class*='st-key-exp_tokens_{name}_'] [data-testid='stDataFrame']").first
    table.scroll_into_view_if_needed()
    canvas = table.locator("canvas[data-testid='data-grid-canvas']")
    canvas.locator("td[aria-colindex='1']", has_text=token).first.wait_for(state="attached")
    return canvas.evaluate(TOKEN_COLUMN_JS)


@pytest.mark.parametrize("width", [1280, 1024])
def test_a_new_texts_long_token_shows_whole_in_both_tables(browser, app_url: str, width: int) -> None:
    with new_page(browser, height=3000, timeout_ms=180_000, animations=False, width=width) as page:
        page.goto(f"{app_url}/experiments?layer=0&head=2")
        page.locator("[class*='st-key-exp_next'] .js-plotly-plot").first.wait_for()
        wait_rerun_done(page)
        page.get_by_role("button", name="Add to experiment").click()  # the before/after table appears
        page.locator("[class*='st-key-exp_compare'] .js-plotly-plot").first.wait_for()
        wait_rerun_done(page)
        box = page.locator("[class*='st-key-text'] textarea")
        box.fill(LONG_TEXT)
        box.press("Control+Enter")
        wait_rerun_done(page)
        assert page.locator("[data-testid='stException']").count() == 0
        for name in ["next", "compare"]:  # the top 10, the before/after table
            column = token_column(page, name, LONG_TOKEN)
            labels = [label for label, _ in column["tokens"]]
            assert LONG_TOKEN in labels, (name, labels)  # the cells hold the whole label
            assert column["border"] is not None, (name, column)
            cut = [(label, round(w)) for label, w in column["tokens"] if PADDING + w > column["border"] + 0.5]
            assert not cut, f"{name} table at {width} px: token column {column['border']} px cuts {cut}"
            # Every column in view: a table wider than its column scrolled, and the Δ log p cut at its edge read
            # "-0.00" for -0.001 (at 1280 px, half the page's width was 11 px short for this text).
            scroller = page.locator(f"[class*='st-key-exp_tokens_{name}_'] .dvn-scroller").first
            widths = scroller.evaluate("el => [el.scrollWidth, el.clientWidth]")
            assert widths[0] <= widths[1], f"{name} table at {width} px scrolls sideways: {widths}"
            # Every row in view: the before/after table held 14 rows beside a chart of all 14 and showed 10, the
            # rest behind a scroll bar (st.dataframe's default height is ten rows).
            heights = scroller.evaluate("el => [el.scrollHeight, el.clientHeight]")
            assert heights[0] <= heights[1], f"{name} table at {width} px scrolls down: {heights}"
