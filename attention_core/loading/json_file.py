"""A model folder's JSON files (config.json, tokenizer_config.json, vocab.json, …) read with clear messages."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ModelLoadError


def read_json(path: Path, optional: bool = False) -> dict:
    """The JSON object in `path`; an empty one where the file is absent and `optional` (else a missing file, text
    that is not JSON, or JSON that is not an object is a ModelLoadError)."""
    if not path.is_file():
        if optional:
            return {}
        raise ModelLoadError(f"File not found: {path}")
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path.name} is not valid JSON: {exc}") from exc
    if not isinstance(found, dict):
        raise ModelLoadError(f"{path.name} should hold a JSON object, not {type(found).__name__}.")
    return found
