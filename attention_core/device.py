"""Pick where the engine runs: CUDA, then Apple's MPS, else the CPU; overridable."""

from __future__ import annotations

import os

import torch

from .errors import DeviceError

DEVICE_ENV = "ATTN_DEVICE"


def pick_device(prefer: str | torch.device | None = None) -> torch.device:
    """`prefer` (or $ATTN_DEVICE) wins when that device exists; otherwise the fastest one available."""
    wanted = prefer if prefer is not None else os.environ.get(DEVICE_ENV) or None
    if wanted is not None:
        try:
            device = torch.device(wanted)
        except RuntimeError:  # torch's message lists twenty device types this engine never runs on
            raise DeviceError(f"Unknown device {str(wanted)!r}: use cpu, cuda (or cuda:N) or mps.") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise DeviceError("CUDA was requested but no CUDA GPU is available.")
        if device.type == "mps" and not _mps_available():
            raise DeviceError("MPS was requested but Apple's Metal backend is not available.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
