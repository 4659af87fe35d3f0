"""Every chart's text can be read at 1024 and 1280 px: no title, axis title, tick label, legend entry or note
runs past the edge of its chart (Plotly cuts it off there), and no two tick labels of an axis overlap.

Found by looking at every page at 1024 px: half-width charts cut their titles on both sides ("…ax → pattern A,
each row sums to 1 [10"), the Generate page's candidates chart drew its percentages under its axis title and cut
both off at the bottom (at 1280 px too), and the 45° token labels of the side-by-side matrices ran into each other.
"""

from __future__ import annotations

import pytest

from devtools.browser import new_page, wait_rerun_done

pytestmark = pytest.mark.browser

LOAD_MS = 300_000  # a session's first page loads the model, on two cores shared by several agents
EDGE_PX = 2  # what a text may pass its chart's edge by (anti-aliasing, Plotly's rounding)
# Two neighbouring tick labels overlap when, across their writing direction, their baselines are closer than this
# share of the font size: the height of the lower-case letters, which is what a reader sees collide.
MIN_LINE_SHARE = 0.7
# Pages with charts.
PAGES = (
    "patterns",
    "masking",
    "inside_head",
    "embedding_shifts",
    "head_finder",
    "experiments",
    "logit_lens",
    "contributions",
    "generate",
    "atlas",
    "cross_attention",
    "parameters",
)
# Start here's steps that draw a chart (Tokens, Softmax and Parameter count show tables).
START_STEPS = (
    "embeddings",
    "query-key",
    "dot-products",
    "pattern",
    "masking",
    "values",
    "heads",
    "layers",
    "moles",
    "context",
    "cross-attention",
)
PAGES += tuple(f"start&step={step}" for step in START_STEPS)

# Each visible text of each visible chart that lies outside the chart's box: [chart's title, text, px outside].
CLIPPED_TEXT_JS = f"""() => {{
  const out = [];
  const sel = '.gtitle, .g-xtitle text, .g-ytitle text, .xtick text, .ytick text, .annotation-text, .legendtext,'
            + ' .cbtitle text, .cbaxis text';
  document.querySelectorAll('.js-plotly-plot').forEach(plot => {{
    const box = plot.getBoundingClientRect();
    if (box.width === 0) return;
    const title = (plot.querySelector('.gtitle') || {{}}).textContent || '(untitled)';
    plot.querySelectorAll(sel).forEach(t => {{
      const r = t.getBoundingClientRect();
      if (r.width === 0 || !t.textContent.trim()) return;
      const past = Math.max(box.left - r.left, r.right - box.right, box.top - r.top, r.bottom - box.bottom);
      if (past > {EDGE_PX}) out.push([title, t.textContent, Math.round(past)]);
    }});
  }});
  return out;
}}"""

# Each axis whose neighbouring tick labels collide: [chart's title, axis, label, next label, px short].
# Turned labels are apart by their ticks' distance times the sine of the angle; upright x labels by the gap between
# their boxes; y labels by the distance between their centres.
OVERLAPPING_TICKS_JS = f"""() => {{
  const out = [];
  document.querySelectorAll('.js-plotly-plot').forEach(plot => {{
    if (plot.getBoundingClientRect().width === 0) return;
    const title = (plot.querySelector('.gtitle') || {{}}).textContent || '(untitled)';
    for (const axis of ['xtick', 'ytick']) {{
      const groups = new Map();
      plot.querySelectorAll('.' + axis + ' text').forEach(t => {{
        const g = t.parentNode.parentNode;
        if (!groups.has(g)) groups.set(g, []);
        groups.get(g).push(t);
      }});
      groups.forEach(texts => {{
        const labels = texts.map(t => {{
          const r = t.getBoundingClientRect();
          const turn = (t.getAttribute('transform') || '').match(/rotate\\((-?[0-9.]+)/);
          return {{r, angle: turn ? Math.abs(parseFloat(turn[1])) : 0, size: parseFloat(getComputedStyle(t).fontSize),
                   text: t.textContent, anchor: t.getAttribute('text-anchor')}};
        }}).filter(l => l.r.width > 0 && l.text.trim());
        // A turned label starts or ends at its tick (its text-anchor says which), so one edge of its box is the tick.
        const centre = l => axis === 'ytick' ? (l.r.top + l.r.bottom) / 2
                          : l.angle > 5 && l.anchor === 'end' ? l.r.right
                          : l.angle > 5 && l.anchor === 'start' ? l.r.left : (l.r.left + l.r.right) / 2;
        labels.sort((a, b) => centre(a) - centre(b));
        for (let i = 1; i < labels.length; i++) {{
          const a = labels[i - 1], b = labels[i];
          let apart, need;
          if (axis === 'xtick' && b.angle > 5) {{
            apart = (centre(b) - centre(a)) * Math.sin(b.angle * Math.PI / 180); need = {MIN_LINE_SHARE} * b.size;
          }} else if (axis === 'xtick') {{
            apart = b.r.left - a.r.right; need = 0;
          }} else {{
            apart = centre(b) - centre(a); need = {MIN_LINE_SHARE} * b.size;
          }}
          if (apart < need) {{ out.push([title, axis, a.text, b.text, Math.round(need - apart)]); break; }}
        }}
      }});
    }}
  }});
  return out;
}}"""


@pytest.fixture(scope="module", params=(1024, 1280), ids=lambda w: f"{w}px")
def page_at(request, browser):
    with new_page(browser, height=2400, timeout_ms=LOAD_MS, animations=False, width=request.param) as pg:
        yield pg, request.param


@pytest.mark.parametrize("name", PAGES)
def test_chart_text_is_whole_and_apart(page_at, app_url: str, shots, name: str) -> None:
    page, width = page_at
    page.goto(f"{app_url}/?page={name}&layer=0&head=0")
    page.locator(".js-plotly-plot").first.wait_for(state="visible")
    wait_rerun_done(page, before_ms=1000, after_ms=2500)
    clipped, overlapping = page.evaluate(CLIPPED_TEXT_JS), page.evaluate(OVERLAPPING_TICKS_JS)
    if clipped or overlapping:
        page.screenshot(path=str(shots / f"chart_text_{name.replace('&', '_')}_{width}.png"))
    assert clipped == [], f"chart text cut off at {width} px: {clipped}"
    assert overlapping == [], f"tick labels overlapping at {width} px: {overlapping}"
