"""The question-answering view model (viz.views.answers): the pipeline's span rule, the block the answer settles at,
the chart's window on a long context."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from viz.views.answers import MAX_ANSWER_TOKENS, answer_candidates, answer_view, answer_window, best_span


def trace_of(text: str, offsets: list[tuple[int, int]], second_token: int | None) -> SimpleNamespace:
    """What answer_view reads of a trace: its text, its tokens' offsets and a pair's segments (None: one text)."""
    segments = None if second_token is None else SimpleNamespace(second_token=second_token)
    return SimpleNamespace(text=text, offsets=offsets, segments=segments)


def test_the_best_span_never_ends_before_it_starts_nor_runs_past_the_longest_answer() -> None:
    candidates = np.arange(40)
    p_start, p_end = np.full(40, 0.01), np.full(40, 0.01)
    p_start[30], p_end[5] = 0.9, 0.9  # the likeliest end lies before the likeliest start: not a span
    i, j = best_span(p_start, p_end, candidates)
    assert i <= j and (i == 30 or j == 5)
    p_start[:], p_end[:] = 0.01, 0.01
    p_start[0], p_end[0 + MAX_ANSWER_TOKENS] = 0.9, 0.9  # one token too long apart
    i, j = best_span(p_start, p_end, candidates)
    assert j - i < MAX_ANSWER_TOKENS
    p_end[MAX_ANSWER_TOKENS - 1] = 0.9  # just long enough
    assert best_span(p_start, p_end, candidates) == (0, MAX_ANSWER_TOKENS - 1)


def test_candidates_are_the_second_texts_tokens_and_never_special_ones() -> None:
    offsets = [(0, 0), (0, 3), (4, 7), (0, 0), (8, 11), (12, 15), (0, 0)]  # [CLS] a b [SEP] c d [SEP]
    assert answer_candidates(offsets, 4).tolist() == [4, 5]
    assert answer_candidates(offsets, None).tolist() == [1, 2, 4, 5]
    assert answer_candidates(offsets, 7).size == 0


def test_the_answer_after_each_block_and_where_it_settles() -> None:
    text = "q\nthe cat sat"
    offsets = [(0, 0), (0, 1), (0, 0), (2, 5), (6, 9), (10, 13), (0, 0)]
    logits = np.zeros((3, 7, 2))
    logits[0, 3, 0] = logits[0, 3, 1] = 5.0  # block 0: "the"
    logits[1:, 4, 0] = logits[1:, 5, 1] = 5.0  # blocks 1 and 2: "cat sat"
    view = answer_view(logits, trace_of(text, offsets, 3))
    assert [s.text for s in view.spans] == ["the", "cat sat", "cat sat"] and view.settles == 1
    assert view.pair and np.allclose(view.p_start.sum(-1), 1.0)
    assert answer_view(logits, trace_of(text, offsets, 7)) is None  # the cap left no context token


def test_a_long_contexts_window_holds_the_answer() -> None:
    text = " ".join(["w"] * 200)
    offsets = [(2 * i, 2 * i + 1) for i in range(200)]
    logits = np.zeros((1, 200, 2))
    logits[0, 150, 0] = logits[0, 152, 1] = 9.0
    view = answer_view(logits, trace_of(text, offsets, None))
    window = answer_window(view, 64)
    assert window.stop - window.start == 64 and window.start <= 150 < window.stop
    assert answer_window(answer_view(logits[:, :20], trace_of(text, offsets[:20], None)), 64) == slice(0, 20)
