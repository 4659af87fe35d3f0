"""Hub ids ("openai-community/gpt2") → a local folder, only when the user asked for a hub model.

Only config and generation config, the tokenizer's files (tokenizer.json and its settings; a slow tokenizer's
vocabulary only where there is no tokenizer.json) and safetensors files are fetched; never pickles, never code.
Offline, an id already in the Hugging Face cache loads from there; one that is not gives a clear message.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import ModelLoadError
from .slow_tokenizer import SLOW_FILES

HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
TOKENIZER_SETTINGS = ["tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"]
PATTERNS = ["config.json", "generation_config.json", "tokenizer.json", *TOKENIZER_SETTINGS, "*.safetensors",
            "model.safetensors.index.json"]  # fmt: skip


def looks_like_hub_id(name: str) -> bool:
    return bool(HUB_ID.match(name)) and ".." not in name


def fetch(repo_id: str) -> Path:
    """The repository's snapshot folder, from the cache or downloaded; a slow tokenizer's files (SLOW_FILES) are
    fetched only for a repository without tokenizer.json, the only ones that read them."""
    folder = _snapshot(repo_id, PATTERNS, check_size=True)
    if not _has_tokenizer_files(folder):
        try:
            folder = _snapshot(repo_id, list(SLOW_FILES))
        except ModelLoadError as exc:
            raise ModelLoadError(f"{repo_id} has no tokenizer.json, and its slow tokenizer's files could not be "
                                 f"fetched: {exc}") from exc  # fmt: skip
    return with_tokenizer(repo_id, folder)


def _snapshot(repo_id: str, patterns: list[str], check_size: bool = False) -> Path:
    """The files of `repo_id` matching `patterns`: from the cache when they are there (no network needed), else
    downloaded (after refuse_if_too_large where `check_size`)."""
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError as exc:  # pragma: no cover - a runtime requirement
        raise ModelLoadError("Loading hub models needs the huggingface_hub package.") from exc
    cache_dir = os.environ.get("HF_HUB_CACHE") or None  # read now, not when huggingface_hub was imported
    try:  # the cache first: an incomplete snapshot raises LocalEntryNotFoundError's IncompleteSnapshotError
        return Path(snapshot_download(repo_id, allow_patterns=patterns, local_files_only=True, cache_dir=cache_dir))
    except LocalEntryNotFoundError:
        pass
    except Exception as exc:
        raise ModelLoadError(f"Could not read {repo_id} from the Hugging Face cache: {exc}") from exc
    if check_size:
        refuse_if_too_large(repo_id, cache_dir)
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns, cache_dir=cache_dir))
    except LocalEntryNotFoundError:
        raise ModelLoadError(
            f"{repo_id} is not in the local Hugging Face cache and the hub cannot be reached (offline?). "
            "Connect to the internet once to download it, or load a local folder."
        ) from None
    except Exception as exc:
        raise ModelLoadError(f"Could not download {repo_id} from the Hugging Face hub: {exc}") from exc


def with_tokenizer(repo_id: str, folder: Path) -> Path:
    """`folder`, unless the snapshot has no tokenizer file read here: neither tokenizer.json nor a slow tokenizer's
    (slow_tokenizer.SLOW_FILES: WordPiece, byte-level BPE, and T5's, DeBERTa-v2's, XLM-R's and Llama's SentencePiece
    models)."""
    if not _has_tokenizer_files(folder):
        raise ModelLoadError(
            f"{repo_id} has no tokenizer.json on the hub, nor a slow tokenizer's files read here "
            f"({', '.join(SLOW_FILES)}). With transformers installed, AutoTokenizer.from_pretrained({repo_id!r}) "
            "and the model's from_pretrained, each followed by .save_pretrained(folder), write a folder read here."
        )
    return folder


def _has_tokenizer_files(folder: Path) -> bool:
    return any((folder / name).is_file() for name in ("tokenizer.json", *SLOW_FILES))


def refuse_if_too_large(repo_id: str, cache_dir: str | None) -> None:
    """Before downloading: refuse a repository whose safetensors could not fit on disk or in memory.

    The hub lists file sizes, not dtypes; a file's size is a lower bound on its float32 size, so this
    refuses only what certainly does not fit (the exact check reads the headers once downloaded). When
    the hub cannot be asked, the download below reports the problem itself.
    """
    import shutil

    import torch
    from huggingface_hub import HfApi, constants

    from .. import memory

    try:
        info = HfApi().model_info(repo_id, files_metadata=True)
    except Exception:  # offline, private, missing: snapshot_download says which
        return
    size = sum(int(s.size or 0) for s in info.siblings or [] if s.rfilename.endswith(".safetensors"))
    folder = Path(cache_dir or constants.HF_HUB_CACHE)
    while not folder.exists() and folder != folder.parent:  # the cache may not exist yet: its nearest parent
        folder = folder.parent
    free_disk = shutil.disk_usage(folder).free
    if size > free_disk:
        raise ModelLoadError(
            f"{repo_id} has {size / 2**30:.2f} GiB of weights but only {free_disk / 2**30:.2f} GiB of disk is free "
            f"at {folder}. Free some space or pick a smaller model."
        )
    memory.check_fits(repo_id, size, torch.device("cpu"), converting=True)
