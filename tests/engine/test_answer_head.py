"""Extractive question-answering heads (loading/classifier_head.py `attach_answer_head`, classify.py
`answer_logits_by_layer`), held to transformers' ...ForQuestionAnswering start and end logits on tiny models saved
locally, on a question and a context read as a text pair (token types included).

Tolerance (max absolute difference, float32 CPU): logits 1e-3, as in test_classifier_head.py. Weights are drawn with
std 0.3 (norms moved off their init too), so a head read wrongly moves the logits by far more than that.
"""

from __future__ import annotations

import inspect

import pytest
import torch

from attention_core import load_model
from attention_core.classify import answer_logits_by_layer, has_answer_head
from tests.tiny_masked_lms import save_tiny_answerer

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

LOGIT_TOL = 1e-3
QUESTION, CONTEXT = "where did the blue creature roam", "the blue creature took a mole of the forest"
KINDS = ["bert", "roberta", "distilbert", "electra", "albert", "deberta_v2", "modernbert"]  # ModernBERT: a head first


@pytest.mark.parametrize("kind", KINDS)
def test_the_start_and_end_logits_are_transformers(kind, tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    hf = save_tiny_answerer(kind, tmp_path / kind)
    ours = load_model(str(tmp_path / kind), device="cpu")
    trace = ours.trace(QUESTION, second_text=CONTEXT)
    assert has_answer_head(trace) and not ours.config.has_lm_head
    assert "a question-answering head" in " ".join(ours.config.features())
    ids, types = torch.tensor([trace.token_ids]), torch.tensor([trace.segments.ids])
    with torch.inference_mode():
        takes_types = "token_type_ids" in inspect.signature(hf.forward).parameters  # not DistilBERT
        out = hf(ids, token_type_ids=types) if takes_types else hf(ids)
    expected = torch.stack([out.start_logits[0], out.end_logits[0]], dim=-1)  # (n, 2)
    assert expected.std() > 0.3, "random weights too small to tell a head read wrongly"
    by_layer = answer_logits_by_layer(trace)
    assert by_layer.shape == (ours.config.n_layers, trace.n_tokens, 2)
    diff = (by_layer[-1] - expected).abs().max().item()
    assert diff <= LOGIT_TOL, f"{kind}: start and end logits differ by {diff}"


@pytest.mark.parametrize("kind", ["bert", "distilbert", "modernbert"])
def test_the_answer_sweep_equals_a_trace_with_each_head_ablated(kind, tmp_path, monkeypatch):
    """Each head's Δ (log p(start) + log p(end)) of the answer from the batched sweep equals a trace with that head
    ablated, read the same way (zero and mean)."""
    from attention_core import ablate_head
    from attention_core.classify import answer_ablation_sweep, answer_log_p

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    save_tiny_answerer(kind, tmp_path / kind)
    ours = load_model(str(tmp_path / kind), device="cpu")
    trace = ours.trace(QUESTION, second_text=CONTEXT)
    candidates = list(range(trace.segments.second_token, trace.n_tokens - 1))  # the context, without its [SEP]
    span = (1, 3)

    def read(t) -> float:
        return float(answer_log_p(answer_logits_by_layer(t)[-1], torch.tensor(candidates), *span))

    clean = read(trace)
    for mode in ("zero", "mean"):
        sweep = answer_ablation_sweep(trace, candidates, *span, mode)
        assert sweep.shape == (ours.config.n_layers, ours.config.n_heads)
        for layer, head in ((0, 1), (1, 3)):
            ablated = ours.trace(QUESTION, second_text=CONTEXT, interventions=[ablate_head(layer, head, mode)])
            assert abs(float(sweep[layer, head]) - (read(ablated) - clean)) <= 1e-4, (kind, mode, layer, head)
    assert sweep.abs().max() > 1e-3  # the heads matter to the answer: the comparison can fail


def test_a_model_without_the_head_has_none(minilm):
    trace = minilm.trace(QUESTION, second_text=CONTEXT)
    assert not has_answer_head(trace)
    with pytest.raises(ValueError, match="has no question-answering head"):
        answer_logits_by_layer(trace)
