"""Text labels on a scatter placed apart (viz.figures.label_places): Plotly puts every label on the same side of
its marker, and on Embedding shifts the labels of tokens whose embeddings lie close together ran into each other
("2: ␣blue" over "9: ␣forest" over "6: ␣ver")."""

from __future__ import annotations

import numpy as np
import pytest

from viz.figures.label_places import POSITIONS, label_boxes, label_positions, marker_boxes
from viz.figures.shifts import shift_arrows


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(w, 0.0) * max(h, 0.0)


FRAME = np.array([[-10.0, -10.0], [10.0, 10.0]])  # far markers that set the axes' span, like the arrows' other ends


def test_a_lone_point_keeps_its_label_under_it_unless_the_edge_would_cut_it():
    xy = np.array([[0.0, 0.0], [5.0, 5.0], [-5.0, 2.0], [0.0, -10.0]])
    places = label_positions(xy, ["a", "b", "c", "lowest"], obstacles=FRAME)
    assert places[:3] == [POSITIONS[0]] * 3 == ["bottom center"] * 3
    assert places[3].startswith("top")  # under the lowest marker, Plotly would clip it at the plot's edge


def test_labels_of_close_points_do_not_cover_each_other_or_a_marker():
    """The page's cluster (SmolLM2, the default sentence, layer 0: where the labels had stacked up) and two far
    points that set the scale: every label box is clear of every other and of every marker."""
    xy = np.array([[0.9, 0.68], [1.22, 0.77], [1.38, 0.58], [1.6, 0.3], [1.08, -0.05], [-2.9, 1.8], [3.3, -1.5]])
    labels = ["2: ␣blue", "9: ␣forest", "6: ␣ver", "3: ␣creature", "8: ant", "0: a", "4: ␣roamed"]
    n = len(labels)
    places = label_positions(xy, labels)
    boxes = label_boxes(xy, labels, places)
    stacked = label_boxes(xy, labels, ["bottom center"] * n)
    assert any(_overlap(stacked[i], stacked[j]) > 0 for i in range(n) for j in range(i + 1, n))  # the bug
    assert all(_overlap(boxes[i], boxes[j]) == 0 for i in range(n) for j in range(i + 1, n)), places
    markers = marker_boxes(xy)
    assert all(_overlap(boxes[i], markers[j]) == 0 for i in range(n) for j in range(n)), places


def test_the_other_markers_count_as_obstacles():
    """A label must not sit on an arrow's other end either: a marker passed as an obstacle pushes it aside."""
    xy = np.array([[0.0, 0.0], [5.0, 5.0]])
    below = np.array([[0.0, -0.6]])  # where "bottom center" would put the label of the first point
    places = label_positions(xy, ["first", "second"], obstacles=np.vstack([FRAME, below]))
    assert places[0] != "bottom center" and places[1] == "bottom center"


def test_a_label_keeps_off_the_lines_drawn():
    """Each token's own arrow leaves its marker: a label under the marker sat on an arrow pointing down."""
    xy = np.array([[0.0, 0.0]])
    down = np.array([[0.0, 0.0, 0.0, -6.0]])  # x0, y0, x1, y1
    assert label_positions(xy, ["a token"], obstacles=FRAME) == ["bottom center"]
    assert label_positions(xy, ["a token"], obstacles=FRAME, lines=down) == ["top center"]


def test_the_embedding_shift_arrows_use_them():
    before = np.array([[0.9, 0.68], [1.22, 0.77], [1.38, 0.58], [1.6, 0.3], [-2.9, 1.8]])
    after = before - [0.0, 1.0]
    labels = ["2: ␣blue", "9: ␣forest", "6: ␣ver", "3: ␣creature", "0: a"]
    fig = shift_arrows(labels, before, after, 0, np.array([0.5, 0.2]))
    places = list(fig.data[0].textposition)
    expected = label_positions(before, labels, obstacles=after, lines=np.hstack([before, after]))
    assert places == expected and len(set(places[:4])) > 1


def test_the_axes_make_room_for_a_label_past_the_edge():
    """Review (MiniLM at 1024 px): "11: forest", placed left of a marker near the left edge where nothing else was
    free, was cut off: Plotly's autorange makes room for markers, not for their text. The arrows' axes are set to
    hold every label as label_places estimates it."""
    from viz.figures.label_places import PLOT_PX, labelled_ranges

    xy = np.array([[0.0, 0.0], [10.0, 5.0]])
    labels = ["a long label here", "b"]
    x_range, y_range = labelled_ranges(xy, label_boxes(xy, labels, ["middle left", "bottom center"]))
    width = len(labels[0]) * 7.0 / (PLOT_PX[0] - 20) * 10  # the label's width in data units, about
    assert x_range[0] < -width and x_range[1] > 10.0 and y_range[0] < 0.0 and y_range[1] > 5.0
    unlabelled = labelled_ranges(xy, label_boxes(xy, ["", ""], ["middle right", "middle left"]))
    assert unlabelled[0][0] == pytest.approx(-10 / (PLOT_PX[0] - 20) * 10)  # autorange's own room: PAD_PX

    before = np.array([[0.9, 0.68], [1.22, 0.77], [-2.9, 1.8]])
    after = before - [0.0, 1.0]
    fig = shift_arrows(["2: ␣blue", "9: ␣forest", "0: a"], before, after, 0, np.array([0.5, 0.2]))
    x0, x1 = fig.layout.xaxis.range
    y0, y1 = fig.layout.yaxis.range
    every = np.vstack([before, after])
    assert x0 < every[:, 0].min() and x1 > every[:, 0].max() and y0 < every[:, 1].min() and y1 > every[:, 1].max()
