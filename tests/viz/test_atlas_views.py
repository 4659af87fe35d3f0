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
    assert "document 7, query 12" in row.caption and "11: ` '␣cat' ` 0.81" in row.caption


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
