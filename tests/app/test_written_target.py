"""The cross-attention page lets an encoder-decoder write its own target: the button fills the target box with the
model's greedy output for the source box's text (the engine's `greedy_target`, checked against transformers in
tests/engine/test_greedy_target.py), the page says the target is the model's own, and the cross-attention drawn is
the pair trace of that source and that target."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from tests.app.helpers import decode, figure_spec

APP = str(Path(__file__).resolve().parents[2] / "app.py")
SOURCE = "the quick brown fox jumps over the lazy dog"


def opened_on_cross_attention(private_models: Path, kind: str = "t5") -> tuple[AppTest, Path]:
    """The cross-attention page with a tiny `kind` loaded through the sidebar: T5 (its greedy output keeps changing
    token: tests/engine/test_greedy_target.py), or a BART-family kind of tests/tiny_models_seq2seq.py."""
    from tests.tiny_models import save_tiny_t5
    from tests.tiny_models_seq2seq import save_tiny_seq2seq

    folder = private_models / "models" / f"tiny-{kind}"
    save_tiny_t5(folder, "gated-gelu") if kind == "t5" else save_tiny_seq2seq(kind, folder)
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"page": "cross_attention"})
    at.run()
    at.text_input(key="model_request").set_value(str(folder))
    at = at.button(key="model_load").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at, folder


def test_the_model_writes_the_target_and_the_page_draws_how_it_read_the_source(private_models) -> None:
    from attention_core import load_model
    from services.traces import WRITTEN_TARGET_TOKENS, short_cap

    at, folder = opened_on_cross_attention(private_models)
    assert at.text_input(key="mech_cross_source").label == "Source text"  # its own languages, not the prompt's
    at.text_input(key="mech_cross_source").set_value(SOURCE).run()
    assert not any("The target is the model's own" in c.value for c in at.caption)
    at = at.button(key="mech_cross_write").click().run()
    assert not at.exception, [e.value for e in at.exception]

    model = load_model(str(folder), device="cpu")
    cap = short_cap(model)
    written = model.greedy_target(SOURCE, min(WRITTEN_TARGET_TOKENS, cap - 1), max_tokens=cap)
    assert written.text and at.text_input(key="mech_cross_target").value == written.text
    note = next(c.value for c in at.caption if "The target is the model's own" in c.value)
    assert f"{len(written.token_ids)} tokens written greedily" in note

    pair = model.trace_pair(SOURCE, written.text, max_tokens=cap)
    chart = next(c for c in at.get("plotly_chart") if "mech_cross_encdec_block" in str(c.proto.id))
    layer, head = at.selectbox(key="mech_cross_encdec_head").value
    z = decode(figure_spec(chart)["data"][0]["z"]).astype(float)
    np.testing.assert_allclose(z, pair.cross.pattern(layer, head).numpy(), atol=1e-6)

    at.text_input(key="mech_cross_source").set_value("another source").run()  # written for the old source
    assert not any("The target is the model's own" in c.value for c in at.caption)
    at.text_input(key="mech_cross_source").set_value(SOURCE).run()  # its own again
    assert any("The target is the model's own" in c.value for c in at.caption)
    at.text_input(key="mech_cross_target").set_value("a target typed by hand").run()  # no longer the model's
    assert not any("The target is the model's own" in c.value for c in at.caption)


def test_a_decoder_only_model_has_no_such_button(private_models) -> None:
    """SmolLM2 reads one English/French prompt here: there is no decoder of its own to write the target."""
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"page": "cross_attention"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [b for b in at.button if b.key == "mech_cross_write"]
    assert at.text_input(key="mech_cross_target").label == "Target text (French)"


def test_a_translation_model_reads_and_writes_the_languages_picked(private_models) -> None:
    """NLLB-200's layout (a tiny M2M100 whose tokenizer marks texts eng_Latn … </s>): the page offers its language
    tokens, starts at English → French (the default target text is French), and draws the pair trace of the source
    marked with the source language and the target with the target language; the written target starts with it."""
    from attention_core import load_model
    from services.traces import WRITTEN_TARGET_TOKENS, short_cap
    from tests.tiny_models_seq2seq import NLLB_LANGUAGES

    at, folder = opened_on_cross_attention(private_models, "m2m_100")
    source_box = at.selectbox(key="mech_cross_source_language")
    target_box = at.selectbox(key="mech_cross_target_language")
    assert tuple(source_box.options) == NLLB_LANGUAGES
    assert (source_box.value, target_box.value) == ("eng_Latn", "fra_Latn")
    target_box.set_value("deu_Latn").run()
    at.text_input(key="mech_cross_source").set_value(SOURCE).run()
    at = at.button(key="mech_cross_write").click().run()
    assert not at.exception, [e.value for e in at.exception]

    model = load_model(str(folder), device="cpu")
    cap = short_cap(model)
    written = model.greedy_target(SOURCE, min(WRITTEN_TARGET_TOKENS, cap - 1), cap, "eng_Latn", "deu_Latn")
    assert written.token_ids[0] == model.tokenizer.token_id("deu_Latn")
    assert at.text_input(key="mech_cross_target").value == written.text
    assert any("The target is the model's own" in c.value for c in at.caption)
    pair = model.trace_pair(SOURCE, written.text, cap, "eng_Latn", "deu_Latn")
    chart = next(c for c in at.get("plotly_chart") if "mech_cross_encdec_block" in str(c.proto.id))
    layer, head = at.selectbox(key="mech_cross_encdec_head").value
    z = decode(figure_spec(chart)["data"][0]["z"]).astype(float)
    np.testing.assert_allclose(z, pair.cross.pattern(layer, head).numpy(), atol=1e-6)
    at.selectbox(key="mech_cross_target_language").set_value("fra_Latn").run()  # written in German, not French
    assert not any("The target is the model's own" in c.value for c in at.caption)
