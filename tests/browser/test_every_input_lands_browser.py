"""Every keypress and click lands (issue 19, defect 11): sixteen quick presses of → on the Layer slider reach
layer 16, and the last of four quick thumbnail clicks is the head selected, in the sidebar, the page and the link.

Two ways a quick click was lost, seen by logging the overview's Plotly events (2026-12-01):
- Two clicks within Plotly's double-click delay (500 ms in Streamlit's Plotly) were a double click: Plotly cleared
  the selection and selected the point of its last hover, the one passed on the way (2 of 5 runs ended on an
  earlier head). Fixed: the charts whose clicks select count no double clicks (viz.figures.layout.CLICK_SELECT;
  tests/app/test_quick_clicks.py). With the fix 5 of 5 logged runs ended on the last head, without a double click.
- Plotly selects the point of its last hover, and recomputes that hover at most every 50 ms on a timer (and
  clears it instead while the button is held). A busy page handles a queued mouseup before that timer, so a click
  arrived with the hover of the thumbnail passed on the way, or with none (nothing selected): the four-click test
  failed 1 of 4 runs after the double-click fix. Fixed: the frame's script (ui/plotly_clicks.py) refreshes the
  hover at the press before Plotly handles the release. The two race tests below replay both ways in the page,
  without timing luck; both failed before the fix.
- Each rerun put an empty slot (for a progress bar) where the overview was, and sent the chart again only at the end
  of the run: the browser hid the overview (display: none) in between. On a loaded machine that lasted over a second
  (logged 2026-12-02: 1.5 s, with 3 busy loops on the 2 cores and a fresh server), and the fourth click, aimed while
  the overview was hidden, fell at the top of the page: the page stayed on layer 12, head 5, as in CI (2 cores, 3
  workers). The four-click test failed 1 of 12 runs with 3 busy loops and 2 of 10 with 4. A person clicking quickly
  meets the same blank. Fixed: once pooled, the chart goes straight into its box (app_pages/patterns.py); then 0 of
  12 and 0 of 10. The four-click test now also reads what the server sends: on the old page it failed 3 of 3 runs
  on an idle machine (an empty sent to the overview's place on each click's rerun)."""

from __future__ import annotations

import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from devtools.browser import CLICK_TARGET_JS, wait_rerun_done

pytestmark = pytest.mark.browser

PRESSES = 16
PRESS_GAP_MS = 60  # quicker than a rerun (~0.3 s here): presses arrive while the app is still drawing
PRESS_JS = """(input, [count, gap]) => { for (let i = 0; i < count; i++) setTimeout(() => {
    for (const type of ['keydown', 'keyup'])
        input.dispatchEvent(new KeyboardEvent(type, {key: 'ArrowRight', code: 'ArrowRight', bubbles: true}));
}, i * gap); }"""
CLICKS = ((3, 1), (7, 2), (12, 5), (20, 4))  # (layer, head) of SmolLM2's 30 × 9 overview
CLICK_GAP_MS = 150  # with the move and the press, the next mousedown comes ~0.3 s later: inside a 500 ms delay
# A click as a hand makes it: the pointer travels to the thumbnail, and the button is held for a moment. Plotly
# takes the clicked point from its hover, recomputed at most once per 50 ms (HOVERMINTIME); a synthetic click
# that teleports and releases at once can fall inside that window and report the point hovered before it
# (seen here: a click on layer 7 reported layer 6, passed on the way), which no person's click does.
PRESS_MS = 80
# The race, replayed in one go in the page: the pointer passes thumbnail A (Plotly hovers it at once), arrives on B
# (B's hover now waits up to 50 ms on Plotly's timer), and presses and releases on B, after `hold` ms. Released
# at once, Plotly selected A; held past the timer, Plotly cleared its hover while the button was down and the
# click selected nothing.
RACE_JS = """async (el, [passed, clicked, hold]) => {
    const drag = el.querySelector('.nsewdrag');
    const mouse = (type, [x, y], buttons) => drag.dispatchEvent(new MouseEvent(type,
        {clientX: x, clientY: y, bubbles: true, cancelable: true, view: window, buttons}));
    mouse('mousemove', passed, 0);
    const hovered = (el._hoverdata || []).map(p => Array.from(p.customdata || []).map(Number));
    mouse('mousemove', clicked, 0);
    mouse('mousedown', clicked, 1);
    if (hold) await new Promise(done => setTimeout(done, hold));
    mouse('mouseup', clicked, 0);
    return hovered;
}"""
MOVE_STEPS = 4
FIRST_LOAD_MS = 300_000  # a session's first page loads the model, on two cores shared by several agents


def plot(page, key: str):
    return page.locator(f"[class*='st-key-{key}'] .js-plotly-plot").first


# Where a thumbnail is, or "hidden" when the chart is not drawn (a hidden chart has no box: the spot would be garbage).
AIM_JS = f"(el, target) => el.getClientRects().length ? ({CLICK_TARGET_JS})(el, target) : 'hidden'"


def record_elements(page) -> list[tuple[tuple[int, ...], str, str]]:
    """Record (place in the page, element type, element id) of each element the server sends from now on, in order;
    a chart sent again unchanged comes as a reference to the earlier message ("ref_hash"), at its place."""
    sent: list[tuple[tuple[int, ...], str, str]] = []

    def received(payload: object) -> None:
        if isinstance(payload, str):
            return
        msg = ForwardMsg()
        msg.ParseFromString(payload)
        place = tuple(msg.metadata.delta_path)
        if msg.WhichOneof("type") == "ref_hash":
            sent.append((place, "ref_hash", ""))
        elif msg.WhichOneof("type") == "delta" and msg.delta.WhichOneof("type") == "new_element":
            kind = msg.delta.new_element.WhichOneof("type")
            sent.append((place, kind, getattr(getattr(msg.delta.new_element, kind), "id", "")))

    page.on("websocket", lambda ws: ws.on("framereceived", received))
    return sent


def open_patterns(page, url: str) -> None:
    page.goto(f"{url}/?page=patterns&layer=0&head=0")  # page= works whichever page is the default
    plot(page, "head_heatmap").wait_for(state="visible", timeout=FIRST_LOAD_MS)
    plot(page, "overview_L").wait_for(state="visible", timeout=FIRST_LOAD_MS)
    wait_rerun_done(page)


def settle(page) -> None:
    """Wait until no rerun is in flight for a whole second (the quick inputs queue several)."""
    for _ in range(3):
        wait_rerun_done(page, before_ms=500, after_ms=1000)


def slider_value(page, key: str) -> str:
    return page.locator(f".st-key-{key} [data-testid='stSliderThumbValue']").inner_text()


def record_sent_values(page, key: str) -> list[float | None]:
    """Record the value of widget `key` in each rerun request the browser sends from now on, in order (None when a
    request does not carry it)."""
    sent: list[float | None] = []

    def on_sent(payload: object) -> None:
        if isinstance(payload, str):
            return
        msg = BackMsg()
        msg.ParseFromString(payload)
        if msg.WhichOneof("type") != "rerun_script":
            return
        states = [w for w in msg.rerun_script.widget_states.widgets if w.id.endswith(f"-{key}")]
        sent.append(states[0].double_array_value.data[0] if states and states[0].double_array_value.data else None)

    page.on("websocket", lambda ws: ws.on("framesent", on_sent))
    return sent


def test_sixteen_quick_presses_reach_layer_16(page, app_url, shots) -> None:
    """The layer values the browser sent are kept, so that a failure says which side lost the last press: the
    browser (its last request carried 15) or the server (it was sent 16 and drew 15). Seen once in ~10 full runs
    (2026-12-07, fresh clone of 8da11a8): the slider showed 16, the page 15; not reproduced in 28 runs of this
    test alone beside 3 to 6 busy loops."""
    sent = record_sent_values(page, "layer")
    open_patterns(page, app_url)
    assert slider_value(page, "layer") == "0"
    thumb = page.locator(".st-key-layer input[type='range']")
    thumb.focus()
    # The presses are timed in the page, not from here: Playwright waits for each key event to be handled,
    # which on a busy machine spaced the presses out until every rerun had finished.
    thumb.evaluate(PRESS_JS, [PRESSES, PRESS_GAP_MS])
    page.wait_for_timeout(PRESSES * PRESS_GAP_MS + 500)
    settle(page)
    page.screenshot(path=str(shots / "every_press_lands.png"))
    said = f"the browser's requests carried layer {sent}"
    assert slider_value(page, "layer") == str(PRESSES), said
    assert page.get_by_role("heading", name=f"Layer {PRESSES}, head 0").count() == 1, said
    assert f"layer={PRESSES}" in page.url, said


@pytest.mark.parametrize("hold_ms", [0, 120], ids=["released-at-once", "held-past-the-hover-timer"])
def test_a_click_selects_the_thumbnail_under_it_not_the_one_passed(page, app_url, hold_ms: int) -> None:
    open_patterns(page, app_url)
    overview = plot(page, "overview_L")
    passed, clicked = ((19, 4), (20, 4))
    spots = [overview.evaluate(CLICK_TARGET_JS, list(thumbnail)) for thumbnail in (passed, clicked)]
    inside = [[x + 2, y + 2] for x, y in spots]
    page.wait_for_timeout(200)  # Plotly's last hover was long ago: passing A is hovered at once
    hovered = overview.evaluate(RACE_JS, [*inside, hold_ms])
    assert hovered == [list(passed)]  # the race was set up: Plotly's hover was on the thumbnail passed
    settle(page)
    assert (slider_value(page, "layer"), slider_value(page, "head")) == tuple(str(v) for v in clicked)
    assert f"layer={clicked[0]}" in page.url and f"head={clicked[1]}" in page.url
    # The script's container takes no room: its layout wrapper is hidden too, or the flex gap would stay.
    hidden = page.locator("[data-testid='stLayoutWrapper']:has(> .st-key-plotly_clicks_land)")
    assert hidden.count() == 1 and hidden.evaluate("el => getComputedStyle(el).display") == "none"


def test_four_quick_thumbnail_clicks_select_the_last(page, app_url, shots) -> None:
    """Also: the reruns the clicks start never blank the overview. A blank lasted as long as the rest of the run, on
    a loaded machine over a second, and a click then fell on nothing; read from the server's messages (an empty
    element sent to the overview's place), it fails every time, not only when the machine is slow enough."""
    sent = record_elements(page)
    open_patterns(page, app_url)
    overview_places = {place for place, kind, ident in sent if kind == "plotly_chart" and "-overview_L" in ident}
    assert overview_places, "the overview chart was not seen among the server's messages"
    loaded = len(sent)
    # Each thumbnail is aimed at where it is on the screen at that moment, as a person aims: on a loaded machine
    # the page can still be settling after it first looks drawn.
    for layer, head in CLICKS:
        spot = plot(page, "overview_L").evaluate(AIM_JS, [layer, head])
        assert spot not in (None, "hidden"), (layer, head, spot)
        x, y = spot[0] + 2, spot[1] + 2
        page.mouse.move(x, y, steps=MOVE_STEPS)
        page.mouse.click(x, y, delay=PRESS_MS)
        page.wait_for_timeout(CLICK_GAP_MS)
    settle(page)
    page.screenshot(path=str(shots / "every_click_lands.png"))
    layer, head = CLICKS[-1]
    assert (slider_value(page, "layer"), slider_value(page, "head")) == (str(layer), str(head))
    assert page.get_by_role("heading", name=f"Layer {layer}, head {head}").count() == 1
    assert f"layer={layer}" in page.url and f"head={head}" in page.url
    # The overview frames the same head: its selected thumbnail (the red frame) is the last one clicked.
    framed = plot(page, "overview_L").evaluate(
        "el => { const t = el._fullData[1]; return (t.selectedpoints || []).map(i => Array.from(t.customdata[i])); }"
    )
    assert [[int(v) for v in point] for point in framed] == [[layer, head]]
    blanked = [(place, kind) for place, kind, _ in sent[loaded:] if place in overview_places and kind == "empty"]
    assert not blanked, f"a click's rerun blanked the overview before sending it again: {blanked}"
