"""Where to put each point's text label on a scatter so that labels cover neither each other nor a marker.

Plotly puts every label of a trace on the same side of its marker; on Embedding shifts the labels of tokens whose
embeddings lie close together ran into each other. This picks, point by point, the first of Plotly's eight
`textposition`s whose label box (estimated in pixels of an assumed plot size) overlaps least with the labels
already placed, every marker, and the plot's edge (a label past it is cut off).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# In the order tried: under the marker first, as before.
POSITIONS = (
    "bottom center", "top center", "middle right", "middle left",
    "bottom right", "top right", "bottom left", "top left",
)  # fmt: skip
CHAR_PX, LINE_PX, GAP_PX, MARKER_PX = 7.0, 14.0, 5.0, 5.0  # 12 px text; half a marker's width
PAD_PX = 10.0  # Plotly's autorange leaves about this much room past the outermost markers (not past their text)
PLOT_PX = (560.0, 380.0)  # the plot area of a full-width 480 px tall chart at 1024 px, the narrowest layout
MAX_PLACED = 300  # past this many points the labels are a blur anyway, and each point scans all the others


def label_positions(
    xy: np.ndarray, labels: Sequence[str], obstacles: np.ndarray | None = None, plot_px: tuple[float, float] = PLOT_PX
) -> list[str]:
    """A Plotly `textposition` per point of `xy` [n, 2] (data units), labels apart where they can be. `obstacles`
    [m, 2]: other markers drawn on the same axes (an arrow's other end), which no label may cover."""
    if len(labels) > MAX_PLACED:
        return [POSITIONS[0]] * len(labels)
    points, others = _to_px(xy, obstacles, plot_px)
    blocked = [_marker_box(p) for p in np.vstack([points, others])]
    places: list[str] = []
    for point, label in zip(points, labels, strict=True):
        boxes = np.asarray(blocked)
        costs = [_cost(_box(point, len(label) * CHAR_PX, place), boxes, plot_px) for place in POSITIONS]
        best = int(np.argmin(costs))  # the first of equals: under the marker when nothing is in the way
        places.append(POSITIONS[best])
        blocked.append(_box(point, len(label) * CHAR_PX, POSITIONS[best]))
    return places


def label_boxes(
    xy: np.ndarray,
    labels: Sequence[str],
    places: Sequence[str],
    obstacles: np.ndarray | None = None,
    plot_px: tuple[float, float] = PLOT_PX,
) -> np.ndarray:
    """[n, 4] boxes (x0, y0, x1, y1 in pixels, y up) of the labels at `places`, as label_positions estimates them."""
    points, _ = _to_px(xy, obstacles, plot_px)
    return np.array([_box(p, len(t) * CHAR_PX, s) for p, t, s in zip(points, labels, places, strict=True)])


def marker_boxes(xy: np.ndarray, obstacles: np.ndarray | None = None, plot_px: tuple[float, float] = PLOT_PX):
    """[n + m, 4] boxes of the markers of `xy` and of `obstacles`, on label_boxes' pixels."""
    points, others = _to_px(xy, obstacles, plot_px)
    return np.array([_marker_box(p) for p in np.vstack([points, others])])


def _to_px(xy: np.ndarray, obstacles: np.ndarray | None, plot_px: tuple[float, float]):
    """Points and obstacles in pixels of a plot whose axes span them all, PAD_PX inside its edges (autorange)."""
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    others = np.empty((0, 2)) if obstacles is None else np.asarray(obstacles, dtype=float).reshape(-1, 2)
    every = np.vstack([xy, others])
    lo, hi = every.min(axis=0), every.max(axis=0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    inner = np.asarray(plot_px, dtype=float) - 2 * PAD_PX
    return PAD_PX + (xy - lo) / span * inner, PAD_PX + (others - lo) / span * inner


def _box(point: np.ndarray, width: float, place: str) -> np.ndarray:
    vertical, horizontal = place.split()
    x0 = {"left": -GAP_PX - width, "center": -width / 2, "right": GAP_PX}[horizontal]
    y0 = {"bottom": -GAP_PX - LINE_PX, "middle": -LINE_PX / 2, "top": GAP_PX}[vertical]
    return np.array([point[0] + x0, point[1] + y0, point[0] + x0 + width, point[1] + y0 + LINE_PX])


def _marker_box(point: np.ndarray) -> np.ndarray:
    return np.array([point[0] - MARKER_PX, point[1] - MARKER_PX, point[0] + MARKER_PX, point[1] + MARKER_PX])


def _cost(box: np.ndarray, blocked: np.ndarray, plot_px: tuple[float, float]) -> float:
    """Pixels of `box` on other boxes, plus those past the plot's edge."""
    w = np.clip(np.minimum(box[2], blocked[:, 2]) - np.maximum(box[0], blocked[:, 0]), 0.0, None)
    h = np.clip(np.minimum(box[3], blocked[:, 3]) - np.maximum(box[1], blocked[:, 1]), 0.0, None)
    inside_w = max(min(box[2], plot_px[0]) - max(box[0], 0.0), 0.0)
    inside_h = max(min(box[3], plot_px[1]) - max(box[1], 0.0), 0.0)
    outside = (box[2] - box[0]) * (box[3] - box[1]) - inside_w * inside_h
    return float((w * h).sum() + outside)
