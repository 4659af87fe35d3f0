"""Every architecture the engine can load has a readable name in the sidebar (not a raw config tag)."""

from __future__ import annotations

import typing

from attention_core.config import ModelConfig
from services.models import ARCH_LABELS


def test_every_declared_architecture_has_a_label():
    declared = typing.get_args(typing.get_type_hints(ModelConfig)["arch"])
    assert declared and set(declared) <= set(ARCH_LABELS), sorted(set(declared) - set(ARCH_LABELS))
    assert all(label and label != arch for arch, label in ARCH_LABELS.items())
