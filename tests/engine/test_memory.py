"""Models too large for this machine's memory are refused before any weight is read, with sizes in the message."""

from __future__ import annotations

import pytest
import torch

from attention_core import ModelLoadError, load_model, memory
from attention_core.loading import cache
from attention_core.registry import resolve

CPU = torch.device("cpu")


def test_float32_size_from_headers_equals_the_loaded_weights() -> None:
    gguf = resolve("smollm2-135m")
    model = load_model("smollm2-135m", device="cpu")
    # GGUF: every stored tensor becomes one float32 weight (embeddings tied, nothing dropped).
    assert memory.float32_bytes(gguf.kind, gguf.path) == 4 * model.parameter_counts()["total"]
    # The converted-weight cache holds exactly the engine's weights.
    entry = cache.entry_dir(gguf.name, gguf.path) / cache.WEIGHTS
    assert memory.float32_bytes("safetensors", entry) == 4 * model.parameter_counts()["total"]
    # A Hugging Face folder may carry tensors the engine does not use (MiniLM's pooler): never fewer.
    minilm = resolve("minilm-l6")
    used = 4 * load_model("minilm-l6", device="cpu").parameter_counts()["total"]
    assert used <= memory.float32_bytes(minilm.kind, minilm.path) <= used * 1.01


def test_check_fits_uses_the_operator_limit_and_says_how_much(monkeypatch) -> None:
    monkeypatch.setenv(memory.LIMIT_ENV, "1")
    assert memory.available_bytes(CPU) <= memory.GiB
    memory.check_fits("small", 300 * 2**20, CPU, converting=True)  # 300 MiB × 2.2 + 256 MiB headroom < 1 GiB
    with pytest.raises(ModelLoadError, match=r"too large for this machine.*0\.88 GiB in float32.*1\.00 GiB is free"):
        memory.check_fits("big", 900 * 2**20, CPU, converting=False)
    with pytest.raises(ModelLoadError, match="converting them on this first load needs about 1.11 GiB"):
        memory.check_fits("big", 400 * 2**20, CPU, converting=True)
    monkeypatch.setenv(memory.LIMIT_ENV, "lots")  # a malformed setting falls back to the machine's free memory
    assert memory.available_bytes(CPU) > memory.GiB


def test_load_model_refuses_a_model_over_the_limit(monkeypatch) -> None:
    monkeypatch.setenv(memory.LIMIT_ENV, "0.5")  # SmolLM2 is 0.50 GiB in float32, plus headroom
    with pytest.raises(ModelLoadError, match="smollm2-135m is too large for this machine"):
        load_model("smollm2-135m", device="cpu")
    # MiniLM is 0.085 GiB: fits
    assert load_model("minilm-l6", device="cpu").config.n_layers == 6


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.cuda
def test_the_gpu_check_reads_the_device_memory(monkeypatch) -> None:
    gpu = torch.device("cuda")
    free = memory.available_bytes(gpu)
    assert free is not None and 0 < free <= torch.cuda.get_device_properties(0).total_memory
    real = memory.available_bytes
    monkeypatch.setattr(memory, "available_bytes", lambda d: 2**50 if d.type == "cpu" else real(d))
    with pytest.raises(ModelLoadError, match="too large for the CUDA device"):
        memory.check_fits("huge", free + memory.GiB, gpu, converting=False)
