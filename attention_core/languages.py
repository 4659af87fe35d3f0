"""The language tokens of multilingual translation models (NLLB-200, mBART-50, M2M100).

Such a model reads which language a text is in from one token its tokenizer puts first ("eng_Latn", "en_XX",
"__en__"), and is told which language to write by the decoder's first token after its start token (transformers'
`forced_bos_token_id`, set from `tgt_lang`). A tokenizer.json fixes the source's language in its post-processor (the
one its `src_lang` named when it was saved), so choosing another swaps that first token: the ids are then the ones
transformers' tokenizer gives with `src_lang` (or, for a target, `tgt_lang`) set. The candidates are the tokenizer's
own special added tokens other than its named ones (<s>, </s>, <pad>, [CLS], ...): the language codes these
tokenizers list as additional special tokens. A tokenizer whose encodings do not start with one (mBART-cc25's puts
its language last; T5, Marian) has no languages here.
"""

from __future__ import annotations

import dataclasses

from .errors import InputError
from .tokenizer import Encoding, TextTokenizer


def language_tokens(tokenizer: TextTokenizer) -> tuple[str, ...]:
    """The language tokens a text may be marked with, in vocabulary order; () when encodings start with none."""
    added = tokenizer.tokenizer.get_added_tokens_decoder()  # {id: AddedToken}
    codes = [added[i].content for i in sorted(added) if added[i].special and not _named(added[i].content)]
    return tuple(codes) if leading_token(tokenizer) in codes else ()


def _named(token: str) -> bool:
    """<s>, </s>, <pad>, <unk>, <mask>, [CLS], <|endoftext|>: a special token with a role, not a language."""
    return token[:1] in "<[" and token[-1:] in ">]"


def leading_token(tokenizer: TextTokenizer) -> str | None:
    """The token the tokenizer.json puts first in every text (None if a text gets none): a translation tokenizer's
    default language (its post-processor's), where `language_tokens` lists it."""
    first = tokenizer.tokenizer.encode("a").ids[:1]
    return tokenizer.tokenizer.id_to_token(first[0]) if first else None


def language_id(tokenizer: TextTokenizer, language: str, codes: tuple[str, ...]) -> int:
    """The id of the language token `language`, one of `codes` (the tokenizer's `language_tokens`). Raises InputError
    for one this tokenizer does not mark texts with."""
    if language not in codes:
        known = f"one of its {len(codes)} language tokens, such as {', '.join(codes[:3])}" if codes else "it has none"
        raise InputError(f"{language!r} is not a language this model's tokenizer marks texts with ({known}).")
    return int(tokenizer.tokenizer.token_to_id(language))


def with_language(
    encoding: Encoding, tokenizer: TextTokenizer, language: str | None, codes: tuple[str, ...]
) -> Encoding:
    """`encoding` with its leading language token replaced by `language` (None: left as the tokenizer put it), one of
    `codes` (the tokenizer's `language_tokens`). Raises InputError for a language this tokenizer does not know."""
    if language is None:
        return encoding
    token_id = language_id(tokenizer, language, codes)
    ids, tokens = [token_id, *encoding.ids[1:]], [tokenizer.decode_token(token_id), *encoding.tokens[1:]]
    return dataclasses.replace(encoding, ids=ids, tokens=tokens)
