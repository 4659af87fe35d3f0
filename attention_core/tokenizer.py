"""Text → token ids, and token ids → strings a person can read."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from tokenizers import Tokenizer, decoders

from .errors import InputError


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """Inverse of GPT-2's bytes_to_unicode: byte-level BPE spells byte b as a printable character."""
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


def byte_level_chars() -> dict[int, str]:
    """GPT-2's bytes_to_unicode: the printable character byte-level BPE spells each byte (0-255) with."""
    return {b: c for c, b in _byte_decoder().items()}


def byte_level_text(token: str, byte_level: bool) -> str:
    """'Ġfluffy' → ' fluffy'; a token holding part of a multi-byte character shows its bytes ('\\xf0\\x9f')."""
    if not byte_level:
        return token
    table = _byte_decoder()
    if any(c not in table for c in token):
        return token  # special tokens such as <|im_start|> are stored verbatim
    raw = bytes(table[c] for c in token)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="backslashreplace")


MASK_TOKENS = ("[MASK]", "<mask>")  # every masked-language-model family loading/masked_lm.py reads uses one
METASPACE = "\u2581"  # ▁: SentencePiece's word-start mark (Llama 2, Mistral, Gemma, Phi-3 vocabularies)


def uses_metaspace(tokenizer: Tokenizer) -> bool:
    """Whether the decoder turns ▁ back into a space (a Metaspace decoder, or a Replace("▁", " ") step as
    SentencePiece BPE files have): then a readable token shows that space, as a byte-level Ġ does."""
    found = json.loads(tokenizer.to_str()).get("decoder") or {}
    steps = found.get("decoders", [found]) if found.get("type") == "Sequence" else [found]
    for step in steps:
        kind, pattern = step.get("type"), (step.get("pattern") or {}).get("String")
        if kind == "Metaspace" or (kind == "Replace" and pattern == METASPACE and step.get("content") == " "):
            return True
    return False


@dataclass(frozen=True)
class Encoding:
    ids: list[int]
    tokens: list[str]  # readable
    offsets: list[tuple[int, int]]  # character span of each token in the text ((0, 0) for added special tokens)
    n_input_tokens: int  # before the cap
    truncated: bool
    # Where the first token the cap left out ends (0 when none was): a piece of the last kept token's character
    # when it ends there too (generation.prompt_text).
    next_end: int = 0
    segments: Segments | None = None  # a text pair's segments and where its second text starts (None: one text)


PAIR_JOIN = "\n"  # between a pair's two texts in Trace.text, so every token's offsets index that one string


@dataclass(frozen=True)
class Segments:
    """How a text pair (a cross-encoder's query and passage, an NLI premise and hypothesis) was laid out: the
    tokenizer's pair template ([CLS] A [SEP] B [SEP]) with each token's segment (its type id)."""

    ids: tuple[int, ...]  # per token: 0 in the first text and its framing, 1 in the second (BERT's token types)
    second_token: int  # the second text's first token (its position in the trace)
    second_char: int  # where the second text starts in the joined text (after the first and PAIR_JOIN)

    @property
    def second_start(self) -> int | None:
        """`second_token`, or None where the token cap left no token of the second text."""
        return self.second_token if self.second_token < len(self.ids) else None

    def texts(self, joined: str) -> tuple[str, str]:
        """The two texts the joined text was made of."""
        return joined[: self.second_char - len(PAIR_JOIN)], joined[self.second_char :]


class TextTokenizer:
    """Wraps a `tokenizers.Tokenizer` with the engine's token cap and readable token strings."""

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        self.byte_level = isinstance(tokenizer.decoder, decoders.ByteLevel)
        self.metaspace = not self.byte_level and uses_metaspace(tokenizer)

    def encode(self, text: str, max_tokens: int) -> Encoding:
        enc = _encoded(self.tokenizer, _checked(text, "The text is empty: type a sentence to see its attention."))
        ids, offsets = list(enc.ids), [tuple(o) for o in enc.offsets]
        if not ids:
            raise InputError("The text produced no tokens.")
        n_input = len(ids)
        truncated = n_input > max_tokens
        next_end = 0
        if truncated:
            keep_last = _appended_tail(ids, enc.special_tokens_mask)  # BERT's [SEP], an appended EOS
            next_end = offsets[max_tokens - len(keep_last)][1]
            ids = ids[: max_tokens - len(keep_last)] + keep_last
            offsets = offsets[: max_tokens - len(keep_last)] + [(0, 0)] * len(keep_last)
        tokens = [self.decode_token(i) for i in ids]
        return Encoding(
            ids=ids, tokens=tokens, offsets=offsets, n_input_tokens=n_input, truncated=truncated, next_end=next_end
        )

    @cached_property
    def reads_two_texts(self) -> bool:
        """Whether the post-processor has a pair template that marks where the second text starts (BERT's
        [CLS] A [SEP] B [SEP], RoBERTa's <s> A </s></s> B </s>): a tokenizer without one would just run two texts
        together."""
        return self.tokenizer.num_special_tokens_to_add(True) > self.tokenizer.num_special_tokens_to_add(False)

    def encode_two_texts(self, first: str, second: str, max_tokens: int) -> Encoding:
        """Two texts as the tokenizer's pair template lays them out, with each token's segment, cut to `max_tokens`
        as transformers' `tokenizer(first, second, truncation=True)` cuts them (longest first). The tokens' offsets
        index `first + PAIR_JOIN + second`."""
        a = _encoded(self.tokenizer, _checked(first, "The first text is empty."), add_special_tokens=False)
        b = _encoded(self.tokenizer, _checked(second, "The second text is empty."), add_special_tokens=False)
        budget = max_tokens - self.tokenizer.num_special_tokens_to_add(True)
        if budget < 1:
            raise InputError(f"A text pair needs a token cap of at least {max_tokens - budget + 1}.")
        n_input = len(a.ids) + len(b.ids)
        if n_input > budget:
            a_len, b_len = _longest_first(len(a.ids), len(b.ids), budget)
            a.truncate(a_len)
            b.truncate(b_len)
        enc = self.tokenizer.post_process(a, b, add_special_tokens=True)
        ids, sequences = list(enc.ids), list(enc.sequence_ids)
        shift = len(first) + len(PAIR_JOIN)
        offsets = [  # the second text's spans moved past the first text and PAIR_JOIN; special tokens stay (0, 0)
            (s + shift, e + shift) if seq == 1 and e > s else (s, e)
            for (s, e), seq in zip(enc.offsets, sequences, strict=True)
        ]
        segments = Segments(
            ids=tuple(enc.type_ids),
            second_token=next((i for i, seq in enumerate(sequences) if seq == 1), len(ids)),
            second_char=shift,
        )
        tokens = [self.decode_token(i) for i in ids]
        n_specials = len(ids) - len(a.ids) - len(b.ids)
        return Encoding(ids, tokens, offsets, n_input + n_specials, n_input > budget, segments=segments)

    def piece_ids(self, text: str) -> list[int]:
        """The ids of `text` on its own: no special tokens added, no cap (e.g. a token the user types)."""
        return list(_encoded(self.tokenizer, text, add_special_tokens=False).ids)

    def token_id(self, token: str) -> int | None:
        return self.tokenizer.token_to_id(token)

    @cached_property
    def unk_id(self) -> int | None:
        """The id this tokenizer gives a piece its vocabulary lacks ([UNK], <unk>), or None where it has none (a
        byte-level vocabulary covers every byte). Read once from its model's JSON: Unigram keeps an unk_id,
        WordPiece, WordLevel and BPE an unk_token."""
        model = json.loads(self.tokenizer.to_str()).get("model") or {}
        if isinstance(model.get("unk_id"), int):
            return model["unk_id"]
        token = model.get("unk_token")
        return self.tokenizer.token_to_id(token) if isinstance(token, str) and token else None

    @property
    def mask_token(self) -> str | None:
        """The token a masked-language model fills in, as one types it ("[MASK]": BERT's kin; "<mask>": RoBERTa's
        and ESM's), or None where the vocabulary has neither."""
        return next((t for t in MASK_TOKENS if self.tokenizer.token_to_id(t) is not None), None)

    def decode(self, ids: list[int]) -> str:
        """The text of a sequence of ids (bytes of one character split over tokens join up again)."""
        return self.tokenizer.decode(list(ids), skip_special_tokens=False)

    def decode_token(self, token_id: int) -> str:
        """One token as readable text: byte-level Ġ and SentencePiece ▁ shown as the space they stand for."""
        token = byte_level_text(self.tokenizer.id_to_token(token_id) or "", self.byte_level)
        return token.replace(METASPACE, " ") if self.metaspace else token


def _checked(text: str, empty: str) -> str:
    """`text` as the tokenizer takes it, or an InputError saying `empty` when there is nothing to read."""
    if not isinstance(text, str):
        raise InputError("The text must be a string.")
    if not text.strip():
        raise InputError(empty)
    # A lone surrogate (possible from a URL or JSON) is not valid Unicode; replace it rather than crash.
    return text.encode("utf-8", errors="replace").decode("utf-8")


def _encoded(tokenizer: Tokenizer, text: str, add_special_tokens: bool = True) -> Any:
    """tokenizer.encode(text); what the tokenizers library raises where its tokenizer.json cannot encode the text (a
    WordPiece vocabulary without its [UNK]: a bare Exception) as an InputError saying so."""
    try:
        return tokenizer.encode(text, add_special_tokens=add_special_tokens)
    except Exception as exc:  # the library raises Exception itself, not a subclass
        raise InputError(f"The model's tokenizer cannot encode this text: {exc}.") from exc


def _longest_first(a_len: int, b_len: int, budget: int) -> tuple[int, int]:
    """How many tokens of each text a pair keeps within `budget`: transformers' "longest_first" (the fast
    tokenizers' rule: the shorter keeps up to half, the longer the rest; on a tie the first counts as shorter)."""
    if a_len > b_len:
        b_keep = min(b_len, budget // 2)
        return budget - b_keep, b_keep
    a_keep = min(a_len, budget // 2)
    return a_keep, min(b_len, budget - a_keep)


def _appended_tail(ids: list[int], special_mask: list[int]) -> list[int]:
    """The special tokens the tokenizer's post-processor appends after the text (BERT's [SEP], an EOS): a cut keeps
    them, as transformers' truncation does. The mask marks only appended ones, so a special token the user typed
    (SmolLM2's '<|im_end|>' as text) is cut like the rest of the text."""
    n = 0
    while n < len(ids) - 1 and special_mask[len(ids) - 1 - n]:
        n += 1
    return ids[len(ids) - n :]
