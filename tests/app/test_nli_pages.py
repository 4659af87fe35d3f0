"""BART's sequence classifier in the app (facebook/bart-large-mnli's layout: a tiny random one from
tests.tiny_models_seq2seq, loaded through *Another model*): the sidebar takes a hypothesis as the second text; the
Logit lens page shows the verdict on the pair, transformers' own after the last decoder block (tolerance 1e-4 on
probabilities, as test_classifier_pages.py); Experiments compare the verdict after a change and rank the heads for it
(the engine's sweep, its decoder rerun for each variant); Cross-attention shows its decoder's cross-attention without
a lens or a target to write."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.app.helpers import chart, decode
from tests.app.test_masked_lm_pages import opened
from tests.tiny_models_seq2seq import NLI_LABELS

transformers = pytest.importorskip("transformers")

PREMISE, HYPOTHESIS = "the blue creature roamed the forest", "a creature was in the forest"


def _nli(private_models, page: str):
    at, folder = opened(private_models, page, kind="bart_nli", text=PREMISE)
    at = at.text_area(key="second_text").set_value(HYPOTHESIS).run()
    assert not at.exception, [e.value for e in at.exception]
    return at, folder


def _expected(folder, zeroed: tuple[int, int] | None = None) -> np.ndarray:
    """transformers' probabilities for the pair (an encoder head zeroed by its columns of out_proj)."""
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    ids = tokenizer(PREMISE, HYPOTHESIS, return_tensors="pt")["input_ids"]
    assert ids[0].tolist().count(2) == 3  # <s> A </s></s> B </s>
    hf = transformers.BartForSequenceClassification.from_pretrained(folder).eval()
    if zeroed is not None:
        layer, head = zeroed
        d = hf.config.d_model // hf.config.encoder_attention_heads
        with torch.no_grad():
            hf.model.encoder.layers[layer].self_attn.out_proj.weight[:, head * d : (head + 1) * d] = 0
    with torch.inference_mode():
        return hf(ids).logits[0].softmax(-1).numpy()


def test_the_logit_lens_page_shows_the_verdict_on_the_pair(private_models) -> None:
    at, folder = _nli(private_models, "logit_lens")
    probs = _expected(folder)
    fig = chart(at, "class_track")
    assert [trace["name"] for trace in fig["data"]] == [f"‘{label}’" for label in NLI_LABELS]
    assert fig["layout"]["xaxis"]["title"]["text"] == "after decoder block (layer)"  # its head reads the decoder
    finals = [decode(trace["y"])[-1] for trace in fig["data"]]
    assert np.allclose(finals, probs, atol=1e-4)
    said = " ".join(c.value for c in at.caption)
    verdict = NLI_LABELS[int(np.argmax(probs))]
    assert f"Its verdict on this text pair: `{verdict}`, probability {probs.max():.3f}" in said
    assert "its decoder's final embedding at the text's last </s>" in said


def test_experiments_compare_the_verdict_and_rank_the_heads_for_it(private_models) -> None:
    from attention_core import load_model
    from attention_core.classify import class_ablation_sweep

    at, folder = _nli(private_models, "experiments")
    at = at.button(key="exp_add").click().run()  # zero the sidebar's head: layer 0, head 0
    assert not at.exception and not at.error, [e.value for e in at.exception]
    table = at.dataframe[-1].value
    assert np.allclose(table["before"], _expected(folder), atol=1e-4)
    assert np.allclose(table["after"], _expected(folder, zeroed=(0, 0)), atol=1e-4)
    at = at.button(key="exp_sweep").click().run()
    assert not at.exception, [e.value for e in at.exception]
    box = next(b for b in at.selectbox if str(b.key).startswith("exp_label_"))
    trace = load_model(str(folder)).trace(PREMISE, second_text=HYPOTHESIS)
    z = np.asarray(decode(chart(at, "exp_sweep_map")["data"][0]["z"]), dtype=float)
    assert np.allclose(z, class_ablation_sweep(trace, box.index).numpy(), atol=1e-5)


def test_the_cross_attention_page_draws_the_pass_its_verdict_reads(private_models) -> None:
    """No source and target boxes: the encoder over the sidebar's pair, the decoder over it shifted right (the
    engine's trace_classifier_pass, its patterns held to transformers in tests/engine/test_seq2seq_classifier.py); no
    lens, no target to write."""
    from attention_core import load_model

    at, folder = _nli(private_models, "cross_attention")
    assert any("This model is a sequence classifier: its encoder reads the sidebar's text" in c.value
               for c in at.caption)  # fmt: skip
    assert not [t for t in at.text_input if t.key in ("mech_cross_source", "mech_cross_target")]
    assert not [b for b in at.button if b.key == "mech_cross_write"]
    keys = str({c.key for c in at.get("plotly_chart")})
    assert "mech_cross_encdec_block" in keys and "cross_lens_grid" not in keys
    layer, head = at.selectbox(key="mech_cross_encdec_head").value
    pair = load_model(str(folder)).trace_classifier_pass(PREMISE, second_text=HYPOTHESIS)
    z = np.asarray(decode(chart(at, "mech_cross_encdec_block")["data"][0]["z"]), dtype=float)
    assert np.allclose(z, pair.cross.pattern(layer, head).numpy(), atol=1e-6)


def test_an_mbart_classifiers_verdict_and_pass_on_the_pages(private_models) -> None:
    """mBART's classifier (its text ends </s> en_XX, which its decoder reads first): the Logit lens page's verdict is
    transformers' after the last decoder block; the Cross-attention page's decoder strip starts with the language
    code and says where the head reads."""
    at, folder = opened(private_models, "logit_lens", kind="mbart_nli", text=PREMISE)
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    ids = tokenizer(PREMISE, return_tensors="pt")["input_ids"]
    hf = transformers.MBartForSequenceClassification.from_pretrained(folder).eval()
    with torch.inference_mode():
        probs = hf(ids).logits[0].softmax(-1).numpy()
    finals = [decode(trace["y"])[-1] for trace in chart(at, "class_track")["data"]]
    assert np.allclose(finals, probs, atol=1e-4)
    at.switch_page("app_pages/cross_attention.py").run()
    assert not at.exception, [e.value for e in at.exception]
    said = " ".join(c.value for c in at.caption)
    assert "mBART's and PLBART's: the text's last token, its language code" in said
    assert "where the text has its last </s>" in said
