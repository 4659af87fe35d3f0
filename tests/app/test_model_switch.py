"""Switching models keeps the reader's place: a layer or head the new model lacks is brought into range with a
notice (at layer 18 of SmolLM2, MiniLM's six layers silently showed layer 5), and switching back returns to the
layer and head left there (it stayed at layer 5)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.app.helpers import APP

TIMEOUT = 180  # the machine's 2 cores are shared


def place(at: AppTest) -> tuple[int, int]:
    return at.slider(key="layer").value, at.slider(key="head").value


def patterns_at(layer: int, head: int) -> AppTest:
    """The patterns page on SmolLM2 (the default model) at `layer`, `head`, chosen with the sliders."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"page": "patterns"})
    at.run()
    at.slider(key="layer").set_value(layer).run()
    at.slider(key="head").set_value(head).run()
    return at


def notices(at: AppTest) -> str:
    return " ".join(w.value for w in at.warning)


def test_a_switch_that_moves_the_layer_says_so_and_switching_back_restores_it(smollm, minilm) -> None:
    at = patterns_at(18, 6)
    at.selectbox(key="model").set_value("minilm-l6").run()
    assert not at.exception, [e.value for e in at.exception]
    assert place(at) == (5, 6)  # MiniLM: 6 layers × 12 heads; head 6 exists there
    said = notices(at)
    assert "Layer 18 does not exist in" in said and "(layers 0–5); showing layer 5" in said, said
    assert "Head" not in said  # the head was kept: nothing to say about it
    at.slider(key="layer").set_value(3).run()
    assert "does not exist" not in notices(at)  # said once, on the switch
    at.selectbox(key="model").set_value("smollm2-135m").run()
    assert place(at) == (18, 6) and "does not exist" not in notices(at)  # where the reader left SmolLM2
    at.selectbox(key="model").set_value("minilm-l6").run()
    assert place(at) == (3, 6) and "does not exist" not in notices(at)  # and where they left MiniLM


def test_a_switch_within_range_keeps_the_layer_quietly(smollm, minilm) -> None:
    at = patterns_at(2, 8)
    at.selectbox(key="model").set_value("minilm-l6").run()
    assert place(at) == (2, 8) and "does not exist" not in notices(at)
