"""The Experiments page scores the prediction at a chosen position, not only after the whole text: the log-probs
at position i are the engine's logits at i, the last position reproduces today's numbers exactly, the natural
target at a mid-text position is the token that comes next in the text, titles name the position, and a sweep is
cached per position. A tiny random model (fast tier)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from services import cache, traces
from viz.views import experiments as vx

pytest.importorskip("transformers")

TEXT = "the cat sat on the mat and the cat sat on the mat"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from attention_core import load_model
    from tests.tiny_models import save_tiny_gpt2

    folder = tmp_path_factory.mktemp("models") / "tiny-gpt2"
    folder.mkdir()
    save_tiny_gpt2(folder)
    return load_model(str(folder), device="cpu")


@pytest.fixture(scope="module")
def trace(tiny):
    return tiny.trace(TEXT)


@pytest.fixture()
def results(monkeypatch):
    """A fresh copy of the one cache, so counting what it computed means something."""
    fresh = cache.JobCache(max_entries=1_000, size_of=cache.bytes_of)
    monkeypatch.setattr(traces, "RESULTS", fresh)
    return fresh


def test_log_probs_at_a_position_are_log_softmax_of_the_engines_logits_there(trace) -> None:
    every = trace.logits.double()  # [n, vocab]: the engine's logits at every position
    assert trace.n_tokens > 6
    for i in range(trace.n_tokens):
        lp = vx.next_token_logprobs(trace, i)
        assert lp.dtype == np.float64 and lp.shape == (every.shape[1],)
        np.testing.assert_allclose(lp, torch.log_softmax(every[i], -1).numpy(), atol=1e-5)
        assert np.exp(lp).sum() == pytest.approx(1.0)
    # Different positions predict different things (a page that ignored the position would pass the above at i = -1).
    assert not np.allclose(vx.next_token_logprobs(trace, 2), vx.next_token_logprobs(trace, trace.n_tokens - 1))


def test_the_last_position_reproduces_todays_numbers_exactly(trace) -> None:
    today = trace.next_token_logits().double().numpy()  # what next_token_logprobs read before positions existed
    today = today - today.max()
    today = today - np.log(np.exp(today).sum())
    last = trace.n_tokens - 1
    np.testing.assert_array_equal(vx.next_token_logprobs(trace), today)
    np.testing.assert_array_equal(vx.next_token_logprobs(trace, last), today)
    np.testing.assert_array_equal(vx.next_token_logprobs(trace, -1), today)
    assert vx.next_in_text(trace, last) is None  # nothing comes next: the page offers the top-1 as today
    assert vx.prediction_place(trace, last) == f"“{vx.text_tail(trace)}”"  # today's chart title, unchanged


def test_the_natural_target_at_a_mid_text_position_is_the_next_token(trace) -> None:
    for i in range(trace.n_tokens - 1):
        assert vx.next_in_text(trace, i) == trace.token_ids[i + 1]


def test_the_title_says_which_position() -> None:
    class Text:
        text = "Mr and Mrs Dursley, of number four. Mr and Mrs Dursley"
        offsets = [(0, 2), (2, 6), (6, 10), (10, 12), (12, 18), (18, 19), (19, 22), (22, 29), (29, 34), (34, 35)]
        offsets += [(35, 38), (38, 42), (42, 46), (46, 48), (48, 54)]
        truncated = False
        n_tokens = len(offsets)

    assert vx.prediction_place(Text(), 13) == "“…Mr and Mrs D” (token 13)"
    assert vx.prediction_place(Text(), 0) == "“Mr” (token 0)"
    assert vx.prediction_place(Text(), 14) == "“…Mr and Mrs Dursley”"  # the last position: today's title
    Text.offsets = [(0, 0), *Text.offsets[1:]]  # a special token (e.g. BOS) has no text
    assert vx.prediction_place(Text(), 0) == "the start (token 0)"


def test_a_sweep_is_cached_per_position(results, tiny) -> None:
    """A sweep for position 5 must not be served for position 9 (the key holds the position)."""
    base_key = traces.trace_key(tiny, TEXT, None, 64)
    plain = traces.get_trace(tiny, TEXT, None, 64)
    target = plain.token_ids[6]
    at5 = traces.get_sweep(base_key, plain, target, position=5)
    assert traces.has_sweep(base_key, target, position=5, trace=plain)
    assert not traces.has_sweep(base_key, target, position=9, trace=plain)
    assert not traces.has_sweep(base_key, target)  # the last position is another sweep
    computed = results.computed
    at9 = traces.get_sweep(base_key, plain, target, position=9)
    assert results.computed == computed + 1 and not np.array_equal(at5, at9)
    np.testing.assert_array_equal(at5, plain.ablation_sweep(target, position=5).numpy().astype(np.float64))
    np.testing.assert_array_equal(at9, plain.ablation_sweep(target, position=9).numpy().astype(np.float64))
    assert traces.get_sweep(base_key, plain, target, position=5) is at5  # cached
    last = traces.get_sweep(base_key, plain, target)  # today's call: the last position
    np.testing.assert_array_equal(last, plain.ablation_sweep(target, position=-1).numpy().astype(np.float64))


def test_a_mid_text_sweep_equals_single_ablations_at_that_position(tiny, trace) -> None:
    from attention_core import ablate_head

    i, target = 5, trace.token_ids[6]
    sweep = trace.ablation_sweep(target, position=i).numpy()
    clean = vx.next_token_logprobs(trace, i)[target]
    for layer, head in ((0, 1), (1, 3)):
        ablated = tiny.trace(TEXT, interventions=[ablate_head(layer, head)])
        single = vx.next_token_logprobs(ablated, i)[target] - clean
        assert sweep[layer, head] == pytest.approx(single, abs=1e-4)


def test_a_sweep_at_minus_one_is_the_sweep_at_the_last_position(results, tiny) -> None:
    """-1 and n - 1 name one position: one cache entry, whichever the caller wrote."""
    base_key = traces.trace_key(tiny, TEXT, None, 64)
    plain = traces.get_trace(tiny, TEXT, None, 64)
    n, target = plain.n_tokens, plain.token_ids[6]
    at_end = traces.get_sweep(base_key, plain, target, position=-1)
    assert traces.has_sweep(base_key, target, position=n - 1, trace=plain)
    assert traces.has_sweep(base_key, target)  # the default, -1, needs no trace to be placed
    computed = results.computed
    assert traces.get_sweep(base_key, plain, target, position=n - 1) is at_end and results.computed == computed
    traces.get_sweep(base_key, plain, target, position=2)
    assert traces.has_sweep(base_key, target, position=2 - n) and not traces.has_sweep(base_key, target, position=-3)
