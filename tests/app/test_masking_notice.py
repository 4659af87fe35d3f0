"""Masking the model was not trained with is said, and so is a colour scale that stops short of 1 (issue 19,
defect 10)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.helpers import APP, chart

TEXT = "a fluffy blue creature roamed the verdant forest"


def patterns(**params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(
        {"page": "patterns", "text": TEXT, "layer": "17", "head": "1", **params}
    )  # unmasked, its darkest is 0.27
    at.run()
    assert not at.exception, at.exception
    return at


def notices(at: AppTest) -> str:
    return " ".join(w.value for w in at.warning)


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"model": "smollm2-135m", "mask": "off"}, "The causal mask is off, but"),
        ({"model": "minilm-l6", "mask": "on"}, "The causal mask is on, but"),
    ],
)
def test_masking_the_model_was_not_trained_with_is_said(params: dict, says: str) -> None:
    at = patterns(**params)
    assert says in notices(at) and "never saw in training" in notices(at)
    at.switch_page("app_pages/masking.py").run()
    assert says in notices(at)


def test_the_models_own_masking_needs_no_notice() -> None:
    assert "never saw in training" not in notices(patterns(model="smollm2-135m", mask="on"))


def test_a_colour_scale_below_one_says_where_it_stops() -> None:
    at = patterns(model="smollm2-135m", mask="off")
    data = chart(at, "head_heatmap")["data"][0]
    top = data["zmax"]
    assert top < 0.995 and f"darkest = {top:.2g}" in data["colorbar"]["title"]["text"]
    masked = chart(patterns(model="smollm2-135m", mask="on"), "head_heatmap")["data"][0]
    assert masked["zmax"] == pytest.approx(1.0, abs=1e-6) and masked["colorbar"]["title"]["text"] == "weight"
