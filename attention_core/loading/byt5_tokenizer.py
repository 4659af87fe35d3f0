"""ByT5's tokenizer (google/byt5-small to -xxl and their fine-tunes: T5 v1.1 reading UTF-8 bytes), built as
transformers' ByT5Tokenizer builds it; its folders ship no tokenizer file at all, only tokenizer_config.json naming
the class.

Each byte of the text's UTF-8 is one token, its id the byte + 3, after <pad> 0, </s> 1 and <unk> 2 (which, typed in a
text, take the spaces around them, as ByT5Tokenizer's AddedTokens strip them); the sentinels <extra_id_0> …
<extra_id_{n−1}> follow at 259 on (extra_ids of them, 125 unless the folder says); a text ends with </s>. Bytes are
held as GPT-2's printable characters (the tokenizers library's ByteLevel), so a token that is part of a multi-byte
character shows its byte. Parity with transformers' class: tests/engine/test_byt5_tokenizer.py.
"""

from __future__ import annotations

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

from ..tokenizer import byte_level_chars
from .sentencepiece_tokenizers import t5_sentinels

NAMED = ("<pad>", "</s>", "<unk>")  # ids 0, 1, 2; the bytes after them


def byt5_tokenizer(settings: dict) -> Tokenizer:
    """ByT5Tokenizer's ids: bytes at 3 … 258, then the folder's sentinels; every text framed as text </s>."""
    vocab = {token: i for i, token in enumerate(NAMED)}
    vocab.update({char: byte + len(NAMED) for byte, char in byte_level_chars().items()})
    tokenizer = Tokenizer(models.BPE(vocab, [], unk_token="<unk>"))  # no merges: one token a byte
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    named = [AddedToken(t, lstrip=True, rstrip=True, special=True, normalized=False) for t in NAMED]
    tokenizer.add_special_tokens(named)
    tokenizer.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in t5_sentinels(settings)])
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A:0 </s>:0", pair="$A:0 </s>:0 $B:1 </s>:1", special_tokens=[("</s>", 1)]
    )
    return tokenizer
