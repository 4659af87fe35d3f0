"""`ollama:NAME[:TAG]` → the GGUF file in Ollama's local store.

Ollama keeps a model as a manifest (JSON) at
    $OLLAMA_MODELS/manifests/<registry>/<namespace>/<name>/<tag>      ($OLLAMA_MODELS defaults to ~/.ollama/models)
whose layer with mediaType "application/vnd.ollama.image.model" names the weights blob by digest:
    $OLLAMA_MODELS/blobs/sha256-<hex>                                   (a plain GGUF file)
NAME is `name` (namespace `library`), `namespace/name`, or `registry/namespace/name`; TAG defaults to `latest`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ...errors import ModelLoadError

PREFIX = "ollama:"
STORE_ENV = "OLLAMA_MODELS"
DEFAULT_REGISTRY, DEFAULT_NAMESPACE, DEFAULT_TAG = "registry.ollama.ai", "library", "latest"
MODEL_MEDIA_TYPE = "application/vnd.ollama.image.model"
# One path component each: a name from a user never climbs out of the store ('..', '/', '\' are refused).
_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_DIGEST = re.compile(r"sha256[:-]([0-9a-f]{64})")


@dataclass(frozen=True)
class OllamaRef:
    registry: str
    namespace: str
    name: str
    tag: str

    def __str__(self) -> str:
        return display_name(self.registry, self.namespace, self.name, self.tag)


def is_ollama_name(name: str) -> bool:
    return name.startswith(PREFIX)


def store_dir(environ: dict[str, str] | None = None) -> Path:
    """Ollama's model store: $OLLAMA_MODELS, else ~/.ollama/models."""
    env = os.environ if environ is None else environ
    raw = env.get(STORE_ENV, "").strip()
    return Path(raw).expanduser() if raw else Path.home() / ".ollama" / "models"


def parse(name: str) -> OllamaRef:
    """'ollama:qwen2:0.5b' → OllamaRef('registry.ollama.ai', 'library', 'qwen2', '0.5b')."""
    ref = name[len(PREFIX) :] if is_ollama_name(name) else name
    path, _, tag = ref.partition(":")
    parts = path.split("/")
    if len(parts) == 1:
        parts = [DEFAULT_REGISTRY, DEFAULT_NAMESPACE, *parts]
    elif len(parts) == 2:
        parts = [DEFAULT_REGISTRY, *parts]
    tag = tag or DEFAULT_TAG
    if len(parts) != 3 or not all(_PART.fullmatch(p) for p in [*parts, tag]):
        raise ModelLoadError(
            f"{name!r} is not an Ollama model name: write ollama:NAME or ollama:NAME:TAG "
            "(NAME may be namespace/name), e.g. ollama:qwen2.5:0.5b."
        )
    return OllamaRef(*parts, tag)


def display_name(registry: str, namespace: str, name: str, tag: str) -> str:
    """How Ollama itself lists a model: the default registry and namespace left out."""
    prefix = "" if registry == DEFAULT_REGISTRY else f"{registry}/"
    prefix += "" if namespace == DEFAULT_NAMESPACE and not prefix else f"{namespace}/"
    return f"{prefix}{name}:{tag}"


def installed(store: Path) -> list[str]:
    """Every model the store has a manifest for, as Ollama lists them."""
    root = store / "manifests"
    found = []
    for manifest in root.glob("*/*/*/*"):
        if manifest.is_file():
            registry, namespace, name, tag = manifest.relative_to(root).parts
            found.append(display_name(registry, namespace, name, tag))
    return sorted(found)


def find_model_blob(name: str, environ: dict[str, str] | None = None) -> Path:
    """The GGUF blob of `ollama:NAME[:TAG]`, with a clear message for each way it can be missing."""
    ref = parse(name)
    store = store_dir(environ)
    if not (store / "manifests").is_dir():
        raise ModelLoadError(
            f"No Ollama model store at {store} (no manifests folder). Set ${STORE_ENV} to the folder "
            "Ollama keeps its models in, or `ollama pull` a model first."
        )
    manifest = store / "manifests" / ref.registry / ref.namespace / ref.name / ref.tag
    if not manifest.is_file():
        have = installed(store)
        listing = ", ".join(have) if have else "none"
        raise ModelLoadError(f"Ollama has no model {ref} in {store}. Installed: {listing}.")
    digest = _model_digest(manifest, ref)
    blob = store / "blobs" / f"sha256-{digest}"
    if not blob.is_file():
        raise ModelLoadError(
            f"The manifest of {ref} names the weights blob sha256-{digest}, but {store / 'blobs'} does not have it "
            "(an interrupted `ollama pull`?)."
        )
    return blob


def _model_digest(manifest: Path, ref: OllamaRef) -> str:
    try:
        layers = json.loads(manifest.read_text(encoding="utf-8")).get("layers", [])
    except (OSError, ValueError, AttributeError) as exc:
        raise ModelLoadError(f"The Ollama manifest {manifest} is not readable JSON: {exc}") from None
    for layer in layers if isinstance(layers, list) else []:
        if isinstance(layer, dict) and layer.get("mediaType") == MODEL_MEDIA_TYPE:
            match = _DIGEST.fullmatch(str(layer.get("digest", "")))
            if match is None:
                raise ModelLoadError(f"The Ollama manifest {manifest} has a malformed digest {layer.get('digest')!r}.")
            return match.group(1)
    raise ModelLoadError(f"The Ollama manifest of {ref} has no model layer ({MODEL_MEDIA_TYPE}): not a GGUF model?")
