"""Parity with Hugging Face transformers loading the same weight files.

Tolerances (max absolute difference, float32 on CPU):
  token ids                         identical
  attention patterns, every layer   1e-4
  SmolLM2 logits                    1e-3, and the same greedy next token at every position whose
                                    reference top-2 margin exceeds 2e-3 (closer calls are ties
                                    at float32 precision); the last position always
  SmolLM2 residual stream           1e-3 + 3e-5·max|h| (it grows to hundreds; the final norm is checked
                                    through the logits). Each float32 implementation is itself up to
                                    ~1.7e-5·max|h| from a float64 run of the same weights (HF 1.3e-5, ours
                                    1.7e-5 packed, 1.8e-5 unpacked, measured over TEXTS), so two may differ
                                    by about the sum; test_packed.py bounds ours against float64
  MiniLM hidden states              1e-4
"""

from __future__ import annotations

import pytest
import torch

from tests.engine.encoder_parity import assert_patterns_and_hidden_states
from tests.texts import TEXTS

pytestmark = pytest.mark.parity

PATTERN_TOL = 1e-4
LOGIT_TOL = 1e-3
TIE_MARGIN = 2e-3
MINILM_HIDDEN_TOL = 1e-4
RESID_REL_TOL = 3e-5


def test_texts_cover_the_required_variety(smollm):
    assert len(TEXTS) >= 20
    assert max(len(smollm.trace(t).token_ids) for t in TEXTS) >= 300


@pytest.mark.parametrize("text", TEXTS, ids=range(len(TEXTS)))
def test_smollm2_matches_transformers(text, smollm, hf_smollm):
    tok, hf = hf_smollm
    trace = smollm.trace(text)
    ids = tok(text, return_tensors="pt").input_ids
    assert trace.token_ids == ids[0].tolist()
    with torch.inference_mode():
        out = hf(ids, output_attentions=True, output_hidden_states=True)
    for layer in range(smollm.config.n_layers):
        diff = (trace.layer_patterns(layer) - out.attentions[layer][0]).abs().max().item()
        assert diff <= PATTERN_TOL, f"layer {layer} pattern differs by {diff}"
        ref = out.hidden_states[layer][0]
        diff = (trace.resid(layer) - ref).abs().max().item()
        assert diff <= 1e-3 + RESID_REL_TOL * ref.abs().max().item(), f"layer {layer} residual differs by {diff}"
    ref_logits = out.logits[0]
    assert (trace.logits - ref_logits).abs().max().item() <= LOGIT_TOL
    top2 = ref_logits.topk(2, dim=-1).values
    decisive = (top2[:, 0] - top2[:, 1]) > TIE_MARGIN
    decisive[-1] = True
    ours, theirs = trace.logits.argmax(-1), ref_logits.argmax(-1)
    assert torch.equal(ours[decisive], theirs[decisive])
    assert torch.allclose(trace.next_token_logits(), ref_logits[-1], atol=LOGIT_TOL, rtol=0)


@pytest.mark.parametrize("text", TEXTS, ids=range(len(TEXTS)))
def test_minilm_matches_transformers(text, minilm, hf_minilm):
    tok, hf = hf_minilm
    trace = minilm.trace(text)
    ids = tok(text, return_tensors="pt", truncation=False).input_ids
    assert trace.token_ids == ids[0].tolist()
    with torch.inference_mode():
        out = hf(ids, output_attentions=True, output_hidden_states=True)
    assert_patterns_and_hidden_states(trace, out, minilm.config.n_layers, PATTERN_TOL, MINILM_HIDDEN_TOL)
    assert trace.logits is None


def test_parameter_counts_match_transformers(smollm, minilm, hf_smollm, hf_minilm):
    assert smollm.parameter_counts()["total"] == hf_smollm[1].num_parameters()  # tied embeddings counted once
    pooler = sum(p.numel() for n, p in hf_minilm[1].named_parameters() if n.startswith("pooler."))
    assert minilm.parameter_counts()["total"] == hf_minilm[1].num_parameters() - pooler  # we don't run the pooler


def test_forced_masking_matches_transformers_mask(minilm, hf_minilm):
    """Forcing a causal mask on the encoder equals running HF's BERT with a causal 4-D mask."""
    tok, hf = hf_minilm
    text = "one mole of carbon dioxide"
    trace = minilm.trace(text, causal=True)
    ids = tok(text, return_tensors="pt").input_ids
    n = ids.shape[1]
    mask = torch.full((n, n), float("-inf")).triu(1)[None, None]  # additive: -inf above the diagonal
    with torch.inference_mode():
        out = hf(ids, attention_mask=mask, output_attentions=True, output_hidden_states=True)
    for layer in range(minilm.config.n_layers):
        assert (trace.layer_patterns(layer) - out.attentions[layer][0]).abs().max().item() <= PATTERN_TOL
    assert (trace.resid(6) - out.hidden_states[6][0]).abs().max().item() <= MINILM_HIDDEN_TOL
