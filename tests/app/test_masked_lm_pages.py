"""A masked-language model in the app: a tiny BertForMaskedLM (tests.tiny_masked_lms) loaded through *Another
model*. The Logit lens page reads its layers through its own prediction head and says that each cell guesses the
token at that position; it follows the first [MASK] first; the top row at the mask is transformers' own prediction.
The pages that need a next token say what the model does instead; an embedding model's encoder says it has no head."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from tests.app.helpers import chart, decode, keyed
from tests.app.test_architecture_features import APP
from tests.tiny_folders import tiny_folder
from viz.labels import predicted_token_label

transformers = pytest.importorskip("transformers")

TEXT = "the fox sat on the [MASK] and the dog ran"


def opened(private_models, page: str, kind: str = "mlm_bert", text: str = TEXT) -> tuple[AppTest, object]:
    folder = tiny_folder(private_models, kind)
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"page": page, "text": text})
    at.run()
    at.text_input(key="model_request").set_value(str(folder))
    at = at.button(key="model_load").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at, folder


def picked(at: AppTest) -> str:
    """The label of the position the Logit lens page follows."""
    box = keyed(at, "selectbox", "lens_position")
    return box.options[box.index]


def test_the_logit_lens_fills_in_the_mask_with_the_models_own_prediction(private_models) -> None:
    at, folder = opened(private_models, "logit_lens")
    intro = " ".join(m.value for m in at.markdown)
    assert "most likely token for that position" in intro and "Type `[MASK]` in the text to hide a token" in intro
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    ids = tokenizer(TEXT, return_tensors="pt")["input_ids"]
    where = int((ids[0] == tokenizer.mask_token_id).nonzero()[0, 0])
    with torch.inference_mode():
        logits = transformers.BertForMaskedLM.from_pretrained(folder).eval()(ids).logits[0, where]
    expected = predicted_token_label(tokenizer.convert_ids_to_tokens(int(logits.argmax())) or "")  # ∅: no string
    grid = chart(at, "lens_grid")
    hover = grid["data"][0]["hovertext"][-1][where].split("<br>")  # the last block's: the model's own
    assert hover[:3] == [f"layer 1 · position {where}, at [MASK]",
                         "top 5 tokens for this position under this layer's lens:",
                         f"{expected}  {logits.softmax(-1).max().item():.1%}"]  # fmt: skip
    said = " ".join(c.value for c in at.caption)
    assert f"At position {where} (the first `[MASK]`), the final answer is ‘{expected}’" in said
    assert picked(at).startswith(f"{where}: at ‘[MASK]’")  # followed first
    track = chart(at, "lens_track")
    assert f"at ‘[MASK]’ (position {where})" in track["layout"]["title"]["text"]
    assert "(the text hides this one)" in said
    probs = np.asarray(decode(grid["data"][0]["z"]), dtype=float)
    assert probs.shape == (2, ids.shape[1]) and np.isclose(probs[-1, where], logits.softmax(-1).max().item(), atol=1e-4)


def test_generate_says_what_a_masked_language_model_does_instead(private_models) -> None:
    at, _ = opened(private_models, "generate")
    said = " ".join(i.value for i in at.info)
    assert "is a masked-language model" in said and "The Logit lens and Experiments pages show those" in said, said
    assert not at.error


def test_experiments_score_what_the_model_fills_in_and_rank_heads_for_it(private_models) -> None:
    """The Experiments page of a masked-language model scores its guess at the first [MASK] (transformers' own
    top-1 there), and the head ranking is the engine's sweep at that position."""
    at, folder = opened(private_models, "experiments")
    assert not at.error and "What the model fills in" in [h.value for h in at.header]
    box = keyed(at, "selectbox", "exp_predict_at")
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    ids = tokenizer(TEXT, return_tensors="pt")["input_ids"]
    where = int((ids[0] == tokenizer.mask_token_id).nonzero()[0, 0])
    assert box.label == "Predict the token at" and box.index == where
    said = " ".join(c.value for c in at.caption)
    assert f"most likely tokens for token {where}, ‘[MASK]’, which your text hides" in said, said
    with torch.inference_mode():
        logits = transformers.BertForMaskedLM.from_pretrained(folder).eval()(ids).logits[0, where]
    bars = chart(at, "exp_next")
    assert bars["layout"]["title"]["text"].startswith(f"Top 10 tokens for ‘[MASK]’ (token {where})")
    assert bars["layout"]["xaxis"]["title"]["text"] == f"probability of token {where}"
    top = int(logits.argmax())
    expected = predicted_token_label(tokenizer.convert_ids_to_tokens(top) or "")
    assert bars["layout"]["yaxis"]["ticktext"][0] == f"‘{expected}’"
    assert np.isclose(decode(bars["data"][0]["x"])[0], logits.softmax(-1)[top].item(), atol=1e-5)
    at = at.button(key="exp_sweep").click().run()
    assert not at.exception and not at.error
    sweep = chart(at, "exp_sweep_map")
    z = np.asarray(decode(sweep["data"][0]["z"]), dtype=float)
    from attention_core import load_model

    trace = load_model(str(folder)).trace(TEXT)
    swept = trace.ablation_sweep(top, where).numpy()
    assert z.shape == swept.shape and np.allclose(z, swept, atol=1e-5)


def test_an_embedding_models_encoder_says_it_carries_no_head(private_models) -> None:
    at, _ = opened(private_models, "logit_lens", kind="mpnet")
    said = " ".join(i.value for i in at.info)
    assert "carries no masked-language-model head" in said and "no logit lens" in said, said


def test_without_a_mask_the_lens_follows_the_texts_last_token(private_models) -> None:
    at, _ = opened(private_models, "logit_lens", kind="esm", text="MKTAYIAKQR")
    assert picked(at) == "10: at ‘R’"  # not the <eos> after it
    assert "At position 10, the text's last token, the final answer is" in " ".join(c.value for c in at.caption)


def test_esms_lens_guesses_the_masked_residue(private_models) -> None:
    at, _ = opened(private_models, "logit_lens", kind="esm", text="MKTAYIAK<mask>QRQISFVK")
    assert picked(at).startswith("9: at ‘<mask>’")  # <cls> is position 0
    assert "Type `<mask>` in the text to hide a token" in " ".join(m.value for m in at.markdown)


def test_the_sidebar_hides_a_word_behind_the_mask_in_one_click(private_models) -> None:
    at, _ = opened(private_models, "logit_lens", text="the fox sat on the mat")
    at = at.sidebar.button(key="example_mask").click().run()
    assert not at.exception and at.session_state["text"] == "the fox sat on the [MASK]"
    assert picked(at).endswith("at ‘[MASK]’")  # the page follows it at once
    assert not any(b.key == "example_mask" for b in at.sidebar.button)  # hidden already: no button


def test_a_model_without_a_masked_language_model_head_offers_no_mask_button(private_models) -> None:
    at, _ = opened(private_models, "logit_lens", kind="mpnet")
    assert not any(b.key == "example_mask" for b in at.sidebar.button)
