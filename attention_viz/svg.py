"""A small SVG writer for our heatmap figures, read from the very `go.Figure` the app draws.

Why not kaleido: kaleido 1.5 does drive Debian's Chromium offline here (6.5 s for a 2×2 heatmap), but Plotly
draws heatmaps to a canvas, so its SVG holds each heatmap as one embedded raster <image>: not vector, and papers
ask for vector (BertViz #33). Here every cell is a <rect> with its real colour (NaN cells show the plot background,
as in the browser), the text a texttemplate writes in a cell (the logit lens's tokens), every tick label (token
labels, and the numbers of a dtick or automatic axis), title and annotation a <text>, frames <rect>s and lines
(the generation view's end of the prompt) <line>s (attention_viz/svg_marks.py). Plotly's own layout engine is not
reproduced: margins are sized from the labels, subplots keep their domains, square thumbnails stay square.
A view of several figures is written as one SVG, the figures stacked (`view_svg`). Scatter-only figures (the
embedding shifts' arrows, the lens's line charts) are not heatmaps: `to_svg` refuses them (SvgError), `view_svg`
leaves them out with a note saying so.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from xml.sax.saxutils import escape

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.colors import sample_colorscale

from attention_viz.svg_base import CHAR_PX, FONT, Axis, Box, SvgError, plain, reach, rect, text
from attention_viz.svg_marks import cell_texts, shapes, tick_labels, ticks
from viz.labels import readable_text

__all__ = ["SvgError", "plain", "to_svg", "view_svg"]
NOTE_PX = 36  # the band of a left-out figure's note in a stacked view
NOTE_LINE_PX = 16  # one line of the view's own note under its figures
NO_HEATMAP = "this view has no heatmap to write as SVG: export it as HTML instead"


def _axis_name(ref: str | None, letter: str) -> str:
    """'x2' → 'xaxis2', None/'x' → 'xaxis'."""
    suffix = (ref or letter)[1:]
    return f"{letter}axis{suffix}"


def _data_range(lay_axis: go.layout.XAxis | go.layout.YAxis, coords: np.ndarray) -> tuple[float, float]:
    if lay_axis.range is not None:
        lo, hi = float(lay_axis.range[0]), float(lay_axis.range[1])
    else:
        lo, hi = float(coords.min()) - 0.5, float(coords.max()) + 0.5
    if lay_axis.autorange == "reversed" and lo < hi:
        lo, hi = hi, lo
    return lo, hi


def _heatmap_coords(tr: go.Heatmap) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    z = np.asarray(tr.z, dtype=np.float64)  # [rows (y), cols (x)]
    x = np.asarray(tr.x, dtype=np.float64) if tr.x is not None else np.arange(z.shape[1], dtype=np.float64)
    y = np.asarray(tr.y, dtype=np.float64) if tr.y is not None else np.arange(z.shape[0], dtype=np.float64)
    return z, x, y


def _scale(colorscale: object) -> list[list]:
    """A resolved Plotly colorscale (tuples of (position, colour)) as sample_colorscale takes it; a trace without one
    takes the default template's, as Plotly does."""
    if colorscale is None:
        colorscale = pio.templates["plotly"].layout.colorscale.sequential
    return [[float(pos), colour] for pos, colour in colorscale]


def _colours(fig: go.Figure, tr: go.Heatmap, z: np.ndarray) -> tuple[list, float, float]:
    """(colorscale, zmin, zmax) of a heatmap, from the trace or its shared colour axis."""
    if tr.coloraxis:
        ca = fig.layout[tr.coloraxis]
        return _scale(ca.colorscale), float(ca.cmin), float(ca.cmax)
    finite = z[np.isfinite(z)]
    lo = float(tr.zmin) if tr.zmin is not None else float(finite.min(initial=0.0))
    hi = float(tr.zmax) if tr.zmax is not None else float(finite.max(initial=1.0))
    if tr.zmid is not None and tr.zmin is None:
        bound = max(abs(lo - tr.zmid), abs(hi - tr.zmid))
        lo, hi = tr.zmid - bound, tr.zmid + bound
    return _scale(tr.colorscale), lo, hi


def _cells(fig: go.Figure, tr: go.Heatmap, ax: Axis, ay: Axis) -> list[str]:
    """One <rect> per finite cell, coloured as Plotly colours it (linear in [zmin, zmax], clipped), then the text its
    texttemplate writes on each."""
    z, x, y = _heatmap_coords(tr)
    scale, lo, hi = _colours(fig, tr, z)
    dx = float(np.median(np.diff(x))) if x.size > 1 else 1.0
    dy = float(np.median(np.diff(y))) if y.size > 1 else 1.0
    gx, gy = float(tr.xgap or 0), float(tr.ygap or 0)
    rows, cols = np.nonzero(np.isfinite(z))
    values = np.clip((z[rows, cols] - lo) / max(hi - lo, 1e-30), 0.0, 1.0)
    colours = sample_colorscale(scale, values.tolist()) if values.size else []
    out, placed = [], []
    for r, c, colour in zip(rows, cols, colours, strict=True):
        x0, x1 = sorted((ax.px(x[c] - dx / 2), ax.px(x[c] + dx / 2)))
        y0, y1 = sorted((ay.px(y[r] - dy / 2), ay.px(y[r] + dy / 2)))
        w, h = max(x1 - x0 - gx, 0.1), max(y1 - y0 - gy, 0.1)
        out.append(rect(x0 + gx / 2, y0 + gy / 2, w, h, colour))
        placed.append(((x0 + x1) / 2, (y0 + y1) / 2, int(r), int(c), colour))
    return out + cell_texts(tr, placed)


def _labels(fig: go.Figure, tr: go.Heatmap, letter: str, length_px: float) -> tuple[go.layout.XAxis, list[str]]:
    """A heatmap's x or y axis and, before the plot area is known, the tick labels it will write (an automatic
    step depends on the axis's length: `length_px` is the figure's, near enough for sizing margins)."""
    lay = fig.layout[_axis_name(tr.xaxis if letter == "x" else tr.yaxis, letter)]
    coords = _heatmap_coords(tr)[1 if letter == "x" else 2]
    v0, v1 = _data_range(lay, coords)
    return lay, [t for _, t in tick_labels(lay, Axis(v0, v1, 0.0, length_px), letter)]


def _margins(fig: go.Figure, heatmaps: list[go.Heatmap], width: int, height: int) -> Box:
    """Room for the title, the tick labels (rotated x labels reach up or down), axis titles and colour bars."""
    lay = fig.layout
    x_axes = {_axis_name(t.xaxis, "x"): _labels(fig, t, "x", width) for t in heatmaps}
    y_axes = {_axis_name(t.yaxis, "y"): _labels(fig, t, "y", height)[1] for t in heatmaps}
    left = 16 + max((reach(labels, 90) - 16 + 24 for labels in y_axes.values() if labels), default=10)
    top, bottom = 12 + (30 if plain(lay.title.text) else 0), 16
    for ax, labels in x_axes.values():
        extent = reach(labels, float(ax.tickangle or 0)) if labels else 8
        extent += 22 if plain(ax.title.text) else 0
        top, bottom = (top + extent, bottom) if ax.side == "top" else (top, max(bottom, extent + 12))
    if any(an.yref == "paper" for an in lay.annotations):
        top += 20  # subplot titles sit above the plots
    bars = len(_colour_bars(fig, heatmaps))
    return Box(left, top, width - 20 - 90 * bars, height - bottom)


def _colour_bars(fig: go.Figure, heatmaps: list[go.Heatmap]) -> list[tuple[str, list, float, float]]:
    """(title, scale, lo, hi) of each colour bar drawn: one per colour axis, one per other shown heatmap."""
    bars, seen = [], set()
    for tr in heatmaps:
        if tr.coloraxis:
            if tr.coloraxis not in seen:
                seen.add(tr.coloraxis)
                ca = fig.layout[tr.coloraxis]
                bars.append((ca.colorbar.title.text, _scale(ca.colorscale), float(ca.cmin), float(ca.cmax)))
        elif tr.showscale is not False:
            z, _, _ = _heatmap_coords(tr)
            scale, lo, hi = _colours(fig, tr, z)
            bars.append((tr.colorbar.title.text, scale, lo, hi))
    return bars


def _draw_bars(bars: list, box: Box) -> list[str]:
    out = []
    for k, (title, scale, lo, hi) in enumerate(bars):
        x = box.right + 20 + 90 * k
        steps = 48
        h = (box.bottom - box.top) / steps
        for i, colour in enumerate(sample_colorscale(scale, [1 - (i + 0.5) / steps for i in range(steps)])):
            out.append(rect(x, box.top + i * h, 14, h + 0.3, colour))
        out.append(text(x + 18, box.top + 10, f"{hi:.3g}", 11, "start"))
        out.append(text(x + 18, box.bottom, f"{lo:.3g}", 11, "start"))
        out.append(text(x, box.top - 6, title or "", 11, "start", ' class="colorbar-title"'))
    return out


def _axis_titles(lay_x: go.layout.XAxis, lay_y: go.layout.YAxis, ax: Axis, ay: Axis, box: Box, head: float) -> list:
    """Axis titles: an x title above its top labels (at `head`, under the figure title) or below its bottom ones."""
    out = []
    if plain(lay_x.title.text) and lay_x.visible is not False:
        below = reach([t for _, t in tick_labels(lay_x, ax, "x")], float(lay_x.tickangle or 0))
        y = head + 14 if lay_x.side == "top" else max(ay.lo_px, ay.hi_px) + below + 16  # under a square plot too
        out.append(text((ax.lo_px + ax.hi_px) / 2, y, lay_x.title.text, 13, extra=' class="axis-title"'))
    if plain(lay_y.title.text) and lay_y.visible is not False:
        mid = (ay.lo_px + ay.hi_px) / 2
        turn = f' class="axis-title" transform="rotate(-90 14 {mid:.1f})"'
        out.append(text(14, mid, lay_y.title.text, 13, extra=turn))
    return out


def _annotations(fig: go.Figure, axes: dict, box: Box) -> list[str]:
    """Head labels (data coordinates) and subplot titles (paper coordinates) as <text>."""
    out = []
    for an in fig.layout.annotations:
        if an.xref == "paper" or an.yref == "paper":
            x = box.left + float(an.x) * (box.right - box.left)
            y = box.top - 6 if float(an.y) >= 1 else box.bottom - float(an.y) * (box.bottom - box.top)
        elif (an.xref or "x", an.yref or "y") in axes:
            ax, ay = axes[(an.xref or "x", an.yref or "y")]
            x, y = ax.px(float(an.x)), ay.px(float(an.y)) - (3 if an.yanchor == "bottom" else 0)
        else:
            continue
        colour = an.font.color or "#444"
        bold = ' font-weight="bold"' if "<b>" in str(an.text) else ""
        out.append(text(x, y, an.text, int(an.font.size or 12), extra=f' fill="{colour}"{bold} class="annotation"'))
    return out


def _scatter_marks(tr: go.Scatter, ax: Axis, ay: Axis) -> list[str]:
    """The −∞ labels on masked cells (text mode) and the selected head's frame (the overview's open square)."""
    out = []
    xs, ys = np.asarray(tr.x, dtype=np.float64), np.asarray(tr.y, dtype=np.float64)
    if "text" in (tr.mode or "") and tr.text is not None:
        texts = [tr.text] * len(xs) if isinstance(tr.text, str) else list(tr.text)
        colour = tr.textfont.color or "#555"
        for x, y, t in zip(xs, ys, texts, strict=True):
            out.append(text(ax.px(x), ay.px(y) + 4, t, int(tr.textfont.size or 11), extra=f' fill="{colour}"'))
    if tr.selectedpoints is not None and tr.marker.symbol == "square-open":
        half = float(tr.marker.size or 10) / 2
        colour = tr.selected.marker.color or "#d62728"
        for i in tr.selectedpoints:
            x, y = ax.px(xs[i]), ay.px(ys[i])
            out.append(
                f'<rect x="{x - half:.2f}" y="{y - half:.2f}" width="{2 * half:.2f}" height="{2 * half:.2f}" '
                f'fill="none" stroke="{colour}" stroke-width="2.5"/>'
            )
    return out


def _panel(fig: go.Figure, tr: go.Heatmap, box: Box, titled: float) -> tuple[tuple, list[str]]:
    """One heatmap with its axes: ((xref, yref), (x axis, y axis)) and its SVG elements."""
    lx, ly = fig.layout[_axis_name(tr.xaxis, "x")], fig.layout[_axis_name(tr.yaxis, "y")]
    z, x, y = _heatmap_coords(tr)
    ax, ay = box.axes(lx, ly, _data_range(lx, x), _data_range(ly, y))
    bg = fig.layout.plot_bgcolor or "white"
    x0, x1 = sorted((ax.px(ax.v0), ax.px(ax.v1)))
    y0, y1 = sorted((ay.px(ay.v0), ay.px(ay.v1)))
    # The plot background shows through NaN cells: grey where a score is masked, white between thumbnails.
    out = [f'<rect x="{x0:.2f}" y="{y0:.2f}" width="{x1 - x0:.2f}" height="{y1 - y0:.2f}" fill="{bg}"/>']
    out += _cells(fig, tr, ax, ay)
    out += ticks(lx, ax, "x", y0 if lx.side == "top" else y1)
    out += ticks(ly, ay, "y", x0)
    out += _axis_titles(lx, ly, ax, ay, box, titled)
    return ((tr.xaxis or "x", tr.yaxis or "y"), (ax, ay)), out


def _heatmaps(fig: go.Figure) -> list[go.Heatmap]:
    return [t for t in fig.data if isinstance(t, go.Heatmap)]


def _figure(fig: go.Figure, width: int) -> tuple[list[str], int]:
    """The elements of one figure with heatmaps, on a white background, and its height."""
    heatmaps = _heatmaps(fig)
    height = int(fig.layout.height or 500)
    box = _margins(fig, heatmaps, width, height)
    title = plain(fig.layout.title.text)
    head = 12 + (30 if title else 0)
    body, axes = ['<rect width="100%" height="100%" fill="white"/>'], {}
    if title:
        body.append(text(box.left, 28, title, 16, "start", ' class="title"'))
    for tr in heatmaps:
        key_axes, elements = _panel(fig, tr, box, head)
        axes[key_axes[0]] = key_axes[1]
        body += elements
    for tr in fig.data:
        if isinstance(tr, go.Scatter) and (tr.xaxis or "x", tr.yaxis or "y") in axes:
            body += _scatter_marks(tr, *axes[(tr.xaxis or "x", tr.yaxis or "y")])
    body += shapes(fig, axes, box) + _annotations(fig, axes, box) + _draw_bars(_colour_bars(fig, heatmaps), box)
    return body, height


def _svg(width: int, height: int, body: list[str], at: str = ' xmlns="http://www.w3.org/2000/svg"') -> str:
    """An <svg> element of this size holding `body`: the document's root, or (at=' x=.. y=..') one nested in it."""
    head = f'<svg{at} width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
    return "\n".join([head, *body, "</svg>"])


def to_svg(fig: go.Figure, width: int = 900) -> str:
    """The figure's heatmaps as vector SVG: cells as <rect>, token labels and titles as <text>."""
    if not _heatmaps(fig):
        raise SvgError(NO_HEATMAP)
    body, height = _figure(fig, width)
    return _svg(width, height, body) + "\n"


def _left_out(fig: go.Figure, k: int, n: int, y: int, width: int) -> str:
    """The note standing for a figure with no heatmap in a stacked view: which one, and where it is drawn."""
    title = plain(fig.layout.title.text)
    kinds = ", ".join(sorted({t.type for t in fig.data})) or "empty"
    what = f"figure {k} of {n}" + (f", “{title}”" if title else "") + f" ({kinds}, no heatmap)"
    note = f"Left out: {what}; the view's HTML export draws it."
    return text(width / 2, y + NOTE_PX / 2 + 4, note, 12, extra=' fill="#666" font-style="italic" class="left-out"')


def _note(note: str, y: int, width: int) -> tuple[list[str], int]:
    """The view's note (a cut text, the sent view's sink, the lens's caption: what the HTML says under the figures)
    as lines of text under them, and their band's height. It is plain text, as the HTML escapes it: not read as
    Plotly markup (a token "<sat>" stays), its invisible characters named (XML cannot hold a raw ESC at all)."""
    lines = textwrap.wrap(readable_text(note), max(int((width - 32) / CHAR_PX), 20))
    out = [
        f'<text x="16" y="{y + 8 + NOTE_LINE_PX * (i + 1) - 4}" font-size="12" text-anchor="start" {FONT} '
        f'fill="#444" class="note">{escape(line)}</text>'
        for i, line in enumerate(lines)
    ]
    return out, 12 + NOTE_LINE_PX * len(lines)


def view_svg(figures: Sequence[go.Figure], width: int = 900, note: str = "") -> str:
    """Every figure of a view in one SVG, one under another (each a nested <svg>, the height their sum), and the
    view's note under them: a file of the scores view holds its mask comparison, of the steps view every step. A
    figure with no heatmap is not drawn (as `to_svg` refuses it) but named in a note in its place; a view with no
    heatmap at all is refused."""
    if len(figures) == 1 and not note:
        return to_svg(figures[0], width)
    if not any(_heatmaps(f) for f in figures):
        raise SvgError(NO_HEATMAP)
    parts, y = ['<rect width="100%" height="100%" fill="white"/>'], 0
    for k, fig in enumerate(figures, start=1):
        if not _heatmaps(fig):
            parts.append(_left_out(fig, k, len(figures), y, width))
            y += NOTE_PX
            continue
        body, height = _figure(fig, width)
        parts.append(_svg(width, height, body, at=f' x="0" y="{y}"'))
        y += height
    if note:
        lines, height = _note(note, y, width)
        parts += lines
        y += height
    return _svg(width, y, parts) + "\n"
