"""The head finder's induction and duplicate-token scores (services.repeats) against the head atlas's own functions
(attention_core.atlas.statistics) on SmolLM2: on a repeated sequence the two pages cannot disagree."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attention_core.atlas import statistics as st
from attention_core.atlas.documents import induction_ids
from services import repeats
from services.repeats import text_repeat_statistics
from viz.views.heads import REPEAT_EXAMPLE, all_patterns, head_statistics, statistics_of_row_sums

TOP = 10


def atlas_values(trace, name: str, **kwargs) -> np.ndarray:
    """[n_layers, n_heads] the atlas's mean of statistic `name` on this one trace."""
    ids = torch.tensor(trace.token_ids)
    rows = []
    for layer in range(trace.n_layers):
        patterns = trace.layer_patterns(layer)
        found = st.induction(patterns, **kwargs) if name == "induction" else st.duplicate_token(patterns, ids)
        rows.append(found.sums.numpy() / found.n_queries)
    return np.stack(rows)


def top_heads(values: np.ndarray) -> list[tuple[int, int]]:
    order = np.argsort(-values, axis=None, kind="stable")[:TOP]
    return [divmod(int(flat), values.shape[1]) for flat in order]


def repeated_text(smollm) -> tuple[object, int]:
    """The page's example, a sentence written twice (with its newline, so both copies are whole), and its period."""
    trace = smollm.trace(REPEAT_EXAMPLE + "\n")
    ids, period = trace.token_ids, trace.n_tokens // 2
    assert ids[:period] == ids[period:] and len(set(ids[:period])) == period  # a repeat of distinct tokens
    return trace, period


def test_the_induction_heads_of_a_repeated_sentence_are_the_atlas_s(smollm) -> None:
    trace, period = repeated_text(smollm)
    values, n_queries, n_in_text = text_repeat_statistics(trace)
    want = atlas_values(trace, "induction", start=0, period=period)
    assert n_in_text["induction"] == period  # every query of the second copy, nothing else
    assert (n_queries["induction"] == period).all()  # in every layer: SmolLM2 has no sliding window
    np.testing.assert_allclose(values["induction"], want, atol=1e-5)
    assert top_heads(values["induction"]) == top_heads(want)
    assert values["induction"].max() > 0.5  # SmolLM2 has induction heads (layer 18, head 6 on this text)
    np.testing.assert_allclose(values["duplicate"], atlas_values(trace, "duplicate"), atol=1e-5)


def test_the_atlas_s_own_induction_sequence_scores_the_same_on_the_head_finder(smollm) -> None:
    ids, start = induction_ids(smollm, 0, period=20, seed=0)
    trace = smollm.trace_ids(ids)
    values, n_queries, n_in_text = text_repeat_statistics(trace)
    want = atlas_values(trace, "induction", start=start, period=20)
    assert n_in_text["induction"] == 20 and (n_queries["induction"] == 20).all()
    np.testing.assert_allclose(values["induction"], want, atol=1e-5)
    assert top_heads(values["induction"]) == top_heads(want)


@pytest.mark.parametrize("rows_per_chunk", [1, 7])
def test_smaller_chunks_of_rows_give_the_same_scores(smollm, rows_per_chunk: int) -> None:
    """The scores are summed a chunk of query rows at a time (Trace.pattern_row_sums, 64 rows by default)."""
    trace, _ = repeated_text(smollm)
    whole, counts, in_text = text_repeat_statistics(trace)
    chunks, chunk_counts, chunk_in_text = text_repeat_statistics(trace, rows_per_chunk=rows_per_chunk)
    assert chunk_in_text == in_text and all((chunk_counts[name] == counts[name]).all() for name in counts)
    for name in whole:
        np.testing.assert_allclose(chunks[name], whole[name], atol=1e-6)


def test_one_pass_gives_the_head_statistics_too(smollm) -> None:
    """The page reads the head statistics from the same pass as the repeats' scores
    (services.repeats.head_finder_statistics): they are those of the whole patterns, and the repeats' scores are
    text_repeat_statistics' to the last bit."""
    trace, _ = repeated_text(smollm)
    row_sums, repeat_statistics = repeats.head_finder_statistics(trace)
    got = statistics_of_row_sums(row_sums, trace.n_tokens, trace.causal)
    for name, want in head_statistics(all_patterns(trace), causal=trace.causal).items():
        np.testing.assert_allclose(got[name], want, rtol=1e-6, atol=1e-6, err_msg=name)
    for got_part, want_part in zip(repeat_statistics, text_repeat_statistics(trace), strict=True):
        assert got_part.keys() == want_part.keys()
        for name in got_part:
            np.testing.assert_array_equal(got_part[name], want_part[name])


def test_the_page_example_finds_the_atlas_s_top_induction_head(smollm) -> None:
    """docs/mechanism.md's numbers: on the page's example (the sentence written twice), layer 18, head 6 has the
    highest induction share, as it has in the shipped atlas over the corpus's repeated random words."""
    from services.atlas import SHIPPED, load_atlas

    values, n_queries, n_in_text = text_repeat_statistics(smollm.trace(REPEAT_EXAMPLE))
    assert n_in_text == {"duplicate": 10, "induction": 11}
    assert {name: set(counts.tolist()) for name, counts in n_queries.items()} == {"duplicate": {10}, "induction": {11}}
    assert top_heads(values["induction"])[:4] == [(18, 6), (17, 4), (17, 5), (20, 6)]
    assert values["induction"][18, 6] == pytest.approx(0.750, abs=5e-4)
    assert top_heads(values["duplicate"])[:2] == [(5, 6), (14, 3)]
    assert values["duplicate"][5, 6] == pytest.approx(0.652, abs=5e-4)
    atlas = load_atlas(SHIPPED / "smollm2-135m.parquet")
    induction = atlas.values[atlas.statistics.index("induction")]
    assert top_heads(np.nan_to_num(induction, nan=-1.0))[0] == (18, 6)
    assert induction[18, 6] == pytest.approx(0.87, abs=5e-3)
