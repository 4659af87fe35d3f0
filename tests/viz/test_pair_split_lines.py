"""The dashed orange line between a text pair's two texts, on every query × key matrix that draws it: the attention
heatmap (whole or a window of a long pair), the scores heatmap, the mask comparison's three panels and Inside one
head's matrices (drawn by index, whose windows may jump). Drawn where the second text starts inside the drawn tokens,
on both axes, in either orientation; not drawn for one text or where the drawn tokens are all in one text."""

from __future__ import annotations

import numpy as np
import pytest

from viz.figures.heatmaps import Cells, head_heatmap, mask_comparison, scores_heatmap
from viz.figures.layout import PAIR_SPLIT_COLOUR
from viz.figures.mechanism import query_key_heatmap

N = 10
LABELS = [f"t{i}" for i in range(N)]


def _splits(figure, suffix: str = "") -> list[tuple[str, float]]:
    """(axis, coordinate) of each pair split line on the panel whose axes end in `suffix`."""
    found = []
    for shape in figure.to_dict()["layout"].get("shapes", []):
        if shape.get("line", {}).get("color") != PAIR_SPLIT_COLOUR:
            continue
        if shape["xref"] == f"x{suffix}":
            found.append(("x", shape["x0"]))
        elif shape["yref"] == f"y{suffix}":
            found.append(("y", shape["y0"]))
    return sorted(found)


def _pattern(n_q: int, n_k: int) -> np.ndarray:
    return np.full((n_q, n_k), 1.0 / n_k)


@pytest.mark.parametrize("orient", ["rows", "cols"])
def test_the_attention_heatmap_splits_the_whole_matrix_and_a_window_that_holds_the_split(orient) -> None:
    p, mask = _pattern(N, N), np.ones((N, N), bool)
    assert _splits(head_heatmap(p, p, mask, LABELS, orient, second_text_at=6)) == [("x", 5.5), ("y", 5.5)]
    assert _splits(head_heatmap(p, p, mask, LABELS, orient)) == []
    # A window of queries 2–5 × keys 4–8 of a long pair: the split (6) lies among its keys only.
    window = Cells(LABELS[2:6], LABELS[4:9], row_start=2, col_start=4)
    keys_axis = "x" if orient == "rows" else "y"
    figure = head_heatmap(_pattern(4, 5), _pattern(4, 5), np.ones((4, 5), bool), LABELS, orient, cells=window,
                          second_text_at=6)  # fmt: skip
    assert _splits(figure) == [(keys_axis, 5.5)]
    # A window that starts at the second text's first token: every drawn token is in one text, no line.
    at_edge = Cells(LABELS[6:], LABELS[6:], row_start=6, col_start=6)
    figure = head_heatmap(_pattern(4, 4), _pattern(4, 4), np.ones((4, 4), bool), LABELS, orient, cells=at_edge,
                          second_text_at=6)  # fmt: skip
    assert _splits(figure) == []


def test_the_scores_heatmap_and_each_panel_of_the_mask_comparison_are_split() -> None:
    scores, mask = np.zeros((N, N)), np.tril(np.ones((N, N), bool))
    assert _splits(scores_heatmap(scores, mask, LABELS, second_text_at=3)) == [("x", 2.5), ("y", 2.5)]
    assert _splits(scores_heatmap(scores, mask, LABELS)) == []
    figure = mask_comparison(_pattern(N, N), _pattern(N, N), LABELS, second_text_at=3)
    for suffix in ("", "2", "3"):
        assert _splits(figure, suffix) == [("x", 2.5), ("y", 2.5)], suffix
    assert _splits(mask_comparison(_pattern(N, N), _pattern(N, N), LABELS)) == []


def test_inside_one_heads_matrices_are_split_by_index_across_a_jump() -> None:
    """Inside one head draws cell i at coordinate i; a long text's window is two runs of positions."""
    matrix = np.zeros((N, N))
    assert _splits(query_key_heatmap(matrix, "t", LABELS, "rows", second_text_at=4)) == [("x", 3.5), ("y", 3.5)]
    assert _splits(query_key_heatmap(matrix, "t", LABELS, "cols")) == []
    positions = [0, 1, 2, 3, 4, 40, 41, 42, 43, 44]  # the window jumps from 4 to 40
    figure = query_key_heatmap(matrix, "t", LABELS, "cols", positions=positions, second_text_at=42)
    assert _splits(figure) == [("x", 6.5), ("y", 6.5)]  # between 41 (index 6) and 42 (index 7)
    figure = query_key_heatmap(matrix, "t", LABELS, "rows", positions=positions, second_text_at=20)
    assert _splits(figure) == [("x", 4.5), ("y", 4.5)]  # inside the jump: the second text starts after index 4
