"""The text view's model: packed weights decode to the trace's own numbers within the stated quantisation bound,
the top-k share is measured right, the all-heads view is the mean, and the text is cut at the tokens."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from viz.figures.text_view import Legend, coverage_note, text_view_html
from viz.views.text_view import (
    LOG_FLOOR,
    REL_ERROR,
    dequantise,
    encode,
    encode_both,
    head_matrix,
    quantise,
    strongest_entries,
    text_pieces,
)

TINY = 1e-9  # float64 rounding on top of the stated bound


def within_bound(decoded: np.ndarray, exact: np.ndarray) -> bool:
    """The docstring's bound: |ŵ − w| ≤ REL_ERROR · w + LOG_FLOOR."""
    exact = np.asarray(exact, dtype=np.float64)
    return bool(np.all(np.abs(decoded - exact) <= REL_ERROR * exact + LOG_FLOOR + TINY))


def test_quantisation_error_is_bounded_as_stated() -> None:
    assert REL_ERROR < 0.028  # the number the page and the docstring state (2.8 %)
    rng = np.random.default_rng(0)
    w = np.concatenate([10 ** rng.uniform(-9, 0, 50_000), [0.0, 1.0, LOG_FLOOR, 0.999999, 1e-7]])
    assert within_bound(dequantise(quantise(w)), w)
    # The bound is tight, not vacuous: the worst relative error above the floor is close to it.
    above = w >= LOG_FLOOR
    worst = np.max(np.abs(dequantise(quantise(w[above])) / w[above] - 1))
    assert 0.9 * REL_ERROR < worst <= REL_ERROR + TINY


def test_rows_and_columns_equal_the_trace_pattern(smollm) -> None:
    from services.traces import get_trace

    trace = get_trace(smollm, "The cat sat on the mat because it was tired.", None, 512)
    exact = trace.pattern(4, 3).numpy().astype(np.float64)
    packed = encode_both(head_matrix(trace, 4, 3))
    assert packed["query"].layout == "tri"  # causal: only the lower triangle is sent
    assert len(packed["query"].codes) == trace.n_tokens * (trace.n_tokens + 1) // 2
    for i in range(trace.n_tokens):
        assert within_bound(packed["query"].weights(i), exact[i]), i
        assert within_bound(packed["key"].weights(i), exact[:, i]), i


def test_bidirectional_pattern_is_sent_whole(minilm) -> None:
    from services.traces import get_trace

    trace = get_trace(minilm, "take a biopsy of the mole", None, 512)
    exact = trace.pattern(1, 5).numpy().astype(np.float64)
    packed = encode_both(head_matrix(trace, 1, 5))
    assert packed["key"].layout == "square"
    for i in range(trace.n_tokens):
        assert within_bound(packed["query"].weights(i), exact[i])
        assert within_bound(packed["key"].weights(i), exact[:, i])


def test_mean_over_heads_is_the_mean(smollm) -> None:
    from services.traces import get_trace

    trace = get_trace(smollm, "one mole of carbon dioxide", None, 512)
    got = head_matrix(trace, 2, None)
    np.testing.assert_allclose(got, trace.layer_patterns(2).numpy().mean(axis=0), atol=1e-6)
    assert not np.allclose(got, trace.pattern(2, 0).numpy(), atol=1e-3)  # not just one head


def hand_pattern() -> np.ndarray:
    """6 tokens, causal, rows sum to 1; with k = 2 row 5 keeps 0.4 + 0.3 of its weight, row 3 keeps 0.5 + 0.3."""
    m = np.zeros((6, 6))
    m[0, 0] = 1.0
    m[1, :2] = [0.6, 0.4]
    m[2, :3] = [0.5, 0.3, 0.2]
    m[3, :4] = [0.5, 0.3, 0.1, 0.1]
    m[4, :5] = [0.2, 0.2, 0.2, 0.2, 0.2]
    m[5, :6] = [0.4, 0.3, 0.1, 0.1, 0.05, 0.05]
    return m


def test_top_k_coverage_is_the_measured_share() -> None:
    m = hand_pattern()
    q = encode(m, "query", full_max=3, k=2)
    assert q.layout == "topk" and q.k == 2
    # Rows keep: 1, 1, 0.8, 0.8, 0.4, 0.7 of their weight.
    assert q.coverage == pytest.approx(np.mean([1, 1, 0.8, 0.8, 0.4, 0.7]))
    np.testing.assert_allclose(q.weights(5)[:2], [0.4, 0.3], rtol=REL_ERROR)
    assert (q.weights(5)[2:] == 0).all()  # what is left out is left unshaded
    k = encode(m, "key", full_max=3, k=2)
    col = m.sum(axis=0)  # what each key receives
    kept = np.sort(m, axis=0)[-2:].sum(axis=0)
    assert k.coverage == pytest.approx(np.mean(kept / col))
    np.testing.assert_allclose(k.weights(0)[[0, 1]], [1.0, 0.6], rtol=REL_ERROR)  # key 0's strongest readers


def test_coverage_note_tells_the_truth() -> None:
    q = encode(hand_pattern(), "query", full_max=3, k=2)
    assert "top 2 keys, which hold 78.3 % of its weight on average" in coverage_note(q)
    assert "All 6 tokens' weights are shown" in coverage_note(encode(hand_pattern(), "query"))
    assert "strongest, named above once you hover a token, are exact" in coverage_note(q)  # not before: none is


def test_text_pieces_follow_the_text(smollm, minilm) -> None:
    from services.traces import get_trace

    text = "Hi there\n\nthe ❤ mole."
    pieces = text_pieces(get_trace(smollm, text, None, 512))
    drawn = "".join(g + s for g, s, c in zip(pieces.gaps, pieces.shown, pieces.chip, strict=True) if not c)
    assert drawn.replace("↵", "") == text.replace("❤", "").replace("  ", " ")
    assert [s for s, c in zip(pieces.shown, pieces.chip, strict=True) if c] == [" ⟨❤·1/3⟩", "⟨❤·2/3⟩", "⟨❤·3/3⟩"]
    bert = text_pieces(get_trace(minilm, "Hi there mole", None, 512))
    assert bert.shown == ["[CLS]", "Hi", "there", "mole", "[SEP]"]  # the text's own case, specials as chips
    assert bert.gaps == ["", "", " ", " ", ""] and bert.chip == [True, False, False, False, True]


def test_html_keeps_hostile_text_as_data() -> None:
    class Fake:
        text = "<img src=x onerror=alert(1)></script>&"
        tokens = ["<img", " src=x onerror=alert(1)>", "</script>&"]
        offsets = [(0, 4), (4, 28), (28, 38)]

    pieces = text_pieces(Fake())
    html = text_view_html(pieces, encode(hand_pattern()[:3, :3], "query"), Legend("layer 0, head 0", True, "k"))
    data = re.search(r"<script id='tv-data' type='application/json'>(.*?)</script>", html, re.S)
    assert data is not None
    assert "<" not in data.group(1) and ">" not in data.group(1) and "&" not in data.group(1)
    assert "".join(json.loads(data.group(1))["shown"]) == Fake.text
    assert "<img" not in html


def test_the_strongest_weights_are_the_models_own_in_their_true_order() -> None:
    """The hover's three strongest weights come exact (float32) with their positions, not from the one-byte codes:
    0.1711 and 0.1719 share a code, so the decoded row ranked them by position and showed 0.18 for both."""
    row = np.array([0.4, 0.1711, 0.1719, 0.25, 0.007], dtype=np.float32)
    m = np.tril(np.ones((5, 5), dtype=np.float32)) / np.arange(1, 6, dtype=np.float32)[:, None]
    m[4] = row / row.sum()
    assert quantise(m[4:, 1]) == quantise(m[4:, 2])  # the near tie the codes cannot tell apart
    for full_max in (1024, 3):  # the whole matrix, and top-k packing
        enc = encode_both(m, full_max=full_max, k=4)
        index, weight = enc["query"].strongest(4)
        assert index.tolist() == [0, 3, 2] and weight.tolist() == m[4, [0, 3, 2]].tolist()
        index, weight = enc["key"].strongest(0)  # key 0's readers: queries 0, 1 and 4 give 1, 1/2 and 0.41
        assert index.tolist() == [0, 1, 4] and weight.tolist() == m[[0, 1, 4], 0].tolist()
    index, weight = encode_both(np.ones((1, 1), dtype=np.float32))["query"].strongest(0)
    assert index.tolist() == [0] and weight.tolist() == [1.0]  # fewer than three tokens: as many as there are
    # Exact ties go to the earlier position, at the cut too (argpartition alone picks any of them).
    rng = np.random.default_rng(0)
    tied = rng.choice(np.array([0.1, 0.2, 0.3], dtype=np.float32), size=(200, 40))
    index, weight = strongest_entries(tied)
    want = np.argsort(-tied, axis=1, kind="stable")[:, :3]
    assert index.reshape(200, 3).tolist() == want.tolist()
    assert weight.reshape(200, 3).tolist() == np.take_along_axis(tied, want, axis=1).tolist()


def test_text_pieces_name_invisible_characters_as_the_other_pages_do() -> None:
    """Control characters were drawn raw, as empty boxes ('a□b□[31m'), where every other page names them ('\\x00',
    '\\x1b'). The text keeps its layout: spaces, tabs and line ends (a Windows '\\r\\n' too) stay as they are; a
    lone '\\r', which Chromium draws as nothing, is named. A character a WordPiece tokenizer dropped is named in
    the gap it leaves."""

    class Fake:
        text = "a\x00b\x1b[31m\tc\r\nd\re\u200b f\x07g"
        tokens = ["a", "\x00b", "\x1b[31m", "\tc", "\r\n", "d\re\u200b", " f", "g"]
        offsets = [(0, 1), (1, 3), (3, 8), (8, 10), (10, 12), (12, 16), (16, 18), (19, 20)]  # \x07: not a token's

    pieces = text_pieces(Fake())
    assert pieces.shown == ["a", "\\x00b", "\\x1b[31m", "\tc", "\r↵\n", "d\\re\\u200b", " f", "g"]
    assert pieces.gaps == [""] * 7 + ["\\x07"]
    assert pieces.labels[1] == "1: \\x00b"  # the hover's name, as before
