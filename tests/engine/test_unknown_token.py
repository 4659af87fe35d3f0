"""The tokenizer's unknown token (attention_core.tokenizer.TextTokenizer.unk_id), as each kind of vocabulary keeps it:
WordPiece's unk_token, Unigram's unk_id; a byte-level BPE has none (it lacks no byte)."""

from __future__ import annotations

from attention_core.tokenizer import TextTokenizer
from tests.tiny_models_later import ESM_VOCAB
from tests.tiny_tokenizers import byte_bpe, sentencepiece_unigram, wordpiece


def test_each_vocabulary_names_its_unknown_token() -> None:
    assert TextTokenizer(wordpiece(300)).unk_id == 1  # [UNK]
    assert TextTokenizer(sentencepiece_unigram(300)).unk_id == 2  # <unk>, as T5's
    assert TextTokenizer(byte_bpe(300)).unk_id is None


def test_an_esm_vocabulary_reads_unknown_letters_as_unk(tmp_path) -> None:
    from attention_core.loading.esm_tokenizer import esm_tokenizer

    (tmp_path / "vocab.txt").write_text("\n".join(ESM_VOCAB) + "\n")
    tok = TextTokenizer(esm_tokenizer(tmp_path, {}))
    enc = tok.encode("MKJ", 16)
    assert tok.unk_id == ESM_VOCAB.index("<unk>") and tok.unk_id in enc.ids
