"""A token classifier (a named-entity tagger) in the app: a tiny BertForTokenClassification (tests.tiny_masked_lms)
loaded through *Another model*. The Logit lens page shows its label of every token, layer by layer, the last block's
transformers' own; Experiments follows one token's label; Generate says what such a model predicts instead of a
token. Tolerance: probabilities 1e-4 (the engine's logits are within 1e-3 of transformers':
test_token_classifier.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.app.helpers import chart, decode
from tests.app.test_masked_lm_pages import opened
from tests.tiny_masked_lms import TAGS

transformers = pytest.importorskip("transformers")

TEXT = "the fox sat on the mat"  # 11 tokens: each cell carries its label (5 characters fit)


def _reference(folder) -> np.ndarray:
    """[n, 5] transformers' probabilities of each label at each token of TEXT."""
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    ids = torch.tensor([tokenizer(TEXT)["input_ids"]])
    with torch.inference_mode():
        return transformers.BertForTokenClassification.from_pretrained(folder).eval()(ids).logits[0].softmax(-1).numpy()


def test_the_logit_lens_page_shows_each_tokens_label_layer_by_layer(private_models) -> None:
    at, folder = opened(private_models, "logit_lens", kind="tag_bert", text=TEXT)
    assert not at.error and "The tagger's labels, layer by layer" in [h.value for h in at.subheader]
    probs = _reference(folder)
    grid = chart(at, "tag_grid")["data"][0]
    z = np.asarray(decode(grid["z"]), dtype=float)  # (n_layers, n): the top label's probability after each block
    assert np.allclose(z[-1], probs.max(-1), atol=1e-4)
    assert list(grid["text"][-1]) == [TAGS[i] for i in probs.argmax(-1)]  # the model's own labels
    table = at.dataframe[0].value
    assert list(table["label"]) == [TAGS[i] for i in probs.argmax(-1)]
    assert np.allclose(table["probability"], probs.max(-1), atol=1e-4)
    said = " ".join(c.value for c in at.caption)
    assert "is a token classifier" in said and "its labels above are what it predicts" in said and not at.info
    groups = at.dataframe[1].value  # the labels grouped as the pipeline groups them (test_tag_groups.py)
    pipe = transformers.pipeline("token-classification", aggregation_strategy="simple", device="cpu",
                                 model=transformers.BertForTokenClassification.from_pretrained(folder).eval(),
                                 tokenizer=transformers.PreTrainedTokenizerFast(
                                     tokenizer_file=str(folder / "tokenizer.json")))(TEXT)  # fmt: skip
    assert list(groups["label"]) == [g["entity_group"] for g in pipe] and len(pipe) > 0
    assert list(groups["text"]) == [TEXT[g["start"]:g["end"]] for g in pipe]


def test_experiments_follow_one_tokens_label_and_rank_heads_for_it(private_models) -> None:
    """The Experiments page of a tagger: a token (default: the first not given the commonest label) and its label to
    follow, each label's probability there before and after zeroing a head, and the head ranking: the engine's sweep
    read through the tagger at that token."""
    from attention_core import load_model
    from attention_core.classify import tag_ablation_sweep

    at, folder = opened(private_models, "experiments", kind="tag_bert", text=TEXT)
    assert not at.error and "How the tagger labels each token" in [h.value for h in at.header]
    probs = _reference(folder)
    top = probs.argmax(-1)
    uncommon = np.flatnonzero(top != np.bincount(top).argmax())
    position = int(uncommon[0]) if uncommon.size else 0
    picker = next(b for b in at.selectbox if str(b.key).startswith("exp_tag_position"))
    box = next(b for b in at.selectbox if str(b.key).startswith("exp_tag_label_"))
    assert picker.index == position and box.index == int(top[position])
    at = at.button(key="exp_add").click().run()  # zero the sidebar's head (layer 0, head 0)
    assert not at.exception and not at.error
    table = at.dataframe[-1].value
    assert list(table.columns) == ["label", "before", "after"] and list(table["label"]) == list(TAGS)
    assert np.allclose(table["before"], probs[position], atol=1e-4)
    at = at.button(key="exp_sweep").click().run()
    z = np.asarray(decode(chart(at, "exp_sweep_map")["data"][0]["z"]), dtype=float)
    trace = load_model(str(folder)).trace(TEXT)
    assert np.allclose(z, tag_ablation_sweep(trace, box.index, position).numpy(), atol=1e-5)


def test_generate_says_what_a_tagger_does(private_models) -> None:
    at, _ = opened(private_models, "generate", kind="tag_bert", text=TEXT)
    said = " ".join(i.value for i in at.info)
    assert "is a token classifier" in said and "The Logit lens page shows its labels" in said, said
    assert not at.error
