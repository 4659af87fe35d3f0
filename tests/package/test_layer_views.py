"""The library's layer-by-layer views (attention_viz/layer_views.py) on a tiny random GPT-2: each draws the engine's
own numbers through the app's view models and figures, names only the layer and head it is of, and the CLI exports
them (an SVG only where there is a heatmap)."""

from __future__ import annotations

import types

import numpy as np
import pytest

from attention_core import load_model
from attention_viz import ViewError, build_view, cli, show
from attention_viz.base import view_title
from tests.app.helpers import decode

TEXT = "a fluffy blue creature roamed"


@pytest.fixture
def trace(tiny_model):
    return load_model(tiny_model).trace(TEXT)


def test_the_lens_view_shows_every_layers_top_token_and_the_last_position_layer_by_layer(trace) -> None:
    view = build_view(trace, "lens")
    grid, track = view.figures
    top = trace.lens_top(5, 0, trace.n_tokens)
    np.testing.assert_allclose(decode(grid.to_plotly_json()["data"][0]["z"]), top.probs[:, :, 0].numpy(), rtol=1e-6)
    final = top.ids[-1, -1, :3].tolist()  # the last position's final top 3 are followed
    probs, _ = trace.lens_ranks(trace.n_tokens - 1, final)
    np.testing.assert_allclose(np.asarray(track.data[0].y, dtype=float), probs[:, 0].numpy(), rtol=1e-6)
    assert "the final answer is" in view.note


def test_a_masked_language_models_lens_view_follows_its_mask(tmp_path, monkeypatch) -> None:
    """A masked-language model's lens view follows the first [MASK] (not the [SEP] closing the text) and calls its
    guesses the token at a position."""
    pytest.importorskip("transformers")
    from tests.tiny_masked_lms import save_tiny_masked_lm

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    save_tiny_masked_lm("bert", tmp_path / "bert")
    trace = load_model(str(tmp_path / "bert")).trace("the fox sat on the [MASK] and ran")
    where = trace.tokens.index("[MASK]")
    view = build_view(trace, "lens")
    _, track = view.figures
    assert track.layout.title.text.startswith(f"at ‘[MASK]’ (position {where})")
    final = trace.lens_top(5, 0, trace.n_tokens).ids[-1, where, :3].tolist()
    np.testing.assert_allclose(np.asarray(track.data[0].y, dtype=float), trace.lens_ranks(where, final)[0][:, 0])
    assert f"At position {where} (the first [MASK]), the final answer is" in view.note


def test_the_sent_view_is_the_heads_value_weighted_pattern(trace) -> None:
    view = build_view(trace, "sent", layer=1, head=2)
    z = decode(view.figures[0].to_plotly_json()["data"][0]["z"])
    np.testing.assert_allclose(z, trace.value_weighted(1, 2).numpy(), rtol=1e-6)
    assert "Layer 1, head 2" in view.figures[0].layout.title.text and "first token gets" in view.note


def test_the_contributions_view_draws_the_last_tokens_graph(trace) -> None:
    view = build_view(trace, "contributions")
    edges = trace.contribution_graph(trace.n_tokens - 1, 0.04).edges
    assert view.note.startswith(f"{len(edges)} edges at threshold 0.04")
    assert len(view.figures) == 1 and len(view.figures[0].data) > 1


def test_a_model_without_an_unembedding_has_no_lens_view() -> None:
    encoder = types.SimpleNamespace(
        config=types.SimpleNamespace(has_lm_head=False), model_name="an-encoder", n_layers=2, n_heads=2, n_tokens=3
    )
    with pytest.raises(ViewError, match="an-encoder has no unembedding"):
        build_view(encoder, "lens")


def test_titles_name_only_the_layer_and_head_a_view_is_of() -> None:
    assert view_title("m", "lens", 3, 2) == "m · lens"
    assert view_title("m", "shifts", 3, 2) == "m · shifts · layer 3"
    assert view_title("m", "sent", 3, 2) == "m · sent · layer 3, head 2"


def test_the_cli_exports_the_layer_views(tiny_model, tmp_path, capsys) -> None:
    base = ["export", "--model", tiny_model, "--text", TEXT]
    assert cli.main([*base, "--view", "lens", "-o", str(tmp_path / "lens.html")]) == 0
    assert "Plotly" in (tmp_path / "lens.html").read_text(encoding="utf-8")
    assert cli.main([*base, "--view", "sent", "--layer", "1", "--format", "svg", "-o", str(tmp_path / "s.svg")]) == 0
    assert cli.main([*base, "--view", "contributions", "--format", "svg", "-o", str(tmp_path / "c.svg")]) == 2
    assert "no heatmap" in capsys.readouterr().err


def test_the_generation_view_shows_where_a_head_looked_at_each_step(tiny_model) -> None:
    model = load_model(tiny_model)
    generated = model.generate(TEXT, max_new_tokens=4)
    view = build_view(generated, "generation", layer=1, head=3)
    n, n_prompt = generated.trace.n_tokens, generated.n_prompt
    z = decode(view.figures[0].to_plotly_json()["data"][0]["z"])
    steps = generated.trace.pattern(1, 3).numpy()[n_prompt - 1 : n - 1, : n - 1]  # the query that chose each token
    seen = ~np.isnan(z)
    np.testing.assert_allclose(z[seen], steps[seen], rtol=1e-6)
    assert seen.sum() == np.tril(np.ones_like(steps), k=n_prompt - 1).sum()  # each step sees the tokens before it
    assert view.note.startswith(f"{len(generated.new_tokens)} new tokens (greedy")
    sampled = model.generate(TEXT, max_new_tokens=2, temperature=0.7, seed=3)
    assert "(sampled at temperature 0.7, seed 3" in build_view(sampled, "generation", layer=1, head=3).note
    assert build_view(generated, "head", layer=1, head=3).figures  # any trace view takes the generation's trace
    shown = show(generated, "generation", layer=1, head=3)  # a notebook names the generation's model
    assert shown.title == view_title(generated.trace.model_name, "generation", 1, 3)
    with pytest.raises(ViewError, match="what model.generate"):
        build_view(model.trace(TEXT), "generation")


def test_the_cli_offers_no_view_it_cannot_draw_from_a_text(tiny_model, tmp_path, capsys) -> None:
    args = ["export", "--model", tiny_model, "--text", TEXT, "--view", "generation", "-o", str(tmp_path / "g.html")]
    assert cli.main(args) == 2
    assert "invalid choice: 'generation'" in capsys.readouterr().err


def test_the_classes_view_draws_a_classifiers_verdict(tmp_path, monkeypatch, tiny_model) -> None:
    pytest.importorskip("transformers")
    from services.lens import class_verdict_of
    from tests.tiny_masked_lms import save_tiny_classifier

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    save_tiny_classifier("distilbert", tmp_path / "cls")
    trace = load_model(str(tmp_path / "cls"), device="cpu").trace("the fox sat on the mat")
    view = build_view(trace, "classes")
    scores, labels, _, pool = class_verdict_of(trace)
    ys = [decode(t["y"]) for t in view.figures[0].to_plotly_json()["data"]]
    assert np.allclose(np.stack(ys, axis=1), scores) and "Its verdict on this text:" in view.note
    assert "`" not in view.note and labels == ("negative", "neutral", "positive") and pool == "first"
    with pytest.raises(ViewError, match="no sequence-classification head"):
        build_view(load_model(tiny_model).trace("a fluffy creature"), "classes")


def test_the_answers_view_draws_a_readers_answer_span(tmp_path, monkeypatch, tiny_model) -> None:
    pytest.importorskip("transformers")
    from services.answers import answer_logits_of
    from tests.tiny_masked_lms import save_tiny_answerer
    from viz.views.answers import answer_view

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    save_tiny_answerer("roberta", tmp_path / "qa")
    trace = load_model(str(tmp_path / "qa"), device="cpu").trace("where is the fox", second_text="the fox sat on a mat")
    view = build_view(trace, "answers")
    expected = answer_view(answer_logits_of(trace), trace)
    bars = [decode(t["y"]) for t in view.figures[0].to_plotly_json()["data"]]
    assert np.allclose(bars[0], expected.p_start[-1]) and np.allclose(bars[1], expected.p_end[-1])
    assert f"Its answer: ‘{expected.spans[-1].text}’" in view.note and "`" not in view.note
    assert expected.spans[-1].text in "the fox sat on a mat"  # from the context, never the question
    with pytest.raises(ViewError, match="no question-answering head"):
        build_view(load_model(tiny_model).trace("a fluffy creature"), "answers")


def test_the_tags_view_draws_a_taggers_labels(tmp_path, monkeypatch, tiny_model) -> None:
    pytest.importorskip("transformers")
    from services.lens import tag_grid_of
    from tests.tiny_masked_lms import TAGS, save_tiny_tagger

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    save_tiny_tagger("roberta", tmp_path / "tag")
    trace = load_model(str(tmp_path / "tag"), device="cpu").trace("the fox sat on the mat")
    view = build_view(trace, "tags")
    probs, labels = tag_grid_of(trace)
    grid = view.figures[0].to_plotly_json()["data"][0]
    assert np.allclose(np.asarray(decode(grid["z"]), dtype=float), probs.max(axis=2)) and labels == TAGS
    assert "is a token classifier" in view.note and "`" not in view.note  # a note is plain text
    from viz.views.tags import tag_groups

    groups = tag_groups(probs[-1], labels, trace.offsets, trace.text)
    assert groups and f"{groups[0]['entity']} ‘{groups[0]['text']}’ {groups[0]['score']:.2f}" in view.note
    with pytest.raises(ViewError, match="no token-classification head"):
        build_view(load_model(tiny_model).trace("a fluffy creature"), "tags")
