"""Fixtures shared by the engine tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def monkeypatch_module():
    """A MonkeyPatch for module-scoped fixtures (pytest's own is function-scoped): undone after the module."""
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()
