"""Every chart's text can be read at 1280 and 1024 px and on a 390 px phone: no title, axis title, tick label,
legend entry or note runs past the edge of its chart (Plotly cuts it off there), no colour bar is drawn over a plot,
no two of a chart's titles, axis titles and legend are drawn over each other, and (at 1280 and 1024 px, and on the
phone for the few charts PHONE_TICK_CHARTS names) no two tick labels of an axis overlap.

Found by looking at every page at 1024 px: half-width charts cut their titles on both sides ("…ax → pattern A,
each row sums to 1 [10"), the Generate page's candidates chart drew its percentages under its axis title and cut
both off at the bottom (at 1280 px too), and the 45° token labels of the side-by-side matrices ran into each other.
At 390 px five pages cut a title or a subplot's title (Experiments' "Top 10 next tokens after …" by 95 px), and the
Experiments temperature chart's colour bar, placed between its two panels, covered the entropy bars at 1024 px.

Each page is opened once, at 1280 px, then the window is narrowed to 1024 and to 390 px: Plotly lays every chart out
again for its new width, and the text boxes it draws then were the same as on a fresh load at 1024 px on every page
(checked 2026-12-01; two pages' charts sat 10 px higher, as text above them wrapped differently), and at 390 px the
same texts were cut as on fresh loads. The pages are opened one after another in one session, through the sidebar's
links and Start here's step pills (a goto per page started a new session each time). On 2 idle cores: 156 s for
the 23 pages (2026-12-01); loading each page at each of two widths took 297 s.
"""

from __future__ import annotations

from itertools import pairwise

import pytest

from devtools.browser import new_page, wait_rerun_done
from tests.browser.in_session import open_in_session, resize
from tests.tiny_folders import tiny_folder

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

# Each axis whose neighbouring tick labels collide: [chart's title, axis, label, next label, px short]; of every
# chart, or of the charts a selector given as the argument picks.
# Turned labels are apart by their ticks' distance times the sine of the angle; upright x labels by the gap between
# their boxes; y labels by the distance between their centres.
OVERLAPPING_TICKS_JS = f"""(only) => {{
  const out = [];
  document.querySelectorAll(only || '.js-plotly-plot').forEach(plot => {{
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


# Each two of a chart's titles, subplot titles, notes, axis titles and legend whose boxes overlap: [chart's title,
# one text, the other, px of overlap across, px down]. Tick labels are left to the check above (a turned label's box
# is much larger than its letters). At 390 px the Experiments temperature chart drew its two subplot titles over each
# other, and its legend, wrapped to two rows, on its "key" axis title.
TEXT_OVER_TEXT_JS = f"""() => {{
  const out = [];
  document.querySelectorAll('.js-plotly-plot').forEach(plot => {{
    if (plot.getBoundingClientRect().width === 0) return;
    const title = (plot.querySelector('.gtitle') || {{}}).textContent || '(untitled)';
    // Every axis's title: a subplot's second axis has a group of its own (g-x2title), which '.g-xtitle' misses.
    const axisTitles = [...plot.querySelectorAll('g')].filter(g => /^g-[xy][0-9]*title$/.test(g.getAttribute('class')))
      .flatMap(g => [...g.querySelectorAll('text')]);
    // Annotations placed on the chart (subplot titles, notes), not the labels pinned to a data point (Embedding
    // shifts' 'L30' at each path's end: paths that end together put theirs together).
    const notes = [...plot.querySelectorAll('g.annotation')].filter(g => {{
      const a = (plot._fullLayout.annotations || [])[Number(g.getAttribute('data-index'))];
      return !a || !(/^x[0-9]*$/.test(a.xref) && /^y[0-9]*$/.test(a.yref));
    }}).flatMap(g => [...g.querySelectorAll('.annotation-text')]);
    const found = [...plot.querySelectorAll('.gtitle, .cbtitle text, .legend .bg'), ...notes, ...axisTitles];
    const texts = found.map(t => {{
      const legend = t.matches('.legend .bg');
      const name = legend ? 'legend: ' + [...plot.querySelectorAll('.legendtext')].map(l => l.textContent).join(', ')
                          : t.textContent;
      return {{r: t.getBoundingClientRect(), name}};
    }}).filter(t => t.r.width > 0 && t.r.height > 0 && t.name.trim());
    for (let i = 0; i < texts.length; i++) for (let j = i + 1; j < texts.length; j++) {{
      const a = texts[i].r, b = texts[j].r;
      const across = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      const down = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (across > {EDGE_PX} && down > {EDGE_PX}) {{
        out.push([title, texts[i].name, texts[j].name, Math.round(across), Math.round(down)]);
      }}
    }}
  }});
  return out;
}}"""

# Each colour bar drawn over a plot area of its own chart: [chart's title, px of overlap across, px down].
COLORBAR_OVER_PLOT_JS = f"""() => {{
  const out = [];
  document.querySelectorAll('.js-plotly-plot').forEach(plot => {{
    if (plot.getBoundingClientRect().width === 0) return;
    const title = (plot.querySelector('.gtitle') || {{}}).textContent || '(untitled)';
    const areas = [...plot.querySelectorAll('.nsewdrag')].map(d => d.getBoundingClientRect());
    plot.querySelectorAll('.colorbar').forEach(bar => {{
      const c = bar.getBoundingClientRect();
      areas.forEach(a => {{
        const across = Math.min(c.right, a.right) - Math.max(c.left, a.left);
        const down = Math.min(c.bottom, a.bottom) - Math.max(c.top, a.top);
        if (across > {EDGE_PX} && down > {EDGE_PX}) out.push([title, Math.round(across), Math.round(down)]);
      }});
    }});
  }});
  return out;
}}"""

# On a phone tick labels are checked only on PHONE_TICK_CHARTS: a token axis of ~40 labels in a 300 px chart cannot
# keep its labels apart, and the server, which chooses which tokens to label, does not know the screen's width (hover
# names each). What is cut off, and titles or legends over each other, are checked at every width.
PHONE = 390
WIDTHS = (1280, 1024, PHONE)  # each page is loaded once, at the first, then the window narrowed
# The charts whose tick labels must stay apart on a phone too: a few tokens' labels, drawn upright (the Experiments
# temperature map's 10 key labels at 45° ran into each other in its ~110 px wide panel).
PHONE_TICK_CHARTS = "[class*='st-key-exp_temperature'] .js-plotly-plot"
HEIGHT = 2400


@pytest.fixture(scope="module")
def wide_page(browser):
    with new_page(browser, height=HEIGHT, timeout_ms=LOAD_MS, animations=False, width=WIDTHS[0]) as pg:
        yield pg


def _chart_text_problems(page, width: int, shots, name: str) -> list[str]:
    """What is cut off, overlapping or under a colour bar on the page at `width` (a screenshot if anything is)."""
    resize(page, width, HEIGHT, name)
    clipped, covered = page.evaluate(CLIPPED_TEXT_JS), page.evaluate(COLORBAR_OVER_PLOT_JS)
    overlapping = page.evaluate(OVERLAPPING_TICKS_JS, PHONE_TICK_CHARTS if width == PHONE else None)
    stacked = page.evaluate(TEXT_OVER_TEXT_JS)
    if clipped or overlapping or covered or stacked:
        page.screenshot(path=str(shots / f"chart_text_{name.replace('&', '_')}_{width}.png"))
    return (
        [f"cut off at {width} px: {c}" for c in clipped]
        + [f"overlapping at {width} px: {o}" for o in overlapping]
        + [f"colour bar over a plot at {width} px: {c}" for c in covered]
        + [f"text over text at {width} px: {t}" for t in stacked]
    )


@pytest.mark.parametrize("name", PAGES)
def test_chart_text_is_whole_and_apart(wide_page, app_url: str, shots, name: str) -> None:
    page = wide_page
    page.set_viewport_size({"width": WIDTHS[0], "height": HEIGHT})
    open_in_session(page, app_url, name)
    problems = [p for width in WIDTHS for p in _chart_text_problems(page, width, shots, name)]
    assert problems == []


# The head labels of the head finder's layer × head grid: [text, turned (degrees), left px, right px].
GRID_HEAD_LABELS_JS = """() => [...document.querySelectorAll("[class*='st-key-mech_find_grid'] .xtick text")].map(t => {
  const r = t.getBoundingClientRect(), turn = (t.getAttribute('transform') || '').match(/rotate\\((-?[0-9.]+)/);
  return [t.textContent, turn ? Math.abs(parseFloat(turn[1])) : 0, r.left, r.right];
})"""


def test_minilms_layer_head_grid_labels_its_heads_upright_and_apart(browser, app_url: str, shots) -> None:
    """MiniLM's 12 heads, every one labelled in the head finder's ~180 px grid at 1280 px, were turned 90° and
    read as one string of digits ("01234567891011"); SmolLM2's 9 (the pages above) had just fitted. The labels are
    upright and apart at 1280 and 1024 px, and the rest of the page's chart text holds too."""
    with new_page(browser, height=HEIGHT, timeout_ms=LOAD_MS, animations=False, width=WIDTHS[0]) as page:
        page.goto(f"{app_url}/?page=head_finder&model=minilm-l6")
        page.locator("[class*='st-key-mech_find_grid'] .js-plotly-plot").wait_for(state="visible")
        wait_rerun_done(page, before_ms=1000, after_ms=1000)
        problems = []
        for width in WIDTHS[:2]:
            problems += _chart_text_problems(page, width, shots, "head_finder_minilm")
            labels = page.evaluate(GRID_HEAD_LABELS_JS)
            assert labels and labels[0][0] == "0", labels
            problems += [f"turned at {width} px: {text}" for text, turn, _, _ in labels if turn > 5]
            if any(b[2] - a[3] < 2 for a, b in pairwise(labels)):  # less than 2 px between two labels
                problems.append(f"head labels over each other at {width} px: {labels}")
    assert problems == []


# Charts SmolLM2's pages do not draw, which the test above therefore never sees: (a tiny model's kind, the page, a
# chart its page draws there and SmolLM2's does not, so that it is drawn says the tiny model is loaded). DeBERTa: q·k
# | + its position terms | = the scores, on the masking page and Inside one head; Gemma 2: soft-capped scores beside
# the uncapped, its sliding window beside the causal mask; BART: the cross-attention page's encoder-decoder charts;
# DeepSeek-V3: Inside one head's latent projections; ESM: the patterns page's contact map and the Logit lens page's
# residue map; a classifier's verdict and a tagger's labels, layer by layer. (A chart SmolLM2 draws too was found at
# once, hidden, before the tiny model was loaded: the test waited for it to show until it timed out.) Every chart on
# the page is checked, so a page is opened once for all the charts it draws.
OTHER_MODELS_CHARTS = (
    ("deberta_v1", "masking", ("position_bias",)),
    ("deberta", "masking", ("position_bias",)),
    ("deberta", "inside_head", ("mech_bias",)),
    ("gemma2", "masking", ("softcap",)),
    ("bart", "cross_attention", ("mech_cross_encdec_block", "cross_lens_grid")),
    ("deepseek_v3", "inside_head", ("mech_cKV",)),
    ("esm", "patterns", ("contact_map",)),
    ("esm", "logit_lens", ("residue_map",)),
    ("cls_roberta", "logit_lens", ("class_track",)),
    ("tag_bert", "logit_lens", ("tag_grid",)),
)


def _joined(value: str | tuple[str, ...]) -> str:
    return "+".join(value) if isinstance(value, tuple) else value


@pytest.mark.parametrize(("kind", "name", "charts"), OTHER_MODELS_CHARTS, ids=_joined)
def test_other_models_charts_keep_their_text_whole_and_apart(
    browser, app_url: str, browser_models, shots, kind: str, name: str, charts: tuple[str, ...]
) -> None:
    """Side by side, DeBERTa's three panels' titles ran into each other at 1024 px ("+ position terms= scores (the
    softmax's input)") and all three on a phone. The pages above run SmolLM2, which adds nothing before the mask,
    has no window, no encoder and no latent, so these charts are drawn here for tiny models loaded through *Another
    model*, and checked at every width."""
    folder = browser_models / "models" / f"tiny-{kind}"
    if not folder.exists():
        tiny_folder(browser_models, kind)
    with new_page(browser, height=HEIGHT, timeout_ms=LOAD_MS, animations=False, width=WIDTHS[0]) as page:
        page.goto(f"{app_url}/?page={name}&model={folder}&layer=1&head=2")
        page.locator(".st-key-model_load button").click()  # the link fills the box
        for chart in charts:
            page.locator(f".st-key-{chart} .js-plotly-plot").wait_for(state="visible")
        wait_rerun_done(page, before_ms=1000, after_ms=1000)
        problems = [p for width in WIDTHS for p in _chart_text_problems(page, width, shots, f"{name}_{kind}")]
    assert not problems, "\n".join(problems)
