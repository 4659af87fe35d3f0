"""The atlas's view models on hand-made arrays."""

from __future__ import annotations

import re

import numpy as np

from viz.views.atlas import example_row, head_profile, ranked_heads


def test_ranked_heads_sort_by_value_leave_out_nan_and_break_ties_by_position():
    values = np.array([[0.2, np.nan], [0.9, 0.2]])  # [n_layers, n_heads]
    counts = np.array([[10, 0], [12, 13]])
    got = [(r.rank, r.layer, r.head, r.value, r.n_queries) for r in ranked_heads(values, counts)]
    assert got == [(1, 1, 0, 0.9, 12), (2, 0, 0, 0.2, 10), (3, 1, 1, 0.2, 13)]
    assert len(ranked_heads(values, counts, top=1)) == 1
    low = [(r.rank, r.layer, r.head) for r in ranked_heads(values, counts, lowest_first=True)]
    assert low == [(1, 0, 0), (2, 1, 1), (3, 1, 0)]  # the most focused heads of entropy, say; rank 1 = lowest


def test_head_profile_ranks_a_head_among_all_heads():
    values = np.stack([np.array([[0.1, 0.5], [0.9, 0.3]]), np.array([[1.0, 2.0], [3.0, np.nan]])])
    profile = head_profile(values, ("a", "b"), layer=0, head=1)
    assert [(p.statistic, p.value, p.rank, p.n_heads) for p in profile] == [("a", 0.5, 2, 4), ("b", 2.0, 2, 3)]
    assert sorted(profile[1].all_values.tolist()) == [1.0, 2.0, 3.0]


def test_example_row_labels_positions_and_finds_the_query():
    example = {
        "kind": "text", "doc_id": 7, "query": 12, "value": 0.8125, "window_start": 10,
        "tokens": [" the", " cat", "<b>"], "weights": [0.1, 0.8125, 0.0],
        "top_keys": [11, 10], "top_key_tokens": [" cat", " the"], "top_key_weights": [0.8125, 0.1],
    }  # fmt: skip
    row = example_row(example)
    assert row.readable == ["10: ␣the", "11: ␣cat", "12: <b>"] and row.query_index == 2
    assert "&lt;b&gt;" in row.plotly[2] or "<b>" not in row.plotly[2]  # Plotly text is escaped
    assert "document 7, query 12" in row.caption and "11: `␣cat` 0.81" in row.caption


def test_example_row_ends_at_the_query_when_later_keys_got_no_weight():
    example = {
        "kind": "text", "doc_id": 1, "query": 1, "value": 0.9, "window_start": 0,
        "tokens": ["a", " b", " c", " d"], "weights": [0.9, 0.1, 0.0, 0.0],
        "top_keys": [0], "top_key_tokens": ["a"], "top_key_weights": [0.9],
    }  # fmt: skip
    row = example_row(example)
    assert row.readable == ["0: a", "1: ␣b"] and row.weights.tolist() == [0.9, 0.1] and row.query_index == 1
    bidirectional = {**example, "weights": [0.5, 0.1, 0.3, 0.1]}
    assert len(example_row(bidirectional).readable) == 4


def test_an_examples_caption_shows_its_tokens_as_text() -> None:
    """The page writes the caption as Markdown (st.caption): a corpus's tokens such as "**", "<b>" or "$" must not
    become bold text, HTML or maths there; each token sits in a code span."""
    example = {
        "kind": "text", "doc_id": 0, "query": 3, "value": 0.5, "window_start": 0,
        "tokens": ["**", "x", "**", "$"], "weights": [0.2, 0.1, 0.3, 0.4],
        "top_keys": [3, 2, 0], "top_key_tokens": ["$", "**", "<b>"], "top_key_weights": [0.4, 0.3, 0.2],
    }  # fmt: skip
    caption = example_row(example).caption
    outside_code = re.sub(r"(`+).+?\1", "", caption)
    assert not any(mark in outside_code for mark in ("**", "$", "<b>")), caption
    assert "3: " in caption and "0.40" in caption


def test_an_example_whose_key_lies_outside_the_strip_shows_it_across_a_gap() -> None:
    """An induction key 40 tokens back (or a sink at 0) is not in the 16-token strip before the query: the strip
    shows the few tokens around it, then a gap cell that says how many tokens it skips, then the query's window;
    the key the value is about is marked. An atlas written before these fields shows the query's window alone."""
    example = {
        "kind": "induction", "doc_id": 2, "query": 45, "value": 0.75, "window_start": 42,
        "tokens": [" x", " y", " z", " w"], "weights": [0.0, 0.1, 0.05, 0.1],
        "top_keys": [6], "top_key_tokens": [" k"], "top_key_weights": [0.75],
        "focus_key": 6, "key_window_start": 4, "key_tokens": [" i", " j", " k", " l", " m"],
        "key_weights": [0.0, 0.0, 0.75, 0.0, 0.0],
    }  # fmt: skip
    row = example_row(example)
    assert row.readable[:5] == ["4: ␣i", "5: ␣j", "6: ␣k", "7: ␣l", "8: ␣m"]
    assert row.readable[5] == "⋯ 33 tokens ⋯" and np.isnan(row.weights[5])
    assert row.readable[6:] == ["42: ␣x", "43: ␣y", "44: ␣z", "45: ␣w"]
    assert row.focus_index == 2 and row.query_index == 9 and row.weights[2] == 0.75
    old = {k: v for k, v in example.items() if k not in ("focus_key", "key_window_start", "key_tokens", "key_weights")}
    plain = example_row(old)
    assert len(plain.readable) == 4 and plain.focus_index is None and plain.query_index == 3
    near = {**example, "key_window_start": 36, "key_tokens": [" i", " j", " k", " l", " m"], "focus_key": 38}
    assert example_row(near).readable[5] == "⋯ 1 token ⋯"  # 41 alone lies between the two windows
    inside = {**example, "focus_key": 44, "key_window_start": -1, "key_tokens": [], "key_weights": []}
    assert example_row(inside).focus_index == 2 and len(example_row(inside).readable) == 4


def test_head_points_pair_two_statistics_of_every_head_and_leave_out_nan() -> None:
    """The atlas's two-statistic scatter (HeadVis's metric axes): one point per head that both statistics
    answer, with its layer and head for the click."""
    from viz.views.atlas import head_points

    values = np.stack([np.array([[0.1, 0.5], [0.9, np.nan]]), np.array([[1.0, 2.0], [np.nan, 4.0]])])
    points = head_points(values, ("a", "b"), "a", "b")
    assert points.x.tolist() == [0.1, 0.5] and points.y.tolist() == [1.0, 2.0]
    assert points.layers.tolist() == [0, 0] and points.heads.tolist() == [0, 1]
    swapped = head_points(values, ("a", "b"), "b", "a")
    assert swapped.x.tolist() == [1.0, 2.0] and swapped.y.tolist() == [0.1, 0.5]


def test_the_head_scatter_clicks_open_a_head_and_marks_the_selected_one() -> None:
    from viz.figures.atlas import head_scatter
    from viz.figures.layout import selected_point
    from viz.views.atlas import head_points

    values = np.stack([np.array([[0.1, 0.5], [0.9, 0.3]]), np.array([[1.0, 2.0], [3.0, 4.0]])])
    fig = head_scatter(head_points(values, ("a", "b"), "a", "b"), "A", "B", selected=(1, 1))
    every = fig.data[0]
    assert list(map(tuple, every.customdata)) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    point = {"points": [{"customdata": list(every.customdata[2])}]}
    assert selected_point(point) == (1, 0)
    mine = fig.data[1]
    assert (list(mine.x), list(mine.y)) == ([0.3], [4.0])
    assert fig.layout.xaxis.title.text == "A" and fig.layout.yaxis.title.text == "B"
