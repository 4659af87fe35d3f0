"""Computing an atlas in the background for a model that has none: the CLI runs as a child process on local
Ray, reports progress, and the finished atlas is found and loaded."""

from __future__ import annotations

import time

import numpy as np
import pytest

from attention_core.api import load_model
from services import atlas
from tests.tiny_models import save_tiny_gpt2


@pytest.mark.ray
def test_start_atlas_computes_finds_and_loads_the_atlas(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_ATLAS_DIR", str(tmp_path / "atlases"))
    save_tiny_gpt2(tmp_path / "tiny")
    model = load_model(str(tmp_path / "tiny"))
    assert atlas.atlas_path(model) is None
    run = atlas.start_atlas(model, max_tokens=32, limit=12)
    assert atlas.start_atlas(model) is run  # one job per model at a time
    deadline = time.monotonic() + 600
    while run.running and time.monotonic() < deadline:
        time.sleep(1)
    assert not run.running and run.error() is None, run.log.read_text()
    assert run.progress() == (12 + 32, 12 + 32)  # the documents and the 32 induction sequences
    found = atlas.atlas_path(model)
    assert found == atlas.computed_path(model)
    data = atlas.load_atlas(found)
    assert data.values.shape == (7, 2, 4) and not np.isnan(data.values[0]).any()
    assert data.settings["n_documents"] == 12 and data.settings["runner"].startswith("ray")


def test_a_failed_job_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_ATLAS_DIR", str(tmp_path / "atlases"))
    save_tiny_gpt2(tmp_path / "tiny")
    model = load_model(str(tmp_path / "tiny"))
    run = atlas.start_atlas(model, corpus=str(tmp_path / "missing.txt"))
    run.process.wait(timeout=300)
    assert "No corpus file" in (run.error() or "")
