"""The classifier view (viz.views.classes): the top label after each block, where the verdict settles, its words."""

from __future__ import annotations

import numpy as np

from viz.figures.classes import class_track_figure
from viz.views.classes import class_sentence, class_view


def test_the_verdict_settles_where_the_top_label_stays() -> None:
    scores = np.array([[0.6, 0.4], [0.3, 0.7], [0.45, 0.55], [0.2, 0.8]])  # blocks 0..3
    view = class_view(scores, ["*neg*", "pos"], "softmax")
    assert view.top.tolist() == [0, 1, 1, 1] and view.settles == 1 and view.verdict == 1
    said = class_sentence(view, "tiny")
    assert "Its verdict on this text: `pos`, probability 0.800" in said and "from block 1 (of 0–3) on" in said
    assert "`*neg*`" not in said  # only the verdict is named; a label is always a code span, never Markdown
    assert "Its verdict on this text pair: `pos`" in class_sentence(view, "tiny", pair=True)
    fig = class_track_figure(view)
    assert [t.name for t in fig.data] == ["‘*neg*’", "‘pos’"] and fig.layout.yaxis.tickformat == ".0%"


def test_a_regression_reads_its_raw_score() -> None:
    view = class_view(np.array([[0.2], [1.7]]), ["LABEL_0"], "regression")
    said = class_sentence(view, "tiny")
    assert "`LABEL_0`, score 1.700" in said and "every block already gives that label the top score" in said
    assert class_track_figure(view).layout.yaxis.tickformat is None
