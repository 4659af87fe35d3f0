"""Experiments on a model whose tokenizer appends EOS after the text (a GGUF with add_eos_token): the page opens on
the prediction after the text's own last token, not after the EOS, and never calls the EOS the token that comes next
in the text (tests/experiments/test_added_tokens.py holds the view models)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from tests.app.helpers import APP, decode, figure_spec, keyed

pytest.importorskip("transformers")

TEXT = "the cat sat"


def on_the_eos_model(folder) -> tuple[AppTest, object]:
    import gguf

    from attention_core import load_model
    from tests.gguf_writer import rewrite_gguf, save_tiny_gguf

    plain = save_tiny_gguf(folder / "gguf" / "tiny.gguf")
    (folder / "models").mkdir()
    eos_field = {"tokenizer.ggml.add_eos_token": (True, gguf.GGUFValueType.BOOL)}
    path = rewrite_gguf(plain, folder / "models" / "tiny-eos.gguf", eos_field)
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params.update({"page": "experiments", "text": TEXT})
    at.run()
    at.text_input(key="model_request").set_value(str(path))
    at.button(key="model_load").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["model"] == str(path)
    return at, load_model(str(path), device="cpu").trace(TEXT)


def next_chart(at: AppTest) -> dict:
    return figure_spec(next(c for c in at.get("plotly_chart") if c.key == "exp_next"))


def test_the_page_opens_after_the_texts_last_token_and_names_the_eos(private_models) -> None:
    at, trace = on_the_eos_model(private_models)
    n, eos = trace.n_tokens, trace.token_ids[-1]
    picker = keyed(at, "selectbox", "exp_predict_at")
    assert picker.value == n - 2  # " sat"'s last piece, not the EOS after it
    fig = next_chart(at)
    assert fig["layout"]["title"]["text"] == "Top 10 next tokens after “the cat sat”"
    want = torch.softmax(trace.logits[n - 2].double(), -1).numpy()  # the prediction at the text's last token
    np.testing.assert_allclose(decode(fig["data"][0]["x"]), np.sort(want)[::-1][:10], atol=1e-5)
    box = keyed(at, "selectbox", "exp_token")
    assert box.value != eos  # after the text the model's top-1 is chosen, as for any model
    added = [label for label in box.options if "added by the tokenizer" in label]  # the EOS is offered, as what it is
    assert added == [box.format_func(eos)] and added[0].startswith(f"‘{trace.decode_token(eos)}’  (p = ")
    assert not any("next in your text" in label for label in box.options)
    box.set_value(eos).run()
    said = " ".join(c.value for c in at.caption)
    assert "next in your text" not in said
    assert f"Chosen token: ‘{trace.decode_token(eos)}’ (the special token the tokenizer added after your text)" in said


def test_the_prediction_after_the_eos_is_named_after_the_eos(private_models) -> None:
    at, trace = on_the_eos_model(private_models)
    keyed(at, "selectbox", "exp_predict_at").set_value(trace.n_tokens - 1).run()
    assert not at.exception, [e.value for e in at.exception]
    title = next_chart(at)["layout"]["title"]["text"]
    assert "the cat sat" not in title and "added" in title, title
    assert not any("next in your text" in c.value for c in at.caption), [c.value for c in at.caption]
