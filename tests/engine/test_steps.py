"""One head step by step (attention_core/steps.py): each step in float64 equals the engine's own tensors."""

from __future__ import annotations

import numpy as np
import pytest

from attention_core import HeadSteps

FLUFFY = "a fluffy blue creature roamed the verdant forest"


@pytest.fixture(scope="module")
def fluffy(smollm):
    return smollm.trace(FLUFFY)


@pytest.mark.parametrize("layer, head", [(0, 0), (16, 0), (29, 8)])
def test_steps_match_the_engine_smollm2(smollm, fluffy, layer: int, head: int) -> None:
    s = fluffy.head_steps(layer, head)
    assert isinstance(s, HeadSteps) and s.E.dtype == np.float64 and s.pattern.dtype == np.float64
    assert s.kv_head == head // 3 and s.uses_rope and s.norm_position == "pre"
    np.testing.assert_allclose(s.scaled, fluffy.scores(layer, head).numpy(), atol=1e-5)
    np.testing.assert_allclose(s.pattern, fluffy.pattern(layer, head).numpy(), atol=1e-6)  # softmax == engine's
    np.testing.assert_allclose(s.z, fluffy.z(layer)[head].numpy(), atol=1e-5)
    np.testing.assert_allclose(s.delta, fluffy.head_out(layer, head).numpy(), atol=1e-4)
    assert np.all(s.pattern[np.triu_indices(s.n, 1)] == 0) and np.all(np.isneginf(s.masked[np.triu_indices(s.n, 1)]))
    assert fluffy.rope_check(s) < 1e-4  # the captured q is RoPE(E·W_Q): E really is what the head reads
    assert np.abs(s.q_pre - s.q)[1:].max() > 1e-2  # ...and RoPE really changed it (position 0 is not rotated)
    W_O = smollm.W_O(layer).numpy()
    np.testing.assert_allclose(s.W_O_all[head * s.d_head : (head + 1) * s.d_head], W_O[head])
    np.testing.assert_allclose(s.W_O, W_O[head])


def test_rope_check_sees_a_wrong_query(fluffy) -> None:
    s = fluffy.head_steps(16, 0)
    other = fluffy.head_steps(16, 3)  # another kv head's query: not RoPE of this head's q_pre
    assert fluffy.rope_check(s) < 1e-4
    assert fluffy.rope_check(HeadSteps(**{**s.__dict__, "q": other.q})) > 1e-2


def test_steps_match_the_engine_minilm(minilm) -> None:
    trace = minilm.trace("one mole of carbon dioxide")
    s = trace.head_steps(3, 5)
    assert not s.uses_rope and s.has_bias and s.kv_head == 5 and not s.causal
    np.testing.assert_allclose(s.q_pre, s.q, atol=1e-4)  # no RoPE: E·W_Q + b_Q is the query itself
    np.testing.assert_allclose(s.k_pre, s.k, atol=1e-4)
    assert trace.rope_check(s) < 1e-4
    np.testing.assert_allclose(s.scaled, trace.scores(3, 5).numpy(), atol=1e-5)
    np.testing.assert_allclose(s.pattern, trace.pattern(3, 5).numpy(), atol=1e-6)
    np.testing.assert_allclose(s.z, trace.z(3)[5].numpy(), atol=1e-5)
    np.testing.assert_allclose(s.delta, trace.head_out(3, 5).numpy(), atol=1e-4)
    assert np.all(s.pattern > 0)  # bidirectional: nothing masked


def test_cell_numbers(fluffy) -> None:
    s = fluffy.head_steps(16, 0)
    c = s.cell(3, 2)
    assert c["dot"] == pytest.approx(c["scaled"] * 8.0)
    assert c["numerator"] / c["denominator"] == pytest.approx(c["weight"], rel=1e-9)
    assert c["weight"] == pytest.approx(float(fluffy.pattern(16, 0)[3, 2]), abs=1e-6)
    masked = s.cell(3, 5)
    assert not masked["allowed"] and masked["weight"] == 0.0


def test_steps_use_the_engines_range_check(fluffy) -> None:
    with pytest.raises(IndexError, match=r"head 9 is out of range 0\.\.8"):
        fluffy.head_steps(0, 9)


def test_steps_say_what_the_first_residual_is_made_of(smollm, minilm, fluffy) -> None:
    """HeadSteps names the sums in layer 0's residual (Start here's step 2 and Inside a head's step 1 words
    come from these): SmolLM2 a bare token embedding, MiniLM LayerNorm(token + position + segment)."""
    s = fluffy.head_steps(0, 0)
    assert (s.embedding_terms, s.embedding_norm, s.embed_scale) == (("token",), False, 1.0)
    m = minilm.trace(FLUFFY).head_steps(0, 0)
    assert (m.embedding_terms, m.embedding_norm, m.embed_scale) == (("token", "position", "segment"), True, 1.0)
