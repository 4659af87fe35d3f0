"""Will a model fit? Its float32 size, read from file headers only, against the memory this machine has free.

The engine keeps every weight in float32 (quantized GGUF blocks are dequantized), so the resident size is
4 bytes per parameter whatever the file's dtype. A first load also holds the source tensors while it
converts them, so it needs more than twice that. Loading a model that does not fit would swap the machine to a
halt or be killed by the OS; `check_fits` refuses it up front with a message instead.

Operators can lower the limit with $ATTN_MEMORY_LIMIT_GB (e.g. a shared server that must keep room
for other sessions).
"""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import torch

from .errors import ModelLoadError

LIMIT_ENV = "ATTN_MEMORY_LIMIT_GB"
WORKSPACE_BYTES = 256 * 2**20  # a minimum headroom for a trace's activations and the app around it
GiB = 2**30
CONVERT_FACTOR = 2.2  # a first load holds the source tensors, their float32 copies and some transients


def _gguf_numel(path: Path) -> int:
    from gguf import GGUFReader

    try:
        return sum(int(t.n_elements) for t in GGUFReader(path).tensors)
    except Exception as exc:  # gguf raises bare ValueError/struct errors on damaged files
        raise ModelLoadError(f"{path.name} is not a readable GGUF file ({exc}).") from None


def float32_bytes(kind: str, path: Path) -> int:
    """Bytes the engine's float32 weights take: kind 'gguf' (a file), 'hf' (a folder of safetensors)
    or 'safetensors' (one file, e.g. the converted-weight cache)."""
    from .loading.safetensors_hf import safetensors_files, safetensors_float32_bytes

    if kind == "safetensors":
        return safetensors_float32_bytes([Path(path)])
    if kind == "gguf":
        return 4 * _gguf_numel(path)
    return safetensors_float32_bytes(safetensors_files(Path(path)))  # the files the loader will read


def available_bytes(device: torch.device) -> int | None:
    """Free memory for weights on `device` (None: unknown, e.g. MPS); CPU: lowered by $ATTN_MEMORY_LIMIT_GB."""
    limit = None
    raw = os.environ.get(LIMIT_ENV, "").strip()
    if raw:
        try:
            limit = int(float(raw) * GiB)
        except ValueError:
            limit = None  # a malformed operator setting must not block every load
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        found: int | None = int(free)
    elif device.type == "cpu":
        found = int(psutil.virtual_memory().available)
    else:
        found = None
    if limit is None or device.type != "cpu":  # the operator's limit is on the machine's memory
        return found
    return limit if found is None else min(limit, found)


def check_fits(name: str, weights_bytes: int, device: torch.device, converting: bool) -> None:
    """Raise ModelLoadError when the model's float32 weights would not fit in free memory."""
    # Weights are read (and converted) on the CPU first, whatever the target device.
    cpu_need = int(weights_bytes * (CONVERT_FACTOR if converting else 1)) + WORKSPACE_BYTES
    cpu_free = available_bytes(torch.device("cpu"))
    if cpu_free is not None and cpu_need > cpu_free:
        raise ModelLoadError(
            f"{name} is too large for this machine: its weights take {weights_bytes / GiB:.2f} GiB in float32 "
            f"and {'converting them on this first load needs' if converting else 'loading them needs'} about "
            f"{cpu_need / GiB:.2f} GiB of memory, but only {cpu_free / GiB:.2f} GiB is free. "
            "Pick a smaller model."
        )
    if device.type != "cpu":
        dev_free = available_bytes(device)
        dev_need = weights_bytes + WORKSPACE_BYTES
        if dev_free is not None and dev_need > dev_free:
            raise ModelLoadError(
                f"{name} is too large for the {device.type.upper()} device: its weights take "
                f"{weights_bytes / GiB:.2f} GiB in float32 but only {dev_free / GiB:.2f} GiB is free there. "
                "Pick a smaller model or the CPU."
            )
