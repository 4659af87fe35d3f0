"""The converted-weight cache's key follows the converters' code: a change to how a file is converted (a tokenizer's
split, a config field) must not leave an earlier conversion in use. Format 4 was a version bump a session had to
remember, and before it the app served SmolLM2's old split from the cache."""

from __future__ import annotations

import shutil
from pathlib import Path

from attention_core.loading import cache

ENGINE = Path(cache.__file__).resolve().parents[1]


def _copy_of_the_converters(tmp_path: Path) -> tuple[Path, ...]:
    loading, config = cache.CONVERTER_CODE
    shutil.copytree(loading, tmp_path / "loading", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(config, tmp_path / "config.py")
    return tmp_path / "loading", tmp_path / "config.py"


def test_the_key_covers_the_tokenizer_builders_the_converters_and_the_config() -> None:
    loading, config = cache.CONVERTER_CODE
    covered = {p.resolve() for p in loading.rglob("*.py")} | {config.resolve()}
    for module in ("loading/gguf/tokenizer.py", "loading/gguf/llama.py", "loading/safetensors_hf.py", "config.py"):
        assert (ENGINE / module).resolve() in covered, module


def test_a_one_character_change_to_a_converter_moves_the_digest(tmp_path: Path) -> None:
    code = _copy_of_the_converters(tmp_path)
    digest = cache.converter_digest.__wrapped__  # uncached: the files change under the same paths
    digests = [digest(code)]
    assert digest(code) == digests[0]  # the same code, the same digest
    assert digest(cache.CONVERTER_CODE) == digests[0]  # where the code lies does not matter
    split = code[0] / "gguf" / "tokenizer.py"
    split.write_text(split.read_text(encoding="utf-8").replace("\\p{N}", "\\p{N}+", 1), encoding="utf-8")
    digests.append(digest(code))
    config = code[1]
    config.write_text(config.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    digests.append(digest(code))
    assert len(set(digests)) == 3, digests


def test_the_entry_folder_moves_with_the_converters_code(tmp_path: Path, monkeypatch) -> None:
    source = tmp_path / "model.gguf"
    source.write_bytes(b"GGUF")
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
    first = cache.entry_dir("m", source)
    assert cache.entry_dir("m", source) == first  # the same file and code: the same entry
    monkeypatch.setattr(cache, "converter_digest", lambda: "another-version")
    assert cache.entry_dir("m", source) != first
