"""Token strings a person can read, and hostile text that must not break tokenization."""

import pytest

from attention_core.tokenizer import byte_level_text


def test_verdant_splits_into_three_readable_pieces(smollm):
    t = smollm.trace("a fluffy blue creature roamed the verdant forest")
    assert t.tokens == ["a", " fluffy", " blue", " creature", " roamed", " the", " ver", "d", "ant", " forest"]
    assert len(t.token_ids) == len(t.tokens) == len(t.offsets)
    assert t.text[t.offsets[6][0] : t.offsets[8][1]].strip() == "verdant"


def test_wordpiece_tokens_keep_their_markers(minilm):
    t = minilm.trace("a fluffy blue creature roamed the verdant forest")
    assert t.tokens[0] == "[CLS]" and t.tokens[-1] == "[SEP]"
    assert "##ed" in t.tokens


def test_partial_utf8_bytes_are_shown_not_hidden(smollm):
    t = smollm.trace("🦊")
    assert "".join(t.tokens).encode("utf-8", errors="backslashreplace")  # printable
    assert any("\\x" in tok for tok in t.tokens)  # the emoji spans several byte-level tokens
    assert byte_level_text("Ġfluffy", byte_level=True) == " fluffy"
    assert byte_level_text("<|im_start|>", byte_level=True) == "<|im_start|>"


@pytest.mark.parametrize(
    "text",
    ["\u200b\u200bzero width", "\u202eright to left", "\x00\x01control", "\ud800lone surrogate", "😀" * 50,
     "<img src=x onerror=alert(1)>", "a" * 5000],
    ids=["zero-width", "rtl", "control", "surrogate", "emoji", "html", "long"],
)
def test_hostile_text_traces(smollm, minilm, text):
    for model in (smollm, minilm):
        t = model.trace(text, max_tokens=256)
        assert 0 < t.n_tokens <= 256
        assert all(isinstance(tok, str) for tok in t.tokens)


def test_sentencepiece_word_starts_read_as_spaces_like_byte_level_ones():
    """A SentencePiece vocabulary (Llama 2, Mistral, Gemma, Phi-3 GGUF files) marks a word start with ▁; the
    readable token shows a space there, as byte-level vocabularies' Ġ does, and the text still round-trips."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from attention_core.tokenizer import TextTokenizer
    from tests.tiny_models import CORPUS

    raw = Tokenizer(models.BPE(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    raw.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    raw.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=120, special_tokens=["<unk>"]))
    tok = TextTokenizer(raw)
    enc = tok.encode("the mole", max_tokens=16)
    assert "▁the" in raw.encode("the mole").tokens  # the vocabulary does mark word starts with ▁
    assert enc.tokens[0] == " the" and not any("▁" in t for t in enc.tokens)
    assert "".join(enc.tokens) == " the mole" and tok.decode(enc.ids) == "the mole"
    assert tok.decode_token(enc.ids[0]) == " the"
