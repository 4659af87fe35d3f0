"""*Another model* with a local GGUF file (a tiny llama) and with an `ollama:` name (a fake Ollama store holding
a tiny Gemma 2 GGUF): each loads, is described in the sidebar, and draws the engine's own pattern."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.helpers import decode, figure_spec
from tests.gguf_writer import add_to_ollama_store, save_tiny_gguf

pytest.importorskip("transformers")

APP = str(Path(__file__).resolve().parents[2] / "app.py")
TEXT = "the blue creature took a mole"


@pytest.fixture
def env(private_models):
    return private_models


def load_through_the_sidebar(name: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"page": "patterns", "text": TEXT})
    at.run()
    at.text_input(key="model_request").set_value(name)
    return at.button(key="model_load").click().run()


def check_described_and_drawn(at: AppTest, name: str, label: str) -> None:
    """Selected, described with its exact parameter count, and its head 0 pattern drawn from the engine's."""
    from attention_core import load_model

    assert not at.exception, [e.value for e in at.exception]
    assert not at.sidebar.error, [e.value for e in at.sidebar.error]
    assert at.session_state["model"] == name and at.selectbox(key="model").value == name
    model = load_model(name, device="cpu")
    total = model.parameter_counts()["total"]
    caption = next(c.value for c in at.sidebar.caption if "parameters" in c.value)
    assert label.split(" (")[1].split(",")[0] in caption and f"({total:,})" in caption  # the architecture
    assert at.session_state["ctx"].model_label == label
    heatmap = next(c for c in at.get("plotly_chart") if c.proto.id.endswith("head_heatmap"))
    z = decode(figure_spec(heatmap)["data"][0]["z"])
    np.testing.assert_allclose(z, model.trace(TEXT, causal=True).pattern(0, 0).numpy(), atol=1e-6)


def test_a_local_gguf_file_loads_and_is_described(env) -> None:
    path = save_tiny_gguf(env / "models" / "tiny-llama.gguf")
    at = load_through_the_sidebar(str(path))
    check_described_and_drawn(at, str(path), "`tiny-llama` (Llama-family decoder, 2 layers × 4 heads)")


def test_an_ollama_model_loads_and_is_described(env) -> None:
    """A tiny Gemma 2 in the store: the sidebar also names what its attention adds (window, soft-caps)."""
    path = save_tiny_gguf(env / "gguf" / "tiny.gguf", arch="gemma2")
    add_to_ollama_store(env / "models" / "ollama", path, "tiny", tag="q8")
    at = load_through_the_sidebar("ollama:llama3.2")  # not pulled: refused, saying what the store has
    assert not at.exception, [e.value for e in at.exception]
    reason = at.sidebar.code[0].value  # under the error's heading, as text
    assert at.sidebar.error and "Ollama has no model llama3.2:latest" in reason and "Installed: tiny:q8" in reason
    assert at.session_state["model"] == "smollm2-135m"  # the model that worked stays
    at.text_input(key="model_request").set_value("ollama:tiny:q8")
    at = at.button(key="model_load").click().run()
    check_described_and_drawn(at, "ollama:tiny:q8", "`ollama:tiny:q8` (Gemma 2 decoder, 2 layers × 2 heads)")
    said = " ".join(c.value for c in at.sidebar.caption)
    assert "sliding window of 4 tokens (1 of 2 layers)" in said and "soft-capped" in said
