"""What the engine hands back lives on the CPU (attention_core/device.py: to_host, host_float). From a CUDA GPU the
large tensors come through pinned memory, measured 40x faster than a plain `.cpu()` on an H200; the values must
be the same bits either way. The CUDA tests are skipped without a GPU (`-m cuda` selects them).

Tolerances: exact (a copy and a widening to float32 change no value); a trace on the GPU against the same model's
on the CPU as in test_invariants.py (patterns 1e-4, logits 1e-3).
"""

from __future__ import annotations

import pytest
import torch

from attention_core.device import PINNED_FROM_BYTES, host_float, to_host

LARGE_ROWS = PINNED_FROM_BYTES // (256 * 2) + 1  # rows of 256 that pass the threshold even in a 2-byte dtype


def test_on_the_cpu_the_tensor_comes_back_as_it_is() -> None:
    t = torch.arange(12, dtype=torch.int64).reshape(3, 4)
    assert to_host(t) is t  # no copy where it already is
    half = torch.randn(5, 7).to(torch.bfloat16)
    wide = host_float(half)
    assert wide.dtype == torch.float32 and wide.device.type == "cpu"
    assert torch.equal(wide, half.float())


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int64])
@pytest.mark.parametrize("n_rows", [4, LARGE_ROWS], ids=["small", "large"])
def test_from_the_gpu_the_same_values_pinned_when_large(dtype, n_rows) -> None:
    t = (torch.randn(n_rows, 256, device="cuda") * 100).to(dtype)
    host = to_host(t)
    assert host.device.type == "cpu" and host.dtype == dtype and host.shape == t.shape
    assert torch.equal(host, t.cpu())
    large = t.numel() * t.element_size() >= PINNED_FROM_BYTES
    assert host.is_pinned() == large
    assert torch.equal(to_host(t.T), t.cpu().T)  # a strided view too
    if dtype.is_floating_point:
        assert torch.equal(host_float(t), t.cpu().float())


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_gpu_traces_logits_and_patterns_arrive_pinned_and_equal_to_the_cpus(smollm) -> None:
    from attention_core import load_model

    text = "A fluffy blue creature roamed the verdant forest. " * 20
    gpu = load_model("smollm2-135m", device="cuda")
    ours, ref = gpu.trace(text), smollm.trace(text)
    logits = ours.logits
    assert logits.device.type == "cpu" and logits.is_pinned()
    assert (logits - ref.logits).abs().max().item() <= 1e-3
    patterns = ours.layer_patterns(0)
    assert patterns.is_pinned() == (patterns.numel() * 4 >= PINNED_FROM_BYTES)
    assert (patterns - ref.layer_patterns(0)).abs().max().item() <= 1e-4
