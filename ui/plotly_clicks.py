"""Every click on a chart whose click selects a head lands on the point under the pointer (issue 19, defect 11).

Plotly does not look up the point under a click: a click selects the point of its last hover. That hover is
recomputed on mousemove at most once per 50 ms (plotly.js `HOVERMINTIME`), later ones wait on a timer, and while
the button is held a hover clears instead (`gd._dragging`). So a click that comes soon after the pointer arrived,
or on a page busy drawing the previous click's rerun (the browser handles the queued mouseup before the timer),
selected the thumbnail passed on the way, or nothing. On a phone a tap has no hover before it, so each tap selected
the previous tap's point.

The script below, added once per page by the frame, refreshes the hover at the press's position just before
Plotly handles the release, on charts whose clickmode selects. It leans on three internals of the plotly.js that
Streamlit bundles (checked against Streamlit 1.67): the `.nsewdrag` rectangle that takes a cartesian plot's
mouse events, the hover throttle's id (`_fullLayout._uid` + "-hover") and the `_dragging` flag. If a Streamlit
upgrade changes them the script does nothing, and tests/browser/test_every_input_lands_browser.py fails.
"""

from __future__ import annotations

import streamlit as st

KEY = "plotly_clicks_land"

# The press is remembered in the capture phase of mousedown or touchstart (before Plotly's handler), and the hover
# refreshed in the capture phase of mouseup or touchend, so Plotly's click handler, which runs right after, reads
# the fresh hover.
SCRIPT = """<script>
(() => {
  if (window.__plotlyClicksLand) return;
  window.__plotlyClicksLand = true;
  const MAX_CLICK_MOVE_PX = 8;  // Plotly's own limit between a click and a drag
  const point = event => (event.changedTouches ? event.changedTouches[0] : event);
  let press = null, refreshes = 0;
  const onPress = event => {
    const drag = event.target.closest ? event.target.closest('.nsewdrag') : null;
    const plot = drag ? drag.closest('.js-plotly-plot') : null;
    const selects = plot && plot._fullLayout && String(plot._fullLayout.clickmode).includes('select');
    const single = !event.touches || event.touches.length === 1;
    press = selects && single ? {drag, plot, x: point(event).clientX, y: point(event).clientY} : null;
  };
  const onRelease = event => {
    if (!press) return;
    const {drag, plot, x, y} = press;
    press = null;
    if (Math.hypot(point(event).clientX - x, point(event).clientY - y) > MAX_CLICK_MOVE_PX) return;
    const layout = plot._fullLayout, uid = layout._uid, dragging = plot._dragging;
    layout._uid = `${uid}-click${++refreshes}`;  // a throttle id of its own: the hover runs now, not in 50 ms
    plot._dragging = false;  // a held button makes Plotly clear the hover instead
    try {
      drag.dispatchEvent(new MouseEvent('mousemove', {clientX: x, clientY: y, bubbles: true, view: window}));
    } finally {
      layout._uid = uid;
      plot._dragging = dragging;
    }
  };
  for (const [down, up] of [['mousedown', 'mouseup'], ['touchstart', 'touchend']]) {
    document.addEventListener(down, onPress, {capture: true, passive: true});
    document.addEventListener(up, onRelease, {capture: true, passive: true});
  }
})();
</script>"""


def make_clicks_land() -> None:
    """Add the script to the page, in a hidden container (the script draws nothing). The rule hides the container's
    layout wrapper too: otherwise the page's flex gap would still push everything below it down by 16 px."""
    st.html(f"<style>[data-testid='stLayoutWrapper']:has(> .st-key-{KEY}), .st-key-{KEY} {{ display: none; }}</style>")
    with st.container(key=KEY):
        st.html(SCRIPT, unsafe_allow_javascript=True)
