"""The library's `ablation` view (attention_viz/ablation_view.py): every head ranked by how much the model's own
prediction needs it, for a language model's next token, a masked-language model's guess at its mask, a sequence
classifier's label and a question-answering model's answer span; refused in one sentence where there is no such
prediction. Its grid is the sweep's numbers; the top head's number is checked against a trace with that head zeroed
(tolerance 1e-4: the batched sweep and a whole trace sum in another order)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import attention_viz as av
from attention_core import load_model
from attention_viz import ViewError, build_view, cli
from tests.app.helpers import decode

TEXT = "a fluffy blue creature roamed"
TOL = 1e-4


def _grid(view) -> np.ndarray:
    [figure] = view.figures
    return np.asarray(decode(figure.to_plotly_json()["data"][0]["z"]), dtype=np.float64)


def _log_softmax(logits: torch.Tensor) -> np.ndarray:
    return torch.log_softmax(logits.double(), dim=-1).numpy()


def test_a_language_models_heads_ranked_for_its_next_token(tiny_model) -> None:
    model = load_model(tiny_model)
    trace = model.trace(TEXT)
    view = build_view(trace, "ablation", layer=1, head=0)
    logp = _log_softmax(trace.next_token_logits(-1))
    target = int(np.argmax(logp))
    grid = _grid(view)
    np.testing.assert_allclose(grid, trace.ablation_sweep(target, position=-1).numpy(), atol=1e-9)
    layer, head = np.unravel_index(np.nanargmin(grid), grid.shape)
    zeroed = model.trace(TEXT, interventions=[av.ablate_head(int(layer), int(head))])
    expected = _log_softmax(zeroed.next_token_logits(-1))[target] - logp[target]
    assert abs(grid[layer, head] - expected) < TOL
    assert f"Most needed: layer {layer}, head {head}: {grid[layer, head]:+.3f}" in view.note, view.note
    assert "after “…blue creature roamed” (p = " in view.note and view.layer == 1


def test_a_masked_language_models_heads_ranked_for_its_guess_at_the_mask(tmp_path, monkeypatch) -> None:
    pytest.importorskip("transformers")
    from tests.tiny_masked_lms import save_tiny_masked_lm

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    save_tiny_masked_lm("bert", tmp_path / "mlm")
    trace = load_model(str(tmp_path / "mlm")).trace("the fox [MASK] on the mat")
    at = list(trace.tokens).index("[MASK]")
    target = int(np.argmax(_log_softmax(trace.next_token_logits(at))))
    view = build_view(trace, "ablation")
    np.testing.assert_allclose(_grid(view), trace.ablation_sweep(target, position=at).numpy(), atol=1e-9)
    assert f"at token {at} (p = " in view.note, view.note


def test_a_classifiers_heads_ranked_for_its_label_and_a_readers_for_its_answer(tmp_path, monkeypatch) -> None:
    pytest.importorskip("transformers")
    from services.answers import answer_logits_of, answer_sweep_of
    from services.lens import class_sweep_of, class_verdict_of
    from tests.tiny_masked_lms import save_tiny_answerer, save_tiny_classifier
    from viz.views.answers import answer_view

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    save_tiny_classifier("distilbert", tmp_path / "cls")
    trace = load_model(str(tmp_path / "cls")).trace("the fox sat on the mat")
    scores, labels, _, _ = class_verdict_of(trace)
    label = int(np.argmax(scores[-1]))
    view = build_view(trace, "ablation")
    np.testing.assert_allclose(_grid(view), class_sweep_of(trace, label), atol=1e-9)
    assert f"the label ‘{labels[label]}’" in view.note and f"log p(‘{labels[label]}’)" in view.note

    save_tiny_answerer("bert", tmp_path / "qa")
    trace = load_model(str(tmp_path / "qa")).trace("where is the fox", second_text="the fox sat on a mat")
    answer = answer_view(answer_logits_of(trace), trace)
    final, candidates = answer.spans[-1], [int(c) for c in answer.candidates]
    sweep = answer_sweep_of(trace, candidates, candidates.index(final.start), candidates.index(final.end))
    view = build_view(trace, "ablation")
    np.testing.assert_allclose(_grid(view), sweep, atol=1e-9)
    assert f"the answer ‘{final.text}’" in view.note and "log p(start) + log p(end)" in view.note


def test_no_prediction_a_tagger_or_a_long_text_is_refused_in_one_sentence(tmp_path, monkeypatch, tiny_model) -> None:
    pytest.importorskip("transformers")
    from tests.tiny_masked_lms import save_tiny_tagger

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    save_tiny_tagger("bert", tmp_path / "tag")
    with pytest.raises(ViewError, match="labels each token: rank heads for one token's label"):
        build_view(load_model(str(tmp_path / "tag")).trace("the fox sat"), "ablation")
    monkeypatch.setattr("attention_viz.ablation_view.SWEEP_MAX_TOKENS", 4)  # the tiny model reads fewer than 256
    with pytest.raises(ViewError, match=r"up to 4 tokens; this one has \d+: pass max_tokens=4"):
        build_view(load_model(tiny_model).trace(TEXT), "ablation")


def test_the_cli_writes_the_ablation_view(tiny_model, tmp_path, capsys) -> None:
    out = tmp_path / "heads.svg"
    code = cli.main(["export", "--model", tiny_model, "--text", TEXT, "--view", "ablation", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    assert "when one head is zeroed" in out.read_text()


def test_barts_classifier_is_drawn_by_the_classes_view_and_ranked_for_its_verdict(tmp_path, monkeypatch) -> None:
    """BART's classifier reads its decoder (the sweep reruns it over each variant's encoder output): the classes view
    draws its verdict on the pair, the ablation view ranks heads for it."""
    pytest.importorskip("transformers")
    from services.lens import class_sweep_of, class_verdict_of
    from tests.tiny_models_seq2seq import save_tiny_bart_classifier

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    save_tiny_bart_classifier(tmp_path / "nli")
    trace = load_model(str(tmp_path / "nli")).trace("the fox sat on a mat", second_text="a fox sat")
    assert "Its verdict on this text pair:" in build_view(trace, "classes").note
    label = int(np.argmax(class_verdict_of(trace)[0][-1]))
    np.testing.assert_allclose(_grid(build_view(trace, "ablation")), class_sweep_of(trace, label), atol=1e-9)
