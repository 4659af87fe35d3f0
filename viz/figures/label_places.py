"""Where to put each point's text label on a scatter so that labels cover neither each other nor a marker.

Plotly puts every label of a trace on the same side of its marker; on Embedding shifts the labels of tokens whose
embeddings lie close together ran into each other. This picks, point by point, the first of Plotly's eight
`textposition`s whose label box (estimated in pixels of an assumed plot size) overlaps least with the labels
already placed, every marker, every line drawn (the arrows), and the plot's edge (a label past it is cut off).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

# In the order tried: under the marker first, as before.
POSITIONS = (
    "bottom center", "top center", "middle right", "middle left",
    "bottom right", "top right", "bottom left", "top left",
)  # fmt: skip
CHAR_PX, LINE_PX, GAP_PX, MARKER_PX = 7.0, 14.0, 5.0, 5.0  # 12 px text; half a marker's width
PAD_PX = 10.0  # Plotly's autorange leaves about this much room past the outermost markers (not past their text)
PLOT_PX = (560.0, 380.0)  # the plot area of a full-width 480 px tall chart at 1024 px, the narrowest layout
LINE_STEP_PX = 6.0  # a line is an obstacle as dots this far apart, each LINE_STEP_PX / 2 wide
MAX_PLACED = 300  # past this many points the labels are a blur anyway, and each point scans all the others


def label_positions(
    xy: np.ndarray,
    labels: Sequence[str],
    obstacles: np.ndarray | None = None,
    lines: np.ndarray | None = None,
    plot_px: tuple[float, float] = PLOT_PX,
) -> list[str]:
    """A Plotly `textposition` per point of `xy` [n, 2] (data units), labels apart where they can be. `obstacles`
    [m, 2]: other markers drawn on the same axes (an arrow's other end), which no label may cover; `lines` [k, 4]:
    segments drawn on them (x0, y0, x1, y1), which a label should not cross."""
    if len(labels) > MAX_PLACED:
        return [POSITIONS[0]] * len(labels)
    points, others, to_px = _to_px(xy, obstacles, plot_px)
    markers = np.vstack([points, others])
    lines_px = _line_boxes(lines, to_px)
    fixed = np.vstack([np.hstack([markers - MARKER_PX, markers + MARKER_PX]), *lines_px])  # what no label may cover
    placed = np.empty((0, 4))  # the labels placed so far
    places: list[str] = []
    for point, label in zip(points, labels, strict=True):
        boxes = [_box(point, len(label) * CHAR_PX, place) for place in POSITIONS]
        costs = [_cost(box, fixed, plot_px) + _cost(box, placed) for box in boxes]
        best = int(np.argmin(costs))  # the first of equals: under the marker when nothing is in the way
        places.append(POSITIONS[best])
        placed = np.vstack([placed, boxes[best]])
    return places


def label_boxes(
    xy: np.ndarray,
    labels: Sequence[str],
    places: Sequence[str],
    obstacles: np.ndarray | None = None,
    plot_px: tuple[float, float] = PLOT_PX,
) -> np.ndarray:
    """[n, 4] boxes (x0, y0, x1, y1 in pixels, y up) of the labels at `places`, as label_positions estimates them."""
    points, _, _ = _to_px(xy, obstacles, plot_px)
    return np.array([_box(p, len(t) * CHAR_PX, s) for p, t, s in zip(points, labels, places, strict=True)])


def marker_boxes(xy: np.ndarray, obstacles: np.ndarray | None = None, plot_px: tuple[float, float] = PLOT_PX):
    """[n + m, 4] boxes of the markers of `xy` and of `obstacles`, on label_boxes' pixels."""
    points, others, _ = _to_px(xy, obstacles, plot_px)
    markers = np.vstack([points, others])
    return np.hstack([markers - MARKER_PX, markers + MARKER_PX])


def labelled_ranges(
    xy: np.ndarray, boxes: np.ndarray, obstacles: np.ndarray | None = None, plot_px: tuple[float, float] = PLOT_PX
) -> tuple[list[float], list[float]]:
    """[x0, x1], [y0, y1] axis ranges (data units) that hold every marker and every label box (label_boxes, same
    `xy`, `obstacles` and `plot_px`): Plotly's autorange makes room for markers, not for their text, so a label
    placed past the edge (where no other place was free) was cut off. The ranges only widen the autorange's, which
    only makes each label's share of the axis smaller."""
    _, _, pixels = _to_px(xy, obstacles, plot_px)
    lo_px = np.minimum([0.0, 0.0], boxes[:, :2].min(axis=0) - GAP_PX) if len(boxes) else np.zeros(2)
    hi_px = np.maximum(plot_px, boxes[:, 2:].max(axis=0) + GAP_PX) if len(boxes) else np.asarray(plot_px)
    start, stop = pixels.to_data(lo_px), pixels.to_data(hi_px)
    return [float(start[0]), float(stop[0])], [float(start[1]), float(stop[1])]


def _to_px(
    xy: np.ndarray, obstacles: np.ndarray | None, plot_px: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, _Pixels]:
    """Points and obstacles in pixels, and the function that took them there (for the lines' ends)."""
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    others = np.empty((0, 2)) if obstacles is None else np.asarray(obstacles, dtype=float).reshape(-1, 2)
    to_px = _pixels(np.vstack([xy, others]), plot_px)
    return to_px(xy), to_px(others), to_px


@dataclass(frozen=True)
class _Pixels:
    """Data units ↔ pixels of a plot whose axes span the points `lo`..`lo + span`, PAD_PX inside its edges (as
    autorange does); `inner` is the plot's size less the padding."""

    lo: np.ndarray  # (2,)
    span: np.ndarray  # (2,)
    inner: np.ndarray  # (2,)

    def __call__(self, points: np.ndarray) -> np.ndarray:
        return PAD_PX + (np.asarray(points, dtype=float).reshape(-1, 2) - self.lo) / self.span * self.inner

    def to_data(self, px: np.ndarray) -> np.ndarray:
        return self.lo + (np.asarray(px, dtype=float) - PAD_PX) / self.inner * self.span


def _pixels(every: np.ndarray, plot_px: tuple[float, float]) -> _Pixels:
    """The mapping of a plot whose axes span `every` point."""
    lo, hi = every.min(axis=0), every.max(axis=0)
    return _Pixels(lo, np.where(hi - lo > 0, hi - lo, 1.0), np.asarray(plot_px, dtype=float) - 2 * PAD_PX)


def _line_boxes(lines: np.ndarray | None, to_px: Callable[[np.ndarray], np.ndarray]) -> list[np.ndarray]:
    """Per segment of `lines` (data units), [dots, 4] small boxes every LINE_STEP_PX along it."""
    if lines is None or len(lines) == 0:
        return []
    ends = to_px(np.asarray(lines, dtype=float).reshape(-1, 2))  # [2k, 2]: each segment's start, then its end
    half = LINE_STEP_PX / 4
    boxes = []
    for start, end in zip(ends[0::2], ends[1::2], strict=True):
        steps = max(1, int(np.linalg.norm(end - start) // LINE_STEP_PX))
        dots = start + np.linspace(0.0, 1.0, steps + 1)[:, None] * (end - start)  # [steps + 1, 2]
        boxes.append(np.hstack([dots - half, dots + half]))
    return boxes


def _box(point: np.ndarray, width: float, place: str) -> np.ndarray:
    vertical, horizontal = place.split()
    x0 = {"left": -GAP_PX - width, "center": -width / 2, "right": GAP_PX}[horizontal]
    y0 = {"bottom": -GAP_PX - LINE_PX, "middle": -LINE_PX / 2, "top": GAP_PX}[vertical]
    return np.array([point[0] + x0, point[1] + y0, point[0] + x0 + width, point[1] + y0 + LINE_PX])


def _cost(box: np.ndarray, blocked: np.ndarray, plot_px: tuple[float, float] | None = None) -> float:
    """Pixels of `box` on other boxes, plus, given the plot's size, those past its edge."""
    w = np.clip(np.minimum(box[2], blocked[:, 2]) - np.maximum(box[0], blocked[:, 0]), 0.0, None)
    h = np.clip(np.minimum(box[3], blocked[:, 3]) - np.maximum(box[1], blocked[:, 1]), 0.0, None)
    if plot_px is None:
        return float((w * h).sum())
    inside_w = max(min(box[2], plot_px[0]) - max(box[0], 0.0), 0.0)
    inside_h = max(min(box[3], plot_px[1]) - max(box[1], 0.0), 0.0)
    outside = (box[2] - box[0]) * (box[3] - box[1]) - inside_w * inside_h
    return float((w * h).sum() + outside)
