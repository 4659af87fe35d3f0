"""Text → token ids, and token ids → strings a person can read."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property, lru_cache

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


class TextTokenizer:
    """Wraps a `tokenizers.Tokenizer` with the engine's token cap and readable token strings."""

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        self.byte_level = isinstance(tokenizer.decoder, decoders.ByteLevel)
        self.metaspace = not self.byte_level and uses_metaspace(tokenizer)

    def encode(self, text: str, max_tokens: int) -> Encoding:
        if not isinstance(text, str):
            raise InputError("The text must be a string.")
        if not text.strip():
            raise InputError("The text is empty: type a sentence to see its attention.")
        # A lone surrogate (possible from a URL or JSON) is not valid Unicode; replace it rather than crash.
        text = text.encode("utf-8", errors="replace").decode("utf-8")
        enc = self.tokenizer.encode(text)
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

    def piece_ids(self, text: str) -> list[int]:
        """The ids of `text` on its own: no special tokens added, no cap (e.g. a token the user types)."""
        return list(self.tokenizer.encode(text, add_special_tokens=False).ids)

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


def _appended_tail(ids: list[int], special_mask: list[int]) -> list[int]:
    """The special tokens the tokenizer's post-processor appends after the text (BERT's [SEP], an EOS): a cut keeps
    them, as transformers' truncation does. The mask marks only appended ones, so a special token the user typed
    (SmolLM2's '<|im_end|>' as text) is cut like the rest of the text."""
    n = 0
    while n < len(ids) - 1 and special_mask[len(ids) - 1 - n]:
        n += 1
    return ids[len(ids) - n :]
