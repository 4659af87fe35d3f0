"""Self-contained HTML for a View: one fragment for a notebook's text/html output, the same fragment wrapped in a
document for a standalone file. Offline by construction: plotly.js is embedded (no CDN, no requirejs), the figures'
JSON and, for clickable views, every selectable head's heatmap are embedded too.

Why each choice (docs/notebook.md): plain text/html renders in JupyterLab, Jupyter Notebook, VS Code and Colab
alike, where widgets or custom MIME renderers do not; every id carries a random per-fragment prefix, so two views
in one notebook never address each other's elements; plotly.js loads once per page (a later fragment finds
window.Plotly), but every fragment carries it, because Colab runs each output in its own frame.
"""

from __future__ import annotations

import functools
import html
import uuid

from plotly.io.json import to_json_plotly
from plotly.offline import get_plotlyjs

from attention_viz.views import View
from viz.figures.layout import SELECTED_RED

# `module` shadowed: in a page where a CommonJS-style `module` exists, plotly.js's UMD header would export into it
# instead of setting window.Plotly.
_LOADER = "<script>if (!window.Plotly) {{ (function (module) {{ {js} \n}}).call(window, undefined); }}</script>"

# Draws the figures and, for clickable views, wires a click on a thumbnail to redraw the head heatmap (the last
# figure) from the embedded heads. Only ids under this fragment's own prefix are touched.
_SCRIPT = """<script>
(function () {
  var spec = JSON.parse(document.getElementById("%(uid)s-data").textContent);
  var config = {displaylogo: false, responsive: true};
  spec.figures.forEach(function (fig, i) {
    Plotly.newPlot("%(uid)s-fig" + i, fig.data, fig.layout, config);
  });
  if (!spec.clickable || !Object.keys(spec.heads).length) return;
  var picker = document.getElementById("%(uid)s-fig0");
  var target = "%(uid)s-fig" + (spec.figures.length - 1);
  var status = document.getElementById("%(uid)s-selected");
  function moveFrame(pt) {
    // The grid's frame and bold red label follow the click, as the app redraws them (viz.figures.overview).
    var lay = picker.layout, upd = {};
    if (lay.shapes && lay.shapes.length) {
      var s = lay.shapes[0], hw = (s.x1 - s.x0) / 2, hh = (s.y1 - s.y0) / 2;
      upd["shapes[0].x0"] = pt.x - hw; upd["shapes[0].x1"] = pt.x + hw;
      upd["shapes[0].y0"] = pt.y - hh; upd["shapes[0].y1"] = pt.y + hh;
    }
    var plainColour = null;
    (lay.annotations || []).forEach(function (a) {
      if (a.text.indexOf("<b>") < 0 && plainColour === null) plainColour = a.font && a.font.color;
    });
    (lay.annotations || []).forEach(function (a, i) {
      var label = a.text.replace(/<[^>]+>/g, ""), on = label === "head " + pt.customdata[1];
      upd["annotations[" + i + "].text"] = on ? "<b>" + label + "</b>" : label;
      upd["annotations[" + i + "].font.color"] = on ? spec.selected_colour : plainColour;
    });
    Plotly.relayout(picker, upd);
  }
  picker.on("plotly_click", function (ev) {
    var pt = ev.points.find(function (p) { return p.customdata !== undefined; });
    if (!pt) return;
    var key = pt.customdata[0] + "," + pt.customdata[1];  // (layer, head) in both clickable figures
    var head = spec.heads[key];
    if (!head) return;
    var layout = JSON.parse(JSON.stringify(spec.figures[spec.figures.length - 1].layout));
    layout.title = Object.assign({}, layout.title || {}, {text: head.title});
    Plotly.react(target, head.data, layout, config);
    if (spec.name === "layer") moveFrame(pt);
    status.textContent = "Selected: " + head.title;
    status.setAttribute("data-selected", key);
  });
})();
</script>"""


@functools.cache
def plotly_loader() -> str:
    """plotly.js (about 4.8 MB) in a script that runs it only where no Plotly is loaded yet."""
    return _LOADER.format(js=get_plotlyjs())


def _safe_json(obj: object) -> str:
    """JSON for a <script type="application/json"> block: "</" escaped so no string can close the script."""
    return to_json_plotly(obj).replace("</", "<\\/")


def fragment(view: View, include_plotlyjs: bool = True) -> str:
    """The view as one <div> (figures stacked, head selection wired), safe to place beside other fragments."""
    uid = "attnviz-" + uuid.uuid4().hex[:12]
    figures = [f.to_plotly_json() for f in view.figures]  # {"data": [...], "layout": {...}} each
    spec = {
        "name": view.name,
        "layer": view.layer,
        "head": view.head,
        "clickable": view.clickable,
        "selected_colour": SELECTED_RED,
        "heads": view.heads,
        "figures": figures,
    }
    divs = "\n".join(f'<div id="{uid}-fig{i}" class="attnviz-figure"></div>' for i in range(len(figures)))
    parts = [f'<div id="{uid}" class="attnviz" data-view="{html.escape(view.name)}">']
    if include_plotlyjs:
        parts.append(plotly_loader())
    parts.append(divs)
    if view.clickable and view.heads:
        hint = "Click a head in the first figure to draw it large below."
        selected = f"Selected: Layer {view.layer}, head {view.head}"
        parts.append(f'<p class="attnviz-hint">{hint} <span id="{uid}-selected">{html.escape(selected)}</span></p>')
    else:
        parts.append(f'<span id="{uid}-selected" hidden></span>')
    if view.note:
        parts.append(f'<p class="attnviz-note">{html.escape(view.note)}</p>')
    parts.append(f'<script type="application/json" id="{uid}-data">{_safe_json(spec)}</script>')
    parts.append(_SCRIPT % {"uid": uid})
    parts.append("</div>")
    return "\n".join(parts)


def document(view: View, title: str) -> str:
    """A standalone HTML file: opens from disk with no server and no network, and stays interactive."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n"
        "<style>body{font-family:sans-serif;margin:16px;max-width:1200px}</style>\n</head>\n<body>\n"
        f'<h1 style="font-size:1.2em">{html.escape(title)}</h1>\n{fragment(view)}\n</body>\n</html>\n'
    )
