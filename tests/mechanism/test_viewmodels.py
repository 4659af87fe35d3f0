"""The mechanism view models reproduce the engine's numbers (and the chapter's GPT-3 numbers)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from services.repeats import head_finder_statistics
from services.sizes import GPT3_PRESET, GPT3_TOTAL, breakdown, component_order, loaded_breakdown, share_text
from tests.app.helpers import ROOT
from tests.texts import FLUFFY
from viz.views.common import pca_2d
from viz.views.cross import DEFAULT_SOURCE, DEFAULT_TARGET, PromptCross, build_prompt
from viz.views.heads import (
    all_patterns,
    default_query_keys,
    head_statistics,
    rank_heads_by_attention,
    row_to_head,
    statistics_of_row_sums,
    stats_table,
    table_heads,
)
from viz.views.shifts import (
    FIRST_TOKEN_OUTLIER,
    delta_by_source,
    drawn_sources,
    drawn_sources_sentence,
    find_word,
    first_token_outlier,
    layer_shift,
    pairwise_cosines,
    residual_after_attention_label,
    sense_match,
    word_positions,
    word_trace,
)
from viz.views.sizes import human_count, pattern_bytes, pattern_entries


# ── embedding shifts ────────────────────────────────────────────────────────────────────────────
def test_a_long_text_s_drawn_sources_are_the_ones_the_query_sees() -> None:
    """Review (51 tokens, causal): the note said "51 sources" for a query that sees 50; the charts pick only among
    the sources the mask lets the query see, and the note counts those."""
    n = 50
    norms = np.linspace(1.0, 2.0, n)
    causal = np.arange(n) <= 45  # query 45 sees 0..45
    shown = drawn_sources(norms, causal, 45, limit=40)
    assert shown is not None and len(shown) == 40 and max(shown) == 45 and 45 in shown
    assert drawn_sources(norms, np.arange(n) <= 20, 20, limit=40) == list(range(21))  # all 21 it sees
    assert drawn_sources(norms[:40], np.ones(40, bool), 3, limit=40) is None  # every token fits
    said = drawn_sources_sentence(n, shown, causal, 0.9)
    assert said.startswith("This token has 46 sources; the mask hides the other 4 of the 50 tokens")
    assert "the 40 with the largest contribution" in said and "90%" in said
    assert "draw all 21" in drawn_sources_sentence(n, list(range(21)), np.arange(n) <= 20, 1.0)
    assert "mask" not in drawn_sources_sentence(n, shown, np.ones(n, bool), 0.9)  # a bidirectional model


@pytest.mark.parametrize("layer", [0, 16])
def test_delta_by_source_sums_to_the_attention_output(fluffy, layer: int) -> None:
    split = delta_by_source(fluffy, layer, 3)
    np.testing.assert_allclose(split.delta, fluffy.attn_out(layer)[3].numpy(), atol=1e-4)
    assert split.share_along_delta().sum() + split.bias_share() == pytest.approx(1.0, abs=1e-5)
    assert np.all(split.per_source[4:] == 0)  # causal: later tokens contribute nothing to "creature"
    assert split.allowed.tolist() == [True] * 4 + [False] * (fluffy.n_tokens - 4)  # and the view says why


def test_delta_by_source_with_output_bias(minilm) -> None:
    trace = minilm.trace(FLUFFY)
    split = delta_by_source(trace, 2, 4)
    assert np.any(split.bias)
    assert split.allowed.all()  # an encoder: every source is seen
    np.testing.assert_allclose(split.delta, trace.attn_out(2)[4].numpy(), atol=1e-4)


def test_pca_recovers_a_plane() -> None:
    rng = np.random.default_rng(0)
    plane = rng.normal(size=(2, 50))
    pts = rng.normal(size=(30, 2)) * [5.0, 1.0] @ plane
    coords, ratio, _ = pca_2d(pts)
    assert ratio.sum() == pytest.approx(1.0)
    d_full = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
    d_2d = np.linalg.norm(coords[:, None] - coords[None], axis=-1)
    np.testing.assert_allclose(d_2d, d_full, atol=1e-8)


def test_the_first_token_is_left_out_where_it_alone_would_set_the_picture(fluffy, minilm) -> None:
    """Review (MiniLM, layer 0): [CLS]'s residual is no longer than the others', so the picture kept it, but this
    layer's attention moves it ~4x as far as the others: its point after took the whole first axis and the other
    tokens' labels piled up in a corner. The test now measures how far out the first token's points lie, before
    and after the layer's attention, on the picture's axes."""
    minilm_trace = minilm.trace("a fluffy blue creature roamed the verdant forest")
    assert first_token_outlier(layer_shift(minilm_trace, 0)) > FIRST_TOKEN_OUTLIER  # [CLS] moved far by attention
    assert first_token_outlier(layer_shift(fluffy, 16)) > FIRST_TOKEN_OUTLIER  # SmolLM2's sink: a huge residual
    assert first_token_outlier(layer_shift(fluffy, 0)) < FIRST_TOKEN_OUTLIER  # layer 0: nothing special yet
    assert first_token_outlier(layer_shift(minilm_trace, 5)) < FIRST_TOKEN_OUTLIER
    assert np.isnan(first_token_outlier(layer_shift(fluffy, 16, skip_first=True)))  # a picture without it


def test_layer_shift_leaves_out_the_first_token(fluffy) -> None:
    full = layer_shift(fluffy, 16)
    assert full.explained[0] > 0.99  # the first token's huge residual takes the whole first axis
    trimmed = layer_shift(fluffy, 16, skip_first=True)
    assert trimmed.included == list(range(1, fluffy.n_tokens)) and trimmed.before.shape == (fluffy.n_tokens - 1, 2)
    attn = fluffy.attn_out(16).numpy()
    np.testing.assert_allclose(
        full.step_norms, np.linalg.norm(attn, axis=-1), rtol=1e-4
    )  # pre-norm: after − before == Δe


def test_find_word_and_sub_tokens(smollm) -> None:
    assert find_word("Moles and a Mole.", "mole") == (12, 16)  # whole word, any case
    assert find_word("molecule", "mole") is None
    trace = smollm.trace(FLUFFY)
    span = find_word(FLUFFY, "verdant")
    pos = word_positions(trace.offsets, span)
    assert [trace.tokens[i] for i in pos] == [" ver", "d", "ant"]
    wt = word_trace(trace, "verdant")
    np.testing.assert_allclose(wt.embeddings[5], trace.resid(5).numpy()[pos].mean(axis=0), rtol=1e-5, atol=1e-5)


def test_mole_diverges_and_senses(smollm, minilm) -> None:
    sentences = ["American shrew mole", "one mole of carbon dioxide", "take a biopsy of the mole"]
    words = [word_trace(smollm.trace(s), "mole") for s in sentences]
    cos = pairwise_cosines(words)
    for v in cos.values():
        assert v[0] == pytest.approx(1.0, abs=1e-6)  # same token, no position embedding: identical at first
        assert v[-1] < 0.95  # ...and apart after the last layer
    assert [w.right_context_hidden for w in words] == [False, True, False]
    refs = [word_trace(smollm.trace(s), "mole") for s in ["the doctor examined the mole on her skin"] * 2]
    match = sense_match(words, refs, ["skin", "skin again"])
    assert np.all(match.closest[:, 0] == -1)  # identical at layer 0: a tie, not "the first sense"
    bert = word_trace(minilm.trace("one mole of carbon dioxide"), "mole")
    assert bert.has_right_context and not bert.right_context_hidden


# ── head finder ─────────────────────────────────────────────────────────────────────────────────
def test_head_finder_finds_the_adjective_head(fluffy) -> None:
    """Acceptance: some head makes "creature" put > 1/2 of its attention on "fluffy" + "blue"; the docs name it."""
    q, keys = default_query_keys(fluffy.tokens)
    assert [fluffy.tokens[i] for i in [q, *keys]] == [" creature", " fluffy", " blue"]
    hits = rank_heads_by_attention(all_patterns(fluffy), q, keys)
    best = hits[0]
    manual = float(fluffy.pattern(best.layer, best.head)[q, keys].sum())
    assert best.weight == pytest.approx(manual, abs=1e-6) and best.weight > 0.5
    assert all(a.weight >= b.weight for a, b in zip(hits, hits[1:], strict=False))
    docs = (ROOT / "docs" / "mechanism.md").read_text(encoding="utf-8")
    named = re.search(r"layer (\d+), head (\d+)", docs)
    assert named, "docs/mechanism.md must name the head"
    layer, head = int(named.group(1)), int(named.group(2))
    assert float(fluffy.pattern(layer, head)[q, keys].sum()) > 0.5


def test_head_statistics_on_known_patterns() -> None:
    n = 5
    ident = np.eye(n)
    prev = np.eye(n, k=-1)
    prev[0, 0] = 1.0
    first = np.zeros((n, n))
    first[:, 0] = 1.0
    stats = head_statistics(np.stack([ident, prev, first])[:, None], causal=True)  # 3 layers × 1 head
    np.testing.assert_allclose(stats["entropy"][:, 0], 0.0, atol=1e-12)
    np.testing.assert_allclose(stats["prev"][:, 0], [0.0, 1.0, 0.25])
    np.testing.assert_allclose(stats["first"][:, 0], [0.0, 0.25, 1.0])  # over queries i ≥ 1, as the atlas's
    # Under the causal mask over queries i ≥ 1 too (query 0 sees only itself: distance 0, entropy 0 for any head),
    # as the atlas's mean_distance; a bidirectional pass counts every query.
    np.testing.assert_allclose(stats["distance"][:, 0], [0.0, 1.0, 2.5])
    both_ways = head_statistics(np.stack([ident, prev, first])[:, None], causal=False)
    np.testing.assert_allclose(both_ways["distance"][:, 0], [0.0, 0.8, 2.0])
    uniform = np.full((1, 1, 4, 4), 0.25)
    assert head_statistics(uniform, causal=False)["entropy"][0, 0] == pytest.approx(2.0)
    spread = np.tril(np.ones((4, 4))) / np.arange(1, 5)[:, None]  # query i evenly over its i + 1 keys
    expected = np.mean([np.log2(k) for k in (2, 3, 4)])  # queries 1..3
    assert head_statistics(spread[None, None], causal=True)["entropy"][0, 0] == pytest.approx(expected)
    table = stats_table(stats)
    assert table["layer"] == [0, 1, 2] and row_to_head(2, table_heads(stats)) == (2, 0)
    wide = {key: np.arange(6.0).reshape(2, 3) for key in stats}  # 2 layers × 3 heads
    assert row_to_head(4, table_heads(wide)) == (1, 1)
    wide["entropy"][0] = np.nan  # a hybrid's layer without heads: no rows
    assert table_heads(wide) == [(1, 0), (1, 1), (1, 2)] and stats_table(wide)["layer"] == [1, 1, 1]


def test_the_head_finder_s_statistics_equal_those_of_the_whole_patterns(fluffy) -> None:
    """The page's path: the engine's row sums a chunk of rows at a time, then their means."""
    row_sums, _ = head_finder_statistics(fluffy)
    got = statistics_of_row_sums(row_sums, fluffy.n_tokens, fluffy.causal)
    want = head_statistics(all_patterns(fluffy), causal=fluffy.causal)
    for key in ("entropy", "prev", "first", "distance"):
        np.testing.assert_allclose(got[key], want[key], rtol=1e-6, atol=1e-6)


# ── cross-attention ─────────────────────────────────────────────────────────────────────────────
def test_cross_block_is_unmasked_under_the_causal_mask(smollm) -> None:
    prompt, s_span, t_span = build_prompt(DEFAULT_SOURCE, DEFAULT_TARGET)
    assert prompt[slice(*s_span)] == DEFAULT_SOURCE and prompt[slice(*t_span)] == DEFAULT_TARGET
    trace = smollm.trace(prompt)
    cross = PromptCross(trace, s_span, t_span)
    assert trace.causal and min(cross.target) > max(cross.source)
    assert "".join(trace.tokens[i] for i in cross.source).strip() == DEFAULT_SOURCE
    block = cross.block(7, 1)
    assert block.mask.all()
    np.testing.assert_allclose(block.pattern, trace.pattern(7, 1).numpy()[np.ix_(cross.target, cross.source)])
    assert np.all(block.row_share < 1.0 + 1e-6)


# ── parameters ──────────────────────────────────────────────────────────────────────────────────
def test_gpt3_numbers() -> None:
    b = breakdown(**GPT3_PRESET)
    assert b.per_matrix_per_head == 1_572_864
    assert b.total == 57_982_058_496
    assert GPT3_TOTAL == 175_181_291_520
    assert 0.3 < b.total / GPT3_TOTAL < 0.34
    assert b.rows()[-1]["all layers"] == "57,982,058,496"


@pytest.mark.parametrize(
    ("n", "shown"),
    [
        (1_572_864, "1,572,864"),  # exact while it still fits a metric
        (9_999_999, "9,999,999"),
        (10_000_000, "10.0 million"),
        (603_979_776, "604 million"),
        (57_982_058_496, "58.0 billion"),  # the chapter's "58 billion"
        (999_999_999, "1.00 billion"),  # rounds into the next word, not "1,000 million"
        (123_456_789_012_345, "123 trillion"),
        (4 * 10**24, "4.00e+24"),
    ],
)
def test_human_count_keeps_three_significant_figures(n: int, shown: str) -> None:
    assert human_count(n) == shown


def test_loaded_breakdown_and_pattern_sizes(smollm) -> None:
    rows = loaded_breakdown(smollm)
    total = sum(t.numel() for t in smollm.weights.values())
    assert rows[-1] == {"component": "total", "parameters": f"{total:,}", "share": "100.0%"}
    assert sum(int(r["parameters"].replace(",", "")) for r in rows[:-1]) == total
    # The norms' 35,136 weights are 0.026 % of the model: "0.0%" said they had none.
    norms = next(r for r in rows if r["component"] == "norms")
    assert norms["share"] == "0.026%"
    # Browser review: the rows ran W_K, W_O, W_Q, W_V (alphabetical); the chapter and the table above say Q, K, V, O.
    names = [r["component"] for r in rows]
    assert names == [f"attention.W_{m}" for m in "QKVO"] + ["embedding", "mlp", "norms", "total"], names
    assert component_order(["mlp", "attention.b_Q", "attention.q_norm.w", "attention.W_O", "attention.W_Q",
                            "cross_attention.W_Q", "attention.rel_bias"]) == [
        "attention.W_Q", "attention.b_Q", "attention.W_O", "attention.q_norm.w", "attention.rel_bias",
        "cross_attention.W_Q", "mlp"]  # fmt: skip
    # Latent attention (DeepSeek) in the order the pass reads its maps: the query's, the keys' and values', the output
    latent = ["attention.W_O", "attention.W_DKV", "attention.W_DQ", "attention.W_KR", "attention.W_UK",
              "attention.W_UQ", "attention.W_UV", "attention.kv_latent_norm.w", "attention.q_latent_norm.w", "mlp"]
    assert component_order(latent) == [
        "attention.W_DQ", "attention.q_latent_norm.w", "attention.W_UQ", "attention.W_DKV",
        "attention.kv_latent_norm.w", "attention.W_KR", "attention.W_UK", "attention.W_UV", "attention.W_O", "mlp",
    ]
    # AFMoE's output gate, which the pass multiplies z by before W_O, between the values and the output
    gated = component_order(["attention.W_O", "attention.W_G", "attention.W_V", "attention.W_Q", "attention.W_K"])
    assert gated == [f"attention.W_{m}" for m in "QKVGO"], gated
    assert share_text(1, 3) == "33.3%" and share_text(0, 5) == "0.0%" and share_text(1, 10**6) == "0.0001%"
    assert pattern_entries(30, 9, 1024) == 30 * 9 * 1024**2
    assert pattern_bytes(30, 9, 1024, 2) * 2 == pattern_bytes(30, 9, 1024, 4)


def test_docs_exist() -> None:
    assert Path(ROOT / "docs" / "mechanism.md").exists()


def test_alignment_spread_prefers_sharp_distinct_heads() -> None:
    cross = PromptCross.__new__(PromptCross)  # only the positions matter here
    cross.source, cross.target = [0, 1, 2], [3, 4, 5]
    n = 6
    aligned, sink = np.zeros((n, n)), np.zeros((n, n))
    for t, s in zip(cross.target, cross.source, strict=True):
        aligned[t, s] = 1.0  # each target token on its own source token
        sink[t, 0] = 1.0  # every target token on the first source token
    spread = cross.spread(np.stack([aligned, sink])[:, None])
    np.testing.assert_allclose(spread[:, 0], [1.0, 1 / 3])
    np.testing.assert_allclose(cross.source_share(np.stack([aligned, sink])[:, None])[:, 0], [1.0, 1.0])


def test_the_residual_after_attention_is_named_as_each_norm_position_computes_it() -> None:
    """Embedding shifts' arrows end at resid_mid, which blocks.after_attention computes per norm position: a
    sandwich (Gemma) or post-sublayer (OLMo 2) model normalises Δe before adding it, not the sum."""
    assert residual_after_attention_label("pre", "rms") == "before + Δe"
    assert residual_after_attention_label("post", "layer") == "LayerNorm(before + Δe) in this post-norm model"
    for position in ("sandwich", "post_sublayer"):
        said = residual_after_attention_label(position, "rms")
        assert said.startswith("before + RMSNorm(Δe)") and "LayerNorm" not in said


def test_bytes_are_written_in_the_units_the_context_chart_uses() -> None:
    """Decimal units, as the context-size chart's axis (SI: 1 GB = 10⁹ bytes): the table beside it said 67.5 GB
    (binary) for the chart's 72.5 billion bytes."""
    from viz.views.sizes import human_bytes

    assert human_bytes(999) == "999 B" and human_bytes(1_500) == "1.5 kB"
    assert human_bytes(pattern_bytes(30, 9, 8192, 4)) == "72.5 GB"


def test_the_default_query_is_the_last_word_not_a_closing_full_stop() -> None:
    """Without "creature", the default question is asked of the last token that is a word (or number): a text
    ending in "." made the softmax step and Head finder open on the full stop."""
    tokens = ["The", " old", " wizard", " handed", " the", " key", "."]
    assert default_query_keys(tokens) == (5, [4])  # " key", looking at " the"
    assert default_query_keys(["a", " b", "!", "?"]) == (1, [0])
    assert default_query_keys([".", ","]) == (1, [0])  # no word at all: the last token, as before
    assert default_query_keys(["hi"]) == (0, [0])
    # Special tokens are not words: MiniLM's [CLS] … [SEP], Marian's </s> (they cover no text: empty offsets).
    bert = [(0, 0), (0, 3), (4, 7), (8, 10), (11, 16), (16, 17), (0, 0)]
    assert default_query_keys(["[CLS]", "the", "cat", "is", "tired", ".", "[SEP]"], bert) == (4, [3])
    assert default_query_keys(["▁the", "▁cat", "</s>"], [(0, 3), (3, 7), (0, 0)]) == (1, [0])
    assert default_query_keys(["<|endoftext|>", "hi"], [(0, 0), (0, 2)]) == (1, [0])
