"""Folders that hold only a slow tokenizer's files (no tokenizer.json), for tests/engine/test_slow_tokenizer.py
(parity with transformers) and test_slow_tokenizer_errors.py (clear messages): WordPiece's vocab.txt and byte-level
BPE's vocab.json + merges.txt from the tiny test tokenizers (tests/tiny_tokenizers.py), and SentencePiece unigram
models trained by the sentencepiece package (a test dependency; the engine reads the file without it)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.tiny_tokenizers import CORPUS, byte_bpe, wordpiece

WORDPIECE_SIZE = len(wordpiece(200).get_vocab())
# Trainer settings laid out as DeBERTa-v3's spm.model ([PAD] [CLS] [SEP] [UNK] first), T5's spiece.model (<pad> </s>
# <unk> first, no BOS) and XLM-R's sentencepiece.bpe.model (<unk> <s> </s> first; a unigram model despite its name)
DEBERTA_V3 = {"pad_id": 0, "bos_id": 1, "eos_id": 2, "unk_id": 3, "pad_piece": "[PAD]", "bos_piece": "[CLS]",
               "eos_piece": "[SEP]", "unk_piece": "[UNK]"}  # fmt: skip
T5 = {"pad_id": 0, "eos_id": 1, "unk_id": 2, "bos_id": -1}
XLM_R = {"unk_id": 0, "bos_id": 1, "eos_id": 2, "pad_id": -1}  # fairseq's dictionary shifts these (slow_tokenizer)
# Llama 2's tokenizer.model: a BPE spelling what it cannot by bytes (<0x00> … <0xFF> after <unk> <s> </s>)
LLAMA = {"unk_id": 0, "bos_id": 1, "eos_id": 2, "pad_id": -1, "byte_fallback": True, "model_type": "bpe"}


def wordpiece_folder(folder: Path, settings: dict | None) -> Path:
    vocab = sorted(wordpiece(200).get_vocab().items(), key=lambda kv: kv[1])
    (folder / "vocab.txt").write_text("".join(token + "\n" for token, _ in vocab), encoding="utf-8")
    return with_settings(folder, settings)


def byte_bpe_folder(folder: Path, settings: dict | None) -> Path:
    model = json.loads(byte_bpe(300).to_str())["model"]
    (folder / "vocab.json").write_text(json.dumps(model["vocab"]), encoding="utf-8")
    merges = [" ".join(m) if isinstance(m, list) else m for m in model["merges"]]
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    return with_settings(folder, settings)


def with_settings(folder: Path, settings: dict | None) -> Path:
    if settings is not None:
        (folder / "tokenizer_config.json").write_text(json.dumps(settings), encoding="utf-8")
    return folder


def added(content: str, special: bool = True, lstrip: bool = False) -> dict:
    return {"content": content, "lstrip": lstrip, "rstrip": False, "single_word": False, "normalized": not special,
            "special": special}  # fmt: skip


def spm_folder(folder: Path, name: str, trainer: dict, model_type: str = "unigram") -> Path:
    import sentencepiece

    corpus = [*CORPUS, "Ｆｕｌｌwidth ﬁ café"]  # NFKC folds these: the model's normaliser table has work to do
    settings = {"model_type": model_type, "vocab_size": 60 + 256 * bool(trainer.get("byte_fallback")), **trainer}
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus), model_prefix=str(folder / "trained"), hard_vocab_limit=False, num_threads=1,
        minloglevel=2, **settings,
    )  # fmt: skip
    (folder / "trained.model").rename(folder / name)
    (folder / "trained.vocab").unlink()  # the pieces as text, which no tokenizer class reads
    return folder
