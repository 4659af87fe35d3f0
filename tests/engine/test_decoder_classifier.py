"""Decoders read with their sequence-classification head (a reward model's layout: ...ForSequenceClassification's
`score` on the last token that is not the pad token, no pooler, no language-model head): held to transformers'
logits on tiny Llama (tied and untied embeddings) and GPT-2 classifiers saved locally.

Tolerance (max absolute difference, float32 CPU): logits 1e-3, as in test_classifier_head.py; the sweep 1e-4 against a
trace per head. Weights are drawn with std 0.3, so reading the wrong token moves the logits by far more.
"""

from __future__ import annotations

import pytest
import torch

from attention_core import load_model
from attention_core.classify import class_logits_by_layer
from tests.tiny_masked_lms import DECODER_CLASSIFIER_KINDS, save_tiny_decoder_classifier

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

LOGIT_TOL = 1e-3
TEXT = "the blue creature took a mole of the forest"


@pytest.fixture(scope="module", params=DECODER_CLASSIFIER_KINDS)
def pair(request, tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    folder = tmp_path_factory.mktemp(request.param)
    hf = save_tiny_decoder_classifier(request.param, folder)
    return request.param, hf, load_model(str(folder), device="cpu")


def test_the_verdict_is_transformers_and_there_is_no_language_model_head(pair):
    kind, hf, ours = pair
    trace = ours.trace(TEXT)
    assert ours.config.class_labels == ("bad", "good") and ours.config.class_pool == "last"
    with torch.inference_mode():
        expected = hf(torch.tensor([trace.token_ids])).logits[0]  # [2]
    assert expected.std() > 0.3, "random weights too small to tell a head read wrongly"
    by_layer = class_logits_by_layer(trace)
    assert by_layer.shape == (ours.config.n_layers, 2)
    assert (by_layer[-1] - expected).abs().max().item() <= LOGIT_TOL, kind
    assert not ours.config.has_lm_head and trace.logits is None  # no next-token logits: the model has no LM head
    assert not any(name.startswith("unembed.") for name in ours.weights)
    assert ours.parameter_counts()["total"] == sum(p.numel() for p in hf.parameters())
    assert "(one linear map on the last token, 2 labels)" in " ".join(ours.config.features())


def test_the_last_token_that_is_not_padding_is_read(tmp_path, monkeypatch):
    """transformers reads the last token whose id is not config.json's pad_token_id: a text ending in that token is
    read one token earlier (a reward model whose pad token is its end-of-text token)."""
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    hf = save_tiny_decoder_classifier("llama", tmp_path / "rm", pad_last_of=TEXT)
    ours = load_model(str(tmp_path / "rm"), device="cpu")
    trace = ours.trace(TEXT)
    assert trace.token_ids[-1] == hf.config.pad_token_id
    with torch.inference_mode():
        expected = hf(torch.tensor([trace.token_ids])).logits[0]
        at_end = hf.score(hf.model(torch.tensor([trace.token_ids])).last_hidden_state[0, -1])
    assert (class_logits_by_layer(trace)[-1] - expected).abs().max().item() <= LOGIT_TOL
    assert (expected - at_end).abs().max().item() > 10 * LOGIT_TOL  # the last token would read otherwise


def test_an_early_block_reads_through_the_final_norm_and_the_score(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    hf = save_tiny_decoder_classifier("llama", tmp_path / "rm")
    trace = load_model(str(tmp_path / "rm"), device="cpu").trace(TEXT)
    with torch.inference_mode():
        hidden = hf(torch.tensor([trace.token_ids]), output_hidden_states=True).hidden_states[1]  # after block 0
        expected = hf.score(hf.model.norm(hidden))[0, -1]
    assert (class_logits_by_layer(trace)[0] - expected).abs().max().item() <= LOGIT_TOL


def test_the_class_sweep_equals_a_trace_with_each_head_ablated(tmp_path, monkeypatch):
    from attention_core import ablate_head
    from attention_core.classify import class_ablation_sweep, log_scores

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    save_tiny_decoder_classifier("llama", tmp_path / "rm")
    ours = load_model(str(tmp_path / "rm"), device="cpu")
    trace = ours.trace(TEXT)
    clean = log_scores(class_logits_by_layer(trace)[-1], "softmax")
    sweep = class_ablation_sweep(trace, 1)
    for layer, head in ((0, 1), (1, 3)):
        ablated = ours.trace(TEXT, interventions=[ablate_head(layer, head)])
        expected = log_scores(class_logits_by_layer(ablated)[-1], "softmax")[1] - clean[1]
        assert abs(sweep[layer, head] - expected) <= 1e-4, (layer, head)
    assert sweep.abs().max() > 1e-3
