"""Shared fixtures: our engine's models, and transformers loading the same files as the reference."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from attention_core import load_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the reference reads local files only


@pytest.fixture(scope="session")
def smollm():
    return load_model("smollm2-135m", device="cpu")


@pytest.fixture(scope="session")
def minilm():
    return load_model("minilm-l6", device="cpu")


@pytest.fixture(scope="session")
def hf_smollm(smollm):
    transformers = pytest.importorskip("transformers")
    path: Path = smollm.source
    kwargs = {"gguf_file": path.name}
    tok = transformers.AutoTokenizer.from_pretrained(str(path.parent), **kwargs)
    hf = transformers.AutoModelForCausalLM.from_pretrained(
        str(path.parent), dtype=torch.float32, attn_implementation="eager", **kwargs
    )
    return tok, hf.eval()


@pytest.fixture(scope="session")
def hf_minilm(minilm):
    transformers = pytest.importorskip("transformers")
    folder = str(minilm.source)
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    hf = transformers.AutoModel.from_pretrained(folder, attn_implementation="eager")
    return tok, hf.eval()
