"""Pattern view models and exports with a fake trace (no model): rows are queries, files round-trip."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from tests.viz.synthetic import TOKS, softmax, synthetic
from viz.views import common, experiments, export, patterns, shifts


class FakeTrace:
    tokens = TOKS
    token_ids = [1, 2, 3, 1, 4]
    text = "".join(TOKS)
    offsets = [(0, 0)] * len(TOKS)  # no byte pieces to name
    causal = True
    truncated = False
    n_input_tokens = 5
    n_layers = 2
    n_heads = 3
    segments = None  # one text

    def __init__(self) -> None:
        self._scores, self._mask, self._pattern = synthetic()

    def scores(self, layer: int, head: int) -> np.ndarray:
        return self._scores

    def mask(self, layer: int) -> np.ndarray:
        return self._mask

    def pattern(self, layer: int, head: int, masked: bool | None = None) -> np.ndarray:
        return softmax(self._scores) if masked is False else self._pattern

    def layer_patterns(self, layer: int) -> np.ndarray:
        return np.stack([self._pattern] * 3)

    def pooled_patterns(self, size: int = 64) -> np.ndarray:
        return np.stack([self.layer_patterns(0)] * 2)


def test_csv_export_rows_are_queries_and_sum_to_one() -> None:
    view = patterns.head_view(FakeTrace(), 1, 2)
    rows = list(csv.reader(io.StringIO(export.pattern_csv(view).decode("utf-8"))))
    assert rows[0][:2] == ["query_pos", "query_token"] and rows[0][2 + 4] == "4: <b>dog</b>"
    assert [r[1] for r in rows[1:]] == TOKS  # raw tokens, real spaces: a file, not a label
    sums = [sum(float(x) for x in r[2:]) for r in rows[1:]]
    np.testing.assert_allclose(sums, 1.0, atol=1e-6)


def test_npz_export_round_trips_without_pickle() -> None:
    view = patterns.head_view(FakeTrace(), 1, 2)
    data = np.load(io.BytesIO(export.pattern_npz(view, "fake")), allow_pickle=False)
    np.testing.assert_array_equal(data["pattern"], view.pattern)
    assert list(data["tokens"]) == TOKS and int(data["layer"]) == 1 and int(data["head"]) == 2
    assert bool(data["causal"]) and str(data["model"]) == "fake"


def test_head_view_masked_scores_are_minus_infinity_where_masked() -> None:
    view = patterns.head_view(FakeTrace(), 0, 0)
    assert np.isneginf(view.masked_scores[~view.mask]).all()
    np.testing.assert_array_equal(view.masked_scores[view.mask], view.scores[view.mask])


def test_to_numpy_is_float64_by_default_and_keeps_the_dtype_on_request() -> None:
    x = np.arange(3, dtype=np.float32)
    assert common.to_numpy(x).dtype == np.float64
    assert common.to_numpy(x, dtype=None).dtype == np.float32
    assert patterns.head_view(FakeTrace(), 0, 0).pattern.dtype == FakeTrace()._pattern.dtype  # exports unchanged


class FakeTokenizingTrace:
    """What typed_token_id reads of a Trace: ids of a text alone, and one id's text."""

    def token_ids_for(self, text: str) -> list[int]:
        return [ord(c) for c in text.strip()]

    def decode_token(self, token_id: int) -> str:
        return chr(token_id)


def test_typed_token_id_takes_the_first_token_and_says_so() -> None:
    trace = FakeTokenizingTrace()
    assert experiments.typed_token_id(trace, "x") == (ord("x"), "x is one token (id 120).")
    token_id, note = experiments.typed_token_id(trace, "ab")
    assert token_id == ord("a") and "2 tokens (a │ b); using the first, a" in note
    assert experiments.typed_token_id(trace, " ")[0] is None  # no tokens
    assert experiments.typed_token_id(trace, "")[0] is None


class FakeShiftTrace:
    """Two heads, three tokens, d_model 2: enough for delta_by_source."""

    text = "abc"
    tokens = ["a", "b", "c"]
    offsets = [(0, 1), (1, 2), (2, 3)]

    def __init__(self, bias: np.ndarray | None) -> None:
        rng = np.random.default_rng(0)
        self._contrib = rng.normal(size=(2, 3, 2))
        self._bias = bias

    def contributions(self, layer: int, query: int) -> np.ndarray:
        return self._contrib

    def layer_patterns(self, layer: int) -> np.ndarray:
        return np.full((2, 3, 3), 1 / 3)

    def output_bias(self, layer: int) -> np.ndarray | None:
        return self._bias

    def mask(self, layer: int) -> np.ndarray:
        return np.tril(np.ones((3, 3), dtype=bool))

    def attn_out(self, layer: int) -> np.ndarray:
        extra = self._bias if self._bias is not None else 0.0
        return np.stack([self._contrib.sum(axis=(0, 1)) + extra] * 3)


def test_delta_by_source_adds_the_output_bias_once() -> None:
    bias = np.array([0.5, -1.0])
    d = shifts.delta_by_source(FakeShiftTrace(bias), layer=0, query=2)
    np.testing.assert_allclose(d.bias, bias)
    np.testing.assert_allclose(d.delta, d.attn_out)
    assert d.share_along_delta().sum() + d.bias_share() == pytest.approx(1.0)
    no_bias = shifts.delta_by_source(FakeShiftTrace(None), layer=0, query=2)
    np.testing.assert_array_equal(no_bias.bias, np.zeros(2))
    assert shifts.delta_by_source(FakeShiftTrace(None), layer=0, query=1).allowed.tolist() == [True, True, False]


def test_window_mask_patterns_keep_each_querys_own_and_earlier_keys() -> None:
    trace = FakeTrace()
    full = softmax(trace._scores)  # without the mask
    window = patterns.Window(2, 5, 0, 4)  # queries 2..4 × keys 0..3
    masked, unmasked, kept = patterns.window_mask_patterns(trace, 0, 0, window)
    for r, q in enumerate(range(2, 5)):
        assert kept[r] == pytest.approx(full[q, : q + 1].sum())  # keys 0..q, the query's own key included
    np.testing.assert_allclose(unmasked, full[2:5, 0:4])
    np.testing.assert_allclose(masked, trace._pattern[2:5, 0:4])
    # The masked pattern is the unmasked one renormalised over the keys the mask keeps.
    renormalised = np.where(trace._mask[2:5, :3], full[2:5, :3], 0) / kept[:, None]
    np.testing.assert_allclose(masked[:, :3], renormalised, atol=1e-6)  # float32 softmaxes
