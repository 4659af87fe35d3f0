"""Shared by the package tests: a tiny GPT-2 folder (fast tier), the quickstart notebook executed once, and pages
opened from disk with the network blocked."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 4-head random GPT-2 saved as a local model folder (what --model takes besides the embedded names)."""
    pytest.importorskip("transformers")
    from tests.tiny_models import save_tiny_gpt2

    folder = tmp_path_factory.mktemp("tiny_gpt2")
    save_tiny_gpt2(folder)
    return folder


@pytest.fixture
def tiny_model(tiny_gpt2: Path) -> str:
    """The tiny folder as --model takes it: the CLI loads any folder its caller names (the app's folder rules,
    $ATTN_ALLOWED_MODEL_DIRS, guard a served app; tests/package/test_files.py checks both)."""
    return str(tiny_gpt2)


@contextlib.contextmanager
def offline_page(browser, url: str) -> Iterator[object]:
    """A fresh context whose http(s) requests are all aborted: a page that needs the network shows nothing."""
    context = browser.new_context(viewport={"width": 1280, "height": 1600})
    blocked: list[str] = []

    def block(route) -> None:
        if route.request.url.startswith(("http://", "https://")):
            blocked.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", block)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    try:
        yield page
    finally:
        assert not blocked, f"the page asked the network for {blocked[:3]}"
        context.close()
