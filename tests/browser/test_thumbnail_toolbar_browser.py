"""The thumbnails' Plotly toolbar (mode bar) covers nothing (browser review: on the Attention patterns page at 1024 px
it appeared on hover over the layer's thumbnails and hid "head 2", the top right thumbnail's title).

Thumbnails are for clicking, not zooming: their axes are fixed, so Plotly draws no zoom, pan or reset buttons, and
the buttons left (download, Streamlit's fullscreen) sit in a band above the thumbnails. The large heatmap keeps its
whole toolbar (a user zooms into it and downloads it).
"""

from __future__ import annotations

import pytest

from devtools.browser import new_page, wait_rerun_done

pytestmark = pytest.mark.browser

THUMBNAILS = ("heads_L", "overview_L")  # every head of the layer; every layer × head
KEPT = ("Download plot", "Fullscreen")  # the buttons a thumbnail's toolbar keeps (PNG or SVG download)

# (chart) → the mode bar's buttons [title, left, top, right, bottom], the thumbnails' box (the axes as drawn: square
# thumbnails shrink them inside the plot area) and the titles' boxes, in the page's pixels.
BOXES_JS = """el => {
    const box = r => [r.left, r.top, r.right, r.bottom];
    const r = el.getBoundingClientRect(), x = el._fullLayout.xaxis, y = el._fullLayout.yaxis;
    return {
        buttons: Array.from(el.querySelectorAll('.modebar-btn'))
            .map(b => [b.getAttribute('data-title'), ...box(b.getBoundingClientRect())]),
        plot: [r.left + x._offset, r.top + y._offset, r.left + x._offset + x._length, r.top + y._offset + y._length],
        titles: Array.from(el.querySelectorAll('.annotation-text'))
            .map(a => [a.textContent, ...box(a.getBoundingClientRect())]),
    };
}"""


def overlaps(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def chart(page, key: str):
    return page.locator(f"[class*='st-key-{key}'] .js-plotly-plot").first


def hovered_boxes(page, key: str) -> dict:
    """Hover the chart's top right thumbnail (the mode bar shows on hover) and read the boxes."""
    plot = chart(page, key)
    plot.scroll_into_view_if_needed()
    area = plot.evaluate(BOXES_JS)["plot"]
    page.mouse.move(area[2] - 12, area[1] + 12)
    page.wait_for_timeout(400)
    return plot.evaluate(BOXES_JS)


@pytest.mark.parametrize("width", [1024, 1280])
def test_the_thumbnails_toolbar_covers_no_thumbnail_nor_title(browser, app_url: str, width: int) -> None:
    with new_page(browser, height=2400, timeout_ms=180_000, animations=False, width=width) as page:
        page.goto(f"{app_url}/?page=patterns&layer=3&head=1")
        chart(page, "overview_L").wait_for(state="visible")
        wait_rerun_done(page)
        for key in THUMBNAILS:
            boxes = hovered_boxes(page, key)
            covered = [
                (button[0], what[0])
                for button in boxes["buttons"]
                for what in [*boxes["titles"], ["the thumbnails", *boxes["plot"]]]
                if overlaps(button[1:], what[1:])
            ]
            assert not covered, f"{key} at {width} px: the toolbar covers {covered}"
            titles = {title for title, *_ in boxes["buttons"]}
            assert titles and all(t.startswith(KEPT) for t in titles), (key, width, titles)  # no zoom to undo
        # The large heatmap keeps its whole toolbar.
        heatmap = {title for title, *_ in hovered_boxes(page, "head_heatmap")["buttons"]}
        assert {"Zoom", "Reset axes", "Download plot as a PNG"} <= heatmap, heatmap
