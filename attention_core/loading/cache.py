"""Converted-weight cache: safetensors + tokenizer.json + config, written atomically.

A first load dequantizes/converts the source file and writes one folder per (model, source file state);
later loads read that folder. Each tensor's float64 sum is stored in the manifest so that a cache damaged
after it was written is detected on read and rebuilt instead of silently producing wrong numbers.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
from pathlib import Path

import torch
from tokenizers import Tokenizer

from ..config import ModelConfig

CACHE_ENV = "ATTN_CACHE_DIR"
FORMAT_VERSION = 4  # 2: GGUF converters of many architectures, SentencePiece tokenizers, new config fields;
# 3: GGUF tokenizers append EOS when the file sets add_eos_token and refuse an EOS id past the vocabulary;
# 4: GGUF byte-level tokenizers split by each tokenizer.ggml.pre's own regexes (SmolLM2's 'a  22': a, ĠĠ, 2, 2).
# Since 4 the converters' code is in the key (CONVERTER_CODE below); bump this only when an entry's layout changes.
WEIGHTS, TOKENIZER, CONFIG, MANIFEST = "weights.safetensors", "tokenizer.json", "config.json", "manifest.json"
# The code that decides what a cache entry holds: the converters and tokenizer builders (this package) and the
# config they fill. Its digest is part of every entry's key, so a change to how a file is converted cannot leave
# an earlier conversion in use (format 4 was a bump a session had to remember; the app served the stale one).
CONVERTER_CODE = (Path(__file__).resolve().parent, Path(__file__).resolve().parents[1] / "config.py")


class CacheCorrupt(Exception):
    """The cached folder cannot be trusted; the caller rebuilds it."""


def cache_root() -> Path:
    """$ATTN_CACHE_DIR, else $XDG_CACHE_HOME/attention-viz, else ~/.cache/attention-viz."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "attention-viz"


@functools.cache
def converter_digest(code: tuple[Path, ...] = CONVERTER_CODE) -> str:
    """A digest of the Python source under `code` (files, or folders searched for *.py), names and bytes."""
    files = sorted(f for p in code for f in (sorted(p.rglob("*.py")) if p.is_dir() else [p]))
    h = hashlib.sha256()
    for f in files:
        data = f.read_bytes()
        h.update(f"{f.name}|{len(data)}|".encode() + data)  # the length keeps one file's end from the next's start
    return h.hexdigest()[:16]


def source_fingerprint(source: Path) -> str:
    """Changes when the source file (or folder's files), the cache format or the converters' code changes."""
    files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
    h = hashlib.sha256(f"v{FORMAT_VERSION}|{converter_digest()}".encode())
    for p in files:
        st = p.stat()
        h.update(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def entry_dir(name: str, source: Path) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80]
    return cache_root() / f"{safe}-{source_fingerprint(source)}"


def _checksums(weights: dict[str, torch.Tensor]) -> dict[str, float]:
    return {k: _checksum(v) for k, v in weights.items()}


def _checksum(tensor: torch.Tensor) -> float:
    """The float64 sum; with NaN or inf in the tensor, the sum of its finite values plus the positions of the
    others, which stays a number: a NaN sum never equals itself, and the cache was called damaged at every load."""
    values = tensor.double()
    total = float(values.sum())
    if math.isfinite(total):
        return total
    finite = torch.isfinite(values)
    positions = torch.nonzero(~finite.reshape(-1)).double()
    return float(values.where(finite, 0.0).sum()) + float(positions.sum()) + 0.5 * len(positions)


def write_entry(
    folder: Path, config: ModelConfig, weights: dict[str, torch.Tensor], tokenizer: Tokenizer,
    source: Path | None = None,
) -> None:  # fmt: skip
    """Write into a temporary sibling folder, then rename it into place: readers never see half a cache. With the
    `source` it was converted from, the entry records it and replaces that source's earlier entries (_remove_stale)."""
    from safetensors.torch import save_file

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
    try:
        save_file({k: v.contiguous() for k, v in weights.items()}, str(tmp / WEIGHTS))
        tokenizer.save(str(tmp / TOKENIZER))
        (tmp / CONFIG).write_text(config.to_json(), encoding="utf-8")
        manifest = {"format": FORMAT_VERSION, "checksums": _checksums(weights)}
        if source is not None:
            manifest["source"] = str(source.resolve())
        (tmp / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")  # written last: marks the folder complete
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    except OSError:
        # Another process may have renamed an identical entry into place first; keep theirs.
        shutil.rmtree(tmp, ignore_errors=True)
        if not (folder / MANIFEST).is_file():
            raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if source is not None:
        _remove_stale(folder, source)


_ENTRY_NAME = re.compile(r"[^.].*-[0-9a-f]{16}")  # entry_dir's names: the model's, then its source's fingerprint


def _remove_stale(folder: Path, source: Path) -> None:
    """Remove the entries `folder` makes useless: the same model name's, converted from the same source file by other
    converter code or from an earlier state of the file, or written before entries recorded their source (which may
    cost another source of that name a conversion, never a wrong number); and any entry whose source file is gone,
    since its key holds the file's path and can never be met again. None was ever removed before: every converter
    change keyed a new entry, and a development machine's cache grew to 70 GB of SmolLM2."""
    name, here = folder.name.rsplit("-", 1)[0], str(source.resolve())
    for other in folder.parent.iterdir():
        if other == folder or not other.is_dir() or not _ENTRY_NAME.fullmatch(other.name):
            continue  # the entry itself, a write in progress (.tmp-…), or not an entry (an atlas folder)
        try:
            recorded = json.loads((other / MANIFEST).read_text(encoding="utf-8")).get("source")
        except (OSError, ValueError):
            recorded = None  # no manifest: a damaged entry, which read_entry would rebuild anyway
        same_name = other.name.rsplit("-", 1)[0] == name
        if (same_name and recorded in (None, here)) or (recorded is not None and not Path(recorded).exists()):
            shutil.rmtree(other, ignore_errors=True)


def read_entry(folder: Path) -> tuple[ModelConfig, dict[str, torch.Tensor], Tokenizer]:
    """Raise FileNotFoundError when absent, CacheCorrupt when present but damaged."""
    from safetensors.torch import load_file

    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(folder)
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        config = ModelConfig.from_json((folder / CONFIG).read_text(encoding="utf-8"))
        tokenizer = Tokenizer.from_file(str(folder / TOKENIZER))
        weights = load_file(str(folder / WEIGHTS))
    except Exception as exc:
        raise CacheCorrupt(f"{type(exc).__name__}: {exc}") from exc
    if manifest.get("format") != FORMAT_VERSION:
        raise CacheCorrupt("cache format version changed")
    expected = manifest.get("checksums", {})
    if set(expected) != set(weights):
        raise CacheCorrupt("tensor names differ from the manifest")
    for key, value in _checksums(weights).items():
        if not abs(value - expected[key]) <= 1e-6 * (1.0 + abs(expected[key])):  # `not <=` also catches NaN
            raise CacheCorrupt(f"tensor {key} does not match its checksum")
    return config, weights, tokenizer


def remove_entry(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
