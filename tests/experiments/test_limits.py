"""How far the Experiments page reaches (issue 19, defect 5): experiments run on up to 512 tokens, the head
ranking on up to 256, and a text past either limit is told its true length."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.app.helpers import APP
from viz.views.experiments import EXP_MAX_TOKENS, SWEEP_MAX_TOKENS

SENTENCE = "The lighthouse keeper climbed the stairs every evening to light the lamp. "


def experiments(text: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params.update({"page": "experiments", "text": text})
    at.run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Experiments"
    return at


def n_tokens(at: AppTest) -> int:
    return at.session_state["ctx"].trace.n_input_tokens


def test_the_limits_are_512_and_256_tokens() -> None:
    assert EXP_MAX_TOKENS >= 512 and SWEEP_MAX_TOKENS >= 256


def test_a_200_token_text_is_neither_cut_nor_refused_the_ranking() -> None:
    at = experiments(SENTENCE * 14)
    assert 150 < n_tokens(at) <= SWEEP_MAX_TOKENS
    assert not [w for w in at.warning if "experiments run on the first" in w.value]
    assert any(b.key == "exp_sweep" for b in at.button)  # the ranking is offered


def test_a_long_text_is_told_its_true_length() -> None:
    at = experiments(SENTENCE * 45)
    n = n_tokens(at)
    assert n > EXP_MAX_TOKENS
    cut = [w.value for w in at.warning if "experiments run on the first" in w.value]
    assert cut and f"The text has {n} tokens; experiments run on the first {EXP_MAX_TOKENS}" in cut[0]
    refusal = [i.value for i in at.info if "The ranking runs on texts up to" in i.value]
    assert refusal and f"this one has {n}." in refusal[0]
