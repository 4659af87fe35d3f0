"""T5Gemma (google/t5gemma-*) against `transformers` on a tiny random checkpoint: Gemma 2's layers in both stacks (the
encoder reading both ways, its local layers within 4 keys either way inclusive; the decoder causal, its local layers
the last 4 keys), RoPE in both, grouped-query cross-attention with a norm before and after, soft-capped scores and
logits, each stack its own embedding. Tolerances (max absolute difference, float32 CPU): patterns 1e-4, logits and
hidden states 1e-3.
"""

from __future__ import annotations

import pytest
import torch

from attention_core import load_model
from tests.engine.pair_parity import (
    assert_hidden_and_logits_match,
    assert_patterns_match,
    greedy_reference,
    pair_and_reference,
)
from tests.tiny_models_seq2seq import save_tiny_t5gemma

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL = 1e-4, 1e-3, 1e-3
SOURCE = "the quick brown fox jumps over the lazy dog"
TARGET = "a fluffy blue creature roamed"
@pytest.fixture(scope="module", params=[True, False], ids=["tied", "own_lm_head"])
def t5gemma(request, tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache-t5gemma")))
    folder = tmp_path_factory.mktemp("tiny-t5gemma")
    hf = save_tiny_t5gemma(folder, request.param)
    return hf, load_model(str(folder), device="cpu")


def test_patterns_hidden_states_and_logits_match_transformers(t5gemma):
    hf, ours = t5gemma
    pair, out = pair_and_reference(hf, ours, SOURCE, TARGET)
    assert pair.encoder.n_tokens > 10 and pair.decoder.n_tokens > 6  # past the windows
    assert_patterns_match(ours, pair, out, PATTERN_TOL)
    assert_hidden_and_logits_match(pair, out, HIDDEN_TOL, LOGIT_TOL)


def test_windows_both_ways_in_the_encoder_causal_in_the_decoder(t5gemma):
    _, ours = t5gemma
    pair = ours.trace_pair(SOURCE, TARGET)
    n, t = pair.encoder.n_tokens, pair.decoder.n_tokens
    distance = torch.arange(n)[:, None] - torch.arange(n)[None, :]
    assert torch.equal(pair.encoder.mask(0), distance.abs() <= 4) and pair.encoder.mask(1).all()
    ahead = torch.arange(t)[:, None] - torch.arange(t)[None, :]
    assert torch.equal(pair.decoder.mask(0), (ahead >= 0) & (ahead < 4))  # the last 4 keys
    assert torch.equal(pair.decoder.mask(1), ahead >= 0)


def test_the_written_target_is_transformers_greedy_one(t5gemma):
    hf, ours = t5gemma
    assert list(ours.greedy_target(SOURCE, 8).token_ids) == greedy_reference(hf, ours, SOURCE, 8)
