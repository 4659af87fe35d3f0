"""Right-to-left text in the token strip, as Chromium draws it: the tokens keep their order left to right.

'שלום עולם hello' split by WordPiece was drawn '[CLS] │ ם## │ ל## │ ו## │ ש │ …': the bidi algorithm reversed the
whole Hebrew run, separators and '##' included, while the heatmap's axes showed the true order.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.browser.test_browser import open_app

pytestmark = pytest.mark.browser

TEXT = "שלום עולם hello"
SEPARATOR = " │ "

# The left edge on screen of each [start, end) character range of the strip's text (its text nodes in order).
LEFT_EDGES_JS = """(code, spans) => {
  const nodes = [];
  const walker = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) nodes.push(n);
  const at = (offset) => {
    for (const n of nodes) { if (offset <= n.length) return [n, offset]; offset -= n.length; }
    throw new Error('offset past the text');
  };
  return spans.map(([start, end]) => {
    const range = document.createRange();
    range.setStart(...at(start));
    range.setEnd(...at(end));
    return range.getBoundingClientRect().left;
  });
}"""


def visible_spans(text: str, pieces: list[str]) -> list[tuple[int, int]]:
    """Each piece's characters in `text` (the strip's own text, isolates included), by position."""
    spans, cursor = [], 0
    for piece in pieces:
        start = text.index(piece, cursor)
        spans.append((start, start + len(piece)))
        cursor = start + len(piece)
    return spans


def test_token_strip_draws_right_to_left_tokens_in_order(page, app_url) -> None:
    open_app(page, app_url, f"patterns?model=minilm-l6&text={quote(TEXT)}")
    code = page.locator("[data-testid='stCode'] code").first
    text = code.evaluate("el => el.textContent")
    tokens = [t.strip("\u2066\u2069") for t in text.strip().split(SEPARATOR)]
    assert tokens == ["[CLS]", "ש", "##ל", "##ו", "##ם", "ע", "##ו", "##ל", "##ם", "hello", "[SEP]"]
    lefts = code.evaluate(LEFT_EDGES_JS, visible_spans(text, tokens))
    assert lefts == sorted(lefts) and len(set(lefts)) == len(lefts), list(zip(tokens, lefts, strict=True))
    # Each word piece's '##' is drawn in front of (left of) its letter.
    marks = [p for t in tokens if t.startswith("##") for p in ("##", t[2:])]
    edges = code.evaluate(LEFT_EDGES_JS, visible_spans(text, marks))
    assert all(edges[i] < edges[i + 1] for i in range(0, len(edges), 2)), list(zip(marks, edges, strict=True))
