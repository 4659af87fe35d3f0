"""BigBird-Pegasus (google/bigbird-pegasus-large-arxiv, -pubmed, -bigpatent) against `transformers` on a tiny random
checkpoint: Pegasus's pre-norm stacks with learned positions from row 0, no biases on attention, each stack closed by
a norm it calls layernorm_embedding; sources capped where its block-sparse encoder attention is still full attention
((5 + 2·num_random_blocks)·block_size tokens: 28 here, 704 in the releases), targets at that cap too.
Tolerances (max absolute difference, float32 CPU): patterns 1e-4, logits and hidden states 1e-3.
"""

from __future__ import annotations

import pytest

from attention_core import load_model
from tests.engine.pair_parity import assert_hidden_and_logits_match, assert_patterns_match, pair_and_reference
from tests.tiny_models_seq2seq import save_tiny_seq2seq

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL = 1e-4, 1e-3, 1e-3
SOURCE = "the quick brown fox jumps over the lazy dog"
TARGET = "a fluffy blue creature"


@pytest.fixture(scope="module")
def bigbird_pegasus(tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache-bigbird-pegasus")))
    folder = tmp_path_factory.mktemp("tiny-bigbird-pegasus")
    hf = save_tiny_seq2seq("bigbird_pegasus", folder)
    return hf, load_model(str(folder), device="cpu")


def test_patterns_hidden_states_and_logits_match_transformers(bigbird_pegasus):
    hf, ours = bigbird_pegasus
    pair, out = pair_and_reference(hf, ours, SOURCE, TARGET)
    assert_patterns_match(ours, pair, out, PATTERN_TOL)
    assert_hidden_and_logits_match(pair, out, HIDDEN_TOL, LOGIT_TOL)


def test_texts_are_capped_where_the_encoder_attends_to_every_key(bigbird_pegasus):
    _, ours = bigbird_pegasus
    cfg = ours.config
    assert (cfg.n_ctx, cfg.decoder_positions, cfg.attn_bias, cfg.pos_offset) == (28, 128, False, 0)
    assert "Texts are capped at 28 tokens" in ours.notes[0] and "blocks.0.attn.b_Q" not in ours.weights
    long_text = " ".join([SOURCE] * 4)
    pair = ours.trace_pair(long_text, long_text)  # the model's cap holds for both texts
    assert pair.encoder.n_tokens == pair.decoder.n_tokens == 28 and pair.encoder.truncated
