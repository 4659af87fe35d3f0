"""A tagger's labels grouped into entities (viz.views.tags.tag_groups) as transformers' token-classification pipeline
groups them with aggregation "simple": the same groups, character spans and scores (mean probability, 1e-4) on a tiny
BertForTokenClassification, and the pipeline's rules on hand-made labels."""

from __future__ import annotations

import numpy as np
import pytest

from attention_core import load_model
from services.lens import tag_grid_of
from tests.tiny_masked_lms import save_tiny_tagger
from viz.views.tags import groups_sentence, tag_groups

SCORE_TOL = 1e-4  # probabilities: the engine's logits are within 1e-3 of transformers' (test_token_classifier.py)


@pytest.mark.parity
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_groups_are_the_pipelines(seed, tmp_path, monkeypatch) -> None:
    transformers = pytest.importorskip("transformers")
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "tagger"
    save_tiny_tagger("bert", folder, seed=seed)
    text = "Ada Lovelace wrote the first program in London with Charles Babbage"
    trace = load_model(str(folder), device="cpu").trace(text)
    probs, labels = tag_grid_of(trace)
    ours = tag_groups(probs[-1], labels, trace.offsets, trace.text)
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    model = transformers.BertForTokenClassification.from_pretrained(folder).eval()
    theirs = transformers.pipeline("token-classification", model=model, tokenizer=tokenizer, device="cpu",
                                   aggregation_strategy="simple")(text)  # fmt: skip
    assert len(theirs) > 1, "too few groups to tell the rules apart"
    assert [(g["entity"], g["start"], g["end"]) for g in ours] == [
        (g["entity_group"], g["start"], g["end"]) for g in theirs]
    assert np.allclose([g["score"] for g in ours], [g["score"] for g in theirs], atol=SCORE_TOL)
    assert all(g["text"] == text[g["start"]:g["end"]] for g in ours)


def test_the_pipelines_rules_by_hand() -> None:
    labels = ["O", "B-PER", "I-PER", "B-LOC", "MISC"]
    #        [CLS]  Ada    Love   ##lace  in    Ber    ##lin  B-LOC again  MISC  MISC  [SEP]
    tops = [0, 1, 2, 2, 0, 3, 2, 3, 4, 4, 0]
    offsets = [(0, 0), (0, 3), (4, 8), (8, 12), (13, 15), (16, 19), (19, 22), (23, 26), (27, 28), (28, 29), (0, 0)]
    text = "Ada Lovelace in Berlin Rom x!"
    final = np.full((len(tops), len(labels)), 0.05)
    final[np.arange(len(tops)), tops] = 0.8
    groups = tag_groups(final, labels, offsets, text)
    # Ber·lin is B-LOC then I-PER: a new group (the type changed); "Rom" a B-LOC of its own; MISC runs join
    assert [(g["entity"], g["text"], g["positions"]) for g in groups] == [
        ("PER", "Ada Lovelace", "1–3"), ("LOC", "Ber", "5"), ("PER", "lin", "6"), ("LOC", "Rom", "7"),
        ("MISC", "x!", "8–9")]  # fmt: skip
    assert groups[0]["score"] == pytest.approx(0.8)
    said = groups_sentence(groups, entities=True)
    assert said.startswith("Entities, grouped as") and "PER ‘Ada Lovelace’ 0.80, LOC ‘Ber’ 0.80" in said
    assert groups_sentence([], True) == "" and groups_sentence(groups * 3, False).endswith("and 5 more.")
