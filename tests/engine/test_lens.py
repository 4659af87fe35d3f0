"""The logit lens and value-weighted attention (issue 16), on the real models.

Tolerances (max absolute difference, float32 on CPU):
  last layer's lens vs trace.logits            1e-3 (the same function on the same residual: in fact equal)
  lens vs transformers (hidden_states[l + 1]   1e-3 logits, as the final logits in test_parity.py
  → model.norm → lm_head)
  lens_top vs softmax/topk of lens_logits      5e-5 probabilities (exp(logit − logsumexp) of logits a batched
                                               product rounds differently: 1.3e-5 measured), identical ids
  value_weighted vs ‖trace.contributions‖      1e-5
"""

from __future__ import annotations

import pytest
import torch

from attention_core import ablate_head, force_pattern, lens, temperature
from tests.texts import FLUFFY, TEXTS

LOGIT_TOL = 1e-3
PROB_TOL = 5e-5
NORM_TOL = 1e-5
PARITY_TEXTS = [FLUFFY, TEXTS[4], TEXTS[8], TEXTS[9]]  # plain, a fact, digits, emoji


@pytest.fixture(scope="module")
def fluffy_trace(smollm):
    return smollm.trace(FLUFFY)


def test_last_layer_lens_is_the_models_logits(fluffy_trace):
    t = fluffy_trace
    assert (t.lens_logits(t.n_layers - 1) - t.logits).abs().max().item() <= LOGIT_TOL


@pytest.mark.parity
@pytest.mark.parametrize("text", PARITY_TEXTS, ids=range(len(PARITY_TEXTS)))
def test_lens_matches_transformers_hidden_states_through_norm_and_lm_head(text, smollm, hf_smollm):
    tok, hf = hf_smollm
    trace = smollm.trace(text)
    ids = tok(text, return_tensors="pt").input_ids
    assert trace.token_ids == ids[0].tolist()
    with torch.inference_mode():
        out = hf(ids, output_hidden_states=True)
        for layer in range(smollm.config.n_layers - 1):
            ref = hf.lm_head(hf.model.norm(out.hidden_states[layer + 1]))[0]  # (n, d_vocab)
            diff = (trace.lens_logits(layer) - ref).abs().max().item()
            assert diff <= LOGIT_TOL, f"layer {layer} lens differs by {diff}"
    last = (trace.lens_logits(smollm.config.n_layers - 1) - out.logits[0]).abs().max().item()
    assert last <= LOGIT_TOL


def test_lens_top_is_the_top_k_of_each_layers_lens_whatever_the_block(fluffy_trace):
    t = fluffy_trace
    top = t.lens_top(5)
    assert top.ids.shape == top.probs.shape == (t.n_layers, t.n_tokens, 5)
    small_blocks = lens.lens_top(t, 5, block_rows=7)
    assert torch.equal(small_blocks.ids, top.ids)
    assert torch.allclose(small_blocks.probs, top.probs, atol=PROB_TOL, rtol=0)
    for layer in (0, 11, t.n_layers - 1):
        probs = torch.softmax(t.lens_logits(layer), dim=-1)  # (n, d_vocab)
        ref = probs.topk(5, dim=-1)
        assert torch.equal(top.ids[layer], ref.indices), f"layer {layer}"
        assert torch.allclose(top.probs[layer], ref.values, atol=PROB_TOL, rtol=0)
    assert (top.probs[:, :, :-1] >= top.probs[:, :, 1:]).all()  # most likely first


def test_a_window_of_positions_is_that_slice_of_the_whole_grid(fluffy_trace):
    """The page shows long texts a window of positions at a time: the window is the same numbers as the whole grid."""
    t = fluffy_trace
    whole = t.lens_top(5)
    window = t.lens_top(5, start=2, stop=5)
    assert window.ids.shape == (t.n_layers, 3, 5)
    assert torch.equal(window.ids, whole.ids[:, 2:5])
    assert torch.allclose(window.probs, whole.probs[:, 2:5], atol=PROB_TOL, rtol=0)
    for start, stop in ((3, 3), (-1, 2), (0, t.n_tokens + 1)):
        with pytest.raises(IndexError):
            t.lens_top(5, start=start, stop=stop)


def test_lens_ranks_agree_with_the_grid(fluffy_trace):
    t = fluffy_trace
    top = t.lens_top(3)
    final_top1 = int(top.ids[-1, -1, 0])
    second = int(top.ids[-1, -1, 1])
    probs, ranks = t.lens_ranks(-1, [final_top1, second])
    assert probs.shape == ranks.shape == (t.n_layers, 2)
    assert ranks[-1, 0] == 0 and ranks[-1, 1] == 1
    last_rows = torch.stack([t.lens_logits(layer)[-1] for layer in range(t.n_layers)])  # (n_layers, d_vocab)
    assert torch.allclose(probs[:, 0], torch.softmax(last_rows, -1)[:, final_top1], atol=PROB_TOL, rtol=0)
    for layer in range(t.n_layers):  # rank 0 exactly where the grid's top-1 is that token
        assert (ranks[layer, 0] == 0) == (int(top.ids[layer, -1, 0]) == final_top1)
    above = (last_rows[:, None, :] > last_rows[:, [final_top1, second]][:, :, None]).sum(-1)  # tokens ranked higher
    assert torch.equal(ranks, above) and ranks.max() > 2  # ranks past 0 and 1 are checked too (7 in layer 0)
    with pytest.raises(IndexError):
        t.lens_ranks(t.n_tokens, [final_top1])
    with pytest.raises(IndexError):
        t.lens_ranks(0, [t.config.d_vocab])


def test_encoders_have_no_lens_and_say_so(minilm):
    t = minilm.trace(FLUFFY)
    for call in (lambda: t.lens_logits(0), lambda: t.lens_top(5), lambda: t.lens_ranks(0, [1])):
        with pytest.raises(ValueError, match="encoder"):
            call()


def _contribution_norms(t, layer: int, head: int) -> torch.Tensor:
    return torch.stack([t.contributions(layer, i, head).norm(dim=-1) for i in range(t.n_tokens)])  # (n_q, n_k)


@pytest.mark.parametrize(
    "ivs",
    [
        (),
        (ablate_head(3, 1),),
        (ablate_head(3, 1, "mean"),),
        (temperature(3, 1, 0.5),),
        (force_pattern(3, 1, "previous"),),
    ],
    ids=["clean", "zeroed", "mean", "temperature", "forced"],
)
def test_value_weighted_is_the_norm_of_each_contribution(smollm, ivs):
    t = smollm.trace(FLUFFY, interventions=ivs)
    for head in (1, 4):  # 1 is the intervened head; heads 0-2 share key/value head 0, 3-5 head 1
        vw = t.value_weighted(3, head)
        assert vw.shape == (t.n_tokens, t.n_tokens)
        assert (vw - _contribution_norms(t, 3, head)).abs().max().item() <= NORM_TOL


def test_value_weighted_on_an_encoder_and_its_zeros(minilm, fluffy_trace):
    t = minilm.trace(FLUFFY)
    assert (t.value_weighted(2, 5) - _contribution_norms(t, 2, 5)).abs().max().item() <= NORM_TOL
    vw = fluffy_trace.value_weighted(0, 0)
    n = fluffy_trace.n_tokens
    assert (vw[~torch.ones(n, n, dtype=torch.bool).tril()] == 0).all()  # masked keys send nothing
    with pytest.raises(IndexError):
        fluffy_trace.value_weighted(0, fluffy_trace.n_heads)
