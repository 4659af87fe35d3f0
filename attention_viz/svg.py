"""A small SVG writer for our heatmap figures, read from the very `go.Figure` the app draws.

Why not kaleido: kaleido 1.5 does drive Debian's Chromium offline here (6.5 s for a 2×2 heatmap), but Plotly
draws heatmaps to a canvas, so its SVG holds each heatmap as one embedded raster <image>: not vector, and papers
ask for vector (BertViz #33). Here every cell is a <rect> with its real colour (NaN cells show the plot background,
as in the browser), every token label, title and annotation a <text>, frames <rect>s. Plotly's own layout engine
is not reproduced: margins are sized from the labels, subplots keep their domains, square thumbnails stay square.
Scatter-only figures (the embedding shifts' arrows) are not heatmaps: `to_svg` refuses them (SvgError).
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from xml.sax.saxutils import escape

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

CHAR_PX = 7.0  # 12 px sans-serif, average advance
FONT = 'font-family="Helvetica, Arial, sans-serif"'
_TAG = re.compile(r"<[^>]+>")


class SvgError(ValueError):
    """The figure holds nothing this writer draws as vector (no heatmap)."""


def plain(text: object) -> str:
    """Plotly label markup → plain text: <br> to a space, tags dropped, HTML entities decoded."""
    s = str(text if text is not None else "")
    return html.unescape(_TAG.sub("", s.replace("<br>", " ")))


def _text(x: float, y: float, s: str, size: int = 12, anchor: str = "middle", extra: str = "") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" {FONT}{extra}>'
        f"{escape(plain(s))}</text>"
    )


def _rect(x: float, y: float, w: float, h: float, fill: str) -> str:
    return f'<rect x="{x:.2f}" y="{y:.2f}" width="{w:.2f}" height="{h:.2f}" fill="{fill}"/>'


@dataclass
class _Axis:
    """One data axis mapped to pixels: data value v → lo_px + (v - v0) * scale."""

    v0: float
    v1: float
    lo_px: float
    hi_px: float

    def px(self, v: float) -> float:
        return self.lo_px + (v - self.v0) / (self.v1 - self.v0) * (self.hi_px - self.lo_px)

    @property
    def per_unit(self) -> float:
        return abs(self.hi_px - self.lo_px) / abs(self.v1 - self.v0)


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
    """A resolved Plotly colorscale (tuples of (position, colour)) as sample_colorscale takes it."""
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


def _cells(fig: go.Figure, tr: go.Heatmap, ax: _Axis, ay: _Axis) -> list[str]:
    """One <rect> per finite cell, coloured as Plotly colours it (linear in [zmin, zmax], clipped)."""
    z, x, y = _heatmap_coords(tr)
    scale, lo, hi = _colours(fig, tr, z)
    dx = float(np.median(np.diff(x))) if x.size > 1 else 1.0
    dy = float(np.median(np.diff(y))) if y.size > 1 else 1.0
    gx, gy = float(tr.xgap or 0), float(tr.ygap or 0)
    rows, cols = np.nonzero(np.isfinite(z))
    values = np.clip((z[rows, cols] - lo) / max(hi - lo, 1e-30), 0.0, 1.0)
    colours = sample_colorscale(scale, values.tolist()) if values.size else []
    out = []
    for r, c, colour in zip(rows, cols, colours, strict=True):
        x0, x1 = sorted((ax.px(x[c] - dx / 2), ax.px(x[c] + dx / 2)))
        y0, y1 = sorted((ay.px(y[r] - dy / 2), ay.px(y[r] + dy / 2)))
        w, h = max(x1 - x0 - gx, 0.1), max(y1 - y0 - gy, 0.1)
        out.append(_rect(x0 + gx / 2, y0 + gy / 2, w, h, colour))
    return out


def _ticks(lay_axis: go.layout.XAxis | go.layout.YAxis, a: _Axis, letter: str, edge: float) -> list[str]:
    """Token labels as <text> elements: x labels above (side top, rotated) or below, y labels left."""
    if not lay_axis.visible and lay_axis.visible is not None:
        return []
    vals, texts = lay_axis.tickvals, lay_axis.ticktext
    if vals is None or texts is None:
        return []
    out = []
    for v, t in zip(vals, texts, strict=True):
        p = a.px(float(v))
        if letter == "y":
            out.append(_text(edge - 6, p + 4, t, anchor="end", extra=' class="tick y"'))
            continue
        angle = float(lay_axis.tickangle or 0)
        top = lay_axis.side == "top"
        y = edge - 6 if top else edge + 14
        anchor = "start" if (top and angle) else ("end" if angle else "middle")
        rot = f' transform="rotate({angle:.0f} {p:.1f} {y:.1f})"' if angle else ""
        out.append(_text(p, y, t, anchor=anchor, extra=f' class="tick x"{rot}'))
    return out


def _reach(texts: object, angle: float) -> float:
    longest = max((len(plain(t)) for t in (texts or ())), default=0) * CHAR_PX
    return longest * abs(math.sin(math.radians(angle))) + 16


@dataclass
class _Box:
    """The plot area in pixels (left, top, right, bottom)."""

    left: float
    top: float
    right: float
    bottom: float

    def axes(self, lx: go.layout.XAxis, ly: go.layout.YAxis, xr: tuple, yr: tuple) -> tuple[_Axis, _Axis]:
        dx, dy = lx.domain or (0, 1), ly.domain or (0, 1)
        w, h = self.right - self.left, self.bottom - self.top
        ax = _Axis(xr[0], xr[1], self.left + dx[0] * w, self.left + dx[1] * w)
        ay = _Axis(yr[0], yr[1], self.bottom - dy[0] * h, self.bottom - dy[1] * h)
        if ly.scaleanchor == "x" or lx.scaleanchor == "y":  # square cells: shrink the longer side's pixels
            u = min(ax.per_unit, ay.per_unit)
            _shrink(ax, u, "center")
            _shrink(ay, u, "top" if ly.constraintoward == "top" else "middle")
        return ax, ay


def _shrink(a: _Axis, per_unit: float, toward: str) -> None:
    span = per_unit * abs(a.v1 - a.v0) * (1 if a.hi_px >= a.lo_px else -1)
    if toward == "top":  # y pixels grow downwards: keep the top (hi_px for a y axis) where it is
        a.lo_px = a.hi_px - span
    else:
        mid = (a.lo_px + a.hi_px) / 2
        a.lo_px, a.hi_px = mid - span / 2, mid + span / 2


def _margins(fig: go.Figure, heatmaps: list[go.Heatmap], width: int, height: int) -> _Box:
    """Room for the title, the tick labels (rotated x labels reach up or down), axis titles and colour bars."""
    lay = fig.layout
    x_axes = {_axis_name(t.xaxis, "x") for t in heatmaps}
    y_axes = {_axis_name(t.yaxis, "y") for t in heatmaps}
    left = 16 + max((_reach(lay[a].ticktext, 90) - 16 + 24 for a in y_axes if lay[a].ticktext), default=10)
    top, bottom = 12 + (30 if plain(lay.title.text) else 0), 16
    for a in x_axes:
        reach = _reach(lay[a].ticktext, float(lay[a].tickangle or 0)) if lay[a].ticktext else 8
        reach += 22 if plain(lay[a].title.text) else 0
        top, bottom = (top + reach, bottom) if lay[a].side == "top" else (top, max(bottom, reach + 12))
    if any(an.yref == "paper" for an in lay.annotations):
        top += 20  # subplot titles sit above the plots
    bars = len(_colour_bars(fig, heatmaps))
    return _Box(left, top, width - 20 - 90 * bars, height - bottom)


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


def _draw_bars(bars: list, box: _Box) -> list[str]:
    out = []
    for k, (title, scale, lo, hi) in enumerate(bars):
        x = box.right + 20 + 90 * k
        steps = 48
        h = (box.bottom - box.top) / steps
        for i, colour in enumerate(sample_colorscale(scale, [1 - (i + 0.5) / steps for i in range(steps)])):
            out.append(_rect(x, box.top + i * h, 14, h + 0.3, colour))
        out.append(_text(x + 18, box.top + 10, f"{hi:.3g}", 11, "start"))
        out.append(_text(x + 18, box.bottom, f"{lo:.3g}", 11, "start"))
        out.append(_text(x, box.top - 6, title or "", 11, "start", ' class="colorbar-title"'))
    return out


def _axis_titles(lay_x: go.layout.XAxis, lay_y: go.layout.YAxis, ax: _Axis, ay: _Axis, box: _Box, head: float) -> list:
    """Axis titles: an x title above its top labels (at `head`, under the figure title) or below its bottom ones."""
    out = []
    if plain(lay_x.title.text) and lay_x.visible is not False:
        y = head + 14 if lay_x.side == "top" else box.bottom + _reach(lay_x.ticktext, float(lay_x.tickangle or 0)) + 16
        out.append(_text((ax.lo_px + ax.hi_px) / 2, y, lay_x.title.text, 13, extra=' class="axis-title"'))
    if plain(lay_y.title.text) and lay_y.visible is not False:
        mid = (ay.lo_px + ay.hi_px) / 2
        turn = f' class="axis-title" transform="rotate(-90 14 {mid:.1f})"'
        out.append(_text(14, mid, lay_y.title.text, 13, extra=turn))
    return out


def _annotations(fig: go.Figure, axes: dict, box: _Box) -> list[str]:
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
        out.append(_text(x, y, an.text, int(an.font.size or 12), extra=f' fill="{colour}"{bold} class="annotation"'))
    return out


def _shapes(fig: go.Figure, axes: dict) -> list[str]:
    """Rectangular frames (the selected head, the picked cell) in data coordinates."""
    out = []
    for sh in fig.layout.shapes:
        key = (sh.xref or "x", sh.yref or "y")
        if sh.type != "rect" or key not in axes:
            continue
        ax, ay = axes[key]
        x0, x1 = sorted((ax.px(float(sh.x0)), ax.px(float(sh.x1))))
        y0, y1 = sorted((ay.px(float(sh.y0)), ay.px(float(sh.y1))))
        colour, width = sh.line.color or "#000", float(sh.line.width or 1)
        out.append(
            f'<rect x="{x0:.2f}" y="{y0:.2f}" width="{x1 - x0:.2f}" height="{y1 - y0:.2f}" fill="none" '
            f'stroke="{colour}" stroke-width="{width:g}"/>'
        )
    return out


def _scatter_marks(tr: go.Scatter, ax: _Axis, ay: _Axis) -> list[str]:
    """The −∞ labels on masked cells (text mode) and the selected head's frame (the overview's open square)."""
    out = []
    xs, ys = np.asarray(tr.x, dtype=np.float64), np.asarray(tr.y, dtype=np.float64)
    if "text" in (tr.mode or "") and tr.text is not None:
        texts = [tr.text] * len(xs) if isinstance(tr.text, str) else list(tr.text)
        colour = tr.textfont.color or "#555"
        for x, y, t in zip(xs, ys, texts, strict=True):
            out.append(_text(ax.px(x), ay.px(y) + 4, t, int(tr.textfont.size or 11), extra=f' fill="{colour}"'))
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


def _panel(fig: go.Figure, tr: go.Heatmap, box: _Box, titled: float) -> tuple[tuple, list[str]]:
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
    out += _ticks(lx, ax, "x", y0 if lx.side == "top" else y1)
    out += _ticks(ly, ay, "y", x0)
    out += _axis_titles(lx, ly, ax, ay, box, titled)
    return ((tr.xaxis or "x", tr.yaxis or "y"), (ax, ay)), out


def to_svg(fig: go.Figure, width: int = 900) -> str:
    """The figure's heatmaps as vector SVG: cells as <rect>, token labels and titles as <text>."""
    heatmaps = [t for t in fig.data if isinstance(t, go.Heatmap)]
    if not heatmaps:
        raise SvgError("this view has no heatmap to write as SVG: export it as HTML instead")
    height = int(fig.layout.height or 500)
    box = _margins(fig, heatmaps, width, height)
    title = plain(fig.layout.title.text)
    head = 12 + (30 if title else 0)
    body, axes = [], {}
    for tr in heatmaps:
        key_axes, elements = _panel(fig, tr, box, head)
        axes[key_axes[0]] = key_axes[1]
        body += elements
    for tr in fig.data:
        if isinstance(tr, go.Scatter) and (tr.xaxis or "x", tr.yaxis or "y") in axes:
            body += _scatter_marks(tr, *axes[(tr.xaxis or "x", tr.yaxis or "y")])
    body += _shapes(fig, axes) + _annotations(fig, axes, box) + _draw_bars(_colour_bars(fig, heatmaps), box)
    if title:
        body.insert(0, _text(box.left, 28, title, 16, "start", ' class="title"'))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">\n<rect width="100%" height="100%" fill="white"/>\n'
        + "\n".join(body)
        + "\n</svg>\n"
    )
