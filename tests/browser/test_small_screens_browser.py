"""The patterns page on smaller screens (issue 19, defect 12): at 1024 px no button label is cut and the selected
head's heatmap is drawn at a readable size; on a 390 px phone the layer × head overview's thumbnails are large
enough to see and tap (the overview scrolls sideways), and a tap selects the thumbnail tapped (defect 11: each tap
selected the previous tap's head, and the first tap nothing, until ui/plotly_clicks.py also refreshed Plotly's hover
at a touch)."""

from __future__ import annotations

import contextlib
import math
from urllib.parse import quote

import pytest

from devtools.browser import CLICK_TARGET_JS, new_page, wait_rerun_done
from tests.browser.in_session import open_in_session, resize
from viz.views.lens import GRID_PLOT_PX

pytestmark = pytest.mark.browser

FIRST_LOAD_MS = 300_000  # a session's first page loads the model, on two cores shared by several agents
MIN_HEATMAP_PX = 500  # at 1024 px the heatmap was 322 px wide beside the layer's heads
PHONE_HINT = "phone_hint_overview"  # the overview's swipe hint, shown on a phone only (app.py)
MIN_THUMB_PX = 40  # at 390 px each overview thumbnail was ~10 px
# A 45° key label's baseline this far from the next one's leaves a gap between them (0.7 of 12 px text, as
# test_chart_text_fits_browser.py's MIN_LINE_SHARE): at 390 px the main heatmap gave 25 keys ~7 px each.
MIN_KEY_PX = 0.7 * 12 / math.sin(math.pi / 4)
LONGER_TEXT = "The quick brown fox jumps over the lazy dog. " * 2  # 21 tokens on SmolLM2, the last space one
# Every other page and step with a token × token heatmap that keeps its key labels apart on a phone: (page, chart key).
PHONE_HEATMAPS = (
    ("start&step=pattern", "start_pattern"),
    ("masking", "scores"),
    ("start&step=dot-products", "start_scores"),
    ("head_finder", "mech_find_focus"),  # drawn by ui.widgets.show_chart, as every token heatmap it draws
    ("atlas", "atlas_on_text"),
    ("inside_head", "mech_dots"),  # Q·Kᵀ, its keys along the bottom, every other one labelled
)
# The plot area's width per key of a heatmap, and per labelled key (a long axis labels every k-th).
PER_KEY_PX_JS = "el => el._fullLayout.xaxis._length / el._fullData[0].z[0].length"
PER_LABEL_PX_JS = "el => el._fullLayout.xaxis._length / el._fullLayout.xaxis.tickvals.length"
MIN_UPRIGHT_PX = 12  # upright labels of 12 px text, a line apart at least (9 px ran into each other)

# Every element inside a visible button whose text is wider than its box (Streamlit cuts a label with "…").
CUT_LABELS_JS = """() => Array.from(document.querySelectorAll('button'))
    .filter(b => b.offsetParent && b.innerText.trim())
    .flatMap(b => [b, ...b.querySelectorAll('*')])
    .filter(e => e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 0)
    .map(e => e.closest('button').innerText.trim() + ': ' + e.scrollWidth + ' > ' + e.clientWidth)"""
# The overview's plot area per layer and per head, in CSS px.
THUMB_PX_JS = """el => { const fl = el._fullLayout;
    const ticks = [fl.xaxis.tickvals.length, fl.yaxis.tickvals.length];
    return [fl.xaxis._length / ticks[0], fl.yaxis._length / ticks[1]]; }"""

# The overview's selected frame as drawn (a marker, in px; its path's box, stroke aside) and one thumbnail's width
# (its pooled cells, in px).
FRAME_AND_THUMB_JS = """el => { const fl = el._fullLayout, d = el._fullData;
    const gaps = Array.from(d[0].z[0], v => v === null || Number.isNaN(v));
    const s = gaps.indexOf(true);  // the first thumbnail's cells, up to the first gap column
    const perUnit = fl.xaxis._length / Math.abs(fl.xaxis.range[1] - fl.xaxis.range[0]);
    const shown = Array.from(el.querySelectorAll('.scatterlayer .point'))
        .filter(p => getComputedStyle(p).opacity === '1');
    return [shown.map(p => p.getBoundingClientRect().width), s * perUnit]; }"""
MAX_FRAME_MISFIT = 0.25  # the frame within a quarter of a thumbnail's width of its edges (MiniLM's was 37 % small)

# A heading's text height (its box less its padding) and its line height, in CSS px.
TITLE_LINES_JS = """h => { const cs = getComputedStyle(h);
    return [h.getBoundingClientRect().height - parseFloat(cs.paddingTop) - parseFloat(cs.paddingBottom),
            parseFloat(cs.lineHeight)]; }"""


def _height(width: int) -> int:
    return 3600 if width < 500 else 2400


@contextlib.contextmanager
def patterns_at(
    browser, url: str, width: int, touch: bool = False, model: str = "smollm2-135m", text: str = "",
    shown: str = "patterns", key: str = "overview_L",
):  # fmt: skip
    # Animations off, as in every browser test: Chromium draws each of their frames in software (devtools/browser.py).
    with new_page(browser, _height(width), FIRST_LOAD_MS, animations=False, width=width, touch=touch) as page:
        page.goto(f"{url}/?page={shown}&layer=0&head=0&model={model}" + (f"&text={quote(text)}" if text else ""))
        page.locator(f"[class*='st-key-{key}'] .js-plotly-plot").first.wait_for(state="visible")
        wait_rerun_done(page, before_ms=1000, after_ms=1500)
        if not touch:  # a mouse moved on a touch screen hides what a phone shows (Streamlit's toolbars)
            page.mouse.move(1, 1)
        yield page


@pytest.fixture(scope="module")
def sessions(browser, app_url):
    """One browser session per (model, text), opened on the patterns page at 1280 px (wide enough for the sidebar's
    links) and kept for the module's tests with a mouse: each moves it to its page and width (`at`) rather than
    opening a fresh page per page and width (tests/browser/in_session.py says why that is the same view)."""
    with contextlib.ExitStack() as stack:
        pages = {}

        def session(model: str = "smollm2-135m", text: str = ""):
            if (model, text) not in pages:
                pages[model, text] = stack.enter_context(patterns_at(browser, app_url, 1280, model=model, text=text))
            return pages[model, text]

        yield session


def at(page, app_url: str, width: int, shown: str = "", key: str = "") -> None:
    """Move a session of `sessions` to the page `shown` (through the sidebar's links, so its text and model stay),
    then to `width`; wait for the chart keyed `key`."""
    if shown:
        resize(page, 1280, _height(1280), shown)
        open_in_session(page, app_url, shown, by_url=False)
    resize(page, width, _height(width), shown or "the page")
    if key:
        page.locator(f"[class*='st-key-{key}'] .js-plotly-plot").first.wait_for(state="visible")


def test_at_1024_px_buttons_are_whole_and_the_heatmap_is_large(sessions, app_url, shots) -> None:
    page = sessions()
    at(page, app_url, 1024, "patterns")
    page.screenshot(path=str(shots / "patterns_1024.png"))
    assert page.evaluate(CUT_LABELS_JS) == []
    box = page.locator("[class*='st-key-head_heatmap'] .js-plotly-plot").first.bounding_box()
    assert box is not None and box["width"] >= MIN_HEATMAP_PX, box
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1024  # no sideways page scroll
    assert not page.locator(f"[class*='st-key-{PHONE_HINT}']").first.is_visible()  # the overview fits here


def test_at_390_px_the_overview_thumbnails_can_be_tapped(browser, app_url, shots) -> None:
    with patterns_at(browser, app_url, 390, touch=True) as page:
        page.screenshot(path=str(shots / "phone.png"))
        # The page title fits its one line: Streamlit's link-to-heading icon (shown on hover, which a phone has not)
        # wrapped to a second, empty line and left a blank band under "Attention patterns".
        text_height, line = page.locator("[data-testid='stMain'] h1").first.evaluate(TITLE_LINES_JS)
        assert text_height < 1.5 * line, (text_height, line)
        # Review: nothing said the overview scrolls sideways, and its first screenful ends at layer 5 of 30.
        hint = page.locator(f"[class*='st-key-{PHONE_HINT}']").first
        assert hint.is_visible() and "sideways" in hint.inner_text(), hint.inner_text()
        overview = page.locator("[class*='st-key-overview_L'] .js-plotly-plot").first
        per_layer, per_head = overview.evaluate(THUMB_PX_JS)
        assert min(per_layer, per_head) >= MIN_THUMB_PX, (per_layer, per_head)
        for layer, head in ((2, 1), (3, 2)):  # both inside the phone's width, before any sideways scroll
            x, y = overview.evaluate(CLICK_TARGET_JS, [layer, head])
            page.touchscreen.tap(x + 2, y + 2)
            for _ in range(2):
                wait_rerun_done(page, before_ms=500, after_ms=1000)
            assert f"layer={layer}&head={head}" in page.url, (layer, head, page.url)
            assert page.get_by_role("heading", name=f"Layer {layer}, head {head}").count() == 1
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390  # only the overview scrolls
        assert page.evaluate(CUT_LABELS_JS) == []


@pytest.mark.parametrize("model", ["smollm2-135m", "minilm-l6"])
def test_the_overview_frame_fits_the_selected_thumbnail(sessions, app_url, model) -> None:
    """The red frame is a marker sized in pixels, the thumbnails scale with the chart: MiniLM's frame (26 px) sat
    inside its 41 px thumbnail at every width, framing a corner of the pattern rather than the head; and on a phone,
    where the overview is drawn 1400 px wide, SmolLM2's frame (sized for a desktop's plot) was half a thumbnail."""
    page = sessions(model)
    at(page, app_url, 1280, "patterns")
    for width in (1280, 1024, 390):
        at(page, app_url, width)
        overview = page.locator("[class*='st-key-overview_L'] .js-plotly-plot").first
        frames, thumb = overview.evaluate(FRAME_AND_THUMB_JS)
        assert len(frames) == 1, (width, frames)  # one frame shown: layer 0, head 0
        assert abs(frames[0] - thumb) <= MAX_FRAME_MISFIT * thumb, (width, frames, thumb)


def test_at_390_px_the_main_heatmap_keeps_its_key_labels_apart(sessions, app_url) -> None:
    """Review: on a phone the main heatmap squeezed a 20-token text's keys into ~9 px each, and their 45° labels ran
    into one another; it now keeps a width where they stand apart and scrolls sideways, under a hint saying so."""
    page = sessions(text=LONGER_TEXT)
    at(page, app_url, 1024, "patterns", "head_heatmap")  # a desktop: no hint, the chart fits
    heatmap = page.locator("[class*='st-key-head_heatmap'] .js-plotly-plot").first
    assert heatmap.evaluate("el => el._fullData[0].z[0].length") == 21  # the session's text: LONGER_TEXT's keys
    assert not page.locator("[class*='st-key-phone_hint_head_heatmap']").first.is_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1024
    at(page, app_url, 390)
    assert heatmap.evaluate(PER_KEY_PX_JS) >= MIN_KEY_PX
    assert page.locator("[class*='st-key-phone_hint_head_heatmap']").first.is_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390  # only the chart's box scrolls
    for shown, key in PHONE_HEATMAPS:
        at(page, app_url, 390, shown, key)
        heatmap = page.locator(f"[class*='st-key-{key}'] .js-plotly-plot").first
        assert heatmap.evaluate(PER_LABEL_PX_JS) >= MIN_KEY_PX, shown  # the same heatmap, or its scores


def test_at_390_px_inside_one_heads_matrices_keep_every_key_label_apart(sessions, app_url) -> None:
    """Review at 390 px: with the default text (10 tokens, every key labelled, along the bottom) Inside one head's
    Q·Kᵀ gave each key ~9 px and its 45° labels ran into one another; the longer text above labels every other key,
    which hid it. Such a chart now scrolls sideways as the heatmaps with tokens along their top do."""
    page = sessions()
    at(page, app_url, 390, "inside_head", "mech_pattern")
    for key in ("mech_dots", "mech_pattern"):
        heatmap = page.locator(f"[class*='st-key-{key}'] .js-plotly-plot").first
        assert heatmap.evaluate(PER_LABEL_PX_JS) >= MIN_KEY_PX, key
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390  # only the chart's box scrolls


def test_at_390_px_the_lens_grid_keeps_the_width_its_cell_text_was_cut_for(sessions, app_url) -> None:
    """The lens grid's columns keep the width their cell text was cut for (the grid's plot at 1024 px), with the
    default text: a text of over 16 tokens writes nothing in its cells (viz.views.lens.TEXT_IN_CELLS_MAX)."""
    page = sessions()
    at(page, app_url, 390, "logit_lens", "lens_grid")
    grid = page.locator("[class*='st-key-lens_grid'] .js-plotly-plot").first
    assert grid.evaluate("el => el._fullLayout.xaxis._length") >= 0.95 * GRID_PLOT_PX


def test_at_390_px_the_generate_charts_keep_their_token_labels_apart(sessions, app_url) -> None:
    """Review: on a phone "where each step looked" wrote its 20 upright key labels 9 px apart, one over the other; it
    now keeps them a line apart and scrolls sideways under the swipe hint, as the other token heatmaps do."""
    page = sessions(text=LONGER_TEXT)
    at(page, app_url, 390, "generate", "gen_attention")
    looked = page.locator("[class*='st-key-gen_attention'] .js-plotly-plot").first
    assert looked.evaluate(PER_LABEL_PX_JS) >= MIN_UPRIGHT_PX
    assert page.locator("[class*='st-key-phone_hint_gen_attention']").first.is_visible()
    heads = page.locator("[class*='st-key-gen_heads'] .js-plotly-plot").first
    assert heads.evaluate(PER_LABEL_PX_JS) >= MIN_KEY_PX  # its 45° labels
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390  # only the charts' boxes scroll


# Each visible chart's title and its Plotly toolbar (the modebar), where they overlap ([title, px of overlap]) or
# where the toolbar's first button is not what a tap there reaches (cut off or covered: [title, "hidden"]).
TOOLBAR_OVER_TITLE_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(plot => {
    const bar = plot.querySelector('.modebar'), title = plot.querySelector('.gtitle');
    if (!bar || !title || plot.getBoundingClientRect().width === 0) return [];
    const b = bar.getBoundingClientRect(), t = title.getBoundingClientRect();
    const button = bar.querySelector('.modebar-btn').getBoundingClientRect();
    const inView = button.top >= 0 && button.bottom <= innerHeight;  // elementFromPoint sees the viewport only
    const hit = inView && document.elementFromPoint(button.left + button.width / 2, button.top + button.height / 2);
    if (inView && !(hit && bar.contains(hit))) return [[title.textContent, 'hidden']];  // cut off or covered
    const x = Math.min(b.right, t.right) - Math.max(b.left, t.left);
    const y = Math.min(b.bottom, t.bottom) - Math.max(b.top, t.top);
    return x > 0 && y > 0 ? [[title.textContent, Math.round(y)]] : [];
})"""
# Streamlit's toolbar of each table and chart (shown all the time on a touch screen) where it lies over another
# element's content: [the text it covers, or "a chart"].
ELEMENT_TOOLBAR_OVER_JS = """() => {
    const content = [...document.querySelectorAll('.js-plotly-plot, [data-testid=stDataFrame], .stMarkdown')]
        .filter(c => c.getBoundingClientRect().height > 0);
    return [...document.querySelectorAll('[data-testid=stElementToolbar]')].flatMap(bar => {
        const own = bar.closest('[data-testid=stElementContainer]'), b = bar.getBoundingClientRect();
        if (b.height === 0 || getComputedStyle(bar).opacity === '0') return [];
        return content.filter(c => !own.contains(c)).flatMap(c => {
            const r = c.getBoundingClientRect();
            const x = Math.min(b.right, r.right) - Math.max(b.left, r.left);
            const y = Math.min(b.bottom, r.bottom) - Math.max(b.top, r.top);
            return x > 2 && y > 2 ? [[c.innerText.slice(0, 30) || 'a chart']] : [];
        });
    });
}"""
# The height Plotly drew each chart at (a padding in the chart's element, which Streamlit sizes, took 26 px from it).
CHART_HEIGHTS_JS = "() => [...document.querySelectorAll('.js-plotly-plot')].map(p => p._fullLayout.height)"
# Each chart or table that runs into the element below it: [its first text, px of overlap].
ELEMENTS_OVERLAPPING_JS = """() => [...document.querySelectorAll('[data-testid=stElementContainer]')]
    .filter(e => e.querySelector('.js-plotly-plot, [data-testid=stDataFrame]') && e.nextElementSibling)
    .flatMap(e => {
        const inner = e.querySelector('[data-testid=stPlotlyChart], [data-testid=stDataFrame]').getBoundingClientRect();
        const next = e.nextElementSibling.getBoundingClientRect();
        return inner.height > 0 && next.height > 0 && inner.bottom > next.top + 1
            ? [[e.innerText.slice(0, 30), Math.round(inner.bottom - next.top)]] : [];
    })"""


def test_on_a_touch_screen_the_toolbars_leave_titles_and_charts_free(browser, sessions, app_url) -> None:
    """Review at 390 px: a touch screen has no hover, so Plotly shows every chart's toolbar all the time, and on a
    phone's narrow charts it lay over their titles ("E [n × d_model] = [10 × 576]", "q, k, v of query 9 …"); and
    Streamlit's toolbar of each table, shown all the time too, covered the bottom of the chart above it."""
    with patterns_at(browser, app_url, 390, touch=True, shown="inside_head", key="mech_vectors") as page:
        page.locator("[data-testid='stElementToolbar']").nth(1).wait_for(state="attached")  # the two tables'
        assert page.locator(".js-plotly-plot .modebar").count() > 3
        assert page.evaluate(TOOLBAR_OVER_TITLE_JS) == []
        assert page.evaluate(ELEMENT_TOOLBAR_OVER_JS) == []
        assert page.evaluate(ELEMENTS_OVERLAPPING_JS) == []  # each band pushes the elements below down
        touch_heights = page.evaluate(CHART_HEIGHTS_JS)
    page = sessions()  # a mouse: no bands
    at(page, app_url, 390, "inside_head", "mech_vectors")
    assert page.evaluate(CHART_HEIGHTS_JS) == touch_heights  # a band is added above a chart, not taken from it
