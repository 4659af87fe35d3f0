"""Encoders read with their sequence-classification head (attention_core/loading/classifier_head.py,
attention_core/classify.py), held to transformers' ...ForSequenceClassification logits on tiny models saved locally.

Tolerance (max absolute difference, float32 CPU): logits 1e-3, as in test_hf_architectures.py. Weights are drawn with
std 0.3 (norms moved off their init too), so a pooler read wrongly (the wrong token, activation or map) moves the
logits by far more than that.
"""

from __future__ import annotations

import pytest
import torch

from attention_core import ModelLoadError, load_model
from attention_core.classify import class_logits_by_layer, class_scores
from tests.tiny_masked_lms import CLASSIFIER_KINDS, save_tiny_classifier

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

LOGIT_TOL = 1e-3
TEXT = "the blue creature took a mole of the forest"
KINDS = list(CLASSIFIER_KINDS)


def _saved(kind: str, folder):
    """(transformers' classifier of `kind`, ours of the same folder)."""
    hf = save_tiny_classifier(kind, folder)
    return hf, load_model(str(folder), device="cpu")


@pytest.fixture(scope="module", params=KINDS)
def pair(request, tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    return request.param, *_saved(request.param, tmp_path_factory.mktemp(request.param))


def test_the_classifiers_logits_and_labels_are_transformers(pair):
    kind, hf, ours = pair
    trace = ours.trace(TEXT)
    assert ours.config.class_labels == ("negative", "neutral", "positive")
    assert ours.config.class_problem == ("sigmoid" if kind == "multi_label" else "softmax")
    read = "the mean of every token" if kind == "modernbert_mean" else "the first token"  # the sidebar's words
    assert f"pooler on {read}, 3 labels)" in " ".join(ours.config.features())
    with torch.inference_mode():
        expected = hf(torch.tensor([trace.token_ids])).logits[0]  # [3]
    assert expected.std() > 0.3, "random weights too small to tell a head read wrongly"
    by_layer = class_logits_by_layer(trace)
    assert by_layer.shape == (ours.config.n_layers, 3)
    assert (by_layer[-1] - expected).abs().max().item() <= LOGIT_TOL, kind
    scores = class_scores(by_layer[-1], ours.config.class_problem)
    reference = torch.sigmoid(expected) if kind == "multi_label" else torch.softmax(expected, -1)
    assert torch.allclose(scores, reference, atol=1e-4)
    read = ("classifier",) if kind == "big_bird" else ("classifier", "head.") if kind.startswith("modernbert") else (
        "classifier", "pooler")  # BigBird's head skips its pooler; ModernBERT's is its own  # fmt: skip
    assert ours.parameter_counts()["classifier head"] == sum(
        p.numel() for n, p in hf.named_parameters() if any(part in n for part in read))


@pytest.mark.parametrize("kind", ["bert", "roberta", "modernbert_mean"])
def test_an_early_block_reads_through_the_same_head(kind, tmp_path, monkeypatch):
    """Block 0's row: the first token's embedding after block 0 through the same pooler and classifier (transformers'
    hidden state after layer 0 through the model's own head modules; BERT's pooler apart, RoBERTa's inside its head)."""
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    hf, ours = _saved(kind, tmp_path / kind)
    trace = ours.trace(TEXT)
    with torch.inference_mode():
        hidden = hf(torch.tensor([trace.token_ids]), output_hidden_states=True).hidden_states[1]  # after block 0
        if kind == "bert":
            expected = hf.classifier(hf.bert.pooler(hidden))[0]
        elif kind == "modernbert_mean":  # every position through the final norm, averaged, then its head
            expected = hf.classifier(hf.head(hf.model.final_norm(hidden).mean(1)))[0]
        else:
            expected = hf.classifier(hidden)[0]  # RobertaClassificationHead takes the first token itself
    assert (class_logits_by_layer(trace)[0] - expected).abs().max().item() <= LOGIT_TOL


def test_a_model_without_a_classifier_has_none(tmp_path, monkeypatch):
    from safetensors.torch import load_file, save_file

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    save_tiny_classifier("bert", tmp_path / "bert")
    path = tmp_path / "bert" / "model.safetensors"
    state = load_file(path)
    save_file({k: v for k, v in state.items() if not k.startswith("classifier.")}, path)
    model = load_model(str(tmp_path / "bert"), device="cpu")
    assert model.config.class_labels == ()
    with pytest.raises(ValueError, match="no sequence-classification head"):
        class_logits_by_layer(model.trace(TEXT))
    state["classifier.bias"] = state["classifier.bias"][:2].contiguous()
    save_file(state, path)
    with pytest.raises(ModelLoadError, match="classification head's shapes do not fit"):
        load_model(str(tmp_path / "bert"), device="cpu")


def test_longformers_classifier_is_not_read(tmp_path, monkeypatch):
    """LongformerForSequenceClassification gives the first token global attention in its own forward; the engine runs
    Longformer's local windows alone, so a verdict read from its pass would not be the model's: no head is read."""
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    from tests.tiny_models import _peaked_and_saved, wordpiece

    cfg = transformers.LongformerConfig(vocab_size=300, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                        intermediate_size=96, max_position_embeddings=130, attention_window=8,
                                        pad_token_id=1, num_labels=2)  # fmt: skip
    _peaked_and_saved(transformers.LongformerForSequenceClassification(cfg), tmp_path / "lf", wordpiece(300))
    model = load_model(str(tmp_path / "lf"), device="cpu")
    assert model.config.arch == "longformer" and model.config.class_labels == ()


def test_the_verdict_runs_in_half_precision_too(tmp_path, monkeypatch):
    """Loaded in bfloat16, the head runs in the pass's dtype (a float32 embedding times bfloat16 weights raised)."""
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    save_tiny_classifier("bert", tmp_path / "bert")
    full = class_logits_by_layer(load_model(str(tmp_path / "bert"), device="cpu").trace(TEXT))
    half = class_logits_by_layer(load_model(str(tmp_path / "bert"), device="cpu", dtype="bfloat16").trace(TEXT))
    assert half.dtype == torch.float32 and (half - full).abs().max().item() < 0.25  # bfloat16's 8 bits of mantissa


@pytest.mark.parametrize("kind", ["bert", "multi_label", "modernbert_mean"])
def test_the_class_sweep_equals_a_trace_with_each_head_ablated(kind, tmp_path, monkeypatch):
    """Each head's Δ log p(label) from the batched sweep read through the classifier equals a trace with that head
    ablated, read the same way (zero and mean; a multi-label model's log sigmoid)."""
    from attention_core import ablate_head
    from attention_core.classify import class_ablation_sweep, log_scores

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    _, ours = _saved(kind, tmp_path / kind)
    trace, problem = ours.trace(TEXT), ours.config.class_problem
    clean = log_scores(class_logits_by_layer(trace)[-1], problem)
    for mode in ("zero", "mean"):
        sweep = class_ablation_sweep(trace, 2, mode)
        assert sweep.shape == (ours.config.n_layers, ours.config.n_heads)
        for layer, head in ((0, 1), (1, 3)):
            ablated = ours.trace(TEXT, interventions=[ablate_head(layer, head, mode)])
            expected = log_scores(class_logits_by_layer(ablated)[-1], problem)[2] - clean[2]
            assert abs(sweep[layer, head] - expected) <= 1e-4, (kind, mode, layer, head)
    assert sweep.abs().max() > 1e-3  # the heads matter to the verdict: the comparison can fail
