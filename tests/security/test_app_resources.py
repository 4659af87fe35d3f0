"""Model sources, resource limits and concurrency, as the app sees them.

* models: the app loads only through attention_core.policy.check_model_request (a link or session
  state naming a path never reaches the file system unchecked);
* limits: a token cap per request ($ATTN_MAX_TOKENS), one shared model per process whatever the
  number of sessions, traces cached within a byte budget;
* concurrency: many sessions at once share the one model read-only and get the same numbers.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from attention_core.policy import ALLOWED_DIRS_ENV, PUBLIC_ENV
from services import models as engine
from services import traces
from services.cache import RESULTS, bytes_of
from tests.app.helpers import APP, chart, count_forward_passes, decode

MODEL = "smollm2-135m"


def new_app(**params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(params)
    return at.run()


def assert_no_traceback(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.fixture
def load_model_spy(monkeypatch):
    """Records every name services.models hands to attention_core.load_model (and loads nothing)."""
    calls: list[str] = []

    def spy(name, device=None, dtype=None, progress=None):
        calls.append(str(name))
        return object()

    monkeypatch.setattr(engine, "load_model", spy)
    monkeypatch.setattr(engine, "_models", {})  # a fresh per-process model table for this test
    monkeypatch.delenv(ALLOWED_DIRS_ENV, raising=False)
    monkeypatch.delenv(PUBLIC_ENV, raising=False)
    return calls


@pytest.mark.parametrize("name", ["/etc", "/etc/passwd", "../../../etc", "~/.ssh", "smollm2-135m/../../etc", ""])
def test_app_never_loads_a_path_without_the_policy_allowing_it(load_model_spy, name) -> None:
    with pytest.raises(engine.UnknownModelError, match="local model folders are off"):
        engine.load(name, "cpu")
    assert load_model_spy == []  # refused before any file was opened
    assert not engine.is_loaded(name, "cpu")


def test_public_deployment_refuses_even_allowed_folders(load_model_spy, monkeypatch, tmp_path) -> None:
    (tmp_path / "model").mkdir()
    monkeypatch.setenv(ALLOWED_DIRS_ENV, str(tmp_path))
    monkeypatch.setenv(PUBLIC_ENV, "1")
    with pytest.raises(engine.UnknownModelError, match="only the embedded"):
        engine.load(str(tmp_path / "model"), "cpu")
    with pytest.raises(engine.UnknownModelError):
        engine.load(str(tmp_path / "model" / ".." / ".." / "etc"), "cpu")
    assert load_model_spy == []


def test_allowed_folder_is_loaded_by_its_resolved_path(load_model_spy, monkeypatch, tmp_path) -> None:
    (tmp_path / "model").mkdir()
    monkeypatch.setenv(ALLOWED_DIRS_ENV, str(tmp_path))
    engine.load(str(tmp_path / "model" / ".." / "model"), "cpu")
    assert load_model_spy == [str((tmp_path / "model").resolve())]
    with pytest.raises(engine.UnknownModelError, match="outside the folders"):
        engine.load(str(tmp_path / ".." / "elsewhere"), "cpu")
    assert len(load_model_spy) == 1


def test_token_cap_per_request_follows_the_operator_setting(monkeypatch) -> None:
    monkeypatch.setenv("ATTN_MAX_TOKENS", "16")
    at = new_app(page="patterns", text=" ".join(f"word{i}" for i in range(40)))
    assert_no_traceback(at)
    cap = at.number_input(key="max_tokens")
    assert cap.value == 16 and cap.max == 16  # the sidebar cannot ask for more
    z = decode(chart(at, "head_heatmap")["data"][0]["z"])
    assert z.shape == (16, 16)
    assert at.session_state["ctx"].trace.truncated
    monkeypatch.setenv("ATTN_MAX_TOKENS", "lots")  # a malformed setting: the model's own limit, no crash
    at = new_app()
    assert_no_traceback(at)
    assert at.number_input(key="max_tokens").value == engine.load(MODEL, "cpu").max_tokens


def test_sessions_share_one_model_per_process() -> None:
    sessions = [new_app(), new_app(text="the cat sat on the mat"), new_app(layer="3")]
    shared = engine.load(MODEL, "cpu")
    for at in sessions:
        assert_no_traceback(at)
        assert at.session_state["ctx"].model is shared  # the same object, not a copy per session
        assert at.session_state["ctx"].trace.context is shared.context
    assert sum(1 for name, *_ in engine._models if name == MODEL) == 1  # keys: (name, device, dtype)


def test_trace_cache_stays_within_its_byte_budget(monkeypatch) -> None:
    assert RESULTS.budget < float("inf") and RESULTS.max_entries < 10_000  # bounded by default
    monkeypatch.setattr(RESULTS, "_pins", type(RESULTS._pins)())  # the other tests' sessions have ended
    at = new_app(page="patterns", text="alpha beta gamma delta")
    one = bytes_of(at.session_state["ctx"].trace)
    assert one > 0
    monkeypatch.setattr(RESULTS, "budget", 2.5 * one)  # room for two traces of this length (and what they derive)
    texts = [f"alpha beta gamma {w}" for w in ("one", "two", "three", "four")]
    for text in texts:
        at.text_area(key="text").set_value(text).run()
        assert_no_traceback(at)
    assert RESULTS.held_bytes() <= RESULTS.budget
    key = at.session_state["ctx"].trace_key
    first_key = key[:3] + (texts[0],) + key[4:]
    assert first_key not in RESULTS and key in RESULTS  # oldest out, newest in
    runs = count_forward_passes(monkeypatch)
    at.text_area(key="text").set_value(texts[0]).run()  # an evicted trace is simply recomputed
    assert_no_traceback(at)
    assert runs == [texts[0]]
    np.testing.assert_allclose(decode(chart(at, "head_heatmap")["data"][0]["z"]).sum(axis=1), 1.0, atol=1e-5)


def _weights_versions(model) -> dict[str, int]:
    """torch bumps a tensor's version counter on every in-place write: equal counters, untouched weights."""
    return {name: w._version for name, w in model.weights.items()}


def test_concurrent_requests_share_the_model_read_only_and_single_flight() -> None:
    model = engine.load(MODEL, "cpu")
    before = _weights_versions(model)
    texts = [f"concurrent request {i} about {w}" for i, w in enumerate(["moles", "towers", "rivers", "cats"])]
    expected = {t: model.trace(t, causal=True, max_tokens=64).pattern(5, 2) for t in texts}
    start = threading.Barrier(12)

    def session(i: int):
        text = texts[i % len(texts)]
        start.wait()
        job = traces.trace_job(model, f"{text}", True, 64, ())
        return text, job.result()

    for text in texts:  # not cached from an earlier test: every text is a new forward pass here
        assert traces.trace_key(model, text, True, 64) not in RESULTS
    computed = RESULTS.computed
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(session, range(12)))
    assert RESULTS.computed == computed + len(texts)  # 12 requests, one forward pass per distinct text
    for text, trace in results:
        assert trace.context is model.context
        assert torch.allclose(trace.pattern(5, 2), expected[text], atol=1e-6)
    assert _weights_versions(model) == before  # nobody wrote to the shared weights


def test_a_rebuilt_weight_cache_is_shown_to_the_user(monkeypatch) -> None:
    """The engine rebuilds a damaged cache and records a note; the app shows it in the sidebar."""
    from streamlit.testing.v1 import AppTest

    model = engine.load("smollm2-135m", "cpu")
    note = "The converted-weight cache at /tmp/x was damaged (checksum); it was rebuilt from model.gguf."
    monkeypatch.setattr(model, "notes", [note])
    at = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "app.py"), default_timeout=120).run()
    assert not at.exception
    assert any("was damaged" in w.value and "rebuilt" in w.value for w in at.sidebar.warning)
