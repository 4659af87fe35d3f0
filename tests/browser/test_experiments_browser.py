"""The Experiments page in a real browser: next-token panel, an ablation, the head ranking, the temperature
slider; one 1280 px screenshot per panel (test-artifacts/screenshots/experiments_*.png, copied to
assets/screenshots/ for the README).

One test walks the page in order, as a user would, so the all-heads sweep runs once.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from devtools import browser

pytestmark = pytest.mark.browser

SWEEP_TIMEOUT_MS = 420_000  # 270 ablations; on 2 shared cores under load this took 30-140 s


def chart(page, key: str, timeout: float | None = None):
    loc = page.locator(f"[class*='st-key-{key}'] .js-plotly-plot").first
    loc.wait_for(state="visible", timeout=timeout)
    return loc


wait_rerun_done = partial(browser.wait_rerun_done, timeout_ms=SWEEP_TIMEOUT_MS)  # the first sweep is slow


def no_exception(page) -> None:
    assert page.locator("[data-testid='stException']").count() == 0


def section_shot(page, shots: Path, name: str, heading: str, next_heading: str | None, full_width: bool = False):
    """Screenshot from one section's heading down to the next one (or the end of the page's content)."""
    page.evaluate("() => document.querySelectorAll('*').forEach(e => { if (e.scrollTop) e.scrollTop = 0; })")
    page.wait_for_timeout(300)
    top = page.get_by_role("heading", name=heading).bounding_box()
    main = page.locator("[data-testid='stMainBlockContainer']").bounding_box()
    if next_heading is not None:
        bottom = page.get_by_role("heading", name=next_heading).bounding_box()["y"] - 8
    else:
        bottom = main["y"] + main["height"]
    x0 = 0 if full_width else main["x"]
    y0 = 0 if full_width else top["y"] - 12
    clip = {"x": x0, "y": y0, "width": 1280 - x0, "height": bottom - y0}
    page.screenshot(path=str(shots / f"{name}.png"), clip=clip)


def test_experiments_page(exp_page, exp_url, exp_shots) -> None:
    page = exp_page
    # Open the app at home with layer 0, head 2 selected, then follow the sidebar link, as a user would.
    page.goto(f"{exp_url}/?layer=0&head=2")
    page.get_by_role("heading", name="Start here").wait_for()
    wait_rerun_done(page)
    page.get_by_role("link", name="Experiments").click()
    bars = chart(page, "exp_next")
    wait_rerun_done(page)
    no_exception(page)
    assert page.url.endswith("/experiments") or "page=experiments" in page.url
    probs = bars.evaluate("el => Array.from(el.data[0].x)")
    assert len(probs) == 10 and probs == sorted(probs, reverse=True)
    assert bars.evaluate("el => el.layout.yaxis.ticktext[0]") == "‘,’"
    section_shot(page, exp_shots, "experiments_next", "What the model predicts next", "Experiment: change heads", True)

    # 1. Zero-ablate the selected head (layer 0, head 2): the top prediction changes.
    page.get_by_role("button", name="Add to experiment").click()
    chart(page, "exp_compare")
    wait_rerun_done(page)
    no_exception(page)
    success = page.locator("[data-testid='stAlertContentSuccess']").first.inner_text()
    assert "The top prediction changed" in success and "→ ‘␣’" in success
    drift = chart(page, "exp_drift").evaluate("el => Array.from(el._fullData[el._fullData.length - 1].y)")
    assert drift[0] == 0 and drift[-1] > 0
    section_shot(page, exp_shots, "experiments_ablation", "Experiment: change heads", "Most important heads")

    # 2. Rank every head by ablation for the chosen token (',').
    page.get_by_role("button", name="Rank all 270 heads").click()
    heat = chart(page, "exp_sweep_map", timeout=SWEEP_TIMEOUT_MS)
    wait_rerun_done(page)
    no_exception(page)
    z = heat.evaluate("el => Array.from(el._fullData[0].z).map(r => Array.from(r))")
    assert len(z) == 30 and len(z[0]) == 9
    flat = [v for row in z for v in row]
    assert z[0][2] == min(flat) < -3  # layer 0, head 2 is the most important head for ','
    section_shot(page, exp_shots, "experiments_heads", "Most important heads", "Temperature of layer")

    # 3. Temperature: three steps left on the slider (1 → 0.75 → 0.5 → 0.25) sharpens every row.
    # react-aria draws the thumb as a visually hidden range input; keys go to the focused one (a rerun can
    # briefly show a stale copy, so press on the keyboard rather than on a locator).
    for _ in range(3):
        page.get_by_role("slider", name="Temperature T").first.focus()  # a rerun redraws it: focus again
        page.keyboard.press("ArrowLeft")
        wait_rerun_done(page)
    page.wait_for_timeout(500)
    wait_rerun_done(page)
    no_exception(page)
    temp = chart(page, "exp_temperature")
    assert "T = 0.25" in temp.evaluate("el => el.layout.title.text")
    before = temp.evaluate("el => Array.from(el._fullData[1].x)")
    after = temp.evaluate("el => Array.from(el._fullData[2].x)")
    assert sum(after[1:]) < sum(before[1:])  # lower entropy: sharper rows
    section_shot(page, exp_shots, "experiments_temperature", "Temperature of layer", None)

    # 4. Score the prediction in the middle of the text: after token 3 ("␣creature") the title names the position
    # and the chosen token is the one that comes next in the text ("␣roamed").
    picker = page.locator("[data-testid='stSelectbox']").filter(
        has=page.get_by_text("Predict the token after", exact=True)
    )
    picker.first.get_by_role("combobox").click()
    page.get_by_role("option", name="3: ␣creature").click()
    wait_rerun_done(page)
    no_exception(page)
    title = chart(page, "exp_next").evaluate("el => el.layout.title.text")
    assert "(token 3)" in title and "creature" in title, title
    chosen = page.locator("[class*='st-key-exp_token_'] input").first.input_value()
    assert "roamed" in chosen and "next in your text" in chosen, chosen
    assert "After token 3" in chart(page, "exp_compare").evaluate("el => el.layout.title.text")
