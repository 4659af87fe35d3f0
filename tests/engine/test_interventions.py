"""Interventions: ablation, temperature and forced patterns change exactly what they claim to."""

from __future__ import annotations

import pytest
import torch

from attention_core import ablate_head, ablate_layer, force_pattern, temperature
from attention_core.sweep import head_ablation_sweep

TEXT = "The Eiffel Tower is located in the city of"


@pytest.fixture(scope="module")
def clean(smollm):
    return smollm.trace(TEXT)


def test_ablating_a_head_zeroes_exactly_its_output_and_spares_earlier_layers(smollm, clean):
    t = smollm.trace(TEXT, interventions=[ablate_head(5, 3)])
    assert (t.head_out(5, 3) == 0).all()
    assert not (t.head_out(5, 2) == 0).all()
    for layer in range(6):  # layers up to and including 5 start from the same residual
        assert torch.equal(t.resid(layer), clean.resid(layer))
    assert torch.equal(t.head_out(5, 2), clean.head_out(5, 2))  # other heads of the layer are untouched
    assert not torch.allclose(t.resid(6), clean.resid(6))
    assert (t.contributions(5, 4, head=3) == 0).all()


def test_mean_ablation_sets_the_head_output_to_its_mean(smollm, clean):
    t = smollm.trace(TEXT, interventions=[ablate_head(2, 1, mode="mean")])
    expected = clean.head_out(2, 1).mean(0)
    assert torch.allclose(t.head_out(2, 1), expected.expand_as(t.head_out(2, 1)), atol=1e-5)
    contrib = t.contributions(2, 3, head=1).sum(0)
    assert torch.allclose(contrib, expected, atol=1e-4)


def test_layer_ablation_removes_the_attention_sublayer(smollm, clean):
    t = smollm.trace(TEXT, interventions=[ablate_layer(4)])
    assert (t.attn_out(4) == 0).all()
    assert torch.allclose(t.resid_mid(4), t.resid(4))  # pre-norm: resid_mid = resid_pre + 0


def test_temperature_one_is_no_intervention(smollm, clean):
    t = smollm.trace(TEXT, interventions=[temperature(3, 2, 1.0)])
    # The head is recomputed eagerly instead of inside SDPA: float32 rounding only, ~1e-7 of the residual's scale.
    scale = clean.resid(30).abs().max().item()
    assert (t.resid(30) - clean.resid(30)).abs().max().item() <= 1e-6 * scale
    assert torch.allclose(t.pattern(3, 2), clean.pattern(3, 2), atol=1e-6)


def test_high_temperature_makes_rows_uniform_over_allowed_keys(smollm):
    t = smollm.trace(TEXT, interventions=[temperature(3, 2, 1e6)])
    p = t.pattern(3, 2)
    n = t.n_tokens
    uniform = torch.tril(torch.ones(n, n)) / torch.arange(1, n + 1)[:, None]
    assert torch.allclose(p, uniform, atol=1e-4)
    low = smollm.trace(TEXT, interventions=[temperature(3, 2, 0.01)]).pattern(3, 2)
    assert (low.max(-1).values > 0.99).all()  # T → 0: each row puts (nearly) everything on its top key


def test_forced_patterns(smollm):
    t = smollm.trace(TEXT, interventions=[force_pattern(1, 0, "previous"), force_pattern(1, 1, "self")])
    n = t.n_tokens
    prev = t.pattern(1, 0)
    assert prev[0, 0] == 1 and all(prev[i, i - 1] == 1 for i in range(1, n))
    assert torch.equal(t.pattern(1, 1), torch.eye(n))
    v = t["blocks.1.attn.v"]
    kv = 1 // 3  # SmolLM2's query heads 0-2 read key/value head 0 (written out: the engine's mapping is under test)
    assert torch.allclose(t.z(1)[1], v[kv], atol=1e-6)  # attending to itself copies its own value


def test_interventions_compose_and_are_validated(smollm, clean):
    both = smollm.trace(TEXT, interventions=[ablate_head(5, 3), temperature(7, 0, 2.0)])
    only_first = smollm.trace(TEXT, interventions=[ablate_head(5, 3)])
    assert torch.equal(both.resid(7), only_first.resid(7))
    assert not torch.allclose(both.resid(8), only_first.resid(8))
    assert both.interventions == (ablate_head(5, 3), temperature(7, 0, 2.0))
    assert hash(both.interventions) == hash((ablate_head(5, 3), temperature(7, 0, 2.0)))  # usable in cache keys
    with pytest.raises(ValueError, match="layer 30"):
        smollm.trace(TEXT, interventions=[ablate_head(30, 0)])
    with pytest.raises(ValueError, match="head 9"):
        smollm.trace(TEXT, interventions=[ablate_head(0, 9)])
    with pytest.raises(ValueError, match="Temperature"):
        smollm.trace(TEXT, interventions=[temperature(0, 0, 0.0)])


def test_sweep_equals_single_ablations(smollm, clean):
    target = int(clean.next_token_logits().argmax())
    sweep = head_ablation_sweep(clean, target)
    assert sweep.shape == (30, 9)
    clean_logp = torch.log_softmax(clean.next_token_logits(), -1)[target]
    for layer, head in [(0, 0), (1, 4), (17, 8), (29, 5)]:
        t = smollm.trace(TEXT, interventions=[ablate_head(layer, head)])
        single = torch.log_softmax(t.next_token_logits(), -1)[target] - clean_logp
        assert abs(single.item() - sweep[layer, head].item()) < 1e-4
    mean_sweep = head_ablation_sweep(clean, target, mode="mean")
    t = smollm.trace(TEXT, interventions=[ablate_head(1, 4, mode="mean")])
    single = torch.log_softmax(t.next_token_logits(), -1)[target] - clean_logp
    assert abs(single.item() - mean_sweep[1, 4].item()) < 1e-4
