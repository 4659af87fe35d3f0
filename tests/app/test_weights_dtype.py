"""The sidebar's *Weights* choice (float32 / bfloat16 / float16): offered only on a device where the app runs half
precision (CUDA), passed through services.models to the engine, kept apart in the loaded-model table and in the
link; a link asking for half precision where it cannot run says why, and the weights stay float32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app_pages.registry import PAGE_NAMES
from services import models as engine
from tests.app.helpers import decode, figure_spec
from ui import url

APP = str(Path(__file__).resolve().parents[2] / "app.py")
TEXT = "the blue creature took a mole"
MODELS = ["smollm2-135m", "minilm-l6"]


@pytest.fixture
def table(monkeypatch):
    """A copy of the process's model table: models already loaded are shared, the ones a test adds are dropped."""
    monkeypatch.setattr(engine, "_models", dict(engine._models))
    return engine._models


def weights_radios(at: AppTest) -> list:
    return [r for r in at.sidebar.radio if r.label == "Weights"]


def caption(at: AppTest) -> str:
    return next(c.value for c in at.sidebar.caption if "parameters" in c.value)


def test_on_the_cpu_there_is_no_choice_and_a_half_precision_link_says_why(table, monkeypatch) -> None:
    monkeypatch.setattr(engine, "available_devices", lambda: ["cpu"])  # as on this machine, on any machine
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"page": "patterns", "text": TEXT, "dtype": "bfloat16"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert weights_radios(at) == [] and at.session_state["dtype"] == "float32"
    assert any("asks for bfloat16 weights, but bfloat16 weights need a CUDA GPU" in w.value for w in at.warning)
    assert "GiB in float32" in caption(at)
    assert "dtype" not in at.query_params  # the link now says what runs: the default float32
    assert ("smollm2-135m", "cpu", "bfloat16") not in table


def test_where_half_precision_runs_the_choice_loads_that_dtype(table, monkeypatch) -> None:
    # No CUDA here: let the app offer half precision on the CPU, where the engine runs bfloat16 too.
    monkeypatch.setattr(engine, "HALF_DEVICES", ("cpu",))
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"page": "patterns", "text": TEXT})
    at.run()
    (radio,) = weights_radios(at)
    assert radio.options == ["float32", "bfloat16", "float16"] and radio.value == "float32"
    at.radio(key="dtype").set_value("bfloat16").run()
    assert not at.exception, [e.value for e in at.exception]
    model = table[("smollm2-135m", "cpu", "bfloat16")]  # beside the float32 one, not instead of it
    assert ("smollm2-135m", "cpu", "float32") in table and str(model.dtype) == "torch.bfloat16"
    assert "GiB in bfloat16" in caption(at) and at.query_params["dtype"] == "bfloat16"
    heatmap = next(c for c in at.get("plotly_chart") if c.proto.id.endswith("head_heatmap"))
    z = decode(figure_spec(heatmap)["data"][0]["z"])
    layer, head = at.session_state["layer"], at.session_state["head"]
    np.testing.assert_allclose(z, model.trace(TEXT, causal=True).pattern(layer, head).numpy(), atol=1e-6)
    float32 = table[("smollm2-135m", "cpu", "float32")].trace(TEXT, causal=True).pattern(layer, head).numpy()
    assert np.abs(z - float32).max() > 1e-5  # the drawn pattern is the bfloat16 model's, not float32's


def test_services_refuse_half_precision_off_cuda_with_a_message() -> None:
    assert engine.dtype_choices("cpu") == engine.dtype_choices("mps") == ["float32"]
    assert engine.dtype_choices("cuda") == ["float32", "bfloat16", "float16"]
    assert engine.dtype_problem("bfloat16", "cuda") is None
    assert "need a CUDA GPU" in engine.dtype_problem("float16", "cpu")
    assert "Unknown weight dtype" in engine.dtype_problem("int8", "cuda")
    with pytest.raises(engine.ModelLoadError, match="bfloat16 weights need a CUDA GPU here"):
        engine.load("no-such-model", "cpu", dtype="bfloat16")  # refused before the name is looked up


def test_the_link_carries_the_dtype_only_when_it_is_not_float32() -> None:
    base = ("smollm2-135m", "text", 1, 2, True, "rows", "patterns")
    assert "dtype" not in url.to_params(*base)
    assert url.to_params(*base, dtype="bfloat16")["dtype"] == "bfloat16"
    read = url.parse_params({"dtype": "float16"}, MODELS, "smollm2-135m", PAGE_NAMES, dtypes=engine.DTYPES)
    assert read.dtype == "float16" and read.warnings == []
    bad = url.parse_params({"dtype": "<b>int4</b>"}, MODELS, "smollm2-135m", PAGE_NAMES, dtypes=engine.DTYPES)
    assert bad.dtype is None and "not one of float32, bfloat16, float16" in bad.warnings[0]
    assert "` '<b>int4</b>' `" in bad.warnings[0]  # shown as a code span (a literal), never as markup
