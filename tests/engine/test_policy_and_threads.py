"""Deployment policy for model names, and one shared model used from many threads at once."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from attention_core import UnknownModelError
from attention_core.policy import ALLOWED_DIRS_ENV, PUBLIC_ENV, check_model_request


def test_embedded_models_are_always_allowed(monkeypatch):
    monkeypatch.setenv(PUBLIC_ENV, "1")
    assert check_model_request("smollm2-135m") == "smollm2-135m"


def test_local_paths_need_an_allowed_folder(monkeypatch, tmp_path):
    monkeypatch.delenv(PUBLIC_ENV, raising=False)
    monkeypatch.delenv(ALLOWED_DIRS_ENV, raising=False)
    with pytest.raises(UnknownModelError, match="off"):
        check_model_request(str(tmp_path))
    allowed = tmp_path / "models"
    (allowed / "bert").mkdir(parents=True)
    monkeypatch.setenv(ALLOWED_DIRS_ENV, str(allowed))
    assert check_model_request(str(allowed / "bert")) == str((allowed / "bert").resolve())
    for escape in (str(allowed / ".." / "elsewhere"), "/etc", str(tmp_path)):
        with pytest.raises(UnknownModelError, match="outside"):
            check_model_request(escape)
    link = allowed / "sneaky"
    os.symlink(tmp_path, link)
    with pytest.raises(UnknownModelError, match="outside"):
        check_model_request(str(link))


def test_public_mode_refuses_every_path(monkeypatch, tmp_path):
    monkeypatch.setenv(ALLOWED_DIRS_ENV, str(tmp_path))
    monkeypatch.setenv(PUBLIC_ENV, "1")
    with pytest.raises(UnknownModelError, match="only the embedded"):
        check_model_request(str(tmp_path))


def test_shared_model_is_safe_from_many_threads(smollm):
    texts = [f"Sentence number {i} is about {w}." for i, w in enumerate(["cats", "moles", "towers", "rivers"] * 3)]
    # Copied before any thread runs, so a write by one of them would show below (the first, a middle and
    # the last layer, and everything outside the blocks: a sample, since the whole model is 0.5 GB).
    sampled = lambda name: not name.startswith("blocks.") or name.split(".")[1] in ("0", "15", "29")  # noqa: E731
    before = {k: v.clone() for k, v in smollm.weights.items() if sampled(k)}
    before_pass = {k: v.clone() for k, v in smollm.context.pass_weights.items() if sampled(k) and not v.is_mkldnn}
    sequential = {t: smollm.trace(t) for t in texts}
    with ThreadPoolExecutor(max_workers=6) as pool:
        concurrent = dict(zip(texts, pool.map(smollm.trace, texts), strict=True))
    for t in texts:
        assert concurrent[t].token_ids == sequential[t].token_ids
        assert torch.allclose(concurrent[t].pattern(7, 3), sequential[t].pattern(7, 3), atol=1e-6)
        assert torch.allclose(concurrent[t].next_token_logits(), sequential[t].next_token_logits(), atol=1e-4)
    assert all(torch.equal(before[k], smollm.weights[k]) for k in before)  # nothing wrote to the weights
    assert all(torch.equal(before_pass[k], smollm.context.pass_weights[k]) for k in before_pass)


def test_hub_ids_are_allowed_unless_public(monkeypatch, tmp_path):
    monkeypatch.delenv(PUBLIC_ENV, raising=False)
    monkeypatch.delenv(ALLOWED_DIRS_ENV, raising=False)
    assert check_model_request("openai-community/gpt2") == "openai-community/gpt2"
    monkeypatch.setenv(PUBLIC_ENV, "1")
    with pytest.raises(UnknownModelError, match="only the embedded"):
        check_model_request("openai-community/gpt2")
    # A name shaped like a hub id that is a folder here is a local path: the folder rules apply.
    monkeypatch.delenv(PUBLIC_ENV)
    (tmp_path / "owner" / "name").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnknownModelError, match="local model folders are off"):
        check_model_request("owner/name")
    for not_an_id in ("../x/y", "a/b/c", "<img src=x>/y", "gpt2"):
        with pytest.raises(UnknownModelError):
            check_model_request(not_an_id)


def test_thread_policy_small_inputs_run_on_one_thread():
    from attention_core import backend
    from attention_core.backend import threads

    started = torch.get_num_threads()
    try:
        backend.set_threads_for(backend.SMALL_WORK_TOKENS)
        assert torch.get_num_threads() == 1
        backend.set_threads_for(backend.SMALL_WORK_TOKENS + 1)
        assert torch.get_num_threads() == threads._THREADS  # every thread torch started with
    finally:
        torch.set_num_threads(started)
