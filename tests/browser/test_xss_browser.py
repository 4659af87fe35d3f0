"""Hostile text in a real browser: typed HTML/script and crafted links are shown as text, never run.

Uses tests/browser's server and Chromium fixtures (see conftest.py: one `streamlit run app.py` on 127.0.0.1).
Every test registers a dialog handler first: an `alert(…)` that fired would be recorded and fail it.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.browser.test_browser import open_app, plot, wait_rerun_done
from viz.labels import SPACE_MARK

pytestmark = pytest.mark.browser

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(2)</script>"


@pytest.fixture
def dialogs(page):
    fired: list[str] = []

    def on_dialog(dialog) -> None:
        fired.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return fired


def type_text(page, text: str) -> None:
    """Fill the sidebar text area, press Ctrl+Enter, wait until the heatmap's query labels spell `text` (every query
    is labelled up to 64; the x axis labels at most 24 keys, layout.MATRIX_X_LABELS)."""
    box = page.locator("[data-testid='stTextArea'] textarea")
    box.fill(text)
    box.press("Control+Enter")
    page.wait_for_function(
        """(text) => { const el = document.querySelector("[class*='st-key-head_heatmap'] .js-plotly-plot");
        if (!el || !el.layout) return false;
        const joined = Array.from(el.layout.yaxis.ticktext).join("").replaceAll("␣", " ");
        return joined.replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&") === text; }""",
        arg=text,
    )
    wait_rerun_done(page)


def shown(labels: list[str]) -> str:
    return "".join(labels).replace(SPACE_MARK, " ")


def token_strip(page) -> list[str]:
    return page.locator("[data-testid='stCode'] code").first.inner_text().strip().split(" │ ")


def assert_nothing_injected(page) -> None:
    assert page.locator("img[src='x']").count() == 0
    assert page.evaluate("() => Array.from(document.scripts).filter(s => s.text.includes('alert(')).length") == 0
    assert page.locator("a[href='https://example.com']").count() == 0


def test_typed_html_is_shown_as_text(page, app_url, dialogs) -> None:
    """Each hostile text typed in turn into one session (a fresh page load per text cost ~8 s of Chromium's CPU)."""
    open_app(page, app_url)
    for text in (IMG, SCRIPT, f"a {IMG} and {SCRIPT} end"):
        type_text(page, text)
        strip = token_strip(page)
        assert shown(strip) == text  # the token strip: the literal characters, in order
        # Axis labels as drawn in the SVG (Plotly turns the &lt; entities back into the characters).
        drawn = plot(page, "head_heatmap").locator(".ytick text").all_text_contents()
        assert shown(drawn) == text
        # Hover label of the bottom-left cell (last query, first key): both tokens, literally.
        box = plot(page, "head_heatmap").locator(".nsewdrag").first.bounding_box()
        page.mouse.move(box["x"] + 3, box["y"] + box["height"] - 3)
        hover = page.locator(".hoverlayer .hovertext").first
        hover.wait_for()
        label = hover.text_content() or ""
        assert strip[0] in label and strip[-1] in label, (text, label, strip)
        page.mouse.move(0, 0)  # off the chart: the next text's hover label is a new one
        assert_nothing_injected(page)
        assert page.locator("[data-testid='stTextArea'] textarea").input_value() == text
    page.wait_for_timeout(300)
    assert dialogs == []


def test_crafted_link_is_shown_as_text(page, app_url, dialogs) -> None:
    evil = "![pwn](x)[log in](https://example.com)<img src=x onerror=alert(3)>"
    autolinks = "www.example.com https://example.org/a"  # GitHub autolinks see through backslash escapes
    # An unknown page falls back to Start here, whose first step shows the token strip.
    page.goto(f"{app_url}/?model={quote(evil)}&page={quote(autolinks)}&text={quote(IMG)}")
    page.get_by_role("heading", name="Start here").wait_for()
    wait_rerun_done(page)
    notices = " ".join(page.locator("[data-testid='stAlert']").all_inner_texts())
    assert f"Unknown model '{evil}'" in notices and f"Unknown page '{autolinks}'" in notices
    assert shown(token_strip(page)) == IMG
    assert_nothing_injected(page)
    assert page.locator("[data-testid='stAlert'] img, [data-testid='stAlert'] a").count() == 0
    assert dialogs == []


def test_invalid_utf8_in_the_link_gets_a_view(page, app_url, dialogs) -> None:
    open_app(page, app_url, "patterns?text=%FF%FE%ED%A0%80abc&layer=%C3&model=%ED%A0%80")
    assert token_strip(page)[-1] == "abc" and "\ufffd" in "".join(token_strip(page))
    notices = " ".join(page.locator("[data-testid='stAlert']").all_inner_texts())
    assert "Unknown model" in notices and "not a number" in notices
    assert page.locator("[data-testid='stException']").count() == 0
    assert dialogs == []


def test_text_view_shows_typed_html_as_text(page, app_url, dialogs) -> None:
    """The Text view builds its own HTML page: a typed tag must come out as the tag's characters, hovered and
    clicked, with nothing injected into that page."""
    text = f"a {IMG} and {SCRIPT} end"
    page.goto(f"{app_url}/text_view?text={quote(text)}")
    frame = page.frame_locator("iframe").first
    tokens = frame.locator("#tv-text .tok")
    tokens.first.wait_for()
    wait_rerun_done(page)
    assert "".join(tokens.all_text_contents()) == text
    tokens.nth(3).hover()
    tokens.nth(3).click()
    assert frame.locator("img").count() == 0
    # The typed text is only in the component's JSON data block (data, not code); no script that runs holds it.
    assert frame.locator("script[type='application/json']").count() == 1
    running = frame.locator("script:not([type='application/json'])").all_text_contents()
    assert running and not any("alert(" in code or "onerror" in code for code in running)
    assert_nothing_injected(page)
    page.wait_for_timeout(300)
    assert dialogs == []
