"""Encoders read with their token-classification head (a named-entity tagger's: attention_core/loading/
classifier_head.py, attention_core/classify.py), held to transformers' ...ForTokenClassification logits on tiny models
saved locally; and heads that are neither kind of classifier (a multiple-choice model's) read as no verdict.

Tolerance (max absolute difference, float32 CPU): logits 1e-3, as in test_classifier_head.py; the sweep 1e-4 against a
trace per head, as there. Weights are drawn with std 0.3, so a head read from the wrong place moves the logits by far
more.
"""

from __future__ import annotations

import pytest
import torch

from attention_core import load_model
from tests.tiny_masked_lms import REPLACED, TAGGER_KINDS, TAGS, save_tiny_tagger

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

LOGIT_TOL = 1e-3
TEXT = "the blue creature took a mole of the forest"
PROTEIN = "MKTAYIAKQRQISFVKSHFSRQ"


def _saved(kind: str, folder):
    """(transformers' tagger of `kind`, ours of the same folder)."""
    hf = save_tiny_tagger(kind, folder)
    return hf, load_model(str(folder), device="cpu")


def test_a_multiple_choice_head_is_not_read_as_a_verdict(tmp_path, monkeypatch):
    """BertForMultipleChoice keeps a pooler and a one-score classifier, a sequence classifier's layout; its score only
    means something beside the other choices' scores, so no verdict (nor any tag) is read from it."""
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    _, model = _saved("multiple_choice", tmp_path / "mc")
    assert model.config.class_labels == () and model.config.tag_labels == ()
    assert model.parameter_counts().get("classifier head", 0) == 0


def test_a_tagger_with_a_pooler_is_not_read_as_a_sequence_classifier(tmp_path, monkeypatch):
    """A token classifier whose checkpoint also carries its encoder's pooler (a converted one's) has BERT's sequence
    classifier's layout by its tensors alone: config.json's architectures say which it is."""
    from safetensors.torch import load_file, save_file

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    save_tiny_tagger("bert", tmp_path / "bert")
    path = tmp_path / "bert" / "model.safetensors"
    state = load_file(path)
    state |= {"bert.pooler.dense.weight": torch.eye(64), "bert.pooler.dense.bias": torch.zeros(64)}
    save_file(state, path)
    model = load_model(str(tmp_path / "bert"), device="cpu")
    assert model.config.class_labels == () and model.config.tag_labels == TAGS


@pytest.fixture(scope="module", params=TAGGER_KINDS)
def pair(request, tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    return request.param, *_saved(request.param, tmp_path_factory.mktemp(request.param))


def test_the_taggers_logits_and_labels_are_transformers(pair):
    """Each token's logits after the last block are transformers' (ELECTRA's discriminator's one logit z is read as
    two labels, (0, z): softmax gives p(replaced) = σ(z), as the model's own sigmoid does)."""
    from attention_core.classify import tag_logits_by_layer

    kind, hf, ours = pair
    trace = ours.trace(PROTEIN if kind == "esm" else TEXT)
    assert ours.config.tag_labels == (REPLACED if kind == "electra_discriminator" else TAGS)
    assert ours.config.class_labels == ()
    assert ours.config.class_pool_act == {"modernbert": "silu", "electra_discriminator": "relu"}.get(kind, "tanh")
    with torch.inference_mode():
        expected = hf(torch.tensor([trace.token_ids])).logits[0]  # [n, 5]
    assert expected.std() > 0.3, "random weights too small to tell a head read wrongly"
    by_layer = tag_logits_by_layer(trace)
    assert by_layer.shape == (ours.config.n_layers, trace.n_tokens, len(ours.config.tag_labels))
    if kind == "electra_discriminator":
        assert by_layer[..., 0].abs().max() == 0
        by_layer, expected = by_layer[..., 1], expected  # [n]: its one logit
    assert (by_layer[-1] - expected).abs().max().item() <= LOGIT_TOL, kind
    from attention_core.classify import final_tag_logits

    assert torch.allclose(final_tag_logits(trace, 2), tag_logits_by_layer(trace)[-1, 2], atol=1e-6)  # one row alone
    heads = ("classifier.", "head.", "discriminator_", "score.")  # ModernBERT's head, ELECTRA's, a decoder's score
    assert ours.parameter_counts()["classifier head"] == sum(
        p.numel() for n, p in hf.named_parameters() if n.startswith(heads))
    assert not ours.config.has_lm_head  # a tagger predicts no token: no logit lens over a vocabulary


@pytest.mark.parametrize("kind", ["bert", "deberta_v2", "modernbert"])
def test_an_early_block_reads_through_the_same_head(kind, tmp_path, monkeypatch):
    """Block 0's rows: every position's embedding after block 0 through the same classifier (transformers' hidden
    state after layer 0 through the model's own modules: ModernBERT's final norm and head before its classifier)."""
    from attention_core.classify import tag_logits_by_layer

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    hf, ours = _saved(kind, tmp_path / kind)
    trace = ours.trace(TEXT)
    with torch.inference_mode():
        hidden = hf(torch.tensor([trace.token_ids]), output_hidden_states=True).hidden_states[1]  # after block 0
        if kind == "modernbert":
            hidden = hf.head(hf.model.final_norm(hidden))
        expected = hf.classifier(hidden)[0]
    assert (tag_logits_by_layer(trace)[0] - expected).abs().max().item() <= LOGIT_TOL


def test_a_misshapen_or_missing_head(tmp_path, monkeypatch):
    """Without `classifier` the encoder has no tagger (and the engine says so when asked for tags); a classifier whose
    bias does not fit its weight is refused by name."""
    from safetensors.torch import load_file, save_file

    from attention_core import ModelLoadError
    from attention_core.classify import tag_logits_by_layer

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    save_tiny_tagger("bert", tmp_path / "bert")
    path = tmp_path / "bert" / "model.safetensors"
    state = load_file(path)
    save_file({k: v for k, v in state.items() if not k.startswith("classifier.")}, path)
    model = load_model(str(tmp_path / "bert"), device="cpu")
    assert model.config.tag_labels == ()
    with pytest.raises(ValueError, match="no token-classification head"):
        tag_logits_by_layer(model.trace(TEXT))
    state["classifier.bias"] = state["classifier.bias"][:2].contiguous()
    save_file(state, path)
    with pytest.raises(ModelLoadError, match="token-classification head's shapes do not fit"):
        load_model(str(tmp_path / "bert"), device="cpu")


@pytest.mark.parametrize("mode", ["zero", "mean"])
def test_the_tag_sweep_equals_a_trace_with_each_head_ablated(mode, tmp_path, monkeypatch):
    """Each head's Δ log p(label) at one position from the batched sweep read through the tagger equals a trace with
    that head ablated, read the same way."""
    from attention_core import ablate_head
    from attention_core.classify import tag_ablation_sweep, tag_logits_by_layer

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    _, ours = _saved("roberta", tmp_path / "roberta")
    trace, position, label = ours.trace(TEXT), 3, 1
    clean = torch.log_softmax(tag_logits_by_layer(trace)[-1, position], -1)[label]
    sweep = tag_ablation_sweep(trace, label, position, mode)
    assert sweep.shape == (ours.config.n_layers, ours.config.n_heads)
    for layer, head in ((0, 1), (1, 3)):
        ablated = ours.trace(TEXT, interventions=[ablate_head(layer, head, mode)])
        expected = torch.log_softmax(tag_logits_by_layer(ablated)[-1, position], -1)[label] - clean
        assert abs(sweep[layer, head] - expected) <= 1e-4, (mode, layer, head)
    assert sweep.abs().max() > 1e-3  # the heads matter to the tag: the comparison can fail
    with pytest.raises(IndexError):
        tag_ablation_sweep(trace, len(TAGS), position)


@pytest.mark.parametrize("tied", [True, False])
def test_a_decoders_question_answering_head_is_refused_by_name(tied, tmp_path, monkeypatch):
    """LlamaForQuestionAnswering has `qa_outputs` (a span's start and end) and no language-model head: with tied
    embeddings it loaded as a language model whose next-token logits came from its embeddings, which the model never
    computes. Its head is not read (a decoder's classifiers' are), so loading says so."""
    from attention_core import ModelLoadError
    from tests.tiny_models import _peaked_and_saved, wordpiece

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    cfg = transformers.LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                                   num_labels=2, pad_token_id=0, tie_word_embeddings=tied)  # fmt: skip
    _peaked_and_saved(transformers.LlamaForQuestionAnswering(cfg), tmp_path / "qa", wordpiece(300))
    with pytest.raises(ModelLoadError, match="LlamaForQuestionAnswering is a question-answering model built on a "
                                             "decoder: this engine does not read its head"):  # fmt: skip
        load_model(str(tmp_path / "qa"), device="cpu")
