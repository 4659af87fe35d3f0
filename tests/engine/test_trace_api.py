"""The Trace's public API beyond the tensors: what model made it, range checks, tokens, sizes, experiments."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from attention_core import PassContext, sweep

TEXT = "a fluffy blue creature roamed the verdant forest"


@pytest.fixture(scope="module")
def smol_trace(smollm):
    return smollm.trace(TEXT)


@pytest.fixture(scope="module")
def mini_trace(minilm):
    return minilm.trace("one mole of carbon dioxide")


def test_a_trace_holds_the_context_of_its_model_not_the_model(smollm, smol_trace):
    t = smol_trace
    assert isinstance(t.context, PassContext) and t.context is smollm.context
    assert not hasattr(t, "model") and "model" not in {f.name for f in dataclasses.fields(t)}
    assert t.config is smollm.config and t.model_name == "smollm2-135m" == smollm.name
    assert t.model_key == smollm.key and t.model_key.startswith("smollm2-135m@")
    assert t.device == "cpu" and isinstance(t.device, str)
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.context.name = "other"  # type: ignore[misc]


def test_check_raises_the_engine_messages(smol_trace):
    t = smol_trace
    t.check(0)
    t.check(29, 8)
    with pytest.raises(IndexError, match=r"^layer 30 is out of range 0\.\.29$"):
        t.check(30)
    with pytest.raises(IndexError, match=r"^layer -1 is out of range 0\.\.29$"):
        t.check(-1, 0)
    with pytest.raises(IndexError, match=r"^head 9 is out of range 0\.\.8$"):
        t.check(3, 9)
    with pytest.raises(IndexError, match="head 9"):
        t.pattern(3, 9)  # the tensor methods use the same check


def test_decode_token_and_token_ids_for(smol_trace, mini_trace):
    t = smol_trace
    assert [t.decode_token(i) for i in t.token_ids] == t.tokens
    ids = t.token_ids_for(" Paris")
    assert len(ids) == 1 and t.decode_token(ids[0]) == " Paris"
    assert t.token_ids_for(" fluffy blue") == t.token_ids[1:3]  # the same ids as inside the text
    # BERT's tokenizer adds [CLS] ... [SEP] to a text; the ids of typed text alone have neither.
    m = mini_trace
    cls, sep = m.token_ids[0], m.token_ids[-1]
    assert m.tokens[0] == "[CLS]" and m.tokens[-1] == "[SEP]"
    typed = m.token_ids_for("mole")
    assert typed == [m.token_ids[2]] and cls not in typed and sep not in typed


def test_output_bias(smol_trace, mini_trace, minilm):
    assert all(smol_trace.output_bias(layer) is None for layer in range(smol_trace.n_layers))  # llama: no b_O
    b_O = mini_trace.output_bias(2)
    assert b_O is not None and b_O.shape == (minilm.config.d_model,) and b_O.device.type == "cpu"
    assert torch.equal(b_O, minilm.weights["blocks.2.attn.b_O"])
    assert b_O.abs().max() > 0
    q = 1
    assert torch.allclose(mini_trace.head_out(2)[:, q].sum(0) + b_O, mini_trace.attn_out(2)[q], atol=1e-4)
    with pytest.raises(IndexError):
        mini_trace.output_bias(minilm.config.n_layers)


def test_ablation_sweep_is_the_engines_sweep(smol_trace, monkeypatch):
    """Trace.ablation_sweep passes its arguments to attention_core.sweep and returns its result unchanged; the
    sweep's own numbers (each head equals a single ablation, zero and mean) are checked once, in
    tests/engine/test_interventions.py::test_sweep_equals_single_ablations (a full sweep costs ~7 s here)."""
    calls = []
    result = torch.zeros(30, 9)

    def recorded(trace, target_id, position, mode):
        calls.append((trace, target_id, position, mode))
        return result

    monkeypatch.setattr(sweep, "head_ablation_sweep", recorded)
    target = smol_trace.token_ids_for(",")[0]
    assert smol_trace.ablation_sweep(target) is result
    assert smol_trace.ablation_sweep(target, position=3, mode="mean") is result
    assert calls == [(smol_trace, target, -1, "zero"), (smol_trace, target, 3, "mean")]


def test_nbytes_counts_the_captures_and_the_cached_logits(smollm):
    t = smollm.trace(TEXT)  # a fresh trace: no logits computed yet
    c = t.captured
    captured = sum(x.numel() * x.element_size() for part in (c.resid_pre, c.q, c.k, c.v) for x in part)
    assert t.nbytes() == captured  # SmolLM2's q and k are rotated copies and v a copy: one buffer each
    logits = t.logits
    assert t.nbytes() == captured + logits.numel() * 4


def test_nbytes_counts_a_shared_buffer_once_and_whole(mini_trace, minilm):
    """Without RoPE, q and k are views into one fused q|k|v projection output, which stays in memory whole."""
    cfg, n = minilm.config, mini_trace.n_tokens
    resid = (cfg.n_layers + 1) * n * cfg.d_model * 4
    per_layer = n * 3 * cfg.d_model * 4 + n * cfg.d_model * 4  # the fused q|k|v output, and v's own copy
    assert mini_trace.nbytes() == resid + cfg.n_layers * per_layer
