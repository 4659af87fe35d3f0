"""View models and figure builders of the Experiments page: pure arrays, then against the real engine."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from attention_core import Intervention, ablate_head, ablate_layer, force_pattern, temperature
from services import interventions, traces
from tests.texts import DEFAULT_TEXT
from viz.figures import experiments as fx
from viz.labels import plotly_token_labels
from viz.views import experiments as vx

# ── pure functions ───────────────────────────────────────────────────────────────────────────────


def test_row_entropy_bits() -> None:
    p = np.array([[1.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25], [0.5, 0.5, 0.0, 0.0]])
    np.testing.assert_allclose(vx.row_entropy(p), [0.0, 2.0, 1.0])  # masked zeros contribute nothing


def test_the_prediction_title_names_the_end_of_what_was_read() -> None:
    # A text the token cap cut is predicted after its last token read, not after the end of the text.
    class Cut:
        text = "the cat sat on the mat because it was tired and the dog barked FINALMARKER zebra."
        offsets = [(0, 3), (3, 7), (7, 11)]  # the trace read "the cat sat"
        truncated = True

    assert vx.text_tail(Cut()) == "the cat sat"
    Cut.truncated, Cut.offsets = False, [(0, len(Cut.text))]
    assert vx.text_tail(Cut()) == "…FINALMARKER zebra."  # from a word's start, within 24 characters


def test_rank_heads_by_effect_largest_drop_first() -> None:
    sweep = np.array([[0.1, -2.0, 0.0], [-0.5, 0.3, -2.0]])
    ranked = vx.rank_heads_by_effect(sweep)
    assert [(e.layer, e.head) for e in ranked[:3]] == [(0, 1), (1, 2), (1, 0)]  # tie broken by layer
    assert ranked[0].dlogp == -2.0 and len(ranked) == 6


def test_top_ids_and_rank() -> None:
    lp = np.log(np.array([0.1, 0.4, 0.1, 0.3, 0.1]))
    assert vx.top_ids(lp, 3) == [1, 3, 0]  # ties among 0.1 broken by id
    assert vx.rank_of(lp, 1) == 1 and vx.rank_of(lp, 3) == 2


def test_compare_predictions_union_and_dlogp() -> None:
    before = np.log(np.array([0.6, 0.3, 0.05, 0.05]))
    after = np.log(np.array([0.1, 0.2, 0.65, 0.05]))
    rows = vx.compare_predictions(before, after, lambda i: f" t{i}", k=2)
    assert [r.token_id for r in rows] == [0, 1, 2]  # top-2 before, then the new top after
    assert rows[0].token == "␣t0"  # readable: the leading space is drawn
    assert rows[2].rank_before == 3 and rows[2].rank_after == 1
    assert rows[0].dlogp == pytest.approx(math.log(0.1 / 0.6))
    table = vx.prediction_table(rows, with_after=True)
    assert table[0]["Δ log p"] == pytest.approx(math.log(0.1 / 0.6))


def test_make_intervention_covers_every_change() -> None:
    assert interventions.CHANGE_NAMES == tuple(vx.CHANGES)  # the page's labels and the service's changes agree
    kinds = {c: interventions.make_intervention(c, 2, 3, 0.5) for c in vx.CHANGES}
    assert kinds["zero"] == ablate_head(2, 3, "zero") and kinds["mean"] == ablate_head(2, 3, "mean")
    assert kinds["previous"] == force_pattern(2, 3, "previous") and kinds["self"] == force_pattern(2, 3, "self")
    assert kinds["temperature"] == temperature(2, 3, 0.5) and kinds["layer"] == ablate_layer(2)
    with pytest.raises(ValueError):
        interventions.make_intervention("explode", 0, 0)


def test_valid_interventions_drops_out_of_range_and_duplicates() -> None:
    items = [ablate_head(1, 1), ablate_head(1, 1), ablate_head(9, 0), ablate_head(0, 12), "junk", ablate_layer(2)]
    assert interventions.valid_interventions(items, n_layers=6, n_heads=12) == (ablate_head(1, 1), ablate_layer(2))


def test_figures_escape_user_tokens() -> None:
    rows = vx.compare_predictions(np.log([0.7, 0.3]), np.log([0.2, 0.8]), lambda i: ["<br>", "&amp;"][i], k=2)
    fig = fx.prediction_bars(rows, "t", True)
    assert list(fig.layout.yaxis.ticktext) == ["‘&lt;br&gt;’", "‘&amp;amp;’"]
    assert [list(t.x) for t in fig.data] == [[0.7, 0.3], [0.2, 0.8]]
    labels = plotly_token_labels(["<b>", " x"])
    assert labels == ["0: &lt;b&gt;", "1: ␣x"]
    temp = fx.temperature_figure(np.eye(2), np.zeros(2), np.ones(2), labels, "t", 0.5)
    assert "&lt;b&gt;" in temp.data[0].text[0][0] and "<b>" not in temp.data[0].text[0][0]


def test_drift_figure_highlights_the_chosen_position() -> None:
    drift = np.array([[0.0, 0.0, 0.0], [0.1, 0.2, 0.3], [0.2, 0.4, 0.9]])
    fig = fx.drift_figure(drift, 2, ["0: a", "1: b", "2: c"], [0], "t")
    bold = [t for t in fig.data if t.line.width == 3]
    assert len(bold) == 1 and list(bold[0].y) == [0.0, 0.3, 0.9]
    # The other positions are one thin trace, broken between positions: a 512-token text is 2 traces, not 512.
    assert len(fig.data) == 2
    assert list(fig.data[0].y) == [0.0, 0.1, 0.2, None, 0.0, 0.2, 0.4, None]
    assert list(fig.data[0].text) == ["0: a"] * 3 + [None] + ["1: b"] * 3 + [None]
    many = fx.drift_figure(np.random.default_rng(0).random((31, 512)), 511, [f"{i}: t" for i in range(512)], [0], "t")
    assert len(many.data) == 2


def test_temperature_figure_of_a_long_texts_last_queries() -> None:
    """Past 64 × 64 cells the map has no per-cell hover strings (a 512-token text made 262,144 of them); its rows
    are the queries q0.. with every key, each summing to 1, and the entropy bars sit at those queries."""
    n, m = 300, 48
    rng = np.random.default_rng(1)
    pattern = rng.random((m, n))
    pattern /= pattern.sum(axis=1, keepdims=True)
    labels = [f"{i}: t" for i in range(n)]
    fig = fx.temperature_figure(pattern, np.ones(m), np.zeros(m), labels, "t", 2.0, q0=n - m)
    heat = fig.data[0]
    assert heat.text is None and "%{z" in heat.hovertemplate
    assert list(heat.y) == list(range(n - m, n)) and list(heat.x) == list(range(n))
    assert list(fig.data[1].y) == list(range(n - m, n))  # entropy bars beside their queries
    assert len(fig.layout.xaxis.tickvals) <= 48 and fig.layout.yaxis.ticktext[0] == labels[n - m]
    cols = fx.temperature_figure(pattern, np.ones(m), np.zeros(m), labels, "t", 2.0, "cols", q0=n - m)
    np.testing.assert_array_equal(np.asarray(cols.data[0].z), pattern.T)
    assert list(cols.data[0].x) == list(range(n - m, n))


def test_sweep_heatmap_is_centred_on_zero() -> None:
    sweep = np.array([[-3.0, 1.0], [0.5, 0.0]])
    fig = fx.sweep_heatmap(sweep, "t", (1, 0))
    assert fig.data[0].zmin == -3.0 and fig.data[0].zmax == 3.0
    np.testing.assert_array_equal(np.asarray(fig.data[0].z), sweep)
    assert fig.layout.shapes[0].x0 == -0.5 and fig.layout.shapes[0].y0 == 0.5


# ── against the real engine ──────────────────────────────────────────────────────────────────────


def test_next_token_logprobs_match_the_engine(fluffy) -> None:
    lp = vx.next_token_logprobs(fluffy)
    expected = torch.log_softmax(fluffy.next_token_logits().double(), -1).numpy()
    np.testing.assert_allclose(lp, expected, atol=1e-9)
    assert fluffy.decode_token(vx.top_ids(lp, 1)[0]) == ","  # the model's real top token


def test_interventions_are_part_of_the_trace_key(smollm, fluffy) -> None:
    cap = fluffy.n_tokens
    clean = traces.get_trace(smollm, DEFAULT_TEXT, True, cap)
    assert traces.get_trace(smollm, DEFAULT_TEXT, True, cap) is clean  # cached
    ablated = traces.get_trace(smollm, DEFAULT_TEXT, True, cap, [ablate_head(0, 2)])
    assert ablated is not clean and ablated.interventions == (ablate_head(0, 2),)
    assert traces.get_trace(smollm, DEFAULT_TEXT, True, cap, (ablate_head(0, 2),)) is ablated  # list or tuple: same key
    assert traces.get_trace(smollm, DEFAULT_TEXT, True, cap, [ablate_head(0, 2, "mean")]) is not ablated
    plain = traces.trace_key(smollm, DEFAULT_TEXT, True, cap, ())
    assert plain != traces.trace_key(smollm, DEFAULT_TEXT, True, cap, [ablate_layer(0)])


def test_finding_zeroing_L0H2_changes_the_top_prediction(smollm, fluffy) -> None:
    """The README's finding: on the default sentence, zeroing layer 0 head 2 turns ',' into ' '."""
    before = vx.next_token_logprobs(fluffy)
    after_trace = traces.get_trace(smollm, DEFAULT_TEXT, True, fluffy.n_tokens, [ablate_head(0, 2)])
    after = vx.next_token_logprobs(after_trace)
    comma, space = smollm.tokenizer.tokenizer.token_to_id(","), int(np.argmax(after))
    assert int(np.argmax(before)) == comma and smollm.tokenizer.decode_token(space) == " "
    assert after[comma] - before[comma] == pytest.approx(-3.79, abs=0.01)
    drift = vx.residual_drift(fluffy, after_trace)
    assert drift.shape == (31, fluffy.n_tokens)
    assert np.all(drift[0] == 0.0)  # the embeddings enter layer 0 untouched
    assert np.all(drift[1:, 1:] > 0)  # every later layer carries the change (position 0 attends only to itself)
    np.testing.assert_allclose(vx.residual_drift(fluffy, fluffy), 0.0)


def test_temperature_sharpens_rows_and_is_the_engines_pattern(smollm, fluffy) -> None:
    colder = interventions.make_intervention("temperature", 5, 1, 0.25)
    cold = traces.get_trace(smollm, DEFAULT_TEXT, True, fluffy.n_tokens, [colder])
    p1, p_cold = fluffy.pattern(5, 1).double().numpy(), cold.pattern(5, 1).double().numpy()
    scores = fluffy.masked_scores(5, 1).double() / 0.25
    np.testing.assert_allclose(p_cold, torch.softmax(scores, -1).numpy(), atol=1e-5)
    e1, e_cold = vx.row_entropy(p1), vx.row_entropy(p_cold)
    assert e_cold[1:].mean() < e1[1:].mean()  # row 0 has a single key: 0 bits at any temperature
    assert e1[0] == 0.0


def test_typed_token_id(smollm, fluffy) -> None:
    token_id, note = vx.typed_token_id(fluffy, " Paris")
    assert smollm.tokenizer.decode_token(token_id) == " Paris" and "one token" in note
    token_id, note = vx.typed_token_id(fluffy, " verdantly")
    assert "using the first" in note and token_id is not None
    assert vx.typed_token_id(fluffy, "")[0] is None


def test_interventions_are_hashable_values() -> None:
    assert isinstance(ablate_head(0, 0), Intervention)
    assert len({ablate_head(0, 0), ablate_head(0, 0), temperature(0, 0, 2.0)}) == 2


@pytest.mark.parametrize("p_top", [0.998, 0.85, 0.455, 0.03])
def test_the_most_likely_bar_has_room_for_its_number(p_top: float) -> None:
    """Each bar's probability is written just past its end: the axis stopped at 1.0 whatever the top bar, so a bar at
    0.998 had no room and Plotly dropped its number, the one that mattered (a browser review: '␣Mrs' at 0.998 blank
    beside nine '0.000'). The ticks stay probabilities (none past 1)."""
    rows = vx.compare_predictions(np.log([p_top, 1 - p_top]), np.log([p_top, 1 - p_top]), lambda i: "ab"[i], k=2)
    for with_after in (False, True):
        axis = fx.prediction_bars(rows, "t", with_after).layout.xaxis
        assert axis.range[1] >= max(p_top, 1 - p_top) * 1.2
        assert axis.tickvals is None or max(axis.tickvals) <= 1.0
