"""Tokenizers from a SentencePiece model file (read by sentencepiece_model.py), built as transformers' class for the
folder builds them: T5's, DeBERTa-v2's and XLM-R's unigram models, and Llama's (Llama 2, Mistral v0.1: tokenizer.model)
BPE with byte fallback. slow_tokenizer.py picks the class and adds the special tokens and the framing; parity with
transformers: tests/engine/test_slow_tokenizer.py.
"""

from __future__ import annotations

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

from ..errors import ModelLoadError
from .sentencepiece_model import BPE, CONTROL, UNIGRAM, USER_DEFINED, SentencePieceModel

METASPACE = "\u2581"  # ▁, SentencePiece's word-start mark
MAX_SENTINELS = 10_000  # a bound on T5's extra_ids (100 in every T5): a file's number is not a memory budget


def spm_added_tokens(model: SentencePieceModel) -> list[AddedToken]:
    """A SentencePiece model's control pieces ([CLS], </s>: special) and user-defined ones: matched whole, before
    any normalisation."""
    kinds = (CONTROL, USER_DEFINED)
    return [AddedToken(p.text, normalized=False, special=p.kind == CONTROL) for p in model.pieces if p.kind in kinds]


def t5_sentinels(settings: dict) -> list[str]:
    """T5's <extra_id_0> … tokens (extra_ids of them: 100 unless the folder says)."""
    count = int(settings.get("extra_ids", 100))
    if not 0 <= count <= MAX_SENTINELS:
        raise ModelLoadError(f"tokenizer_config.json's extra_ids is {count}; T5's are 0 to {MAX_SENTINELS}.")
    return [f"<extra_id_{i}>" for i in range(count)]


def sentencepiece_tokenizer(
    model: SentencePieceModel, file: str, framing: str, settings: dict, names: dict[str, str]
) -> Tokenizer:
    """The tokenizer of the class whose `framing` slow_tokenizer.CLASSES gives: "bos" (Llama: BPE), "t5", "bos_eos"
    (XLM-R) or "bert" (DeBERTa-v2) unigram models. `names`: the special tokens' contents by name (unk_token, …)."""
    wanted = BPE if framing == "bos" else UNIGRAM
    if model.model_type != wanted:
        kind = "a BPE" if wanted == BPE else "a unigram"
        raise ModelLoadError(f"{file} is not {kind} SentencePiece model, which this folder's tokenizer class reads.")
    if framing == "bos":
        return _llama(model, settings)
    vocab = [(p.text, p.score) for p in model.pieces]
    if framing == "t5":  # the sentinels follow the pieces, last one first; the unknown token is id 2
        tokenizer = Tokenizer(models.Unigram([*vocab, *((s, 0.0) for s in t5_sentinels(settings)[::-1])], 2, False))
        return _normalised_words(tokenizer, model, file, "always")
    if framing == "bos_eos":  # XLM-R's fairseq ids: <s> <pad> </s> <unk>, then the pieces after the model's own
        # first three (<unk> <s> </s>), each one id later than in the file, then <mask>
        first = [(names[key], 0.0) for key in ("bos_token", "pad_token", "eos_token", "unk_token")]
        tokenizer = Tokenizer(models.Unigram([*first, *vocab[3:], (names["mask_token"], 0.0)], 3, False))
        scheme = "always" if settings.get("add_prefix_space", True) else "never"
        return _normalised_words(tokenizer, model, file, scheme)
    return _deberta_v2(model, vocab, settings, names)


def _deberta_v2(model: SentencePieceModel, vocab: list, settings: dict, names: dict[str, str]) -> Tokenizer:
    """DeBERTa-v2/v3: the unigram model with its own steps instead of the file's normaliser table."""
    unk = (names["unk_token"], 0.0)
    tokenizer = Tokenizer(models.Unigram(vocab, vocab.index(unk) if unk in vocab else model.unk_id, False))
    steps = [normalizers.Lowercase()] if settings.get("do_lower_case", False) else []
    steps += [normalizers.Replace(Regex(r"\s{2,}|[\n\r\t]"), " "), normalizers.NFC(), normalizers.Strip(False, True)]
    tokenizer.normalizer = normalizers.Sequence(steps)
    scheme = "always" if settings.get("add_prefix_space", True) else "first"
    split = [pre_tokenizers.Punctuation("isolated")] if settings.get("split_by_punct", False) else []
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([*split, pre_tokenizers.Metaspace(METASPACE, scheme)])
    tokenizer.decoder = decoders.Metaspace(METASPACE, scheme)
    return tokenizer


def _normalised_words(tokenizer: Tokenizer, model: SentencePieceModel, file: str, scheme: str) -> Tokenizer:
    return normalised_words(tokenizer, model.precompiled_charsmap, f"{file}'s normaliser table is not readable", scheme)


def normalised_words(tokenizer: Tokenizer, charsmap: bytes, unreadable: str, scheme: str) -> Tokenizer:
    """T5's and XLM-R's steps around the unigram model (a SentencePiece file's, or a GGUF's 't5' vocabulary): the
    model's own normaliser table `charsmap` (none where empty; `unreadable` the message where the tokenizers library
    cannot parse it), words split at whitespace, ▁ for each word's start (`scheme`: prepended to every word, or
    never)."""
    if charsmap:
        try:
            tokenizer.normalizer = normalizers.Precompiled(charsmap)
        except Exception as exc:  # the tokenizers library raises a bare Exception for a table it cannot parse
            raise ModelLoadError(f"{unreadable}: {exc}") from exc
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(METASPACE, scheme)]
    )
    tokenizer.decoder = decoders.Metaspace(METASPACE, scheme)
    return tokenizer


def _llama(model: SentencePieceModel, settings: dict) -> Tokenizer:
    """Llama's tokenizer.model: a BPE over the pieces (merges rebuilt from them), bytes for what it cannot spell
    (<0xE2>), ▁ before the text's first word only (every word where legacy, none without add_prefix_space) and for
    each space; the decoder turns ▁ back into spaces and drops the first one."""
    vocab = {p.text: i for i, p in enumerate(model.pieces)}
    tokenizer = Tokenizer(models.BPE(vocab, bpe_merges(vocab), fuse_unk=True, byte_fallback=True, dropout=None))
    prefix = settings.get("add_prefix_space", True) is not False  # None (unset) reads as True, as transformers'
    scheme = ("always" if settings.get("legacy", False) else "first") if prefix else "never"
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(METASPACE, scheme, split=False)
    steps = [decoders.Replace(METASPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
    tokenizer.decoder = decoders.Sequence(steps + ([decoders.Strip(" ", 1, 0)] if prefix else []))
    return tokenizer


def bpe_merges(vocab: dict[str, int]) -> list[tuple[str, str]]:
    """The merges a SentencePiece BPE implies (it stores none): every split of a piece into two pieces of the
    vocabulary, ordered by the merged piece's id (its rank), then the left part's length and the right part's; splits
    of one piece in the order of their parts' ids. As transformers' generate_merges orders them."""
    found: list[tuple[int, str, str]] = []
    for piece, rank in vocab.items():
        local = [(piece[:i], piece[i:]) for i in range(1, len(piece)) if piece[:i] in vocab and piece[i:] in vocab]
        found += [(rank, left, right) for left, right in sorted(local, key=lambda lr: (vocab[lr[0]], vocab[lr[1]]))]
    found.sort(key=lambda m: (m[0], len(m[1]), len(m[2])))
    return [(left, right) for _, left, right in found]
