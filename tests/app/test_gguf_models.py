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


def check_described_and_drawn(at: AppTest, name: str, label: str, causal: bool = True) -> None:
    """Selected, described with its exact parameter count, and its head 0 pattern drawn from the engine's (with the
    causal mask on: a decoder's own; an encoder's own is without)."""
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
    np.testing.assert_allclose(z, model.trace(TEXT, causal=causal).pattern(0, 0).numpy(), atol=1e-6)


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


def _every_page_opens(at: AppTest, name: str) -> None:
    from app_pages.registry import PAGES

    for page in PAGES:
        at = at.switch_page(page.path).run()
        assert not at.exception, (page.name, [e.value for e in at.exception])
        assert not at.error, (page.name, [e.value for e in at.error])
        assert at.session_state["model"] == name, page.name


def test_an_xlm_roberta_gguf_and_t5_ggufs_open_every_page(env) -> None:
    """A 'bert' file with XLM-R's unigram vocabulary (bge-m3's kind), a 't5' encoder-decoder file and a 't5encoder'
    file (its encoder alone): each loads through the sidebar, is described, and every page draws without an error
    (the encoder's pattern drawn is the engine's)."""
    import torch
    import transformers

    from tests.engine.test_gguf_architectures import randomize
    from tests.gguf_writer_unigram import t5_folder, write_t5_gguf, write_xlm_roberta_gguf, xlm_r_folder
    from tests.tiny_models import save_tiny_t5

    for sub in ("spm", "t5", "models"):
        (env / sub).mkdir(exist_ok=True)
    folder = xlm_r_folder(env / "spm")
    vocab = len(transformers.AutoTokenizer.from_pretrained(str(folder)))
    torch.manual_seed(0)
    cfg = transformers.XLMRobertaConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                        intermediate_size=48, max_position_embeddings=66, pad_token_id=1)  # fmt: skip
    encoder = transformers.XLMRobertaModel(cfg, add_pooling_layer=False)
    randomize(encoder)
    path = str(write_xlm_roberta_gguf(encoder, folder, env / "models" / "tiny-xlmr.gguf"))
    at = load_through_the_sidebar(path)
    check_described_and_drawn(at, path, "`tiny-xlmr` (BERT-style encoder, 2 layers × 2 heads)", causal=False)
    _every_page_opens(at, path)

    folder = t5_folder(env / "t5")
    vocab = len(transformers.AutoTokenizer.from_pretrained(str(folder))) + 8
    t5 = save_tiny_t5(env / "t5-hf", "gated-gelu", vocab=vocab, max_distance=128)
    for encoder_only, label in ((False, "T5 encoder-decoder"), (True, "T5 encoder (no decoder)")):
        name = "tiny-t5-encoder.gguf" if encoder_only else "tiny-t5.gguf"
        path = str(write_t5_gguf(t5, folder, env / "models" / name, tied=False, encoder_only=encoder_only))
        at = load_through_the_sidebar(path)
        assert not at.exception, [e.value for e in at.exception]
        assert at.session_state["model"] == path and label in at.session_state["ctx"].model_label
        _every_page_opens(at, path)
