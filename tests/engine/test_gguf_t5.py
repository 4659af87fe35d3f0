"""T5 as llama.cpp writes it ('t5': Flan-T5, T5, mT5), read as the transformers model the file was written from and
that model's own T5 tokenizer (spiece.model: a 't5' vocabulary, the 100 <extra_id_N> blanks written as unused [PAD…]
tokens after the pieces and named back). Both MLP kinds: original T5 (ReLU, tied embeddings: the decoder's output
× d_model^-0.5, as transformers computes it; llama.cpp leaves that scale out) and Flan-T5 (GeGLU, its own output
matrix). The file holds no relative_attention_max_distance: llama.cpp's fixed 128, T5's own, so the tiny models use
it; the texts reach the logarithmic buckets (past 4 tokens with 8 buckets).

Tolerances (max absolute, float32 CPU): patterns 1e-4 (encoder, decoder, cross-attention); logits and hidden states
1e-3.
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

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL = 1e-4, 1e-3, 1e-3
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


def test_t5s_encoder_alone_as_a_folder_and_as_a_t5encoder_file(tmp_path, monkeypatch):
    """T5EncoderModel (sentence-T5, GTR, image models' text encoders): config.json naming it gives arch t5_encoder
    (no decoder, no language-model head), and llama.cpp's 't5encoder' file of the same encoder reads alike; both
    against transformers' T5EncoderModel on the same weights."""
    import shutil

    import torch

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    folder = t5_folder(tmp_path)
    reference = transformers.AutoTokenizer.from_pretrained(str(folder))
    full = save_tiny_t5(tmp_path / "full", "gated-gelu", vocab=len(reference) + 8, max_distance=128)
    encoder = transformers.T5EncoderModel(full.config)
    encoder.load_state_dict(full.state_dict(), strict=False)
    encoder = encoder.eval()
    encoder.set_attn_implementation("eager")
    encoder.save_pretrained(tmp_path / "encoder")
    shutil.copy(folder / "spiece.model", tmp_path / "encoder")
    shutil.copy(folder / "tokenizer_config.json", tmp_path / "encoder")
    path = write_t5_gguf(full, folder, tmp_path / "enc.gguf", tied=False, encoder_only=True)
    for source in (str(tmp_path / "encoder"), str(path)):
        ours = load_model(source, device="cpu")
        trace = ours.trace(SOURCE)
        assert trace.token_ids == reference(SOURCE).input_ids
        with torch.inference_mode():
            out = encoder(torch.tensor([trace.token_ids]), output_attentions=True, output_hidden_states=True)
        for layer in range(2):
            assert (trace.layer_patterns(layer) - out.attentions[layer][0]).abs().max() <= PATTERN_TOL, source
            assert (trace.resid(layer) - out.hidden_states[layer][0]).abs().max() <= HIDDEN_TOL, source
        cfg = ours.config
        assert (cfg.arch, cfg.n_decoder_layers, cfg.has_lm_head, trace.logits) == ("t5_encoder", 0, False, None)
        assert "dec.blocks.0.attn.W_Q" not in ours.weights and "unembed.W_U" not in ours.weights
        assert ours.parameter_counts()["total"] == sum(p.numel() for p in encoder.parameters())
