"""A hybrid's scan or delta-rule weights as a view (viz/views/implicit.py) and a heatmap (viz/figures/implicit.py):
the summary numbers on a matrix worked by hand, later sources blank, a diverging scale centred at 0."""

from __future__ import annotations

import numpy as np

from tests.app.helpers import decode
from viz.figures.implicit import implicit_heatmap
from viz.views.implicit import implicit_sentence, implicit_view

# one head over 3 tokens: rows are queries, 0 above the diagonal (no later source)
HAND = np.array([[[0.5, 0.0, 0.0], [-1.0, 1.0, 0.0], [2.0, 0.0, -2.0]]])


def test_the_numbers_a_pattern_would_not_have():
    view = implicit_view(HAND, 0, ["a", "b", "c", "d", "e"], layer=2, n_tokens=5, first=1)
    assert view.labels == ["b", "c", "d"] and view.truncated
    assert view.row_sums.tolist() == [0.5, 0.0, 0.0]
    assert view.negative_share == (1.0 + 2.0) / (0.5 + 1.0 + 1.0 + 2.0 + 2.0)
    # tokens back, weighted by |weight|, per query: 0; (1·1 + 1·0)/2; (2·2 + 2·0)/4 → mean of 0, 0.5, 1
    assert view.reach == 0.5
    said = implicit_sentence(view)
    assert "Row sums run from 0 to 0.5" in said and "46% of the weights' total size is on negative" in said
    assert "reads 0.5 tokens back" in said and "Drawn for tokens 1–3 of 5, sources and queries alike" in said
    heatmap = implicit_heatmap(view).data[0]  # positions as in the text: the window starts at 1
    assert list(heatmap.x) == [1, 2, 3] and heatmap.text[0][0].startswith("query 1: b<br>key 1: b")


def test_the_heatmap_leaves_later_sources_blank_and_centres_its_scale_at_zero():
    view = implicit_view(HAND, 0, ["a", "b", "c"], layer=0, n_tokens=3)
    assert "Drawn for tokens" not in implicit_sentence(view)
    heatmap = implicit_heatmap(view).data[0]
    z = decode(heatmap.z)
    assert np.isnan(z[0, 1]) and np.isnan(z[1, 2]) and z[2, 0] == 2.0 and z[1, 0] == -1.0
    assert (heatmap.zmin, heatmap.zmax, heatmap.zmid) == (-2.0, 2.0, 0.0)
    assert heatmap.text[1][0].endswith("weight -1") and heatmap.text[0][2].endswith("a later token: not read")
    columns = decode(implicit_heatmap(view, "columns").data[0].z)  # columns are queries: the matrix turned
    assert np.array_equal(np.isnan(columns), np.isnan(z.T)) and columns[0, 2] == 2.0
