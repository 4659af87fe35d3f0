"""Unit tests of the view-model layer and the figure builders with synthetic arrays (no model)."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.app.helpers import decode
from viz import figures, labels, state, viewmodel


# ── labels ────────────────────────────────────────────────────────────────────────────────────
def test_readable_token_shows_spaces_and_control_characters() -> None:
    assert labels.readable_token(" ver") == "␣ver"
    assert labels.readable_token("\n") == "\\n"
    assert labels.readable_token("a\tb") == "a\\tb"
    assert labels.readable_token("\x07") == "\\x07"
    assert labels.readable_token("\u200b") == "\\u200b"  # zero-width space must not vanish
    assert labels.readable_token("") == "∅"


def test_plotly_token_escapes_markup() -> None:
    assert labels.plotly_token("<br>") == "&lt;br&gt;"
    assert labels.plotly_token(" <b>&") == "␣&lt;b&gt;&amp;"


@given(st.text(max_size=12))
def test_labels_never_contain_raw_markup_or_invisible_characters(token: str) -> None:
    out = labels.plotly_token(token)
    assert "<" not in out and ">" not in out
    assert " " not in out and "\n" not in out and "\t" not in out
    assert out  # never an empty, invisible tick label


# ── URL state ─────────────────────────────────────────────────────────────────────────────────
MODELS = ["smollm2-135m", "minilm-l6"]


def test_parse_params_accepts_a_full_valid_link() -> None:
    got = state.parse_params(
        {"model": "minilm-l6", "text": "one mole", "layer": "2", "head": "5", "mask": "on", "orient": "cols",
         "page": "masking"},
        MODELS,
        "smollm2-135m",
    )
    assert (got.model, got.text, got.layer, got.head, got.causal, got.orient, got.page) == (
        "minilm-l6", "one mole", 2, 5, True, "cols", "masking")
    assert got.warnings == []


@pytest.mark.parametrize(
    ("params", "field", "default"),
    [
        ({"model": "gpt-9"}, "model", "smollm2-135m"),
        ({"layer": "three"}, "layer", 0),
        ({"head": "-1"}, "head", 0),
        ({"mask": "maybe"}, "causal", None),
        ({"orient": "diagonal"}, "orient", "rows"),
        ({"page": "secret"}, "page", "patterns"),
    ],
)
def test_parse_params_falls_back_with_a_warning(params: dict, field: str, default: object) -> None:
    got = state.parse_params(params, MODELS, "smollm2-135m")
    assert getattr(got, field) == default
    assert len(got.warnings) == 1


def test_clamp_layer_head_out_of_range() -> None:
    assert state.clamp_layer_head(3, 2, 30, 9, "m") == (3, 2, [])
    layer, head, warnings = state.clamp_layer_head(30, 9, 30, 9, "m")
    assert (layer, head) == (0, 0) and len(warnings) == 2


def test_params_round_trip() -> None:
    params = state.to_params("minilm-l6", "a & b", 1, 2, False, "cols", "guide")
    got = state.parse_params(params, MODELS, "smollm2-135m")
    assert (got.model, got.text, got.layer, got.head, got.causal, got.orient, got.page) == (
        "minilm-l6", "a & b", 1, 2, False, "cols", "guide")


# ── figures ───────────────────────────────────────────────────────────────────────────────────
def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _synthetic(n: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(n, n)).astype(np.float32)
    mask = np.tril(np.ones((n, n), dtype=bool))
    pattern = _softmax(np.where(mask, scores, -np.inf))
    return scores, mask, pattern


TOKS = ["the", " cat", " saw", " the", " <b>dog</b>"]  # a repeated token and markup on purpose


def test_head_heatmap_keeps_repeated_tokens_apart_and_orients() -> None:
    scores, mask, pattern = _synthetic()
    ticks = labels.plotly_tokens(TOKS)
    rows = figures.head_heatmap(pattern, scores, mask, ticks, "rows")
    assert rows.layout.xaxis.tickvals == (0, 1, 2, 3, 4)  # integer positions: both "the" survive
    assert rows.layout.xaxis.ticktext[4] == "␣&lt;b&gt;dog&lt;/b&gt;"
    np.testing.assert_array_equal(decode(rows.to_plotly_json()["data"][0]["z"]), pattern)
    assert rows.layout.yaxis.title.text == "query"
    cols = figures.head_heatmap(pattern, scores, mask, ticks, "cols")
    np.testing.assert_array_equal(decode(cols.to_plotly_json()["data"][0]["z"]), pattern.T)
    assert cols.layout.xaxis.title.text == "query"
    # Hover of drawn cell (y=0, x=3) in "cols" is query 3 looking at key 0.
    assert cols.data[0].text[0][3].startswith("query 3: ␣the<br>key 0: the")


def test_head_heatmap_hover_has_weight_and_raw_score() -> None:
    scores, mask, pattern = _synthetic()
    fig = figures.head_heatmap(pattern, scores, mask, labels.plotly_tokens(TOKS))
    hover = fig.data[0].text[1][3]  # query 1, key 3: masked
    assert "weight 0<" in hover and f"raw score {scores[1, 3]:.4g}" in hover and "masked" in hover


def test_scores_heatmap_masks_with_blank_cells_labelled_minus_infinity() -> None:
    scores, mask, _ = _synthetic()
    fig = figures.scores_heatmap(scores, mask, labels.plotly_tokens(TOKS))
    z = decode(fig.to_plotly_json()["data"][0]["z"])
    assert np.isnan(z[~mask]).all() and np.isfinite(z[mask]).all()
    overlay = fig.data[1]
    assert len(overlay.x) == int((~mask).sum())
    assert all("−∞ (masked)" in h for h in overlay.hovertext)


def test_scores_heatmap_without_mask_has_no_overlay() -> None:
    scores, _, _ = _synthetic()
    fig = figures.scores_heatmap(scores, np.ones_like(scores, dtype=bool), labels.plotly_tokens(TOKS))
    assert len(fig.data) == 1


def test_mask_comparison_difference_panel_is_masked_minus_unmasked() -> None:
    scores, mask, masked = _synthetic()
    unmasked = _softmax(scores)
    fig = figures.mask_comparison(masked, unmasked, labels.plotly_tokens(TOKS))
    data = fig.to_plotly_json()["data"]
    np.testing.assert_allclose(decode(data[2]["z"]), masked - unmasked)


def test_small_multiples_and_overview_click_targets_carry_layer_and_head() -> None:
    patterns = np.stack([_synthetic(seed=h)[2] for h in range(4)])
    fig = figures.layer_small_multiples(patterns, selected_head=2, layer=7)
    (targets,) = [t for t in fig.data if t.type == "scatter"]
    assert [tuple(c) for c in targets.customdata] == [(7, h) for h in range(4)]
    assert len(fig.layout.shapes) == 1  # the selected head's frame
    assert [a.text for a in fig.layout.annotations] == ["head 0", "head 1", "<b>head 2</b>", "head 3"]
    # The mosaic holds each head's pattern unchanged, at the cell the click target's centre points into.
    grid = decode(fig.to_plotly_json()["data"][0]["z"])
    n = patterns.shape[1]
    for h in range(4):
        x0, y0 = (round(v - (n - 1) / 2) for v in (targets.x[h], targets.y[h]))
        np.testing.assert_array_equal(grid[y0 : y0 + n, x0 : x0 + n], patterns[h].astype(np.float32))
    frame = fig.layout.shapes[0]
    assert (frame.x0 + 0.5, frame.y0 + 0.5) == (round(targets.x[2] - (n - 1) / 2), round(targets.y[2] - (n - 1) / 2))
    pooled = np.random.default_rng(1).random((3, 4, 5, 5))
    over = figures.overview_mosaic(pooled, selected=(2, 1))
    custom = np.asarray(over.data[1].customdata)
    assert custom.shape == (12, 2) and {tuple(c) for c in custom} == {(lay, h) for lay in range(3) for h in range(4)}
    z = decode(over.to_plotly_json()["data"][0]["z"])
    s, gap = 5, 1
    np.testing.assert_array_equal(z[1 * (s + gap) : 1 * (s + gap) + s, 2 * (s + gap) : 2 * (s + gap) + s],
                                  pooled[2, 1].astype(np.float32))


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        ({"points": [{"customdata": [3, 4]}]}, (3, 4)),
        ({"points": [{"customdata": {"0": 5, "1": 1}}]}, (5, 1)),
        ({"points": [{"x": 1}]}, None),
        ({"points": []}, None),
        (None, None),
    ],
)
def test_selected_point(selection: object, expected: object) -> None:
    assert figures.selected_point(selection) == expected


def test_image_config_formats() -> None:
    assert figures.image_config("f", "svg")["toImageButtonOptions"]["format"] == "svg"
    assert figures.image_config("f")["toImageButtonOptions"]["format"] == "png"


# ── view model with a fake trace ──────────────────────────────────────────────────────────────
class FakeTrace:
    tokens = TOKS
    token_ids = [1, 2, 3, 1, 4]
    causal = True
    truncated = False
    n_input_tokens = 5
    n_layers = 2
    n_heads = 3

    def __init__(self) -> None:
        self._scores, self._mask, self._pattern = _synthetic()

    def scores(self, layer: int, head: int) -> np.ndarray:
        return self._scores

    def mask(self, layer: int) -> np.ndarray:
        return self._mask

    def pattern(self, layer: int, head: int, masked: bool | None = None) -> np.ndarray:
        return _softmax(self._scores) if masked is False else self._pattern

    def layer_patterns(self, layer: int) -> np.ndarray:
        return np.stack([self._pattern] * 3)

    def pooled_patterns(self, size: int = 64) -> np.ndarray:
        return np.stack([self.layer_patterns(0)] * 2)


def test_csv_export_rows_are_queries_and_sum_to_one() -> None:
    view = viewmodel.head_view(FakeTrace(), 1, 2)
    rows = list(csv.reader(io.StringIO(viewmodel.pattern_csv(view).decode("utf-8"))))
    assert rows[0][:2] == ["query_pos", "query_token"] and rows[0][2 + 4] == "4: <b>dog</b>"
    assert [r[1] for r in rows[1:]] == TOKS  # raw tokens, real spaces: a file, not a label
    sums = [sum(float(x) for x in r[2:]) for r in rows[1:]]
    np.testing.assert_allclose(sums, 1.0, atol=1e-6)


def test_npz_export_round_trips_without_pickle() -> None:
    view = viewmodel.head_view(FakeTrace(), 1, 2)
    data = np.load(io.BytesIO(viewmodel.pattern_npz(view, "fake")), allow_pickle=False)
    np.testing.assert_array_equal(data["pattern"], view.pattern)
    assert list(data["tokens"]) == TOKS and int(data["layer"]) == 1 and int(data["head"]) == 2
    assert bool(data["causal"]) and str(data["model"]) == "fake"


def test_head_view_masked_scores_are_minus_infinity_where_masked() -> None:
    view = viewmodel.head_view(FakeTrace(), 0, 0)
    assert np.isneginf(view.masked_scores[~view.mask]).all()
    np.testing.assert_array_equal(view.masked_scores[view.mask], view.scores[view.mask])


def test_parse_params_accepts_pages_registered_by_the_shell() -> None:
    got = state.parse_params({"page": "head_finder"}, MODELS, "smollm2-135m", pages=[*state.PAGES, "head_finder"])
    assert got.page == "head_finder" and got.warnings == []
