"""Loading: embedded names, the converted-weight cache, progress, and clear errors for bad files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from attention_core import ModelLoadError, UnknownModelError, load_model
from attention_core.backend import memory_pages
from attention_core.loading import cache


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv(cache.CACHE_ENV, str(root))
    return root


def test_unknown_model_names_the_known_ones(tmp_cache):
    with pytest.raises(UnknownModelError, match="smollm2-135m"):
        load_model("gpt-17")


def test_first_load_writes_cache_and_reports_progress(tmp_cache, minilm):
    seen: list[tuple[float, str]] = []
    model = load_model("minilm-l6", device="cpu", progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("Converting" in m for _, m in seen)
    entries = [p for p in tmp_cache.iterdir() if not p.name.startswith(".tmp")]
    assert len(entries) == 1 and (entries[0] / cache.MANIFEST).is_file()
    assert not [p for p in tmp_cache.iterdir() if p.name.startswith(".tmp")]
    # Even the first load serves the weights from the cache it wrote (a file mapping, paged out once packed).
    mapped = [(a, b) for a, b, path in memory_pages.weight_file_mappings() if Path(path) == entries[0] / cache.WEIGHTS]
    assert any(a <= model.weights["embed.W_E"].data_ptr() < b for a, b in mapped)
    seen.clear()
    again = load_model("minilm-l6", device="cpu", progress=lambda f, m: seen.append((f, m)))
    assert not any("Converting" in m for _, m in seen)  # read from the cache
    text = "one mole of carbon dioxide"
    assert torch.equal(model.trace(text).resid(6), again.trace(text).resid(6))
    assert torch.allclose(again.trace(text).resid(6), minilm.trace(text).resid(6))


def test_cache_changed_while_read_back_converts_again(tmp_cache, minilm, monkeypatch):
    """The first load reads back the cache it wrote; if that copy was replaced or damaged meanwhile, it
    converts the source again and serves that copy."""
    real, calls = cache.read_entry, []

    def read_entry(folder):
        calls.append(folder)
        if len(calls) == 2:  # the read-back right after writing
            raise cache.CacheCorrupt("damaged by someone else")
        return real(folder)

    monkeypatch.setattr(cache, "read_entry", read_entry)
    seen: list[tuple[float, str]] = []
    model = load_model("minilm-l6", device="cpu", progress=lambda f, m: seen.append((f, m)))
    assert len(calls) == 2 and any("again" in m for _, m in seen)
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    text = "take a biopsy of the mole"
    assert torch.allclose(model.trace(text).resid(6), minilm.trace(text).resid(6), atol=1e-5)


def _only_entry(root: Path) -> Path:
    (entry,) = [p for p in root.iterdir() if not p.name.startswith(".")]
    return entry


@pytest.mark.parametrize("damage", ["flip-bytes", "truncate", "garbage-header", "delete-tokenizer"])
def test_damaged_cache_is_detected_and_rebuilt(tmp_cache, damage):
    load_model("minilm-l6", device="cpu")
    entry = _only_entry(tmp_cache)
    weights = entry / cache.WEIGHTS
    data = bytearray(weights.read_bytes())
    if damage == "flip-bytes":
        middle = len(data) // 2
        data[middle : middle + 64] = bytes(64)
        weights.write_bytes(bytes(data))
    elif damage == "truncate":
        weights.write_bytes(bytes(data[: len(data) // 3]))
    elif damage == "garbage-header":
        weights.write_bytes(b"\xff" * 64 + bytes(data[64:]))
    else:
        (entry / cache.TOKENIZER).unlink()
    with pytest.warns(UserWarning, match="damaged"):
        model = load_model("minilm-l6", device="cpu")
    assert any("rebuilt" in note for note in model.notes)
    fresh = load_model("minilm-l6", device="cpu")  # the repaired cache now loads cleanly
    assert fresh.notes == []
    assert torch.allclose(model.trace("hello world").resid(6), fresh.trace("hello world").resid(6))


def test_interrupted_cache_write_leaves_nothing_behind(tmp_cache, monkeypatch):
    import safetensors.torch

    def fail(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(safetensors.torch, "save_file", fail)
    with pytest.warns(UserWarning, match="Could not write the weight cache"):
        model = load_model("minilm-l6", device="cpu")
    assert model.trace("still works").n_tokens > 0
    assert not tmp_cache.exists() or list(tmp_cache.iterdir()) == []


def test_truncated_gguf_is_a_clear_error(tmp_cache, tmp_path, smollm):
    bad = tmp_path / "broken.gguf"
    with open(smollm.source, "rb") as src:
        bad.write_bytes(src.read(2_000_000))
    # named as a short file, before gguf's reader fails inside ("cannot reshape array of size ...")
    short = r"broken\.gguf is truncated: its tensors need [\d,]+ bytes, the file has 2,000,000"
    with pytest.raises(ModelLoadError, match=short):
        load_model(str(bad))
    assert not tmp_cache.exists() or not any(tmp_cache.iterdir())


def test_not_a_gguf_file_is_a_clear_error(tmp_cache, tmp_path):
    bad = tmp_path / "random.gguf"
    bad.write_bytes(b"this is not a model" * 100)
    with pytest.raises(ModelLoadError, match="not a readable GGUF"):
        load_model(str(bad))


def test_a_folder_with_only_vocab_txt_splits_text_as_its_tokenizer_json_does(tmp_cache, tmp_path, minilm):
    """all-MiniLM's folder has BERT's vocab.txt (30,522 tokens) and tokenizer_config.json beside tokenizer.json:
    without the tokenizer.json, the slow files give every text the same ids and offsets."""
    from tests.texts import TEXTS

    folder = tmp_path / "bert"
    shutil.copytree(minilm.source, folder)
    (folder / "tokenizer.json").unlink()
    slow = load_model(str(folder), device="cpu").tokenizer
    for text in TEXTS:
        expected, got = minilm.tokenizer.encode(text, 512), slow.encode(text, 512)
        assert (got.ids, got.offsets, got.tokens) == (expected.ids, expected.offsets, expected.tokens), text


def test_hf_folder_problems_are_clear_errors(tmp_cache, tmp_path, minilm):
    folder = tmp_path / "bert"
    shutil.copytree(minilm.source, folder)
    (folder / "tokenizer.json").unlink()
    (folder / "vocab.txt").unlink()
    with pytest.raises(ModelLoadError, match="Tokenizer file not found"):
        load_model(str(folder))
    for name in ("source.spm", "target.spm"):  # Marian's SentencePiece models: say how to convert
        (folder / name).write_bytes(b"\n\x05hello")
        with pytest.raises(ModelLoadError, match=rf"has {name} \(a SentencePiece model of a kind not read") as said:
            load_model(str(folder))
        assert "save_pretrained" in str(said.value)
        (folder / name).unlink()
    shutil.copy(minilm.source / "tokenizer.json", folder / "tokenizer.json")
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="safetensors"):
        load_model(str(folder))
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        load_model(str(folder))


def test_local_folder_loads_like_the_embedded_model(tmp_cache, tmp_path, minilm):
    folder = tmp_path / "my-bert"
    shutil.copytree(minilm.source, folder)
    model = load_model(str(folder), device="cpu")
    assert model.name == "my-bert"
    text = "take a biopsy of the mole"
    assert torch.allclose(model.trace(text).resid(6), minilm.trace(text).resid(6))


def test_missing_path_is_unknown(tmp_cache, tmp_path):
    with pytest.raises(UnknownModelError):
        load_model(str(tmp_path / "nowhere"))


def test_only_safetensors_and_gguf_are_read(tmp_cache, tmp_path):
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "bert", "hidden_size": 8, "num_attention_heads": 2,'
                                        ' "num_hidden_layers": 1, "intermediate_size": 16, "vocab_size": 10,'
                                        ' "max_position_embeddings": 8}')
    torch.save({"x": torch.zeros(1)}, folder / "pytorch_model.bin")
    (folder / "tokenizer.json").write_text("{}")
    with pytest.raises(ModelLoadError):
        load_model(str(folder))
