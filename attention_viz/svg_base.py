"""The SVG writer's primitives (attention_viz/svg.py draws figures with them, attention_viz/svg_marks.py their
ticks, cell texts and shapes): text and rect elements, plain label text, and data axes mapped to pixels."""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from xml.sax.saxutils import escape

import plotly.graph_objects as go

from attention_viz.errors import ExportError

CHAR_PX = 7.0  # 12 px sans-serif, average advance
FONT = 'font-family="Helvetica, Arial, sans-serif"'
_TAG = re.compile(r"<[^>]+>")


class SvgError(ExportError):
    """The figure holds nothing this writer draws as vector (no heatmap)."""


def plain(text: object) -> str:
    """Plotly label markup → plain text: <br> to a space, tags dropped, HTML entities decoded."""
    s = str(text if text is not None else "")
    return html.unescape(_TAG.sub("", s.replace("<br>", " ")))


def text(x: float, y: float, s: object, size: int = 12, anchor: str = "middle", extra: str = "") -> str:
    """One <text> of Plotly label markup `s`, written as plain, XML-escaped text."""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" {FONT}{extra}>'
        f"{escape(plain(s))}</text>"
    )


def rect(x: float, y: float, w: float, h: float, fill: str) -> str:
    return f'<rect x="{x:.2f}" y="{y:.2f}" width="{w:.2f}" height="{h:.2f}" fill="{fill}"/>'


def reach(texts: object, angle: float) -> float:
    """How far (px) labels at `angle` degrees from the horizontal reach from their axis, with room to spare."""
    longest = max((len(plain(t)) for t in (texts or ())), default=0) * CHAR_PX
    return longest * abs(math.sin(math.radians(angle))) + 16


@dataclass
class Axis:
    """One data axis mapped to pixels: data value v → lo_px + (v - v0) * scale."""

    v0: float
    v1: float
    lo_px: float
    hi_px: float

    def px(self, v: float) -> float:
        return self.lo_px + (v - self.v0) / (self.v1 - self.v0) * (self.hi_px - self.lo_px)

    def fraction(self, f: float) -> float:
        """Plotly's "x domain" / "y domain" coordinate: 0 at the axis's start (left, bottom), 1 at its end."""
        return self.lo_px + f * (self.hi_px - self.lo_px)

    @property
    def per_unit(self) -> float:
        return abs(self.hi_px - self.lo_px) / abs(self.v1 - self.v0)


@dataclass
class Box:
    """The plot area in pixels (left, top, right, bottom)."""

    left: float
    top: float
    right: float
    bottom: float

    def axes(self, lx: go.layout.XAxis, ly: go.layout.YAxis, xr: tuple, yr: tuple) -> tuple[Axis, Axis]:
        dx, dy = lx.domain or (0, 1), ly.domain or (0, 1)
        w, h = self.right - self.left, self.bottom - self.top
        ax = Axis(xr[0], xr[1], self.left + dx[0] * w, self.left + dx[1] * w)
        ay = Axis(yr[0], yr[1], self.bottom - dy[0] * h, self.bottom - dy[1] * h)
        if ly.scaleanchor == "x" or lx.scaleanchor == "y":  # square cells: shrink the longer side's pixels
            u = min(ax.per_unit, ay.per_unit)
            _shrink(ax, u, "center")
            _shrink(ay, u, "top" if ly.constraintoward == "top" else "middle")
        return ax, ay

    def paper(self, fx: float, fy: float) -> tuple[float, float]:
        """Plotly's paper coordinates (0..1 across the plot area, y upwards) in pixels."""
        return self.left + fx * (self.right - self.left), self.bottom - fy * (self.bottom - self.top)


def _shrink(a: Axis, per_unit: float, toward: str) -> None:
    span = per_unit * abs(a.v1 - a.v0) * (1 if a.hi_px >= a.lo_px else -1)
    if toward == "top":  # y pixels grow downwards: keep the top (hi_px for a y axis) where it is
        a.lo_px = a.hi_px - span
    else:
        mid = (a.lo_px + a.hi_px) / 2
        a.lo_px, a.hi_px = mid - span / 2, mid + span / 2
