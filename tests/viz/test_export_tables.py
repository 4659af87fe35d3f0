"""The CSV downloads of the logit lens, the contribution graph and a generation: every number as the engine gave
it, with the tokens it belongs to, on hand-made arrays."""

from __future__ import annotations

import csv
import io

import numpy as np

from viz.views.export import graph_csv, lens_csv, steps_csv


def rows(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def test_the_lens_csv_has_each_blocks_top_k_at_each_position() -> None:
    ids = np.array([[[5, 6], [7, 5]], [[6, 5], [5, 7]], [[6, 7], [5, 6]]])  # [3 blocks, 2 positions, top 2]
    probs = np.array([[[0.5, 0.25], [0.6, 0.1]], [[0.7, 0.2], [0.9, 0.05]], [[0.8, 0.1], [1 / 3, 0.3]]])
    guessed = list(rows(lens_csv(ids, probs, [" the", ",x"], str, fills_in=True))[0])  # a fill-in model's columns
    assert guessed[4:6] == ["guessed_token_id", "guessed_token"]
    got = rows(lens_csv(ids, probs, [" the", ",x"], lambda i: f"tok{i}", first=10))
    assert len(got) == 3 * 2 * 2
    last = got[-2]  # the last block, the last position, rank 1
    assert last == {"after_block": "2", "position": "11", "token": ",x", "rank": "1", "next_token_id": "5",
                    "next_token": "tok5", "probability": repr(1 / 3)}  # fmt: skip
    assert [float(r["probability"]) for r in got] == probs.reshape(-1).tolist()


def test_the_graph_csv_names_each_edges_tokens() -> None:
    edges = {
        "layer": np.array([0, 3]), "kind": np.array(["attention", "mlp"], dtype=object),
        "source": np.array([1, 2]), "target": np.array([2, 2]), "importance": np.array([0.125, 0.5]),
    }  # fmt: skip
    got = rows(graph_csv(edges, ["a", " b", "=c"]))
    assert got[0] == {"block": "0", "kind": "attention", "source": "1", "source_token": " b", "target": "2",
                      "target_token": "=c", "importance": "0.125"}  # fmt: skip
    assert got[1]["kind"] == "mlp" and got[1]["importance"] == "0.5"


def test_the_steps_csv_marks_the_candidate_each_step_wrote() -> None:
    top_ids, top_probs = np.array([[4, 9], [2, 4]]), np.array([[0.75, 0.125], [0.5, 0.25]])
    got = rows(steps_csv(top_ids, top_probs, [4, 7], lambda i: f"t{i}"))  # step 2 wrote a token outside its top 2
    assert [(r["step"], r["rank"], r["token"], r["probability"], r["written"]) for r in got] == [
        ("1", "1", "t4", "0.75", "1"), ("1", "2", "t9", "0.125", "0"),
        ("2", "1", "t2", "0.5", "0"), ("2", "2", "t4", "0.25", "0"),
    ]  # fmt: skip
