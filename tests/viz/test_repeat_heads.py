"""The head finder's duplicate-token and induction scores on hand-made patterns, where the answer is known exactly:
the atlas's definitions (attention_core.atlas.statistics) through the service (services.repeats) to the view
model's table and notes (viz.views.heads)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attention_core.atlas import statistics as st
from services import repeats
from services.repeats import text_repeat_statistics
from viz.views.heads import (
    REPEAT_COLUMNS,
    REPEAT_EXAMPLE,
    RepeatScores,
    head_statistics,
    repeat_heading,
    repeat_help,
    repeat_notes,
    repeat_ranking,
    stats_table,
)

ABCABC = [11, 12, 13, 11, 12, 13]  # A B C A B C


class PatternTrace:
    """A stand-in for a Trace with given patterns [n_layers, n_heads, n, n]: the public methods the service reads."""

    def __init__(self, token_ids: list[int], patterns: np.ndarray) -> None:
        self.token_ids, self.patterns = token_ids, torch.tensor(patterns, dtype=torch.float32)
        self.n_layers, self.n_heads, self.n_tokens = patterns.shape[0], patterns.shape[1], len(token_ids)
        self.causal = True

    def layer_patterns(self, layer: int) -> torch.Tensor:
        return self.patterns[layer].clone()

    def pattern_window(self, layer: int, head: int, rows: slice, cols: slice) -> torch.Tensor:
        return self.patterns[layer, head, rows, cols].clone()


def induction_pattern() -> np.ndarray:
    """One head on A B C A B C: the queries of the second copy put 0.7 on the token after their earlier copy (the
    induction target), 0.2 on the earlier copy itself (for A: on the first token, which duplicate-token leaves out)
    and 0.1 on themselves; the first copy spreads evenly over what it sees."""
    p = np.tril(np.ones((6, 6))) / np.arange(1, 7)[:, None]
    p[3:] = 0.0
    for query, target in [(3, 1), (4, 2), (5, 3)]:
        p[query, target], p[query, target - 1], p[query, query] = 0.7, 0.2, 0.1
    return p


def test_the_atlas_definitions_on_a_b_c_a_b_c() -> None:
    ids = torch.tensor(ABCABC)
    targets = st.induction_targets(ids)
    assert [tuple(map(int, k)) for k in targets.nonzero()] == [(3, 1), (4, 2), (5, 3)]
    p = torch.tensor(induction_pattern(), dtype=torch.float32)[None]
    induction = st.text_induction(p, ids)
    assert induction.n_queries == 3 and float(induction.sums[0]) / 3 == pytest.approx(0.7, abs=1e-6)
    duplicate = st.duplicate_token(p, ids)
    assert duplicate.n_queries == 2 and float(duplicate.sums[0]) / 2 == pytest.approx(0.2, abs=1e-6)  # B and C
    # A B C A B C is also the atlas's repeated sequence (start 0, period 3): the two induction scores agree.
    assert float(st.induction(p, 0, 3).sums[0]) == pytest.approx(float(induction.sums[0]), abs=1e-12)


def test_a_token_right_after_itself_is_no_induction_query() -> None:
    """x x: the token after the earlier copy is the query itself, which cannot be a prediction of what comes next."""
    assert not st.induction_targets(torch.tensor([5, 7, 7])).any()
    assert st.induction_targets(torch.tensor([7, 5, 7]))[2, 1]  # a copy at position 0 counts: its follower is no sink


@pytest.mark.parametrize("weights_per_call", [repeats.WEIGHTS_PER_CALL, 7])  # whole layers; one head, 1 row a call
def test_the_service_and_the_table_on_a_known_pattern(monkeypatch, weights_per_call: int) -> None:
    monkeypatch.setattr(repeats, "WEIGHTS_PER_CALL", weights_per_call)
    uniform = np.tril(np.ones((6, 6))) / np.arange(1, 7)[:, None]
    patterns = np.stack([induction_pattern(), uniform])[None]  # 1 layer × 2 heads
    values, n_queries = text_repeat_statistics(PatternTrace(ABCABC, patterns))
    assert n_queries == {"duplicate": 2, "induction": 3}
    np.testing.assert_allclose(values["induction"][0], [0.7, np.mean([1 / 4, 1 / 5, 1 / 6])], atol=1e-6)
    np.testing.assert_allclose(values["duplicate"][0], [0.2, np.mean([1 / 5, 1 / 6])], atol=1e-6)
    scores = RepeatScores(values, n_queries)
    table = stats_table(head_statistics(patterns, causal=True), scores)
    assert table[REPEAT_COLUMNS["induction"]] == pytest.approx([0.7, np.mean([1 / 4, 1 / 5, 1 / 6])], abs=1e-6)
    assert [(row["layer"], row["head"]) for row in repeat_ranking(scores, "induction")] == [(0, 0), (0, 1)]
    assert repeat_heading(scores, "induction") == "Top 2 by induction share, each over 3 queries"
    assert repeat_help(scores, "duplicate").endswith("Here over 2 queries.")
    (few,) = repeat_notes(scores, ABCABC)  # so few: said so, once for both
    assert "induction share averages over only 3 queries and the duplicate-token share averages over only 2" in few


def test_a_text_without_repeats_says_so_instead_of_a_score() -> None:
    ids = [1, 2, 3, 4]
    patterns = (np.tril(np.ones((4, 4))) / np.arange(1, 5)[:, None])[None, None]
    values, n_queries = text_repeat_statistics(PatternTrace(ids, patterns))
    assert n_queries == {"duplicate": 0, "induction": 0} and np.isnan(values["induction"]).all()
    scores = RepeatScores(values, n_queries)
    table = stats_table(head_statistics(patterns, causal=True), scores)
    assert not set(REPEAT_COLUMNS.values()) & set(table)  # no column of NaN or zeros
    assert repeat_ranking(scores, "induction") == []
    (note,) = repeat_notes(scores, ids)
    assert note.startswith("No token repeats in this text, so there is no duplicate-token or induction score")
    assert "paste a text that repeats a phrase" in note


def test_a_repeat_of_the_first_token_alone_has_induction_but_no_duplicate_score() -> None:
    ids = [7, 5, 7]  # the copy at position 0 is the sink's; its follower (5) is an induction target
    scores = RepeatScores({"duplicate": np.full((1, 1), np.nan), "induction": np.full((1, 1), 0.5)},
                          {"duplicate": 0, "induction": 1})  # fmt: skip
    notes = " ".join(repeat_notes(scores, ids))
    assert "no duplicate-token score" in notes and "first token" in notes
    assert "no induction score" not in notes and "only 1 query" in notes
    assert REPEAT_COLUMNS["duplicate"] not in stats_table(_stats(1, 1), scores)


def test_each_missing_score_says_which_repeat_it_lacks() -> None:
    nan = np.full((1, 1), np.nan)
    only_adjacent = RepeatScores(
        {"duplicate": np.full((1, 1), 0.9), "induction": nan}, {"duplicate": 6, "induction": 0}
    )
    (note,) = repeat_notes(only_adjacent, [1, 2, 2])  # b b: a copy right before the query
    assert "except right after itself" in note and note.endswith("or try the example below.")
    neither = RepeatScores({"duplicate": nan, "induction": nan}, {"duplicate": 0, "induction": 0})
    first, second = repeat_notes(neither, [7, 7])  # tokens repeat, but neither score has a query
    assert "no induction score." in first and "no duplicate-token score: paste a text" in second


def test_the_example_repeats_a_phrase() -> None:
    first, second = REPEAT_EXAMPLE.split("\n")[:2]
    assert first == second


def _stats(n_layers: int, n_heads: int) -> dict[str, np.ndarray]:
    return {key: np.zeros((n_layers, n_heads)) for key in ("entropy", "prev", "first", "distance")}
