"""Encoders read with their masked-language-model head (attention_core/loading/masked_lm.py), held to transformers'
...ForMaskedLM logits on tiny models saved locally.

Tolerances (max absolute difference, float32 CPU): logits 1e-3, as in test_hf_architectures.py. Weights are drawn
with std 0.3 (norms moved off their init too), so a head read wrongly (a missing bias, the wrong activation, an
untied matrix taken for the tied one) moves the logits by far more than that.
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from attention_core import ModelLoadError, load_model
from tests.tiny_masked_lms import KINDS, save_tiny_masked_lm

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

LOGIT_TOL = 1e-3
# No [MASK]: the tiny WordPiece vocabulary's [UNK] is id 1, which RoBERTa's and MPNet's position ids take for padding.
TEXT = "the blue creature took a mole of the forest"


@pytest.fixture(scope="module", params=KINDS)
def pair(request, tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    folder = tmp_path_factory.mktemp(request.param)
    hf = save_tiny_masked_lm(request.param, folder)
    return request.param, hf, load_model(str(folder), device="cpu")


def test_logits_are_the_masked_lm_heads(pair):
    kind, hf, ours = pair
    text = "MKTAYIAK<mask>QRQISFVK" if kind.startswith("esm") else TEXT
    trace = ours.trace(text)
    assert ours.config.masked_lm and ours.config.has_lm_head and not ours.config.predicts_next_token
    with torch.inference_mode():
        out = hf(torch.tensor([trace.token_ids]))
    logits = out.prediction_logits if kind == "bert_pretraining" else out.logits  # (1, n, V)
    assert logits[0].std() > 1.0, "random weights too small to tell a head read wrongly"
    diff = (trace.logits - logits[0]).abs().max().item()
    assert diff <= LOGIT_TOL, f"{kind}: logits differ by {diff}"
    # The last layer's lens is the model's own prediction at every position, and one row alone is the same row.
    assert (trace.lens_logits(ours.config.n_layers - 1) - trace.logits).abs().max().item() <= LOGIT_TOL
    assert (trace.next_token_logits(3) - trace.logits[3]).abs().max().item() <= LOGIT_TOL


def test_the_head_is_counted_with_the_parameters(pair):
    kind, hf, ours = pair
    ignored = ("pooler.", "cls.seq_relationship.", "embed_positions.")  # ESM's contact head is read and counted
    expected = sum(p.numel() for n, p in hf.named_parameters() if not any(word in n for word in ignored))
    if kind == "bert_untied":  # the untied decoder is a matrix of its own; its bias is the one the forward adds
        assert "unembed.W_U" in ours.weights
        expected -= hf.cls.predictions.bias.numel()  # untied from the decoder's, which it no longer feeds
    assert ours.parameter_counts()["total"] == expected


def _folder_with(tmp_path, kind: str, edit) -> str:
    folder = tmp_path / kind
    save_tiny_masked_lm(kind, folder)
    path = folder / "model.safetensors"
    state = load_file(path)
    edit(state)
    save_file(state, path)
    return str(folder)


def test_an_embedding_models_checkpoint_predicts_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    folder = _folder_with(tmp_path, "bert", lambda s: [s.pop(k) for k in list(s) if k.startswith("cls.")])
    model = load_model(folder, device="cpu")
    assert not model.config.masked_lm and not model.config.has_lm_head and model.trace(TEXT).logits is None


def test_a_modernbert_classifiers_head_is_not_read_as_a_masked_lm_head(tmp_path, monkeypatch):
    """ModernBertForSequenceClassification keeps a `head` of the same layout for its classifier."""
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    folder = _folder_with(tmp_path, "modernbert", lambda s: s.pop("decoder.bias"))
    assert not load_model(folder, device="cpu").config.masked_lm


def _cut(key: str, rows: int):
    def edit(state):
        state[key] = state[key][:rows].contiguous()

    return edit


def test_an_incomplete_or_misshapen_head_is_refused_by_name(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    folder = _folder_with(tmp_path, "roberta", lambda s: s.pop("lm_head.layer_norm.weight"))
    with pytest.raises(ModelLoadError, match="lm_head.layer_norm.weight"):
        load_model(folder, device="cpu")
    with pytest.raises(ModelLoadError, match="logit bias has 7 entries"):
        load_model(_folder_with(tmp_path, "distilbert", _cut("vocab_projector.bias", 7)), device="cpu")
    with pytest.raises(ModelLoadError, match="shapes do not fit the encoder: dense 64 → 32"):
        load_model(_folder_with(tmp_path, "mpnet", _cut("lm_head.dense.weight", 32)), device="cpu")


def test_the_ablation_sweep_scores_a_masked_position(pair):
    """The sweep reruns the layers after each head, both ways as the encoder reads, and scores log p of a token at
    a position through the head: each head's Δ log p equals a trace with that head ablated (zero and mean)."""
    from attention_core import ablate_head

    kind, _, ours = pair
    text = "MKTAYIAK<mask>QRQISFVK" if kind.startswith("esm") else TEXT
    trace = ours.trace(text)
    where = 5
    target = int(trace.logits[where].argmax())
    clean = torch.log_softmax(trace.logits[where], -1)[target]
    for mode in ("zero", "mean"):
        sweep = trace.ablation_sweep(target, where, mode=mode)
        for layer, head in ((0, 1), (ours.config.n_layers - 1, 3)):
            ablated = ours.trace(text, interventions=[ablate_head(layer, head, mode)])
            expected = torch.log_softmax(ablated.logits[where], -1)[target] - clean
            assert abs(sweep[layer, head] - expected) <= 1e-4, (kind, mode, layer, head)
