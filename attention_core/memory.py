"""Will a model fit? Its size, read from file headers only, against the memory this machine has free.

The engine keeps every weight in one dtype: float32 by default (quantized GGUF blocks are dequantized), so
the resident size is 4 bytes per parameter whatever the file's dtype; bfloat16 or float16 on request
(attention_core/dtypes.py), 2 bytes per parameter. A first load converts on the CPU in float32 whatever the
chosen dtype, and holds the source tensors while it does, so it needs more than twice the float32 size there.
Loading a model that does not fit would swap the machine to a halt or be killed by the OS; `check_fits`
refuses it up front with a message instead.

Operators can lower the limit with $ATTN_MEMORY_LIMIT_GB (e.g. a shared server that must keep room
for other sessions).
"""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import torch

from .dtypes import dtype_name
from .errors import ModelLoadError

LIMIT_ENV = "ATTN_MEMORY_LIMIT_GB"
WORKSPACE_BYTES = 256 * 2**20  # a minimum headroom for a trace's activations and the app around it
GiB = 2**30
CONVERT_FACTOR = 2.2  # a first load holds the source tensors, their float32 copies and some transients


def float32_bytes(kind: str, path: Path) -> int:
    """Bytes the engine's float32 weights take: kind 'gguf' (a file), 'hf' (a folder of safetensors)
    or 'safetensors' (one file, e.g. the converted-weight cache)."""
    from .loading.gguf.header import read_header
    from .loading.safetensors_hf import safetensors_files, safetensors_float32_bytes

    if kind == "safetensors":
        return safetensors_float32_bytes([Path(path)])
    if kind == "gguf":
        return 4 * read_header(Path(path)).n_elements  # the header alone: 0.2 s where gguf's reader takes 5 s
    return safetensors_float32_bytes(safetensors_files(Path(path)))  # the files the loader will read


def weight_bytes(float32_size: int, dtype: torch.dtype) -> int:
    """The weights' bytes in `dtype`, from their float32 size (4 bytes per parameter; half: 2)."""
    return float32_size // 4 * torch.finfo(dtype).bits // 8


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


def check_fits(
    name: str, weights_bytes: int, device: torch.device, converting: bool, dtype: torch.dtype = torch.float32
) -> None:
    """Raise ModelLoadError when the model's weights in `dtype` would not fit in free memory.

    `weights_bytes` is the float32 size (`float32_bytes`); the check counts `dtype`'s bytes per parameter,
    except for a first load's conversion, which runs in float32 on the CPU whatever the dtype.
    """
    size = weight_bytes(weights_bytes, dtype)
    counted = f"{size / GiB:.2f} GiB in {dtype_name(dtype)}"
    # Weights are read (and converted) on the CPU first, whatever the target device.
    cpu_need = int(weights_bytes * CONVERT_FACTOR if converting else size) + WORKSPACE_BYTES
    cpu_free = available_bytes(torch.device("cpu"))
    if cpu_free is not None and cpu_need > cpu_free:
        raise ModelLoadError(
            f"{name} is too large for this machine: its weights take {counted} "
            f"and {'converting them on this first load needs' if converting else 'loading them needs'} "
            f"about {cpu_need / GiB:.2f} GiB of memory, but only {cpu_free / GiB:.2f} GiB is free. "
            "Pick a smaller model."
        )
    if device.type != "cpu":
        dev_free = available_bytes(device)
        if dev_free is not None and size + WORKSPACE_BYTES > dev_free:
            raise ModelLoadError(
                f"{name} is too large for the {device.type.upper()} device: its weights take {counted} but only "
                f"{dev_free / GiB:.2f} GiB is free there. {_half_hint(weights_bytes, dtype, dev_free)}"
            )


def _half_hint(float32_size: int, dtype: torch.dtype, free: int) -> str:
    """What to try instead: bfloat16 when float32 does not fit but half precision would."""
    if dtype == torch.float32 and weight_bytes(float32_size, torch.bfloat16) + WORKSPACE_BYTES <= free:
        half = weight_bytes(float32_size, torch.bfloat16) / GiB
        return f"In bfloat16 it would take {half:.2f} GiB and fit: load it with dtype='bfloat16' (Weights: bfloat16)."
    return "Pick a smaller model or the CPU."
