"""The app's one door into attention_core (and so torch). Pages import viz, never this engine directly."""

from __future__ import annotations

import threading
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
from attention_core.policy import check_model_request

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


_models: dict[tuple[str, str], Model] = {}
_models_lock = threading.Lock()


def is_loaded(name: str, device: str) -> bool:
    return (name, device) in _models


def load(name: str, device: str, progress: Callable[[float, str], None] | None = None) -> Model:
    """One shared, read-only model per (name, device) per process.

    Not st.cache_resource: Streamlit records the elements a cached function draws and replays them
    on later hits, and refuses a progress bar drawn into a placeholder made outside the function
    (CacheReplayClosureError). A plain dict under a lock gives the same once-per-process load, and
    the progress callback can draw freely. The cache is bounded by the model × device choices (≤ 6).
    """
    key = (name, device)
    # A served app loads only what the deployment allows ($ATTN_PUBLIC, $ATTN_ALLOWED_MODEL_DIRS):
    # a name from session state or a link never reaches the file system unchecked.
    source = check_model_request(name)
    with _models_lock:  # a second session asking mid-load waits instead of loading again
        if key not in _models:
            _models[key] = load_model(source, device=device, progress=progress)
        return _models[key]


def run_trace(model: Model, text: str, causal: bool) -> Trace:
    return model.trace(text, causal=causal, max_tokens=min(APP_MAX_TOKENS, model.max_tokens))
