"""Parity with transformers for the Experiments page's prediction at a mid-text position: log p of the token that
comes next, from the engine's logits at that position, against transformers' logits there, on a clean pass and with
a head zeroed (at o_proj's input, as tests/engine/test_parity_parts.py does). Tolerance: that file's LOGIT_TOL, 1e-3
(max |difference| over the vocabulary measured 5.3e-5 clean, 7.0e-5 with L3H0 zeroed, 2026-12-02)."""

from __future__ import annotations

import pytest
import torch

from attention_core import ablate_head
from tests.engine.test_parity_parts import LOGIT_TOL, hf_pass
from viz.views.experiments import next_in_text, next_token_logprobs

pytestmark = pytest.mark.parity

# Induction: the second "Mr and Mrs D" should continue as the first did ("urs").
DURSLEY = (
    "Mr and Mrs Dursley, of number four, Privet Drive, were proud to say that they were perfectly normal. "
    "Mr and Mrs Dursley"
)
SECOND_D = 28  # " D" of the second "Mrs Dursley"; "urs" comes next


@pytest.mark.parametrize("ablate", [None, (3, 0, "zero")])
def test_log_p_at_a_middle_position_matches_transformers(smollm, hf_smollm, ablate) -> None:
    _, hf = hf_smollm
    ivs = [ablate_head(ablate[0], ablate[1], ablate[2])] if ablate else []
    trace = smollm.trace(DURSLEY, interventions=ivs)
    assert trace.tokens[SECOND_D] == " D" and trace.n_tokens - 1 > SECOND_D
    target = next_in_text(trace, SECOND_D)
    assert smollm.tokenizer.decode_token(target) == "urs"
    ref, _ = hf_pass(hf, trace.token_ids, smollm.config.d_head, ablate=ablate)
    want = torch.log_softmax(ref.logits[0, SECOND_D].double(), -1).numpy()
    got = next_token_logprobs(trace, SECOND_D)
    assert abs(got - want).max() <= LOGIT_TOL
    assert abs(got[target] - want[target]) <= LOGIT_TOL
    last = torch.log_softmax(ref.logits[0, -1].double(), -1).numpy()
    assert abs(last[target] - want[target]) > 100 * LOGIT_TOL  # the middle position is not the last one
