"""Which model names a deployment accepts from its users.

The Python API loads any local path a caller passes (the caller already has file access). A served
app must not: it asks `check_model_request` first. Operators set

    ATTN_ALLOWED_MODEL_DIRS   folders (os.pathsep-separated) under which local models may be loaded
    ATTN_PUBLIC=1             public deployment: only the embedded models, no local paths, no hub ids

Hub ids (owner/name) are accepted otherwise: a user who types one asks for that download. A hub-id-shaped
name that is also an existing local path is a local path, and the folder rules apply to it. An
`ollama:NAME[:TAG]` name reads Ollama's local store, so the store must lie under an allowed folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import UnknownModelError
from .loading.gguf import ollama
from .loading.hub import looks_like_hub_id
from .registry import EMBEDDED

ALLOWED_DIRS_ENV = "ATTN_ALLOWED_MODEL_DIRS"
PUBLIC_ENV = "ATTN_PUBLIC"


def allowed_roots() -> list[Path]:
    raw = os.environ.get(ALLOWED_DIRS_ENV, "")
    return [Path(p).expanduser().resolve() for p in raw.split(os.pathsep) if p.strip()]


def is_public() -> bool:
    return os.environ.get(PUBLIC_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def check_model_request(name: str) -> str:
    """Return `name` if this deployment may load it, else raise UnknownModelError saying why."""
    if name in EMBEDDED:
        return name
    if is_public():
        raise UnknownModelError(f"This deployment serves only the embedded models ({', '.join(EMBEDDED)}).")
    if looks_like_hub_id(name) and not _exists(name):
        return name
    if ollama.is_ollama_name(name):  # reads Ollama's local store: the folder rules apply to the store
        _check_allowed(ollama.store_dir(), f"{name!r} (Ollama's store {ollama.store_dir()})")
        return name
    return str(_check_allowed(name, repr(name)))


def _check_allowed(path: str | Path, what: str) -> Path:
    roots = allowed_roots()
    if not roots:
        raise UnknownModelError(
            f"Unknown model {what}: not a hub id (owner/name), and local model folders are off here; an operator "
            f"can allow some with ${ALLOWED_DIRS_ENV}."
        )
    try:
        target = Path(path).expanduser().resolve()  # resolves symlinks and '..' before the containment check
    except (OSError, RuntimeError, ValueError) as exc:
        raise UnknownModelError(f"{what} is not a usable path: {exc}") from None
    if not any(target == root or root in target.parents for root in roots):
        raise UnknownModelError(f"{what} is outside the folders this deployment allows.")
    return target


def _exists(name: str) -> bool:
    try:
        return Path(name).expanduser().exists()
    except (OSError, ValueError):
        return False
