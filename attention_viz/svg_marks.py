"""What the SVG writer draws on and around a heatmap besides its cells, as Plotly draws it: tick labels (tickvals and
ticktext, or numbers from tick0/dtick or Plotly's own automatic step), the text a heatmap's texttemplate writes in
its cells (the logit lens's predicted tokens), and rect and line shapes in data, domain or paper coordinates (the
selected head's frame, the generation view's end-of-prompt line)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from attention_viz.svg_base import Axis, Box, plain, text

MINUS = "\u2212"  # Plotly writes negative tick numbers with a minus sign, not a hyphen
MAX_TICKS = 500  # a dtick far smaller than the range would write thousands of overlapping labels
_FIELD = re.compile(r"%\{(\w+)(?::([^}]*))?\}")
_FONT_SIZE = re.compile(r"font-size:\s*(\d+)px")  # a <span style=...> in a cell's text (the lens's punctuation)


def _number(v: float | str | None) -> float | None:
    try:
        out = float(v)
    except (TypeError, ValueError):
        return None  # "L2" (log axes) or "M1" (dates): steps this writer does not draw
    return out if math.isfinite(out) and out != 0 else None


def auto_step(span: float, length_px: float, letter: str, nticks: int | None = None) -> float:
    """Plotly's automatic tick step (plotly.js axes.prepTicks, autoTicks): span / (nticks, else one label per 80 px
    across or 40 px up, 4 to 9 of them, + 1), rounded up to the next 2, 5 or 10 times a power of ten."""
    rough = abs(span) / (nticks or min(max(length_px / (40 if letter == "y" else 80), 4), 9) + 1)
    if rough <= 0:
        return 1.0
    base = 10 ** math.floor(math.log10(rough))
    return base * next((m for m in (2, 5) if rough / base < m), 10)


def format_number(v: float, fmt: str | None, step: float | None) -> str:
    """A number as Plotly labels it: its tickformat (d3's, where Python's format takes it), else as few decimals
    as the step needs."""
    if fmt:
        spec = fmt.replace("~", "")
        try:
            s = format(round(v) if spec.endswith("d") else v, spec)
        except (ValueError, TypeError):
            s = ""
        if s:
            return s.replace("-", MINUS)
    if step is None:
        s = f"{v:g}"
    else:  # plotly.js autoTickRound: 2 digits past the step's largest, trailing zeros dropped
        s = f"{v:.{max(0, 2 - math.floor(math.log10(step) + 0.01))}f}"
        s = s.rstrip("0").rstrip(".") if "." in s else s
    return ("0" if float(s) == 0 else s).replace("-", MINUS)


def tick_labels(lay: go.layout.XAxis | go.layout.YAxis, a: Axis, letter: str) -> list[tuple[float, str]]:
    """(value, label) of each tick label Plotly writes on this axis, within its range."""
    if lay.visible is False or lay.showticklabels is False:
        return []
    lo, hi = sorted((a.v0, a.v1))
    pre, post = lay.tickprefix or "", lay.ticksuffix or ""
    if lay.tickvals is not None:
        vals = [float(v) for v in lay.tickvals]
        if lay.ticktext is not None:  # Plotly pairs them up to the shorter list
            return [(v, str(t)) for v, t in zip(vals, lay.ticktext, strict=False)]
        return [(v, pre + format_number(v, lay.tickformat, None) + post) for v in vals if lo <= v <= hi]
    if lay.tickmode == "array" or lay.type not in (None, "-", "linear"):
        return []  # an array axis with no values writes none; log, date and category ticks are not drawn here
    step = _number(lay.dtick) if lay.tickmode != "auto" else None
    step = abs(step) if step else auto_step(hi - lo, abs(a.hi_px - a.lo_px), letter, lay.nticks)
    start = _number(lay.tick0) or 0.0
    first, last = math.ceil((lo - start) / step - 1e-9), math.floor((hi - start) / step + 1e-9)
    values = start + step * np.arange(first, min(last, first + MAX_TICKS - 1) + 1)
    return [(float(v), pre + format_number(float(v), lay.tickformat, step) + post) for v in values]


def ticks(lay: go.layout.XAxis | go.layout.YAxis, a: Axis, letter: str, edge: float) -> list[str]:
    """Tick labels as <text> elements: x labels above (side top, rotated) or below, y labels left."""
    out = []
    for v, t in tick_labels(lay, a, letter):
        p = a.px(v)
        if letter == "y":
            out.append(text(edge - 6, p + 4, t, anchor="end", extra=' class="tick y"'))
            continue
        angle = float(lay.tickangle or 0)
        top = lay.side == "top"
        y = edge - 6 if top else edge + 14
        anchor = "start" if (top and angle) else ("end" if angle else "middle")
        rot = f' transform="rotate({angle:.0f} {p:.1f} {y:.1f})"' if angle else ""
        out.append(text(p, y, t, anchor=anchor, extra=f' class="tick x"{rot}'))
    return out


def contrast(colour: str) -> str:
    """Plotly's automatic text colour on a fill (plotly.js Color.contrast): its dark grey on a light fill, white on a
    dark one, by tinycolor's brightness (ITU-R 601 luma under 128 is dark)."""
    rgb = [float(c) for c in re.findall(r"[\d.]+", colour)[:3]]
    if len(rgb) < 3 and colour.startswith("#") and len(colour) == 7:
        rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    if len(rgb) < 3:
        return "#444"
    return "#fff" if (rgb[0] * 299 + rgb[1] * 587 + rgb[2] * 114) / 1000 < 128 else "#444"


def _field(name: str, spec: str | None, values: dict) -> str:
    v = values.get(name)
    if v is None:
        return ""
    if isinstance(v, int | float | np.integer | np.floating):
        try:
            return format(float(v), spec.replace("~", "")) if spec else f"{float(v):.4g}"
        except ValueError:
            return f"{float(v):.4g}"
    return str(v)


def cell_texts(tr: go.Heatmap, placed: Sequence[tuple[float, float, int, int, str]]) -> list[str]:
    """What the heatmap's texttemplate writes in each cell (x px, y px of its centre, row, column, fill colour):
    Plotly writes cell text only when a texttemplate asks (a trace's `text` alone is its hover), centred, in the
    trace's textfont or, by default, a colour that reads on the cell."""
    template = tr.texttemplate
    if not template or isinstance(template, list | tuple):
        return []
    cell_text = tr.text if tr.text is not None and not isinstance(tr.text, str) else None
    z = np.asarray(tr.z, dtype=np.float64)
    xs = list(tr.x) if tr.x is not None else list(range(z.shape[1]))
    ys = list(tr.y) if tr.y is not None else list(range(z.shape[0]))
    size, fixed = int(tr.textfont.size or 12), tr.textfont.color
    out = []
    for cx, cy, r, c, fill in placed:
        t = cell_text[r][c] if cell_text is not None else tr.text
        values = {"z": z[r, c], "x": xs[c], "y": ys[r], "text": t}
        s = _FIELD.sub(lambda m, v=values: _field(m.group(1), m.group(2), v), template)
        if plain(s):
            colour = fixed if isinstance(fixed, str) else contrast(fill)
            sized = _FONT_SIZE.search(s)
            px = int(sized.group(1)) if sized else size
            bold = ' font-weight="bold"' if "<b>" in s else ""
            out.append(text(cx, cy + px * 0.35, s, px, extra=f' fill="{colour}" class="cell"{bold}'))
    return out


def dasharray(dash: str | None, width: float) -> str:
    """Plotly's dash names as SVG's stroke-dasharray (plotly.js Drawing.dashStyle), "" for a solid line."""
    d = max(width, 3)
    named = {
        "dot": (d, d),
        "dash": (3 * d, 3 * d),
        "longdash": (5 * d, 5 * d),
        "dashdot": (3 * d, d, d, d),
        "longdashdot": (5 * d, 2 * d, d, 2 * d),
    }
    if not dash or dash == "solid":
        return ""
    if dash in named:
        return ",".join(f"{v:g}" for v in named[dash])
    return dash.replace("px", "").replace(" ", "")  # a list of lengths, as "5px,10px"


def _place(ref: str | None, v: float | str, letter: str, axes: dict[str, Axis], box: Box) -> float | None:
    """One shape coordinate in pixels: a data value ("x2"), a fraction of an axis ("x2 domain") or of the plot
    area ("paper"); None when it refers to an axis this figure does not draw."""
    ref = ref or letter
    f = float(v)
    if ref == "paper":
        return box.paper(f, 0)[0] if letter == "x" else box.paper(0, f)[1]
    name = ref.removesuffix(" domain")
    a = axes.get(name)
    if a is None:
        return None
    return a.fraction(f) if ref.endswith(" domain") else a.px(f)


def shapes(fig: go.Figure, axes: dict, box: Box) -> list[str]:
    """The figure's rect and line shapes (frames, the end of the prompt) with their colour, width and dash."""
    xs = {k[0]: v[0] for k, v in axes.items()}
    ys = {k[1]: v[1] for k, v in axes.items()}
    out = []
    for sh in fig.layout.shapes:
        if sh.type not in ("rect", "line") or None in (sh.x0, sh.x1, sh.y0, sh.y1):
            continue  # circles and paths are not drawn by this writer
        x0, x1 = _place(sh.xref, sh.x0, "x", xs, box), _place(sh.xref, sh.x1, "x", xs, box)
        y0, y1 = _place(sh.yref, sh.y0, "y", ys, box), _place(sh.yref, sh.y1, "y", ys, box)
        if None in (x0, x1, y0, y1):
            continue
        width = float(sh.line.width if sh.line.width is not None else 2)  # Plotly's defaults: 2 px, #444
        dash = dasharray(sh.line.dash, width)
        style = f'stroke="{sh.line.color or "#444"}" stroke-width="{width:g}"' if width > 0 else 'stroke="none"'
        style += f' stroke-dasharray="{dash}"' if dash else ""
        style += f' opacity="{sh.opacity:g}"' if sh.opacity is not None and sh.opacity < 1 else ""
        if sh.type == "line":
            out.append(f'<line x1="{x0:.2f}" y1="{y0:.2f}" x2="{x1:.2f}" y2="{y1:.2f}" {style}/>')
            continue
        (left, right), (top, bottom) = sorted((x0, x1)), sorted((y0, y1))
        out.append(
            f'<rect x="{left:.2f}" y="{top:.2f}" width="{right - left:.2f}" height="{bottom - top:.2f}" '
            f'fill="{sh.fillcolor or "none"}" {style}/>'
        )
    return out
