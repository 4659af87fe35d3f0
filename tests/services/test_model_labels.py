"""Every architecture the engine can load has a readable name in the sidebar (not a raw config tag)."""

from __future__ import annotations

import typing

from attention_core.config import ModelConfig
from services.arch_labels import ARCH_LABELS
from services.models import name_title


def test_every_declared_architecture_has_a_label():
    declared = typing.get_args(typing.get_type_hints(ModelConfig)["arch"])
    assert declared and set(declared) <= set(ARCH_LABELS), sorted(set(declared) - set(ARCH_LABELS))
    assert all(label and label != arch for arch, label in ARCH_LABELS.items())


def test_the_model_box_names_a_model_by_what_tells_it_apart():
    """The sidebar's Model box is ~31 characters wide: a built-in model by its own name, a local folder or file by
    its last part (a long path cut from the right hid the folder's name), a hub id or an Ollama name whole."""
    assert name_title("smollm2-135m") == "SmolLM2-135M-Instruct"
    assert name_title("/srv/models/team-a/checkpoints/qwen2.5-0.5b-instruct") == "qwen2.5-0.5b-instruct"
    assert name_title("./weights/SmolLM2-360M.Q8_0.gguf") == "SmolLM2-360M.Q8_0.gguf"
    assert name_title("~/models/tiny-gpt2/") == "tiny-gpt2"
    assert name_title("openai-community/gpt2") == "openai-community/gpt2"  # a hub id: the owner is part of the name
    assert name_title("ollama:smollm2:135m") == "ollama:smollm2:135m"
