"""Small probabilities and changes on the Experiments page read as what they are, and an encoder is promised no
prediction (a browser review): a next token at p = 6e-06 was shown "p = 0.0000" (read as impossible), and a change
that rounds to zero as a green "+0.000" (read as an improvement)."""

from __future__ import annotations

import re

from streamlit.testing.v1 import AppTest

from tests.app.helpers import APP, keyed
from tests.app.test_experiments_chosen_token import chosen, open_experiments

TEXT = "Mrs Dursley, of number four, Privet Drive, were proud to say that they were perfectly normal."


def test_a_tiny_probability_is_not_written_as_zero() -> None:
    at = open_experiments(TEXT)
    keyed(at, "selectbox", "exp_predict_at").set_value(5).run()  # after "of": ' number' is far down the list
    line = chosen(at)
    p = re.search(r"p = ([^,]+),", line).group(1)
    assert float(p) > 0 and not re.fullmatch(r"0\.0+", p), line


def test_the_words_for_small_numbers() -> None:
    from viz.views.experiments import change_text, probability_text

    assert probability_text(0.4551) == "0.455" and probability_text(6.1e-06, 4) == "6.1e-06"
    assert probability_text(0.0) == "0.000"  # a real zero (a masked-out token) stays one
    assert change_text(0.0002) == ("±0.000", False) and change_text(-0.0004) == ("±0.000", False)
    assert change_text(0.125) == ("+0.125", True) and change_text(-0.0006) == ("-0.001", True)


DURSLEY = (
    "Mr and Mrs Dursley, of number four, Privet Drive, were proud to say that they were perfectly normal. "
    "Mr and Mrs Dursley"
)


def test_a_change_that_rounds_to_zero_is_not_coloured_as_a_gain() -> None:
    """The review's case: after "Mr and" (token 26) the model gives ' Mrs' 0.998; zeroing layer 0, head 0 moves it by
    less than 0.0005, shown as a green "+0.000" with an up arrow."""
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params.update({"page": "experiments", "text": DURSLEY, "layer": "0", "head": "0"})
    at.run()
    keyed(at, "selectbox", "exp_predict_at").set_value(26).run()
    at.button(key="exp_add").click().run()
    (metric,) = [m for m in at.metric if m.label.startswith("p after")]
    assert metric.delta == "±0.000", metric.delta
    assert metric.proto.color == metric.proto.MetricColor.GRAY, metric.proto
    assert metric.proto.direction == metric.proto.MetricDirection.NONE, metric.proto


def test_an_encoder_is_not_promised_a_prediction_or_a_chosen_token() -> None:
    """MiniLM predicts no next token (the page says so), yet the experiment's line promised that "the prediction"
    sees the change and the ranking's heading named "the chosen token" (a browser review)."""
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params.update({"page": "experiments", "model": "minilm-l6", "text": "a fluffy blue creature"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Most important heads" in [h.value for h in at.header]
    assert not [c.value for c in at.caption if "the prediction and every later layer" in c.value]
