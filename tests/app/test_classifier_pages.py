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


@pytest.mark.parametrize("page", ["generate", "experiments"])
def test_pages_that_need_a_token_say_what_a_classifier_does(private_models, page) -> None:
    at, _ = opened(private_models, page, kind="cls_roberta", text=TEXT)
    said = " ".join(i.value for i in at.info)
    assert "is a sequence classifier" in said and "The Logit lens page shows its verdict" in said, said
    assert not at.error
