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


def test_a_new_conversion_of_a_source_replaces_its_stale_entries(tmp_path: Path, monkeypatch) -> None:
    """Each change to the converters' code (or to the source file) keys a new entry; the entries it replaces were
    never removed, and a development machine's cache held 130 conversions of SmolLM2 (70 GB) until its disk was full.
    Writing an entry now removes the earlier ones of the same source, and leaves another source's alone."""
    from attention_core.loading.gguf import convert_gguf
    from tests.gguf_writer import save_tiny_gguf

    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
    source, other = save_tiny_gguf(tmp_path / "model.gguf"), tmp_path / "other" / "model.gguf"
    other.parent.mkdir()
    shutil.copy(source, other)
    config, weights, tokenizer = convert_gguf(source, "m")
    written = []
    for version in ("one", "two", "three"):
        monkeypatch.setattr(cache, "converter_digest", lambda version=version: version)
        written.append(cache.entry_dir("m", source))
        cache.write_entry(written[-1], config, weights, tokenizer, source)
    monkeypatch.setattr(cache, "converter_digest", lambda: "one")
    kept = cache.entry_dir("m", other)  # the same name, another file: another model
    cache.write_entry(kept, config, weights, tokenizer, other)
    left = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert left == sorted([written[-1].name, kept.name]), left
    assert cache.read_entry(written[-1])[0].n_layers == config.n_layers  # the entry kept still reads


def test_loading_a_model_after_the_converters_changed_leaves_one_entry(tmp_path: Path, monkeypatch) -> None:
    from attention_core import load_model
    from tests.gguf_writer import save_tiny_gguf

    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
    path = save_tiny_gguf(tmp_path / "tiny.gguf")
    for version in ("one", "two"):
        monkeypatch.setattr(cache, "converter_digest", lambda version=version: version)
        load_model(str(path), device="cpu")
    entries = [p for p in (tmp_path / "cache").iterdir() if not p.name.startswith(".")]
    assert [p.name for p in entries] == [cache.entry_dir("tiny", path).name], entries  # the second version's


def test_an_entry_whose_source_is_gone_is_removed_at_the_next_write(tmp_path: Path, monkeypatch) -> None:
    """An entry's key holds its source's path: once that file is gone the entry can never be read again (the test
    suite's tiny models, converted from temporary folders, were left behind by every run)."""
    from attention_core.loading.gguf import convert_gguf
    from tests.gguf_writer import save_tiny_gguf

    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
    gone, kept = save_tiny_gguf(tmp_path / "a" / "gone.gguf"), save_tiny_gguf(tmp_path / "b" / "kept.gguf")
    config, weights, tokenizer = convert_gguf(gone, "m")
    for name, source in (("gone", gone), ("kept", kept)):
        cache.write_entry(cache.entry_dir(name, source), config, weights, tokenizer, source)
    gone.unlink()
    for other in ("atlas", "latest-notes"):  # not entries (the atlas folder lives here by default): left alone
        (tmp_path / "cache" / other).mkdir()
    latest = save_tiny_gguf(tmp_path / "c" / "latest.gguf")
    cache.write_entry(cache.entry_dir("latest", latest), config, weights, tokenizer, latest)
    left = sorted(p.name.rsplit("-", 1)[0] for p in (tmp_path / "cache").iterdir())
    assert left == ["atlas", "kept", "latest", "latest"], left
