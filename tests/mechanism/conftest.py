"""Mechanism tests run against the real engine; one model load per test session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FLUFFY = "a fluffy blue creature roamed the verdant forest"


@pytest.fixture(scope="session")
def smol():
    from services import models as engine

    return engine.load("smollm2-135m", "cpu")  # the process-wide model the app shares


@pytest.fixture(scope="session")
def minilm():
    from services import models as engine

    return engine.load("minilm-l6", "cpu")


@pytest.fixture(scope="session")
def fluffy(smol):
    return smol.trace(FLUFFY)
