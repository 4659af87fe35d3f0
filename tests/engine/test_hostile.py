"""Hostile and arbitrary input against the engine: no exception but a clear InputError, invariants hold."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attention_core import InputError
from attention_core import model as fwd

HOSTILE = {
    "empty": "",
    "whitespace": " \t\n\r ",
    "huge": "attention " * 10_000,  # 100,000 characters
    "control": "\x00\x01\x02\x1b[31mred\x7f",
    "zero-width": "a\u200bb\u200cc\u200dd\ufeffe",
    "right-to-left": "\u202eabc\u202c שלום עולם",
    "emoji": "👩‍👩‍👧‍👦🏳️‍🌈🦊",
    "cjk": "注意力就是你所需要的一切",
    "lone-surrogate": "bad \ud83d half",
    "html": "<img src=x onerror=alert(1)><script>alert(2)</script>",
}


def _check(model, text: str, cap: int = 64) -> None:
    try:
        t = model.trace(text, max_tokens=cap)
    except InputError as exc:
        assert not text.strip() or "no tokens" in str(exc)  # only text with nothing to show may be refused
        return
    assert 0 < t.n_tokens <= cap
    assert len(t.tokens) == len(t.token_ids) == t.n_tokens
    layer, head = t.n_layers - 1, t.n_heads - 1
    p = t.pattern(layer, head)
    assert torch.isfinite(p).all()
    assert torch.allclose(p.sum(-1), torch.ones(t.n_tokens), atol=1e-5)


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_text(smollm, minilm, name):
    for model in (smollm, minilm):
        _check(model, HOSTILE[name])
    if name == "huge":
        assert smollm.trace(HOSTILE[name], max_tokens=64).truncated


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=80))
def test_arbitrary_unicode(smollm, minilm, text):
    _check(smollm, text, cap=48)
    _check(minilm, text, cap=48)


def test_gpu_out_of_memory_falls_back_to_cpu(smollm, monkeypatch):
    """Pretend the model sits on a GPU that is full: the trace completes on the CPU, with a notice."""
    real_run, calls = fwd.run, []

    def run(ids, *args, **kwargs):
        calls.append(ids.device.type)
        if len(calls) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_run(ids, *args, **kwargs)

    monkeypatch.setattr(fwd, "run", run)
    monkeypatch.setattr(smollm, "device", torch.device("meta"))  # anything but "cpu" counts as an accelerator
    monkeypatch.setattr(smollm, "_cpu", None)
    t = smollm.trace("a fluffy blue creature")
    assert len(calls) == 2 and t.device == "cpu" and t.context is smollm._cpu.context
    assert any("ran out of memory" in note for note in t.notes)
    assert torch.allclose(t.pattern(3, 1).sum(-1), torch.ones(t.n_tokens), atol=1e-5)


def test_cpu_out_of_memory_is_a_clear_message(smollm, monkeypatch):
    def run(*args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(fwd, "run", run)
    with pytest.raises(InputError, match="lower the token cap"):
        smollm.trace("a fluffy blue creature")
