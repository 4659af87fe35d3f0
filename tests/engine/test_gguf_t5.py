"""T5 as llama.cpp writes it ('t5': Flan-T5, T5, mT5), read as the transformers model the file was written from and
that model's own T5 tokenizer (spiece.model: a 't5' vocabulary, the 100 <extra_id_N> blanks written as unused [PAD…]
tokens after the pieces and named back). Both MLP kinds: original T5 (ReLU, tied embeddings: the decoder's output
× d_model^-0.5, as transformers computes it; llama.cpp leaves that scale out) and Flan-T5 (GeGLU, its own output
matrix). The file holds no relative_attention_max_distance: llama.cpp's fixed 128, T5's own, so the tiny models use
it; the texts reach the logarithmic buckets (past 4 tokens with 8 buckets).

Tolerances (max absolute, float32 CPU): patterns 1e-4 (encoder, decoder, cross-attention); logits 1e-3.
"""

from __future__ import annotations

import pytest

from attention_core import load_model
from attention_core.loading.gguf.reader import Meta, read_gguf
from attention_core.loading.gguf.tokenizer import tokenizer_from_gguf
from tests.engine.pair_parity import assert_patterns_match, pair_and_reference
from tests.gguf_writer_unigram import t5_folder, write_t5_gguf
from tests.texts import TEXTS
from tests.tiny_models import save_tiny_t5

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL = 1e-4, 1e-3
SOURCE = "translate English to German: the quick brown fox jumps over the lazy dog in the verdant forest"
TARGET = "der schnelle braune Fuchs springt über den faulen Hund im grünen Wald"


@pytest.mark.parametrize("feed_forward", ["relu", "gated-gelu"])
def test_a_t5_file_matches_the_model_written_and_its_tokenizer(tmp_path, monkeypatch, feed_forward):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    folder = t5_folder(tmp_path)
    reference = transformers.AutoTokenizer.from_pretrained(str(folder))
    hf = save_tiny_t5(tmp_path / "hf", feed_forward, vocab=len(reference) + 8, max_distance=128)
    path = write_t5_gguf(hf, folder, tmp_path / "t5.gguf", tied=feed_forward == "relu")
    ours = tokenizer_from_gguf(Meta(read_gguf(path)))
    for text in [*TEXTS, "fill <extra_id_0> and <extra_id_99> in", "  runs   of\tspaces </s> <unk>"]:
        assert ours.encode(text).ids == reference(text).input_ids, text
    model = load_model(str(path), device="cpu")
    pair, out = pair_and_reference(hf, model, SOURCE, TARGET)
    assert pair.encoder.n_tokens > 12 and pair.encoder.token_ids == reference(SOURCE).input_ids
    assert_patterns_match(model, pair, out, PATTERN_TOL)
    assert (pair.logits - out.logits[0]).abs().max() <= LOGIT_TOL
    cfg = model.config
    assert (cfg.gated_mlp, cfg.tie_embeddings) == (feed_forward != "relu", feed_forward == "relu")
    assert cfg.n_decoder_layers == 2 and cfg.rel_max_distance == 128 and cfg.decoder_start_token_id == 0
