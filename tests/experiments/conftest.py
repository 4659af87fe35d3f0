"""Experiments tests run against the real engine; one model load per test session (the app's shared model)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_TEXT = "a fluffy blue creature roamed the verdant forest"
SHORT_TEXT = "one mole of carbon"  # 4 tokens: the cheapest real sweep (270 heads)


@pytest.fixture(scope="session")
def smol():
    from services import models as engine

    return engine.load("smollm2-135m", "cpu")  # the process-wide model the app shares


@pytest.fixture(scope="session")
def fluffy(smol):
    return smol.trace(DEFAULT_TEXT)
