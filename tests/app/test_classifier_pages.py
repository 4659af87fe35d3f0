"""A sequence classifier in the app: a tiny RobertaForSequenceClassification (tests.tiny_masked_lms) loaded through
*Another model*. The Logit lens page shows its verdict, layer by layer, the last block's scores transformers' own;
Generate and Experiments say what such a model predicts instead of a token."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.app.helpers import chart, decode
from tests.app.test_masked_lm_pages import opened

transformers = pytest.importorskip("transformers")

TEXT = "the fox sat on the mat and the dog ran"


def test_the_logit_lens_page_shows_the_classifiers_verdict_layer_by_layer(private_models) -> None:
    at, folder = opened(private_models, "logit_lens", kind="cls_roberta", text=TEXT)
    assert not at.error and "The classifier's verdict, layer by layer" in [h.value for h in at.subheader]
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    ids = torch.tensor([tokenizer(TEXT)["input_ids"]])
    with torch.inference_mode():
        expected = transformers.RobertaForSequenceClassification.from_pretrained(folder).eval()(ids).logits[0]
    probs = expected.softmax(-1).numpy()
    fig = chart(at, "class_track")
    finals = [decode(trace["y"])[-1] for trace in fig["data"]]  # each label ends at the last block: the model's own
    assert [trace["name"] for trace in fig["data"]] == ["‘negative’", "‘neutral’", "‘positive’"]
    assert np.allclose(finals, probs, atol=1e-4)
    said = " ".join(c.value for c in at.caption)
    verdict = ["negative", "neutral", "positive"][int(np.argmax(probs))]
    assert f"Its verdict on this text: `{verdict}`, probability {probs.max():.3f}" in said
    assert "no token grid: its verdict above is what it predicts" in said and not at.info


def test_a_cross_encoders_verdict_on_a_text_pair_is_transformers(private_models) -> None:
    """The second text box under the text: the classifier reads both as its tokenizer pairs them, segments and all."""
    second = "a cat slept"
    at, folder = opened(private_models, "logit_lens", kind="cls_roberta", text=TEXT)
    at = at.text_area(key="second_text").set_value(second).run()
    assert not at.exception, [e.value for e in at.exception]
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    enc = tokenizer(TEXT, second, return_tensors="pt", return_token_type_ids=True)
    assert 1 in enc["token_type_ids"][0].tolist(), "the second text must be in segment 1, or this tells nothing"
    with torch.inference_mode():
        model = transformers.RobertaForSequenceClassification.from_pretrained(folder).eval()
        expected = model(enc["input_ids"], token_type_ids=enc["token_type_ids"]).logits[0]
    probs = expected.softmax(-1).numpy()
    finals = [decode(trace["y"])[-1] for trace in chart(at, "class_track")["data"]]
    assert np.allclose(finals, probs, atol=1e-4)
    verdict = ["negative", "neutral", "positive"][int(np.argmax(probs))]
    said = " ".join(c.value for c in at.caption)
    assert f"Its verdict on this text pair: `{verdict}`, probability {probs.max():.3f}" in said


def test_experiments_follow_a_label_and_rank_heads_for_it(private_models) -> None:
    """The Experiments page of a classifier: its verdict, a label to follow (default: the verdict), each label's score
    before and after zeroing a head, and the head ranking, the engine's sweep read through the classifier."""
    from attention_core import load_model
    from attention_core.classify import class_ablation_sweep

    at, folder = opened(private_models, "experiments", kind="cls_roberta", text=TEXT)
    assert not at.error and "What the classifier decides" in [h.value for h in at.header]
    box = next(b for b in at.selectbox if str(b.key).startswith("exp_label_"))
    trace = load_model(str(folder)).trace(TEXT)
    with torch.inference_mode():
        logits = transformers.RobertaForSequenceClassification.from_pretrained(folder).eval()(
            torch.tensor([trace.token_ids])).logits[0]  # fmt: skip
    assert box.index == int(logits.argmax())  # the verdict followed by default
    at = at.button(key="exp_add").click().run()  # zero the sidebar's head (layer 0, head 0)
    assert not at.exception and not at.error
    table = at.dataframe[-1].value
    assert list(table.columns) == ["label", "before", "after"]
    assert np.allclose(table["before"], logits.softmax(-1).numpy(), atol=1e-4)
    at = at.button(key="exp_sweep").click().run()
    z = np.asarray(decode(chart(at, "exp_sweep_map")["data"][0]["z"]), dtype=float)
    assert np.allclose(z, class_ablation_sweep(trace, box.index).numpy(), atol=1e-5)


@pytest.mark.parametrize("page", ["generate"])
def test_pages_that_need_a_token_say_what_a_classifier_does(private_models, page) -> None:
    at, _ = opened(private_models, page, kind="cls_roberta", text=TEXT)
    said = " ".join(i.value for i in at.info)
    assert "is a sequence classifier" in said and "The Logit lens page shows its verdict" in said, said
    assert not at.error


def test_a_decoders_classifier_shows_its_verdict_and_no_next_token(private_models) -> None:
    """A reward model's layout (LlamaForSequenceClassification: `score` on the last token, no language-model head):
    the Logit lens page draws its verdict, transformers' own, and no token grid; Generate says it predicts no token."""
    at, folder = opened(private_models, "logit_lens", kind="clsdec_llama", text=TEXT)
    assert not at.error and "The classifier's verdict, layer by layer" in [h.value for h in at.subheader]
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    ids = torch.tensor([tokenizer(TEXT)["input_ids"]])
    with torch.inference_mode():
        probs = transformers.LlamaForSequenceClassification.from_pretrained(folder).eval()(ids).logits[0].softmax(-1)
    finals = [decode(trace["y"])[-1] for trace in chart(at, "class_track")["data"]]
    assert np.allclose(finals, probs.numpy(), atol=1e-4)
    said = " ".join(c.value for c in at.caption)
    assert "its head reads the last token's final embedding" in said and "no token grid" in said
    at = at.switch_page("app_pages/generate.py").run()
    assert "is a sequence classifier" in " ".join(i.value for i in at.info) and not at.error
