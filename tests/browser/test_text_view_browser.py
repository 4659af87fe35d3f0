"""The Text view in a real browser: hovering a token shades the others by the model's weights (read back as the
computed background alpha), a click pins the token, and a new sidebar text redraws the tokens."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import quote

import numpy as np
import pytest

from devtools.browser import wait_rerun_done
from viz.figures.text_view import ALPHA_MAX
from viz.views.text_view import REL_ERROR, text_pieces

pytestmark = pytest.mark.browser

TEXT = "The cat sat on the mat because it was tired."
LAYER, HEAD = 5, 4
# Chromium keeps a background alpha to about 1/255; each shade is ŵ_j / ŵ_max with both weights within
# REL_ERROR of the model's.
ALPHA_TOL = 1 / 255 + 1e-4


def text_frame(page):
    return page.frame_locator("iframe").first


def open_text_view(page, url: str, text: str, **params: str) -> None:
    query = "&".join([f"text={quote(text)}", *(f"{k}={v}" for k, v in params.items())])
    page.goto(f"{url}/text_view?{query}")
    text_frame(page).locator(".tok").first.wait_for()
    wait_rerun_done(page)


def tokens_shown(page) -> str:
    return "".join(text_frame(page).locator("#tv-text .tok").all_text_contents())


def alphas(page) -> np.ndarray:
    """Every token's computed background alpha, as the browser resolved it."""
    colours = (
        text_frame(page)
        .locator("#tv-text")
        .evaluate("el => Array.from(el.querySelectorAll('.tok')).map(s => getComputedStyle(s).backgroundColor)")
    )
    out = []
    for colour in colours:
        parts = re.findall(r"[\d.]+", colour)
        out.append(float(parts[3]) if len(parts) == 4 else 1.0 if parts else 0.0)
    return np.array(out)


def expected_alphas(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(alpha, tolerance) per token for one row of weights: ALPHA_MAX · w / max w."""
    ratio = weights / weights.max()
    return ALPHA_MAX * ratio, ALPHA_MAX * 2.1 * REL_ERROR * ratio + ALPHA_TOL


def js_three_digits(x: float) -> str:
    """x.toPrecision(3) as the view writes it: an exact half rounds up (Python's format rounds it to even),
    trailing zeros kept; the weights named here are above 1e-6, where JS writes no exponent."""
    d = Decimal(float(x))
    if d == 0:
        return "0.00"
    rounded = d.quantize(Decimal(1).scaleb(d.adjusted() - 2), rounding=ROUND_HALF_UP)
    return format(rounded, "f")


def test_hover_shades_by_the_models_weights_and_click_pins(page, app_url, smollm, screenshots) -> None:
    from services.traces import get_trace

    open_text_view(page, app_url, TEXT, layer=str(LAYER), head=str(HEAD))
    pattern = get_trace(smollm, TEXT, None, 4096).pattern(LAYER, HEAD).numpy().astype(np.float64)
    n = pattern.shape[0]
    toks = text_frame(page).locator("#tv-text .tok")
    assert toks.count() == n and tokens_shown(page) == TEXT

    query = n - 2  # "was": it may look at every earlier token
    toks.nth(query).hover()
    got = alphas(page)
    want, tol = expected_alphas(pattern[query])
    # Two tokens first (the darkest and the one the model weighs second), then every token.
    order = np.argsort(pattern[query])[::-1]
    for j in order[:2]:
        assert abs(got[j] - want[j]) <= tol[j], (j, got[j], want[j])
    np.testing.assert_array_less(np.abs(got - want), tol)
    assert (got[query + 1 :] == 0).all()  # the causal mask: later tokens get nothing
    status = text_frame(page).locator("#tv-status")
    assert "Hovered" in status.inner_text()
    # The three strongest weights are the model's own, in its order, to three significant digits: they come exact
    # beside the one-byte codes, which could not rank 0.1711 against 0.1719 (and showed 0.18 for both).
    said = text_frame(page).locator("#tv-top").inner_text()
    labels = text_pieces(get_trace(smollm, TEXT, None, 4096)).labels  # the names the view writes
    order = np.argsort(-pattern[query], kind="stable")[:3]
    want_said = " · ".join(f"{labels[j]} {js_three_digits(pattern[query, j])}" for j in order)
    assert said.strip().endswith(want_said), (said, want_said)
    # Review: the note promises three significant digits, and 0.280 read as 0.28.
    assert text_frame(page).locator("body").evaluate("() => window.__textView.shown(0.28)") == "0.280"

    toks.nth(query).click()
    assert "Pinned" in status.inner_text()
    assert "pin" in (toks.nth(query).get_attribute("class") or "")
    toks.nth(2).hover()  # a pinned token keeps its shading while the mouse moves on
    np.testing.assert_array_less(np.abs(alphas(page) - want), tol)
    page.screenshot(path=str(screenshots / "text_view.png"))

    page.keyboard.press("Escape")  # unpin; then hovering another token shades its row
    toks.nth(3).hover()
    want3, tol3 = expected_alphas(pattern[3])
    np.testing.assert_array_less(np.abs(alphas(page) - want3), tol3)


def test_key_direction_shades_a_column(page, app_url, smollm) -> None:
    from services.traces import get_trace

    open_text_view(page, app_url, TEXT, layer=str(LAYER), head=str(HEAD))
    page.get_by_text("As a key: who attends to it").click()
    wait_rerun_done(page)
    pattern = get_trace(smollm, TEXT, None, 4096).pattern(LAYER, HEAD).numpy().astype(np.float64)
    key = 1
    text_frame(page).locator("#tv-text .tok").nth(key).hover()
    want, tol = expected_alphas(pattern[:, key])
    np.testing.assert_array_less(np.abs(alphas(page) - want), tol)


def test_new_sidebar_text_redraws_the_tokens(page, app_url) -> None:
    open_text_view(page, app_url, TEXT)
    box = page.locator("[data-testid='stTextArea'] textarea")
    new = "one mole of carbon dioxide\nand a <b>bold</b> line"
    box.fill(new)
    box.press("Control+Enter")
    page.wait_for_function(
        """(want) => { const f = document.querySelector('iframe');
        const doc = f && f.contentDocument; if (!doc) return false;
        const toks = Array.from(doc.querySelectorAll('#tv-text .tok')).map(s => s.textContent);
        return toks.join('').replaceAll('↵', '') === want; }""",
        arg=new,
    )
    wait_rerun_done(page)
    assert tokens_shown(page).replace("↵", "") == new
    assert text_frame(page).locator("#tv-text b").count() == 0  # the typed <b> is text


@pytest.mark.parametrize("width", [1024, 1280])
def test_the_colour_scale_reads_0_bar_max_on_one_line(browser, app_url, width) -> None:
    """Browser review at 1024 px: the legend's explanation wrapped as one block, leaving "0 ▭" on one line and
    "max = darkest (…)" on the next, the bar cut off from its top value."""
    from devtools.browser import new_page

    with new_page(browser, height=1600, timeout_ms=180_000, animations=False, width=width) as page:
        open_text_view(page, app_url, TEXT)
        frame = text_frame(page)
        bar = frame.locator("#tv-bar").bounding_box()
        top = frame.locator("#tv-max").bounding_box()
        assert bar is not None and top is not None
        assert top["y"] < bar["y"] + bar["height"] and bar["y"] < top["y"] + top["height"], (bar, top)
        assert bar["x"] < top["x"] < bar["x"] + bar["width"] + 40, (bar, top)  # "max" just right of the bar
