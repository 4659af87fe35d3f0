"""The trace service's one cache: plain traces, traces with interventions, encoder-decoder pairs, sweeps and
derived results all live in services.cache.RESULTS, bounded by bytes, a trace and what is derived from it
evicted together. Tiny random models only (fast tier)."""

from __future__ import annotations

import numpy as np
import pytest

from services import cache, traces

pytest.importorskip("transformers")

TEXT = "the cat sat on the mat"


def load_tiny(tmp_path_factory, name: str):
    """A tiny random model from tests/tiny_models.py, saved and loaded by the engine."""
    from attention_core import load_model
    from tests import tiny_models

    folder = tmp_path_factory.mktemp("models") / f"tiny-{name}"
    folder.mkdir()
    getattr(tiny_models, f"save_tiny_{name}")(folder)
    return load_model(str(folder), device="cpu")


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory):
    return load_tiny(tmp_path_factory, "gpt2")


@pytest.fixture(scope="module")
def tiny_marian(tmp_path_factory):
    return load_tiny(tmp_path_factory, "marian")


@pytest.fixture()
def results(monkeypatch):
    """A fresh, unbounded copy of the one cache, so tests can set its budget."""
    fresh = cache.JobCache(max_entries=1_000, size_of=cache.bytes_of)
    monkeypatch.setattr(traces, "RESULTS", fresh)
    return fresh


def test_every_kind_of_result_is_held_and_sized_by_the_one_cache(results, tiny_gpt2, tiny_marian):
    from attention_core import ablate_head

    plain = traces.get_trace(tiny_gpt2, TEXT, None, 64)
    ablated = traces.get_trace(tiny_gpt2, TEXT, None, 64, [ablate_head(1, 2)])
    pair = traces.get_pair(tiny_marian, "the cat sleeps", "le chat dort")
    base_key = traces.trace_key(tiny_gpt2, TEXT, None, 64)
    sweep = traces.get_sweep(base_key, plain, target_id=5)
    assert ablated is not plain and ablated.interventions == (ablate_head(1, 2),)
    assert sweep.shape == (tiny_gpt2.config.n_layers, tiny_gpt2.config.n_heads)
    assert len(results) == 4  # four keys: the intervention is part of the trace's key
    sizes = sorted(results._sizes.values())
    expected = sorted([plain.nbytes(), ablated.nbytes(), pair.nbytes(), sweep.nbytes])
    assert sizes == pytest.approx(expected) and min(sizes) > 0
    assert results.held_bytes() == pytest.approx(sum(expected))


def test_the_budget_bounds_traces_with_interventions_pairs_and_sweeps(results, tiny_gpt2, tiny_marian):
    from attention_core import ablate_head

    one = traces.get_trace(tiny_gpt2, TEXT, None, 64).nbytes()
    results.clear()
    results.budget = 2.5 * one
    base_key = traces.trace_key(tiny_gpt2, TEXT, None, 64)
    base = traces.get_trace(tiny_gpt2, TEXT, None, 64)
    traces.get_sweep(base_key, base, target_id=5)  # in the base trace's group
    for head in range(4):  # four traces with interventions, each the size of the base
        traces.get_trace(tiny_gpt2, TEXT, None, 64, [ablate_head(0, head)])
        assert results.held_bytes() <= results.budget
    assert base_key not in results  # the oldest group went first, its sweep with it
    assert not any(key[0] == "sweep" for key in results._jobs)
    pair = traces.get_pair(tiny_marian, "the cat sleeps", "le chat dort")
    results.budget = 0.5 * pair.nbytes()  # smaller than the newest result: it alone stays
    traces.get_pair(tiny_marian, "the dog sleeps", "le chien dort")
    assert len(results) == 1 and results.held_bytes() > results.budget


def test_a_derived_result_never_pushes_out_its_trace(results, tiny_gpt2):
    key = traces.trace_key(tiny_gpt2, TEXT, None, 64)
    trace = traces.get_trace(tiny_gpt2, TEXT, None, 64)
    results.budget = 0.5 * trace.nbytes()  # the trace alone is over budget
    pooled = traces.derived(key, "pooled", 0, 1, compute=lambda: trace.pooled_pattern(0, 1, size=4).numpy())
    assert key in results and ("pooled", key, 0, 1) in results  # one group: kept together
    assert isinstance(pooled, np.ndarray)
    computed = results.computed
    again = traces.derived(key, "pooled", 0, 1, compute=lambda: pytest.fail("recomputed"))
    assert again is pooled and results.computed == computed
    other = traces.get_trace(tiny_gpt2, "another text entirely", None, 64)  # a new group evicts the old one
    assert key not in results and ("pooled", key, 0, 1) not in results and other.nbytes() > 0


def test_the_trace_job_reports_progress_and_is_single_flight(results, tiny_gpt2):
    job = traces.trace_job(tiny_gpt2, TEXT, True, 64)
    again = traces.trace_job(tiny_gpt2, TEXT, True, 64)
    assert again is job and job.key == traces.trace_key(tiny_gpt2, TEXT, True, 64)
    trace = job.result()
    assert job.fraction == 1.0 and trace.causal and results.computed == 1


def test_a_sweep_is_cached_per_ablation_mode(results, tiny_gpt2):
    base_key = traces.trace_key(tiny_gpt2, TEXT, None, 64)
    plain = traces.get_trace(tiny_gpt2, TEXT, None, 64)
    zero = traces.get_sweep(base_key, plain, 5, "zero")
    mean = traces.get_sweep(base_key, plain, 5, "mean")
    assert traces.has_sweep(base_key, 5, "zero") and traces.has_sweep(base_key, 5, "mean")
    assert not np.array_equal(zero, mean)  # a key without the mode would hand the zero sweep back
    np.testing.assert_array_equal(mean, plain.ablation_sweep(5, position=-1, mode="mean").numpy())


def test_bytes_of_counts_arrays_tensors_and_containers():
    import torch

    a = np.zeros((3, 4), dtype=np.float32)
    t = torch.zeros(5, dtype=torch.float64)
    assert cache.bytes_of(a) == 48
    assert cache.bytes_of(t) == 40
    assert cache.bytes_of((a, [t, 1.0], {"x": a})) == 48 + 40 + 48
    assert cache.bytes_of(3.5) == 0


def test_a_pinned_trace_stays_while_its_session_computes_others_beside_it(results, tiny_gpt2):
    """The Experiments page on a long text computes its own traces beside the text's: with the budget too small for
    both, the text's trace went first and every rerun traced the text again. A session pins the trace it shows."""
    from attention_core import ablate_head

    shown_key = traces.trace_key(tiny_gpt2, TEXT, None, 64)
    shown = traces.get_trace(tiny_gpt2, TEXT, None, 64)
    results.budget = 1.5 * shown.nbytes()  # room for one trace of this size, not two
    traces.pin_trace("session-1", shown_key)
    for head in range(3):
        traces.get_trace(tiny_gpt2, TEXT, None, 64, [ablate_head(0, head)])
        assert shown_key in results  # pinned: kept, whatever else comes
    assert len(results) == 2  # the pinned trace and the newest; the other experiments went
    traces.pin_trace("session-1", traces.trace_key(tiny_gpt2, "another text", None, 64))  # the session moves on
    traces.get_trace(tiny_gpt2, "another text", None, 64)
    assert shown_key not in results  # no longer pinned: evicted as usual


def test_a_pin_lapses_when_its_session_has_gone_quiet(results, tiny_gpt2, monkeypatch):
    key = traces.trace_key(tiny_gpt2, TEXT, None, 64)
    traces.get_trace(tiny_gpt2, TEXT, None, 64)
    traces.pin_trace("session-1", key)
    results.budget = 0
    clock = cache.time.monotonic() + results.PIN_TTL_S + 1  # the session last pinned longer ago than the TTL
    monkeypatch.setattr(cache.time, "monotonic", lambda: clock)
    traces.get_trace(tiny_gpt2, "a newer text", None, 64)
    assert key not in results


def test_only_the_most_recent_owners_pins_count(results, tiny_gpt2):
    keys = [traces.trace_key(tiny_gpt2, f"text {i}", None, 64) for i in range(3)]
    for i in range(len(keys)):
        traces.get_trace(tiny_gpt2, f"text {i}", None, 64)
    results.MAX_PINS = 2
    for i, key in enumerate(keys):
        traces.pin_trace(f"session-{i}", key)
    results.budget = 0  # everything unpinned must go at the next computation
    traces.get_trace(tiny_gpt2, "a newer text", None, 64)
    assert keys[0] not in results and keys[1] in results and keys[2] in results


def test_the_written_target_fits_a_decoder_with_fewer_positions_than_its_encoder(results, tmp_path):
    """LED's decoder has its own, shorter position table (the tiny one: 64 rows): the page's written target (at most
    WRITTEN_TARGET_TOKENS = 64 new tokens) stops within it instead of asking for more than the decoder can read."""
    from attention_core import load_model
    from tests.tiny_models_seq2seq import save_tiny_seq2seq

    save_tiny_seq2seq("led", tmp_path / "led")
    led = load_model(str(tmp_path / "led"), device="cpu")
    assert (led.config.n_ctx, led.config.decoder_positions) == (128, 64)
    written = traces.written_target(led, TEXT)
    assert 1 <= len(written.token_ids) <= 63
