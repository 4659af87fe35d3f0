"""Fixtures shared by the app tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def private_models(tmp_path, monkeypatch) -> Path:
    """A private model table and folders for tests that load tiny models through the app: models may load from
    tmp_path/models, convert into tmp_path/cache, nothing reaches a hub, and the tiny models do not outlive the
    test (the process-wide table is swapped for one holding only the built-in models, which the app opens on
    before the test loads its own: shared with every other test, rather than converted again into the empty
    cache for each test). Returns tmp_path."""
    from services import models as engine

    engine.load(engine.DEFAULT_MODEL, "cpu")
    built_in = {key: model for key, model in engine._models.items() if key[0] in engine.MODEL_NAMES}
    monkeypatch.setattr(engine, "_models", built_in)
    monkeypatch.setenv("ATTN_ALLOWED_MODEL_DIRS", str(tmp_path / "models"))
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "models" / "ollama"))
    monkeypatch.delenv("ATTN_PUBLIC", raising=False)
    monkeypatch.delenv("ATTN_MEMORY_LIMIT_GB", raising=False)
    return tmp_path
