"""viz.views.score_terms: each kind of score gets the name, formula and step titles of what it is."""

from __future__ import annotations

import types

from viz.views.score_terms import ScoreTerms, score_stages, score_terms


def test_a_declared_scale_of_one_over_root_d_head_is_the_plain_scale() -> None:
    """Gemma's query_pre_attn_scalar is often head_dim: its factor is then 1/√d_head, and named so."""
    plain = ScoreTerms(scale=16**-0.5, d_head=16)
    assert (plain.name, plain.formula, plain.scale_step()) == ("scaled score", "q·k/√d_head", "÷ √d_head = ÷ 4")
    assert plain.described() == "scaled score (q·k/√d_head, before the softmax)"


def test_each_added_term_is_named_and_gets_its_own_stage() -> None:
    t5 = ScoreTerms(scale=1.0, d_head=8, position_bias=True)
    assert (t5.name, t5.formula, t5.scale_step()) == ("q·k + position bias", "q·k + position bias", "no scale: q·k × 1")
    gemma = ScoreTerms(scale=24**-0.5, d_head=16, softcap=5.0)
    assert gemma.formula == "5·tanh(q·k × 0.2041 / 5)" and gemma.scale_step() == "× own scale 0.2041 = ÷ 4.899"
    assert [s.name for s in score_stages(t5)] == [
        "dots", "scaled", "position_bias", "before_mask", "masked", "pattern"
    ]  # fmt: skip
    assert [s.name for s in score_stages(gemma)] == ["dots", "scaled", "capped", "masked", "pattern"]


def test_a_trace_is_read_from_its_config() -> None:
    cfg = types.SimpleNamespace(d_head=8, scale=1.0, attn_softcap=None, position_bias="t5")
    assert score_terms(types.SimpleNamespace(config=cfg)) == ScoreTerms(1.0, 8, None, True)
    assert score_terms(object()).name == "scaled score"  # a config-less fake: the plain 1/√d_head


def test_a_scale_of_one_over_the_root_of_a_multiple_of_d_head_is_written_as_one() -> None:
    """DeBERTa divides q·k and its two position terms by √(3·d_head): written so, not as a bare factor 0.1443."""
    deberta = ScoreTerms((3 * 16) ** -0.5, 16, position_bias=True, bias_name="position terms", multiple=3)
    assert deberta.formula == "q·k/√(3·d_head) + position terms"
    assert deberta.scale_step() == "÷ √(3·d_head) = ÷ 6.928"
    assert deberta.scores_title().startswith("Scores: q·k / √(3·d_head) (the model's own scale, not 1/√d_head) + ")
    cfg = types.SimpleNamespace(d_head=16, scale=48**-0.5, attn_softcap=None, position_bias="none", scale_multiple=3)
    assert score_terms(types.SimpleNamespace(config=cfg)).formula == "q·k/√(3·d_head)"
