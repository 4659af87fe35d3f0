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
