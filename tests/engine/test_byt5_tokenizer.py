"""A ByT5 folder (google/byt5-*: tokenizer_config.json naming ByT5Tokenizer, no tokenizer file) splits text as
transformers' ByT5Tokenizer does: one token a UTF-8 byte (id byte + 3), <pad> </s> <unk> taking the spaces around them,
the sentinels at 259 on, </s> last. Tolerance: none, ids are integers.

One difference, said in the test: a text that itself ends with a typed </s> gets another here; ByT5Tokenizer adds
none then (and warns that it may, in future versions).
"""

from __future__ import annotations

import json

import pytest

from attention_core.loading.slow_tokenizer import tokenizer_from_slow_files
from attention_core.tokenizer import TextTokenizer
from tests.engine.test_slow_tokenizer import HOSTILE, SPM_HOSTILE
from tests.texts import TEXTS

pytestmark = pytest.mark.parity
transformers = pytest.importorskip("transformers")

MULTI_BYTE = ["héllo wörld", "日本語のテキスト", "emoji 🦔 and ﬁ", "x <extra_id_0> y <extra_id_124>z",
              " a </s> b <pad>"]  # fmt: skip


@pytest.mark.parametrize("extra_ids", [125, 3])
def test_a_byt5_folder_splits_text_as_transformers_does(tmp_path, extra_ids):
    settings = {"tokenizer_class": "ByT5Tokenizer", "extra_ids": extra_ids}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(settings), encoding="utf-8")
    ours = tokenizer_from_slow_files(tmp_path, "t5")
    reference = transformers.ByT5Tokenizer(extra_ids=extra_ids)
    for text in TEXTS + HOSTILE + SPM_HOSTILE + MULTI_BYTE:
        expected = reference(text).input_ids
        assert ours.encode(text).ids == expected, text
        assert ours.decode(expected, skip_special_tokens=False) == reference.decode(expected), text
    # The same ids, and the same added tokens; the bytes are spelled as GPT-2's printable characters here, as chr(byte)
    # there (a byte of a multi-byte character shows as its byte either way: TextTokenizer below)
    assert sorted(ours.get_vocab(with_added_tokens=True).values()) == sorted(reference.get_vocab().values())
    assert {t: ours.token_to_id(t) for t in reference.added_tokens_encoder} == reference.added_tokens_encoder
    assert ours.encode("x </s>").ids == [123, 1, 1]  # the difference: transformers' [123, 1]
    shown = TextTokenizer(ours).encode("hé", 8).tokens  # a byte of a multi-byte character shows as its byte
    assert shown[0] == "h" and shown[-1] == "</s>" and len(shown) == 4


def test_a_byt5_checkpoint_without_tokenizer_files_reads_bytes_as_transformers_runs_it(tmp_path, monkeypatch):
    """google/byt5-small's layout: a T5 v1.1 checkpoint of 384 ids and tokenizer_config.json alone; its pair trace
    reads the bytes' ids and gives transformers' logits (the pair parity itself: tests/engine/test_hf_t5.py)."""
    import torch

    from attention_core import load_model
    from tests.tiny_models import save_tiny_t5

    hf = save_tiny_t5(tmp_path, feed_forward="gated-gelu", vocab=384)
    (tmp_path / "tokenizer.json").unlink()
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "ByT5Tokenizer"}))
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    pair = load_model(str(tmp_path), device="cpu").trace_pair("héllo wörld", "bonjour")
    reference = transformers.ByT5Tokenizer()
    assert pair.encoder.token_ids == reference("héllo wörld").input_ids
    assert pair.decoder.token_ids == [0, *reference("bonjour").input_ids]  # the decoder starts at <pad>
    with torch.inference_mode():
        src, tgt = torch.tensor([pair.encoder.token_ids]), torch.tensor([pair.decoder.token_ids])
        out = hf(input_ids=src, decoder_input_ids=tgt)
    assert (pair.logits - out.logits[0]).abs().max() <= 1e-3
