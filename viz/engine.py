"""The app's one door into attention_core (and so torch). Pages import viz, never this engine directly."""

from __future__ import annotations

from collections.abc import Callable

import torch

from attention_core import (
    DEFAULT_MODEL,
    MODEL_NAMES,
    AttentionCoreError,
    InputError,
    Model,
    ModelLoadError,
    Trace,
    UnknownModelError,
    load_model,
)

# The engine accepts up to 4096 tokens, but an n×n heatmap with per-cell hover text is ~n² strings
# sent to the browser (three such figures on the masking page). 128 tokens keeps a page under a few
# MB and interactive; the app says when it cuts.
APP_MAX_TOKENS = 128

DEVICE_LABELS = {"cpu": "CPU", "cuda": "CUDA (NVIDIA GPU)", "mps": "MPS (Apple GPU)"}

__all__ = [
    "APP_MAX_TOKENS",
    "DEFAULT_MODEL",
    "DEVICE_LABELS",
    "MODEL_NAMES",
    "AttentionCoreError",
    "InputError",
    "Model",
    "ModelLoadError",
    "Trace",
    "UnknownModelError",
    "available_devices",
    "load",
    "run_trace",
]


def available_devices() -> list[str]:
    """Devices this machine can run the engine on, fastest first (the engine's own preference order)."""
    devices = []
    if torch.cuda.is_available():
        devices.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    devices.append("cpu")
    return devices


def load(name: str, device: str, progress: Callable[[float, str], None] | None = None) -> Model:
    return load_model(name, device=device, progress=progress)


def run_trace(model: Model, text: str, causal: bool) -> Trace:
    return model.trace(text, causal=causal, max_tokens=min(APP_MAX_TOKENS, model.max_tokens))
