"""A byte-level GGUF whose tokenizer.ggml.pre we do not know is split as GPT-2 splits it (as transformers does), and
the user is told so: the model's own tokenizer may cut the same text into other tokens. A value we know, or a
vocabulary that does not use the value (SentencePiece, WordPiece), says nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from gguf import GGUFValueType as VT

from attention_core import load_model
from attention_core.loading.cache import CACHE_ENV
from attention_core.loading.gguf import convert_gguf
from attention_core.loading.gguf.reader import Meta, read_gguf
from attention_core.loading.gguf.tokenizer import GPT2_NAMES, SPLITS, split_note
from tests.gguf_writer import rewrite_gguf, save_tiny_gguf, write_tokenizer_only


def _note(tmp_path: Path, pre: str, kind: str = "gpt2") -> str:
    path = write_tokenizer_only(tmp_path / f"{kind}-{pre}.gguf", "llama", kind, pre=pre)
    return split_note(Meta(read_gguf(path)))


@pytest.mark.parametrize("pre", sorted({*SPLITS, *GPT2_NAMES}))
def test_a_split_we_know_says_nothing(tmp_path, pre) -> None:
    assert _note(tmp_path, pre) == ""


@pytest.mark.parametrize("pre", ["default", "mystery-7b"])
def test_an_unknown_split_is_named_with_what_we_did_instead(tmp_path, pre) -> None:
    note = _note(tmp_path, pre)
    assert f"'{pre}'" in note and "tokenizer.ggml.pre" in note and "GPT-2" in note, note


def test_a_file_without_the_value_is_told_so(tmp_path) -> None:
    path = write_tokenizer_only(tmp_path / "plain.gguf", "llama", "gpt2")
    without = rewrite_gguf(path, tmp_path / "without.gguf", drop=("tokenizer.ggml.pre",))
    note = split_note(Meta(read_gguf(without)))
    assert "does not name" in note and "GPT-2" in note, note


def test_a_sentencepiece_vocabulary_does_not_use_the_value(tmp_path) -> None:
    assert _note(tmp_path, "mystery-7b", kind="llama") == ""


def test_the_note_reaches_the_model_and_survives_the_cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    tiny = save_tiny_gguf(tmp_path / "tiny.gguf")
    assert convert_gguf(tiny, "m")[0].conversion_notes == ()  # the writer's own files name GPT-2's split
    odd = rewrite_gguf(tiny, tmp_path / "odd.gguf", {"tokenizer.ggml.pre": ("mystery-7b", VT.STRING)})
    for load in ("converted", "read from the cache"):
        notes = load_model(str(odd), device="cpu").notes
        assert any("'mystery-7b'" in note for note in notes), (load, notes)
