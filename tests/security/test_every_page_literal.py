"""A typed text is shown as text on every page: no HTML or Plotly markup from it reaches a chart, and no Markdown
from it reaches the page's prose. Each page is opened with a text full of both, from the shareable link (the way a
crafted link would bring it)."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from app_pages.registry import PAGE_NAMES
from tests.app.helpers import APP, figure_spec

# Plotly draws <b>, <i>, <a href> and <span style> in titles, ticks, hovers and notes (the HTML goes last: some
# titles quote the text's end); Markdown draws images, links and math.
EVIL = (
    "![p](https://evil.example/p.png) $x^2$ [go](https://evil.example/a) <b>bold</b> <a href='https://x.example'>a</a>"
)
RAW_IN_CHARTS = ("<b>bold", "<a href")  # Plotly draws no Markdown: only its tags matter there
RAW_IN_PROSE = (*RAW_IN_CHARTS, "evil.example", "$x^2$")  # outside code spans
START_STEPS_WITH_TEXT = ("tokens", "softmax", "pattern", "heads", "values")
VIEWS = [{"page": name} for name in PAGE_NAMES] + [{"page": "start", "step": s} for s in START_STEPS_WITH_TEXT]
CODE_SPAN = re.compile(r"(`+).+?\1", re.S)


def strings(value: object) -> list[str]:
    """Every string inside a Plotly figure's dict."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def raw_in_charts(at: AppTest) -> list[str]:
    found = []
    for element in at.get("plotly_chart"):
        texts = strings(figure_spec(element))
        found += [f"{element.key}: {s[:80]}" for s in texts if any(m in s for m in RAW_IN_CHARTS)]
    return found


def raw_in_prose(at: AppTest) -> list[str]:
    kinds = ("markdown", "caption", "info", "success", "warning", "error", "header", "subheader", "title")
    texts = [str(e.value) for kind in kinds for e in at.get(kind)]
    return [t[:120] for t in texts if any(m in CODE_SPAN.sub("", t) for m in RAW_IN_PROSE)]


@pytest.mark.parametrize("params", VIEWS, ids=lambda p: "-".join(p.values()))
def test_a_typed_text_is_text_on_every_page(params: dict[str, str]) -> None:
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params.update({"text": EVIL, **params})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.text_area(key="text").value == EVIL  # the link's text is the one on screen
    assert raw_in_charts(at) == []
    assert raw_in_prose(at) == []


@pytest.mark.parametrize("page", PAGE_NAMES)
def test_a_typed_second_text_is_text_on_every_page(page: str) -> None:
    """An encoder's second text (a text pair, `second=` in a link) goes wherever the first text's tokens go."""
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params.update({"model": "minilm-l6", "text": "is it raining", "second": EVIL, "page": page})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.text_area(key="second_text").value == EVIL
    assert at.session_state["ctx"].trace.segments is not None  # read as a pair, not left out
    assert raw_in_charts(at) == []
    assert raw_in_prose(at) == []
