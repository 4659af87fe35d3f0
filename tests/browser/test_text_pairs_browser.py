"""A text pair typed in the browser: MiniLM's sidebar has a second text box; typing into it and pressing Ctrl+Enter
runs the pair ([CLS] first [SEP] second [SEP]), the heatmap's keys follow, the link carries `second=`, and the
sidebar says where the second text starts. SmolLM2 (a decoder) shows no such box."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from devtools.browser import wait_rerun_done
from tests.browser.test_browser import open_app, shot, x_ticks

pytestmark = pytest.mark.browser

FIRST = "is it raining"
SECOND = "the sky is clear"
SECOND_BOX = "[class*='st-key-second_text'] textarea"


def test_typing_a_second_text_reads_the_pair(page, app_url, screenshots) -> None:
    open_app(page, app_url, f"patterns?model=minilm-l6&text={quote(FIRST)}")
    assert x_ticks(page) == ["[CLS]", "is", "it", "raining", "[SEP]"]
    box = page.locator(SECOND_BOX)
    box.fill(SECOND)
    box.press("Control+Enter")
    page.wait_for_function(
        "() => { const el = document.querySelector(\"[class*='st-key-head_heatmap'] .js-plotly-plot\");"
        " return el && el.layout && Array.from(el.layout.xaxis.ticktext).includes('clear'); }"
    )
    wait_rerun_done(page)
    assert x_ticks(page) == ["[CLS]", "is", "it", "raining", "[SEP]", "the", "sky", "is", "clear", "[SEP]"]
    assert "second=the+sky+is+clear" in page.url
    sidebar = page.locator("[data-testid='stSidebar']").inner_text()
    assert "the second from position 5 on" in sidebar
    shot(page, screenshots, "patterns_text_pair")


def test_a_decoder_has_no_second_text_box(page, app_url) -> None:
    open_app(page, app_url, f"patterns?text={quote(FIRST)}&second={quote(SECOND)}")  # SmolLM2, the default
    assert page.locator(SECOND_BOX).count() == 0
    assert "clear" not in x_ticks(page) and "second=" not in page.url
