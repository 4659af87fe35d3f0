"""Switch Transformers (Google's switch-base-8 and kin) against `transformers` on a tiny random
SwitchTransformersForConditionalGeneration (tests/tiny_models_seq2seq.py): T5's layout with a mixture of ReLU experts
behind a top-1 softmax router in every other layer of each stack, each token's output its expert's times the router's
probability.

Tolerances (max absolute difference, float32 CPU): patterns 1e-4 (encoder, decoder self-attention, cross-attention),
logits 1e-3. An expert takes at most `expert_capacity` tokens of a text, in order, and transformers drops the rest
(their MLP output is zero); texts are capped at that many tokens, where nothing is dropped.
"""

from __future__ import annotations

import pytest
import torch

from tests.engine.pair_parity import assert_patterns_match, tiny_pair
from tests.tiny_models_seq2seq import save_tiny_switch

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL = 1e-4, 1e-3
SOURCE = "the quick brown fox jumps over the lazy dog and a fluffy blue creature roamed the verdant forest"
TARGET = "attention is all you need, said the paper, and one mole of carbon dioxide"


@pytest.fixture(scope="module")
def switch(tmp_path_factory, monkeypatch_module):
    return tiny_pair(tmp_path_factory, monkeypatch_module, "switch", save_tiny_switch, SOURCE, TARGET)


def test_patterns_and_logits_match_transformers(switch):
    _, ours, pair, out = switch
    assert_patterns_match(ours, pair, out, PATTERN_TOL)
    assert (pair.logits - out.logits[0]).abs().max() <= LOGIT_TOL


def test_every_other_layer_routes_each_token_to_one_of_its_experts(switch):
    hf, ours, pair, _ = switch
    cfg, w = ours.config, ours.weights
    assert (cfg.n_experts, cfg.experts_per_token, cfg.moe_router, cfg.moe_renormalize) == (4, 1, "softmax", False)
    for prefix in ("", "dec."):  # transformers' rule: layer i is sparse where i % sparse_step == 1
        assert [f"{prefix}blocks.{i}.mlp.router.W" in w for i in range(4)] == [False, True, False, True]
    assert ours.parameter_counts()["total"] == sum(p.numel() for p in hf.parameters())
    # the tokens spread over the experts (a router read wrong would send them all to one and still match nothing)
    with torch.inference_mode():
        chosen = hf.encoder.block[1].layer[1].mlp.router(torch.randn(1, 40, 32))[0].argmax(-1)
    assert len(set(chosen[0].tolist())) > 2


def test_texts_are_capped_at_an_experts_capacity(switch, tmp_path):
    """Past expert_capacity tokens an expert drops the text's later tokens (zero MLP output), which the engine does not
    run: the cap keeps every text where nothing is dropped, and the sidebar says so."""
    _, ours, _, _ = switch
    assert ours.max_tokens == 48 and "capped at 48 tokens" in " ".join(ours.notes)
    long = " ".join(["the quick brown fox jumps over the lazy dog"] * 10)
    assert ours.trace(long).n_tokens == 48
