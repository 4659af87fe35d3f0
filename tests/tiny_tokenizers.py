"""Tokenizers for the tiny test models, built from a small corpus, the same in every process.

Byte-level BPE comes from `tokenizers`' own trainer, which breaks ties in a fixed order. Its WordPiece and
Unigram trainers do not: they iterate Rust hash maps seeded per process, so two runs of the same training gave
different vocabularies, the tiny models read different ids for the same text, and an assertion about what a
random model writes held on one machine and failed on another. Those two vocabularies are therefore learned
here, by BPE-style merges with ties broken by the pair itself (most frequent pair first, then the smallest in
string order), which is how WordPiece's trainer builds its vocabulary too.
"""

from __future__ import annotations

import math
from collections import Counter
from itertools import pairwise

CORPUS = [
    "a fluffy blue creature roamed the verdant forest",
    "one mole of carbon dioxide",
    "take a biopsy of the mole",
    "the quick brown fox jumps over the lazy dog",
    "attention is all you need, said the paper in 2017",
] * 20


def byte_bpe(vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    return tok


def merged_pieces(words: Counter[str], budget: int, glue: str = "") -> list[tuple[str, int]]:
    """(piece, count) in the order learned: every character first (with glue, as WordPiece's '##', each one
    both as a word's start and as a later piece), then up to `budget` pieces in all, each the merge of the most
    frequent adjacent pair."""
    spelled = {w: [w[0], *(glue + c for c in w[1:])] for w in sorted(words)}
    chars: Counter[str] = Counter({f: 0 for c in set("".join(words)) for f in (c, glue + c)} if glue else {})
    for w, symbols in spelled.items():
        for s in symbols:
            chars[s] += words[w]
    learned = sorted(chars.items(), key=lambda kv: (-kv[1], kv[0]))
    while len(learned) < budget:
        pairs: Counter[tuple[str, str]] = Counter()
        for w, symbols in spelled.items():
            for pair in pairwise(symbols):
                pairs[pair] += words[w]
        if not pairs:
            break
        (a, b), count = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        joined = a + b.removeprefix(glue)
        learned.append((joined, count))
        for w, symbols in spelled.items():
            spelled[w] = _merge(symbols, a, b, joined)
    return learned


def _merge(symbols: list[str], a: str, b: str, joined: str) -> list[str]:
    out: list[str] = []
    for s in symbols:
        if out and out[-1] == a and s == b:
            out[-1] = joined
        else:
            out.append(s)
    return out


def _words(tok) -> Counter[str]:
    """The corpus's words as this tokenizer's normalizer and pre-tokenizer cut them."""
    words: Counter[str] = Counter()
    for text in CORPUS:
        normal = tok.normalizer.normalize_str(text) if tok.normalizer else text
        words.update(w for w, _ in tok.pre_tokenizer.pre_tokenize_str(normal))
    return words


def wordpiece(vocab_size: int):
    """BERT's layout: [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4, lower-cased, '##' on a word's later pieces,
    and [CLS] … [SEP] around every text ([CLS] A [SEP] B [SEP] around a pair, B in segment 1)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    probe = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    probe.normalizer = normalizers.BertNormalizer(lowercase=True)
    probe.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    pieces = [p for p, _ in merged_pieces(_words(probe), vocab_size - len(specials), glue="##")]
    tok = Tokenizer(models.WordPiece({p: i for i, p in enumerate([*specials, *pieces])}, unk_token="[UNK]"))
    tok.normalizer, tok.pre_tokenizer = probe.normalizer, probe.pre_tokenizer
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[(t, tok.token_to_id(t)) for t in ("[CLS]", "[SEP]")],
    )
    return tok


def sentencepiece_unigram(vocab_size: int, merges: int = 20):
    """A SentencePiece-style Unigram tokenizer laid out like T5's tokenizer.json: <pad> 0, </s> 1, <unk> 2,
    ▁ marking word starts, and </s> appended to every text. A piece's score is the log of its share of the
    corpus's characters when it was learned, so Viterbi prefers the longer pieces, as a trained one does.
    Only a few merges: words stay cut into several pieces, so a sentence is long enough (35-odd tokens) to reach
    the tiny T5's far relative-position buckets."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    specials = ["<pad>", "</s>", "<unk>"]
    probe = Tokenizer(models.Unigram())
    probe.pre_tokenizer = pre_tokenizers.Metaspace()
    words = _words(probe)
    total = sum(len(w) * n for w, n in words.items())
    n_chars = len(set("".join(words)))
    learned = merged_pieces(words, min(vocab_size - len(specials), n_chars + merges))
    vocab = [(s, 0.0) for s in specials] + [(p, math.log(n / total)) for p, n in learned]
    tok = Tokenizer(models.Unigram(vocab, unk_id=2, byte_fallback=False))
    tok.pre_tokenizer = probe.pre_tokenizer
    tok.decoder = decoders.Metaspace()
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", tok.token_to_id("</s>"))]
    )
    return tok
