"""Slow tokenizer files that cannot be read as they stand give a clear ModelLoadError naming the file and what is
wrong, never another exception: a class not built here, a missing or empty vocabulary, merges that do not fit it, a
setting of the wrong kind, an added token at another id than its folder gives, a truncated, damaged or BPE
SentencePiece model, an unreadable normaliser table, T5 sentinels past any real count. (No transformers here: this
file is in `make test-fast`.)"""

from __future__ import annotations

import pytest

from attention_core.errors import ModelLoadError
from attention_core.loading.sentencepiece_model import read_sentencepiece
from attention_core.loading.slow_tokenizer import tokenizer_from_slow_files
from tests.slow_tokenizer_folders import (
    DEBERTA_V3,
    T5,
    WORDPIECE_SIZE,
    added,
    byte_bpe_folder,
    spm_folder,
    with_settings,
    wordpiece_folder,
)


def test_a_folder_without_slow_files_has_none(tmp_path):
    (tmp_path / "tokenizer_config.json").write_text('{"tokenizer_class": "BertTokenizer"}')
    assert tokenizer_from_slow_files(tmp_path, "bert") is None
    (tmp_path / "vocab.json").write_text("{}")  # a slow file, but not the one this class reads
    with pytest.raises(ModelLoadError, match="a BertTokenizer needs vocab.txt, which the folder does not have"):
        tokenizer_from_slow_files(tmp_path, "bert")


@pytest.mark.parametrize(
    ("write", "settings", "model_type", "said"),
    [
        (byte_bpe_folder, {"tokenizer_class": "XLNetTokenizer"}, None, "tokenizer class XLNetTokenizer is not one"),
        (byte_bpe_folder, None, "llama", r"tokenizer class \(not named\) is not one"),
        (byte_bpe_folder, {"tokenizer_class": "BertTokenizer"}, None, "a BertTokenizer needs vocab.txt"),
        (wordpiece_folder, {"tokenizer_class": "RobertaTokenizer"}, None, "needs vocab.json and merges.txt"),
    ],
)
def test_a_tokenizer_class_not_built_here_is_a_clear_error(tmp_path, write, settings, model_type, said):
    folder = write(tmp_path, settings)
    with pytest.raises(ModelLoadError, match=said) as raised:
        tokenizer_from_slow_files(folder, model_type)
    assert str(folder.name) in str(raised.value)


def test_broken_slow_files_are_clear_errors(tmp_path):
    folder = byte_bpe_folder(tmp_path, {"tokenizer_class": "GPT2Tokenizer"})
    merges = (folder / "merges.txt").read_text(encoding="utf-8")
    (folder / "merges.txt").write_text(merges + "only-one-token\n", encoding="utf-8")
    with pytest.raises(ModelLoadError, match=r"merges.txt line \d+ is not two tokens"):
        tokenizer_from_slow_files(folder, None)
    (folder / "merges.txt").write_text(merges + "zzzq qqqz\n", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="vocab.json and merges.txt do not fit together"):
        tokenizer_from_slow_files(folder, None)
    (folder / "vocab.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="vocab.json holds no tokens"):
        tokenizer_from_slow_files(folder, None)
    (folder / "vocab.json").write_text("[1, 2]")
    with pytest.raises(ModelLoadError, match="should hold a JSON object"):
        tokenizer_from_slow_files(folder, None)
    (folder / "tokenizer_config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="tokenizer_config.json is not valid JSON"):
        tokenizer_from_slow_files(folder, None)


def test_an_added_token_at_another_id_than_its_folder_says_is_a_clear_error(tmp_path):
    settings = {"tokenizer_class": "BertTokenizer", "added_tokens_decoder": {"500": added("[NEW]")}}
    folder = wordpiece_folder(tmp_path, settings)
    with pytest.raises(ModelLoadError, match=rf"'\[NEW\]' is given id 500, but .* puts it at {WORDPIECE_SIZE}"):
        tokenizer_from_slow_files(folder, None)


def test_broken_sentencepiece_files_are_clear_errors(tmp_path):
    folder = spm_folder(tmp_path, "spm.model", DEBERTA_V3)
    data = (folder / "spm.model").read_bytes()
    (folder / "spm.model").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="spm.model is not a readable SentencePiece model"):
        tokenizer_from_slow_files(folder, "deberta-v2")
    (folder / "spm.model").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="it holds no pieces"):
        tokenizer_from_slow_files(folder, "deberta-v2")
    piece = b"\x0a\x01a" + b"\x1a\x01x"  # text "a", then its kind (field 3) written as bytes, not a number
    (folder / "spm.model").write_bytes(b"\x0a" + bytes([len(piece)]) + piece)
    with pytest.raises(ModelLoadError, match="a field holds bytes where a number belongs"):
        tokenizer_from_slow_files(folder, "deberta-v2")
    (folder / "spm.model").unlink()
    spm_folder(folder, "spm.model", DEBERTA_V3, model_type="bpe")
    with pytest.raises(ModelLoadError, match="spm.model is not a unigram SentencePiece model, which this folder's"):
        tokenizer_from_slow_files(folder, "deberta-v2")


def test_a_damaged_sentencepiece_file_is_a_clear_error_or_a_model(tmp_path):
    """Bytes changed anywhere (a hostile or corrupt download): read_sentencepiece gives a model or ModelLoadError,
    never another exception."""
    import random

    path = spm_folder(tmp_path, "spm.model", DEBERTA_V3) / "spm.model"
    data, rng, outcomes = path.read_bytes(), random.Random(0), set()
    for _ in range(300):
        damaged = bytearray(data if rng.random() < 0.5 else data[: rng.randrange(1, len(data))])
        for _ in range(rng.randrange(1, 4)):  # in the pieces and the trainer's settings, which come first
            damaged[rng.randrange(min(len(damaged), 2000))] = rng.randrange(256)
        path.write_bytes(bytes(damaged))
        try:
            read_sentencepiece(path)
            outcomes.add("read")
        except ModelLoadError as exc:
            assert "spm.model is not a readable SentencePiece model" in str(exc)
            outcomes.add("refused")
    assert outcomes == {"read", "refused"}


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ({"tokenizer_class": "BertTokenizer", "added_tokens_decoder": {"one": added("[NEW]")}}, "wrong kind"),
        ({"tokenizer_class": "BertTokenizer", "added_tokens_decoder": ["[NEW]"]}, "wrong kind"),
        ({"tokenizer_class": "BertTokenizer", "cls_token": 7}, "neither a string nor a dict"),
        ({"tokenizer_class": "BertTokenizer", "additional_special_tokens": 5}, "wrong kind"),
    ],
)
def test_settings_of_the_wrong_kind_are_clear_errors(tmp_path, settings, said):
    with pytest.raises(ModelLoadError, match=said):
        tokenizer_from_slow_files(wordpiece_folder(tmp_path, settings), None)


def test_t5_settings_out_of_bounds_are_clear_errors(tmp_path):
    folder = spm_folder(tmp_path, "spiece.model", T5)
    with_settings(folder, {"tokenizer_class": "T5Tokenizer", "extra_ids": 10**9})  # not a memory budget
    with pytest.raises(ModelLoadError, match="extra_ids is 1000000000; T5's are 0 to 10000"):
        tokenizer_from_slow_files(folder, None)


def test_an_unreadable_normaliser_table_is_a_clear_error(tmp_path):
    piece, table = b"\x0a\x01a", b"\x12\x07garbage"  # one piece "a"; the normaliser's table (field 2): 7 bad bytes
    model = b"\x0a" + bytes([len(piece)]) + piece + b"\x1a" + bytes([len(table)]) + table
    (tmp_path / "spiece.model").write_bytes(model)
    with pytest.raises(ModelLoadError, match="spiece.model's normaliser table is not readable"):
        tokenizer_from_slow_files(tmp_path, "t5")
