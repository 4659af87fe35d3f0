"""The contribution graph's view model: columns are the tokens on a path, rows the stream's levels, one hover
per edge; the threshold floor grows with the text."""

from __future__ import annotations

import numpy as np

from viz.views.flow import flow_view, level_name, lowest_threshold, strongest_sources

EDGES = {  # a 2-layer graph for token 3: 2 → 3 in block 1, the residual and the MLP around it
    "layer": np.array([1, 1, 1, 1, 0]),
    "kind": np.array(["residual_mlp", "mlp", "residual_attn", "attention", "attention"], dtype=object),
    "source": np.array([3, 3, 3, 2, 0]),
    "target": np.array([3, 3, 3, 3, 3]),
    "importance": np.array([0.7, 0.3, 0.6, 0.4, 0.05]),
}
TOKENS = ["<s>", " a", " <b>cat</b>", " sat"]


def test_columns_rows_and_hovers() -> None:
    view = flow_view(EDGES, TOKENS, 3, 2, 0.04)
    assert view.positions == [0, 2, 3] and view.target_column == 2 and view.n_edges == 5
    attention = next(line for line in view.lines if line.kind == "attention")
    assert attention.y0.tolist() == [2, 0] and attention.y1.tolist() == [3, 1]  # pre(l) → mid(l)
    assert attention.x0.tolist() == [1, 0] and attention.x1.tolist() == [2, 2]
    mlp = next(line for line in view.lines if line.kind == "mlp")
    assert (mlp.y0.tolist(), mlp.y1.tolist()) == ([3], [4])  # mid(1) → the final residual
    assert "&lt;b&gt;cat&lt;/b&gt;" in attention.hover[0] and "<b>" not in attention.hover[0]  # typed text is text
    assert "40.0%" in attention.hover[0]
    assert (2, 4) in set(zip(view.node_x.tolist(), view.node_y.tolist(), strict=True))
    assert level_name(4, 2) == "the final embedding" and level_name(3, 2) == "after block 1's attention"


def test_strongest_sources_leave_out_self_and_residual() -> None:
    rows = strongest_sources(EDGES, TOKENS)
    assert [r["from"] for r in rows] == ["2: ␣<b>cat</b>", "0: <s>"] and rows[0]["importance"] == 0.4
    assert "through" not in rows[0]  # attention alone: no column to say so


def test_strongest_sources_say_through_what_where_a_scan_moves_tokens_too() -> None:
    beside = {**EDGES, "kind": np.array(["residual_mlp", "mlp", "residual_attn", "attention", "ssm"], dtype=object)}
    rows = strongest_sources(beside, TOKENS)
    assert [(r["from"], r["through"]) for r in rows] == [("2: ␣<b>cat</b>", "attention"), ("0: <s>", "Mamba scan")]


def test_the_threshold_floor_grows_with_the_text() -> None:
    assert lowest_threshold(64) == 0.01 and lowest_threshold(256) == 0.02 and lowest_threshold(1000) == 0.03
