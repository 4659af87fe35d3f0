"""The atlas statistics on hand-made patterns whose answers are known (exact up to float rounding: 1e-12 on
float64 sums of float32 inputs, written as TOL)."""

from __future__ import annotations

import math

import pytest
import torch

from attention_core.atlas import statistics as st

TOL = 1e-6


def _uniform_causal(n: int) -> torch.Tensor:
    """[1, n, n]: each query spreads its weight evenly over itself and every earlier token."""
    a = torch.ones(n, n).tril()
    return (a / a.sum(-1, keepdim=True))[None]


def _previous_token_head(n: int) -> torch.Tensor:
    """[1, n, n]: query 0 on itself, every later query entirely on the token before it."""
    a = torch.zeros(n, n)
    a[0, 0] = 1
    a[torch.arange(1, n), torch.arange(n - 1)] = 1
    return a[None]


def test_previous_token_head_scores_one_and_uniform_scores_the_mean_of_one_over_i_plus_one():
    n = 6
    prev = st.previous_token(_previous_token_head(n))
    assert prev.n_queries == n - 1 and prev.sums.item() == pytest.approx(n - 1, abs=TOL)
    uni = st.previous_token(_uniform_causal(n))
    assert uni.sums.item() == pytest.approx(sum(1 / (i + 1) for i in range(1, n)), abs=TOL)
    assert math.isnan(uni.per_query[0, 0].item())  # query 0 has no previous token: it does not count


def test_first_token_and_self_on_known_patterns():
    n = 5
    sink = torch.zeros(1, n, n)
    sink[0, :, 0] = 1
    assert st.first_token(sink).sums.item() == pytest.approx(n - 1, abs=TOL)
    assert st.first_token(sink).n_queries == n - 1
    eye = torch.eye(n)[None]
    assert st.self_attention(eye, causal=False).sums.item() == pytest.approx(n, abs=TOL)
    assert st.self_attention(sink, causal=False).sums.item() == pytest.approx(1, abs=TOL)  # query 0 on itself


def test_self_and_mean_distance_skip_the_query_that_sees_only_itself():
    """Under the causal mask query 0 sees one key: A[0, 0] = 1 and its distance is 0 for every head, so it says
    nothing about the head (as for entropy and first_token, it does not count)."""
    n = 5
    sink = torch.zeros(1, n, n)
    sink[0, :, 0] = 1
    causal_self = st.self_attention(sink, causal=True)
    assert causal_self.n_queries == n - 1 and causal_self.sums.item() == pytest.approx(0, abs=TOL)
    assert st.self_attention(torch.eye(n)[None], causal=True).sums.item() == pytest.approx(n - 1, abs=TOL)
    distance = st.mean_distance(sink, causal=True)
    assert distance.n_queries == n - 1 and distance.sums.item() == pytest.approx(sum(range(n)), abs=TOL)
    assert math.isnan(distance.per_query[0, 0].item())
    assert st.mean_distance(sink, causal=False).n_queries == n


def test_entropy_is_one_when_uniform_over_visible_keys_and_zero_when_focused():
    n = 7
    uni = st.entropy(_uniform_causal(n), causal=True)
    assert uni.n_queries == n - 1  # query 0 sees one key: no choice, so it does not count
    assert uni.sums.item() == pytest.approx(n - 1, abs=TOL)
    focused = st.entropy(_previous_token_head(n), causal=True)
    assert focused.sums.item() == pytest.approx(0, abs=TOL)
    full = torch.full((1, n, n), 1 / n)  # bidirectional, uniform over all n keys
    both = st.entropy(full, causal=False)
    assert both.n_queries == n and both.sums.item() == pytest.approx(n, abs=TOL)


def test_mean_distance_counts_how_far_back_the_weight_sits():
    n = 5
    assert st.mean_distance(_previous_token_head(n), causal=True).sums.item() == pytest.approx(n - 1, abs=TOL)
    sink = torch.zeros(1, n, n)
    sink[0, :, 0] = 1
    assert st.mean_distance(sink, causal=True).sums.item() == pytest.approx(sum(range(n)), abs=TOL)
    last = torch.zeros(1, n, n)  # bidirectional: everyone on the last token, distance |i - (n-1)|
    last[0, :, n - 1] = 1
    assert st.mean_distance(last, causal=False).sums.item() == pytest.approx(sum(range(n)), abs=TOL)


def test_duplicate_token_counts_only_queries_whose_token_came_before():
    """Earlier copies after the first token: weight on position 0 is the sink's (first_token measures it), and
    counting it made every sink head a duplicate-token head whenever a text's first token came back."""
    ids = torch.tensor([5, 7, 5, 9, 7, 5, 7])  # repeats at 2 (of 0: the first token), 4 (of 1), 5 (of 0, 2), 6
    n = len(ids)
    a = torch.zeros(1, n, n)
    a[0, 0, 0] = 1
    a[0, 1, 0] = 1
    a[0, 2, 0] = 0.25  # on its earlier copy, the first token: not counted
    a[0, 2, 1] = 0.75
    a[0, 3, 3] = 1
    a[0, 4, 1] = 0.5
    a[0, 4, 4] = 0.5
    a[0, 5, 0] = 0.125
    a[0, 5, 2] = 0.375
    a[0, 5, 5] = 0.5
    a[0, 6, 1] = 0.25
    a[0, 6, 4] = 0.5
    a[0, 6, 0] = 0.25
    dup = st.duplicate_token(a, ids)
    assert dup.n_queries == 3  # 4, 5, 6: query 2's only earlier copy is the first token
    assert dup.sums.item() == pytest.approx(0.5 + 0.375 + 0.75, abs=TOL)
    assert math.isnan(dup.per_query[0, 3].item()) and math.isnan(dup.per_query[0, 2].item())


def test_induction_reads_the_token_after_the_earlier_copy():
    start, period = 1, 4  # a start token, then r0 r1 r2 r3 r0 r1 r2 r3
    n = start + 2 * period
    perfect = torch.zeros(1, n, n)
    perfect[0, :, 0] = 1  # everything else on the start token
    for i in range(start + period, n):
        perfect[0, i] = 0
        perfect[0, i, i - period + 1] = 1
    ind = st.induction(perfect, start, period)
    assert ind.n_queries == period and ind.sums.item() == pytest.approx(period, abs=TOL)
    assert st.induction(_previous_token_head(n), start, period).sums.item() == pytest.approx(0, abs=TOL)
    with pytest.raises(ValueError):
        st.induction(perfect, start, period + 1)


def test_heads_are_kept_apart_and_corpus_value_is_token_weighted():
    n = 4
    two = torch.cat([_previous_token_head(n), _uniform_causal(n)])  # head 0, head 1
    prev = st.previous_token(two)
    assert prev.sums[0].item() == pytest.approx(3, abs=TOL)
    assert prev.sums[1].item() == pytest.approx(1 / 2 + 1 / 3 + 1 / 4, abs=TOL)
    # two texts: 3 queries averaging 1.0, 1 query at 0.0 → 0.75 (a mean of means would say 0.5)
    assert st.corpus_value([3.0, 0.0], [3, 1]) == pytest.approx(0.75)
    assert math.isnan(st.corpus_value([], []))
    assert set(st.text_statistics(two, torch.arange(n), causal=True)) == set(st.TEXT_STATISTICS)


def test_the_app_names_every_statistic():
    from viz.views.atlas import STATISTIC_LABELS, STATISTIC_NOTES

    assert tuple(STATISTIC_LABELS) == st.STATISTICS == tuple(STATISTIC_NOTES)
