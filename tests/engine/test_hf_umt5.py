"""umT5 against `transformers` on a tiny random UMT5ForConditionalGeneration (tests/tiny_models_seq2seq.py): T5 v1.1's
layout with a relative position table in every layer, not one per stack.

Tolerances (max absolute difference, float32 CPU): patterns 1e-4, logits 1e-3, each layer's bias 1e-6 against
transformers' own `compute_bias` of that layer. Seen failing with every layer reading layer 0's table.
"""

from __future__ import annotations

import pytest
import torch

from tests.engine.pair_parity import assert_patterns_match, tiny_pair
from tests.tiny_models_seq2seq import save_tiny_umt5

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, BIAS_TOL = 1e-4, 1e-3, 1e-6
SOURCE = "the quick brown fox jumps over the lazy dog and a fluffy blue creature roamed the verdant forest in 2017"
TARGET = "attention is all you need, said the paper, and one mole of carbon dioxide took a biopsy of the mole"


@pytest.fixture(scope="module")
def umt5(tmp_path_factory, monkeypatch_module):
    return tiny_pair(tmp_path_factory, monkeypatch_module, "umt5", save_tiny_umt5, SOURCE, TARGET)


def test_patterns_and_logits_match_transformers(umt5):
    _, ours, pair, out = umt5
    assert_patterns_match(ours, pair, out, PATTERN_TOL)
    assert (pair.logits - out.logits[0]).abs().max() <= LOGIT_TOL


def test_each_layer_adds_its_own_table(umt5):
    hf, ours, pair, _ = umt5
    assert ours.config.rel_bias_per_layer and "each layer its own" in " ".join(ours.config.features())
    for stack, trace in ((hf.encoder, pair.encoder), (hf.decoder, pair.decoder)):
        n = trace.n_tokens
        for layer in range(trace.n_layers):
            with torch.inference_mode():
                ref = stack.block[layer].layer[0].SelfAttention.compute_bias(n, n)[0]  # (n_heads, n, n)
            ours_bias = torch.stack([trace.position_bias(layer, h) for h in range(trace.n_heads)])
            assert (ours_bias - ref).abs().max() <= BIAS_TOL
            assert torch.equal(trace[f"blocks.{layer}.attn.position_bias"], ours_bias)
        assert not torch.equal(trace.position_bias(0, 0), trace.position_bias(1, 0))
    assert ours.parameter_counts()["total"] == sum(p.numel() for p in hf.parameters())
