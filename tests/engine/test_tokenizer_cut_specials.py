"""A text cut at the token cap keeps the special tokens the tokenizer appends (BERT's [SEP], a GGUF's EOS with
tokenizer.ggml.add_eos_token), as transformers' tokenizer(text, truncation=True, max_length=n) does, and cuts a
special token the user typed like any other text. Reference: transformers' PreTrainedTokenizerFast over the same
tokenizers.Tokenizer; ids must be equal (exact)."""

from __future__ import annotations

import pytest
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from attention_core.tokenizer import TextTokenizer

VOCAB = ["<s>", "</s>", "[CLS]", "[SEP]", "a", "b", "c", "Ġ", "Ġa", "Ġb", "Ġc"]


def byte_level(template: str) -> Tokenizer:
    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(VOCAB)}, merges=[("Ġ", "a"), ("Ġ", "b"), ("Ġ", "c")]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True) for t in ("<s>", "</s>")])
    tok.post_processor = processors.TemplateProcessing(single=template, special_tokens=[("<s>", 0), ("</s>", 1)])
    return tok


def wordpiece() -> Tokenizer:
    tok = Tokenizer(models.WordPiece(vocab={t: i for i, t in enumerate([*VOCAB, "[UNK]"])}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.WordPiece()
    tok.add_special_tokens([AddedToken(t, special=True) for t in ("[CLS]", "[SEP]")])
    special = [("[CLS]", 2), ("[SEP]", 3)]
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=special)
    return tok


TOKENIZERS = {
    "byte-level, BOS and EOS appended": lambda: byte_level("<s> $A </s>"),
    "byte-level, BOS only": lambda: byte_level("<s> $A"),
    "WordPiece, [CLS] and [SEP]": wordpiece,
}
TEXTS = ["a b c a b c", "a b c</s>", "a b</s> c a", "a b c a b c</s>"]


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("kind", TOKENIZERS)
@pytest.mark.parametrize("cap", [3, 4, 5])
def test_a_cut_keeps_what_the_tokenizer_appends_like_transformers(kind: str, text: str, cap: int) -> None:
    tok = TOKENIZERS[kind]()
    reference = PreTrainedTokenizerFast(tokenizer_object=tok)(text, truncation=True, max_length=cap)["input_ids"]
    whole = tok.encode(text).ids
    enc = TextTokenizer(tok).encode(text, max_tokens=cap)
    assert enc.ids == (reference if len(whole) > cap else whole)
    assert enc.n_input_tokens == len(whole)
    assert len(enc.offsets) == len(enc.ids) == len(enc.tokens)
