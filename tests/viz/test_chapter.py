"""The Start here walk-through's data (viz.views.chapter): steps in the chapter's order, every step told for a
decoder and for an encoder, and every page a step points to exists."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from app_pages.registry import PAGE_NAMES
from viz.views.chapter import (
    SLUGS,
    STEPS,
    Facts,
    step_slug,
    step_text,
)
from viz.views.chapter_tables import softmax_rows, weighted_values
from viz.views.score_terms import ScoreTerms

DECODER = Facts(
    model="SmolLM2-135M-Instruct", n_tokens=10, n_layers=30, n_heads=9, n_kv_heads=3, d_model=576, d_head=64,
    n_ctx=8192, model_causal=True, causal=True, uses_rope=True, absolute_positions=False, encoder_decoder=False,
    layer=3, head=2,
)  # fmt: skip
ENCODER = dataclasses.replace(
    DECODER, model="all-MiniLM-L6-v2", model_causal=False, causal=False, uses_rope=False, absolute_positions=True
)


def test_the_steps_follow_the_chapter() -> None:
    assert SLUGS == (
        "tokens", "embeddings", "query-key", "dot-products", "softmax", "pattern", "masking", "values", "heads",
        "layers", "moles", "context", "parameters", "cross-attention",
    )  # fmt: skip
    assert all(name in PAGE_NAMES for step in STEPS for name in step.deeper)


@pytest.mark.parametrize("facts", [DECODER, ENCODER])
def test_every_step_is_told_with_the_models_numbers(facts: Facts) -> None:
    texts = {slug: step_text(slug, facts) for slug in SLUGS}
    assert all(texts.values())
    assert "**10 tokens**" in texts["tokens"] and "d_model = **576**" in texts["embeddings"]
    assert f"{30 * 9 * 100:,}" in texts["context"] and "Layer 3, head 2" in texts["pattern"]


def test_masking_and_cross_attention_say_what_applies() -> None:
    assert "−∞" in step_text("masking", DECODER) and "without** a mask" not in step_text("masking", DECODER)
    assert "trained **without** a mask" in step_text("masking", ENCODER)
    assert "the model's own unmasked softmax" in step_text("masking", ENCODER)
    # With the mask switched on in every layer, even the unmasked softmax reads inputs of an untrained pass.
    forced = step_text("masking", dataclasses.replace(ENCODER, causal=True))
    assert "model's own unmasked" not in forced and "never saw in training" in forced
    filling_in = step_text("masking", dataclasses.replace(ENCODER, masked_lm=True))  # loaded with its head
    assert "trained to fill in hidden tokens from the words on both sides, **without** a mask" in filling_in
    assert "fill in" not in step_text("masking", ENCODER)
    # A classifier built on a decoder (a reward model) keeps the mask but predicts no token: its verdict is read last
    scorer = step_text("masking", dataclasses.replace(DECODER, classifier="sequence"))
    assert "−∞" in scorer and "predict the next token" not in scorer
    assert "its verdict is read from the last token, the one that has seen them all" in scorer
    tagger = step_text("masking", dataclasses.replace(DECODER, classifier="token"))  # a decoder's token classifier
    assert "it labels each token from what that token has seen" in tagger and "verdict" not in tagger
    assert "is an encoder only, so it" in step_text("cross-attention", ENCODER)
    assert "is a decoder only, so it" in step_text("cross-attention", DECODER)
    real = dataclasses.replace(DECODER, encoder_decoder=True)
    assert "has no cross-attention" not in step_text("cross-attention", real)


@pytest.mark.parametrize(
    ("raw", "slug"), [("softmax", "softmax"), (" Masking ", "masking"), ("3", "query-key"), ("14", "cross-attention")]
)
def test_a_step_by_name_or_number(raw: str, slug: str) -> None:
    assert step_slug(raw) == slug


@pytest.mark.parametrize("raw", ["0", "15", "-1", "", "soft max", "<b>tokens</b>"])
def test_not_a_step(raw: str) -> None:
    assert step_slug(raw) is None


def test_softmax_rows_show_the_masked_scores_as_minus_infinity() -> None:
    rows = softmax_rows(np.array([1.0, 2.0]), np.array([True, False]), np.array([1.0, 0.0]), ["a", "b"])
    assert rows[1]["score the softmax sees"] == -np.inf and rows[1]["scaled score"] == 2.0
    assert [r["key token"] for r in rows] == ["0: a", "1: b"]


def test_softmax_rows_leave_out_the_masked_scores_column_where_nothing_is_masked() -> None:
    """Without a mask in the row the column would repeat the scores beside it (MiniLM's every row)."""
    rows = softmax_rows(np.array([1.0, 2.0]), np.array([True, True]), np.array([0.3, 0.7]), ["a", "b"])
    assert [list(r) for r in rows] == [["key token", "scaled score", "weight"]] * 2


def test_weighted_values_add_up_to_the_heads_delta() -> None:
    rng = np.random.default_rng(0)
    n, d_head, d_model = 6, 4, 8
    v, W_O = rng.normal(size=(n, d_head)), rng.normal(size=(d_head, d_model))
    seen = np.arange(n) <= 4  # causal, query 4
    row = np.where(seen, rng.random(n), 0.0)
    row /= row.sum()
    whole = weighted_values(v, W_O, row, seen, query=4)
    assert whole.sources == [0, 1, 2, 3, 4] and whole.rest is None and whole.n_seen == 5
    np.testing.assert_allclose(whole.delta, (row @ v) @ W_O, atol=1e-12)  # (A·V)·W_O, the engine's Δe row
    np.testing.assert_allclose(whole.rows[2], row[2] * v[2] @ W_O)
    cut = weighted_values(v, W_O, row, seen, query=4, max_rows=2)
    sizes = np.linalg.norm(row[:5, None] * (v[:5] @ W_O), axis=-1)
    assert cut.sources == sorted(np.argsort(-sizes)[:2].tolist()) and cut.n_rest == 3
    np.testing.assert_allclose(cut.rows.sum(axis=0) + cut.rest, whole.delta, atol=1e-12)
    assert cut.rest_weight == pytest.approx(1.0 - cut.weights.sum())


def test_position_is_told_as_each_model_carries_it() -> None:
    """RoPE (SmolLM2), an embedding added to the token's (BERT, GPT-2: learned; Marian: fixed sinusoids) or a bias
    on the scores (T5): a T5 was told it adds a learned position embedding."""
    rope, added = step_text("embeddings", DECODER), step_text("embeddings", ENCODER)
    assert "RoPE" in rope and "adds a position embedding" in added and "learned" not in added
    t5 = dataclasses.replace(ENCODER, absolute_positions=False)
    assert "no position embedding" in step_text("embeddings", t5) and "bias" in step_text("embeddings", t5)
    assert "(but for its position embedding)" in step_text("moles", ENCODER)
    assert "(but for its position embedding)" not in step_text("moles", t5)


def test_the_dot_product_step_names_the_models_own_scale() -> None:
    """Step 4 said "the chapter divides them by √d_head = √8" for T5, which does not scale q·k, and for Gemma 2,
    whose factor is query_pre_attn_scalar^-½ (here 1/√24 with d_head 16)."""
    assert "√d_head = √64 for numerical stability" in step_text("dot-products", DECODER)
    t5 = dataclasses.replace(DECODER, d_head=8, terms=ScoreTerms(scale=1.0, d_head=8))
    said = step_text("dot-products", t5)
    assert "does not divide" in said and "√8" not in said
    gemma = step_text("dot-products", dataclasses.replace(DECODER, d_head=16, terms=ScoreTerms(24**-0.5, 16)))
    assert "0.2041" in gemma and "instead of 1/√16" in gemma
    named = step_text("dot-products", dataclasses.replace(t5, terms=ScoreTerms(1.0, 8, position_bias=True)))
    assert "The scores (q·k + position bias) of" in named and "scaled scores" not in named
    terms = ScoreTerms(48**-0.5, 16, position_bias=True, bias_name="position terms", multiple=3)
    deberta = dataclasses.replace(DECODER, d_head=16, terms=terms)
    assert "divides them by √(3·d_head) = √48 instead" in step_text("dot-products", deberta)


def test_many_heads_says_how_many_query_heads_share_a_key_and_value_head() -> None:
    """SmolLM2's 9 query heads share 3 key/value heads, but step 9 said each head has its own key and value
    matrices."""
    assert "each of its 3 key/value heads is shared by 3 query heads" in step_text("heads", DECODER)
    alone = dataclasses.replace(DECODER, n_kv_heads=9)
    assert "key/value heads" not in step_text("heads", alone)
    assert "its own query, key and value matrices" in step_text("heads", alone)


def test_the_parameter_count_gives_each_matrix_the_shape_its_table_lists() -> None:
    """The table lists value-up (the W_O slice) as d_head × d_model, but the text said every matrix is
    d_model × d_head, "not d_head × d_model"."""
    said = step_text("parameters", DECODER)
    assert "query, key and value-down are d_model × d_head" in said and "value-up is d_head × d_model" in said
    assert "not d_head × d_model" not in said


def test_a_one_token_text_is_told_in_the_singular() -> None:
    one = dataclasses.replace(DECODER, n_tokens=1)
    assert "**1 token**:" in step_text("tokens", one)
    assert "Your 1 token gives 1² = 1 weight per head" in step_text("context", one)


def test_weighted_values_never_sums_a_single_leftover_source():
    """Browser review (MiniLM, 1024 px): one source past the drawn rows was drawn as "0.010 × the other 1", a sum of
    one that hid which token it was. One more source than max_rows draws them all."""
    rng = np.random.default_rng(0)
    n, d_head, d_model = 5, 3, 4
    v, W_O = rng.normal(size=(n, d_head)), rng.normal(size=(d_head, d_model))
    row = np.full(n, 1 / n)
    parts = weighted_values(v, W_O, row, np.ones(n, dtype=bool), query=4, max_rows=4)
    assert parts.rest is None and parts.n_rest == 0 and parts.sources == list(range(n))
    fewer = weighted_values(v, W_O, row, np.ones(n, dtype=bool), query=4, max_rows=3)
    assert fewer.n_rest == 2 and len(fewer.sources) == 3
    np.testing.assert_allclose(fewer.rows.sum(axis=0) + fewer.rest, parts.delta, atol=1e-12)
