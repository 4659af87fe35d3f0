"""Long inputs: the downsampled view and the exact window are the engine's numbers; caches don't recompute.

One 4096-token trace (~20-40 s on 2 cores); everything else uses ≤ 600 tokens.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from services import models, traces
from services.cache import JobCache
from tests.app.helpers import APP, chart, count_forward_passes, decode
from ui.url import MAX_TEXT_CHARS, to_params
from viz.figures.heatmaps import Cells
from viz.figures.long_text import pooled_heatmap, window_heatmap
from viz.views.export import window_csv
from viz.views.patterns import (
    Window,
    clamp_span,
    cut_excerpt,
    cut_position,
    default_window,
    pooled_view,
    tokens_of,
    window_view,
)

TIMEOUT = 180
pytestmark = pytest.mark.one_worker  # one 600-token trace for the module
SENTENCE = "The keeper climbed the stairs of the lighthouse every night to light the lamp. "


@pytest.fixture(scope="module")
def long_trace(smollm):
    return traces.get_trace(smollm, SENTENCE * 40, True, 600)  # 600 tokens: past the full-resolution limit


def block_means(full: np.ndarray, block: int) -> np.ndarray:
    n = full.shape[0]
    s = -(-n // block)
    out = np.zeros((s, s))
    for a in range(s):
        for b in range(s):
            out[a, b] = full[a * block : (a + 1) * block, b * block : (b + 1) * block].mean()
    return out


def test_downsampled_view_is_the_block_mean_of_the_full_pattern(long_trace) -> None:
    full = long_trace.pattern(4, 2).numpy()
    view = pooled_view(long_trace, 4, 2)
    assert view.block == 5 and view.size == 120  # ceil(600 / 128) = 5 tokens per block
    np.testing.assert_allclose(view.pooled, long_trace.pooled_pattern(4, 2, size=128).numpy())
    np.testing.assert_allclose(view.pooled, block_means(full, view.block), atol=1e-6)
    fig = pooled_heatmap(view.pooled, view.block, view.n, tokens_of(long_trace).plotly, window=(472, 600, 472, 600))
    np.testing.assert_allclose(decode(fig.data[0].z), view.pooled, atol=1e-7)
    assert fig.data[0].y[1].startswith("5–9 (") and fig.data[0].x[2].startswith("10–14 (")  # hover: block tokens
    assert "queries %{y}" in fig.data[0].hovertemplate and "mean weight %{customdata" in fig.data[0].hovertemplate
    assert fig.layout.shapes[0].x0 == 472 / 5 - 0.5 and fig.layout.shapes[0].y1 == 600 / 5 - 0.5  # the window


def test_window_is_the_slice_of_the_full_pattern_and_rows_keep_summing_to_one(long_trace) -> None:
    full = long_trace.pattern(7, 5).numpy()
    np.testing.assert_allclose(full.sum(axis=1), 1.0, atol=1e-5)
    w = Window(300, 428, 250, 400)
    view = window_view(long_trace, 7, 5, w)
    np.testing.assert_allclose(view.pattern, full[300:428, 250:400], atol=1e-6)
    np.testing.assert_allclose(view.scores, long_trace.scores(7, 5).numpy()[300:428, 250:400])
    np.testing.assert_allclose(view.row_share, full[300:428, 250:400].sum(axis=1), atol=1e-5)
    assert not view.mask[0, -1] and view.mask[-1, 0]  # causal: query 300 can't see key 399
    rows, cols = view.labels()
    fig = window_heatmap(view.pattern, view.scores, Cells(rows, cols, 300, 250), row_share=view.row_share)
    assert fig.data[0].x[:2] == (f"250: {cols[0]}", f"251: {cols[1]}") and fig.data[0].y[-1].startswith("427: ")
    assert "weight inside the window" in fig.data[0].y[0]
    np.testing.assert_allclose(decode(fig.data[0].customdata)[..., 1], view.scores, atol=1e-6)  # scaled score
    np.testing.assert_allclose(decode(fig.data[0].customdata)[..., 0], view.pattern, atol=1e-6)  # and weight
    lines = window_csv(view).decode().splitlines()
    assert len(lines) == 1 + 128 and lines[1].startswith("300,")


def test_window_spans_are_clamped() -> None:
    assert default_window(4096) == Window(3968, 4096, 3968, 4096)
    assert default_window(40) == Window(0, 40, 0, 40)
    assert clamp_span(10, 5, 100) == (5, 11)  # inclusive slider range → half-open, sorted
    assert clamp_span(0, 4095, 4096) == (0, 256)  # at most WINDOW_MAX per side
    assert clamp_span(-3, 9999, 50) == (0, 50)


def test_cut_notice_gives_the_character_position_and_a_plain_text_excerpt(smollm) -> None:
    text = "alpha beta\ngamma <b>delta</b> " * 20
    trace = traces.get_trace(smollm, text, True, 12)
    assert trace.truncated and trace.n_tokens == 12
    cut = cut_position(trace)
    assert 0 < cut < len(text) and text[:cut].endswith(trace.tokens[-1].strip())
    excerpt = cut_excerpt(text, cut, context=15)
    assert "⟂" in excerpt and "\\n" in excerpt and "\n" not in excerpt


def test_token_cap_limit_follows_model_and_operator(monkeypatch) -> None:
    assert models.token_cap_limit(4096, {}) == 4096
    assert models.token_cap_limit(512, {}) == 512  # MiniLM
    assert models.token_cap_limit(4096, {"ATTN_MAX_TOKENS": "1000"}) == 1000
    assert models.token_cap_limit(512, {"ATTN_MAX_TOKENS": "1000"}) == 512
    assert models.token_cap_limit(4096, {"ATTN_MAX_TOKENS": "lots"}) == 4096  # malformed: ignored


def test_long_text_is_left_out_of_the_link() -> None:
    short = to_params("m", "hi", 0, 0, True, "rows", "patterns")
    long = to_params("m", "x" * (MAX_TEXT_CHARS + 1), 0, 0, True, "rows", "patterns")
    assert short["text"] == "hi" and "text" not in long and long["layer"] == "0"


def test_a_link_without_its_long_text_says_so_on_both_sides() -> None:
    """The sender's sidebar says the text is not in the link; the recipient of that link is told the text was
    left out, instead of silently seeing the default sentence."""
    sender = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    sender.text_area(key="text").set_value(SENTENCE * 60).run()  # ~4,800 characters
    sent = dict(sender.query_params)  # the address the sender would copy
    assert "text" not in sent and any("too long for the page address" in c.value for c in sender.caption)
    recipient = AppTest.from_file(APP, default_timeout=TIMEOUT)
    recipient.query_params.update(sent)
    recipient.run()
    assert not recipient.exception, [e.value for e in recipient.exception]
    said = " ".join(w.value for w in recipient.warning)
    assert "too long to share in a URL: paste it into the sidebar" in said, said


# ── the job cache ─────────────────────────────────────────────────────────────────────────────────


def test_job_cache_single_flight_progress_and_failures() -> None:
    cache = JobCache()
    gate = threading.Event()
    calls = []

    def slow(progress):
        calls.append(1)
        progress(0.5, "half")
        gate.wait(5)
        return 42

    job = cache.job("k", slow)
    same = cache.job("k", slow)  # a rerun mid-computation waits on the same job
    assert same is job
    deadline = time.monotonic() + 5
    while job.fraction < 0.5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (job.fraction, job.message) == (0.5, "half") and not job.done()
    gate.set()
    assert job.result() == 42 and cache.job("k", slow).result() == 42 and len(calls) == 1

    def boom(progress):
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        cache.job("bad", boom).result()
    assert "bad" not in cache  # a failure is not cached: the next try runs again


def test_job_cache_evicts_least_recently_used_by_budget() -> None:
    cache = JobCache(budget=10, size_of=lambda r: r)
    for key, size in [("a", 4), ("b", 4), ("c", 4)]:
        cache.get(key, lambda _p, s=size: s)
    assert "a" not in cache and "b" in cache and "c" in cache
    cache.get("huge", lambda _p: 100)  # the newest result stays even over budget
    assert "huge" in cache and len(cache) == 1


# ── through the app ───────────────────────────────────────────────────────────────────────────────


def test_head_switch_reuses_the_cached_trace(monkeypatch) -> None:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"page": "patterns", "text": "the cat sat on the mat and then it slept"})
    at.run()
    trace = at.session_state["ctx"].trace
    runs = count_forward_passes(monkeypatch)
    at.slider(key="head").set_value(4).run()
    at.slider(key="layer").set_value(2).run()
    assert not at.exception
    assert runs == [] and at.session_state["ctx"].trace is trace  # no new forward pass
    at.toggle(key="causal").set_value(False).run()  # masking is part of the key: a new trace
    assert len(runs) == 1


def test_long_text_in_the_app_is_cut_downsampled_and_windowed(smollm, long_trace) -> None:
    text = SENTENCE * 50
    n_input = smollm.tokenizer.encode(text, 600).n_input_tokens
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["page"] = "patterns"
    at.run()
    at.number_input(key="max_tokens").set_value(600)
    at.text_area(key="text").set_value(text)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    warning = at.warning[0].value
    cut = cut_position(long_trace)
    assert f"has {n_input} tokens" in warning and "first 600" in warning and f"character {cut} of" in warning
    assert "⟂" in at.code[0].value  # the excerpt around the cut, as plain text
    # The hover numbers (customdata) are the engine's, whatever the colour scale (log by default for long texts).
    pooled = decode(chart(at, "head_heatmap")["data"][0]["customdata"])
    np.testing.assert_allclose(pooled, long_trace.pooled_pattern(0, 0, size=128).numpy(), atol=1e-6)
    window = decode(chart(at, "head_window")["data"][0]["customdata"])[..., 0]
    np.testing.assert_allclose(window, long_trace.pattern(0, 0).numpy()[472:600, 472:600], atol=1e-6)
    heads = chart(at, "heads_L0_H0")
    block = -(-600 // 48)
    thumb = -(-600 // block)  # pooled thumbnails: one block mean per cell
    grid = decode(heads["data"][0]["z"])
    # Log scale (the default here): a causal head's block means above the diagonal are 0, left blank.
    np.testing.assert_array_equal(grid[~np.isnan(grid)].size, 9 * thumb * (thumb + 1) // 2)
    at.slider(key="win_q").set_value((100, 163)).run()
    at.radio(key="long_scale").set_value("linear").run()  # linear: the colours are the weights themselves
    grid = decode(chart(at, "heads_L0_H0")["data"][0]["z"])
    np.testing.assert_array_equal(grid[~np.isnan(grid)].size, 9 * thumb * thumb)  # linear: zeros are colours too
    window = decode(chart(at, "head_window")["data"][0]["z"])
    np.testing.assert_allclose(window, long_trace.pattern(0, 0).numpy()[100:164, 472:600], atol=1e-6)
    at.switch_page("app_pages/masking.py").run()
    assert not at.exception, [e.value for e in at.exception]
    scores = decode(chart(at, "scores")["data"][0]["z"])
    expected = long_trace.scores(0, 0).numpy()[100:164, 472:600]
    np.testing.assert_allclose(scores, np.where(np.isnan(scores), np.nan, expected), atol=1e-5)


def test_4096_tokens_window_and_blocks_match_the_full_pattern(smollm) -> None:
    text = SENTENCE * 300  # ~5100 tokens: cut to the default cap
    trace = traces.get_trace(smollm, text, True, models.token_cap_limit(smollm.max_tokens))
    assert trace.n_tokens == 4096 and trace.truncated
    full = trace.pattern(9, 4).numpy()  # one head, computed in full on request
    np.testing.assert_allclose(full.sum(axis=1), 1.0, atol=1e-4)
    assert np.all(np.triu(full, k=1) == 0)
    # The causal model's first 512 rows are a full, separate computation of the 512-token prefix.
    prefix = traces.get_trace(smollm, text, True, 512).pattern(9, 4).numpy()
    np.testing.assert_allclose(full[:512, :512], prefix, atol=2e-5)
    view = window_view(trace, 9, 4, default_window(4096))
    np.testing.assert_allclose(view.pattern, full[3968:, 3968:], atol=1e-6)
    pooled = pooled_view(trace, 9, 4)
    assert pooled.size == 128 and pooled.block == 32
    np.testing.assert_allclose(pooled.pooled, full.reshape(128, 32, 128, 32).mean(axis=(1, 3)), atol=1e-6)
