"""T5 against `transformers` on tiny random T5ForConditionalGeneration models saved as safetensors.

Tolerances (max absolute difference, float32 CPU): patterns 1e-4 (encoder, decoder self-attention and
cross-attention); logits and hidden states 1e-3; the relative position bias itself 1e-6 against
transformers' own `compute_bias` (it is a table lookup: the buckets must be the same integers).
Both MLP kinds are checked: "relu" (original T5, tied embeddings, decoder output × d_model^-0.5) and
"gated-gelu" (T5 v1.1 / Flan-T5: GeGLU, an lm_head of its own); and mT5 (model_type "mt5", v1.1's layout) against
transformers' MT5ForConditionalGeneration. The texts are longer than the model's
max_distance of 16 tokens, so the logarithmic and the far buckets are all used.
"""

from __future__ import annotations

import pytest
import torch

from attention_core import load_model
from attention_core import model as fwd
from attention_core.seq2seq import encoder_output
from tests.engine.pair_parity import assert_patterns_match, pair_and_reference
from tests.tiny_models import save_tiny_t5

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL, BIAS_TOL = 1e-4, 1e-3, 1e-3, 1e-6
SOURCE = "the quick brown fox jumps over the lazy dog and a fluffy blue creature roamed the verdant forest in 2017"
TARGET = "attention is all you need, said the paper, and one mole of carbon dioxide took a biopsy of the mole"


@pytest.fixture(scope="module", params=["relu", "gated-gelu", "mt5"])
def t5(request, tmp_path_factory, monkeypatch_module):
    folder = tmp_path_factory.mktemp(f"t5-{request.param}")
    if request.param == "mt5":  # mT5: T5 v1.1's layout under its own model_type; the reference is transformers'
        save_tiny_t5(folder, "gated-gelu", model_type="mt5")  # MT5 class, read back from the folder
        hf = transformers.AutoModelForSeq2SeqLM.from_pretrained(folder, attn_implementation="eager").eval()
        assert type(hf).__name__ == "MT5ForConditionalGeneration"
    else:
        hf = save_tiny_t5(folder, request.param)
    monkeypatch_module.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache-t5")))
    ours = load_model(str(folder), device="cpu")
    return hf, ours, *pair_and_reference(hf, ours, SOURCE, TARGET)


def test_the_texts_reach_past_max_distance(t5):
    _, ours, pair, _ = t5
    assert ours.config.rel_max_distance == 16
    assert pair.encoder.n_tokens > 20 and pair.decoder.n_tokens > 20


def test_position_bias_is_transformers_compute_bias(t5):
    hf, _, pair, _ = t5
    for stack, trace in ((hf.encoder, pair.encoder), (hf.decoder, pair.decoder)):
        n = trace.n_tokens
        with torch.inference_mode():
            ref = stack.block[0].layer[0].SelfAttention.compute_bias(n, n)[0]  # (n_heads, n, n)
        ours = torch.stack([trace.position_bias(1, h) for h in range(trace.n_heads)])  # layer 1 shares layer 0's
        assert (ours - ref).abs().max() <= BIAS_TOL
        assert torch.equal(trace["blocks.0.attn.position_bias"], ours)
    enc, dec = pair.encoder.position_bias(0, 0), pair.decoder.position_bias(0, 0)
    assert not torch.equal(enc[0, 1:], enc[1:, 0])  # the encoder's buckets tell before from after
    # Bidirectional: keys after query 0 take 3 of the upper 4 buckets (distance 1, then two logarithmic ones,
    # the last from distance 8 on). Causal: the last query's keys take all 8 (exact 0-3, the last from 16 on).
    assert len(set(enc[0, 1:].tolist())) == 3 and len(set(dec[-1].tolist())) == 8


def test_patterns_match_transformers_in_every_kind_of_attention(t5):
    _, ours, pair, out = t5
    assert_patterns_match(ours, pair, out, PATTERN_TOL)


def test_hidden_states_and_logits_match_transformers(t5):
    _, ours, pair, out = t5
    for trace, hidden in ((pair.encoder, out.encoder_hidden_states), (pair.decoder, out.decoder_hidden_states)):
        for layer in range(trace.n_layers):
            assert (trace.resid(layer) - hidden[layer][0]).abs().max() <= HIDDEN_TOL
        final = encoder_output(trace.captured.resid_pre[-1], trace.context.weights, trace.config)
        assert (final - hidden[-1][0]).abs().max() <= HIDDEN_TOL  # after the stack's final RMSNorm
    assert (pair.logits - out.logits[0]).abs().max() <= LOGIT_TOL
    assert pair.encoder.logits is None


def test_the_bias_is_its_own_term(t5):
    """scores = q·k (no scale in T5) + the position bias; the fast pass and the written-out pattern agree."""
    _, ours, pair, _ = t5
    assert ours.config.scale == 1.0 and ours.config.position_bias == "t5"
    for trace in (pair.encoder, pair.decoder):
        q, k = trace.captured.q[1][2], trace.captured.k[1][2]
        assert torch.equal(trace.scores(1, 2, with_bias=False), fwd.attention_scores(q, k, 1.0))
        assert torch.allclose(trace.scores(1, 2), trace.scores(1, 2, with_bias=False) + trace.position_bias(1, 2))
        assert torch.equal(trace["blocks.1.attn.uncapped_scores"][2], trace.scores(1, 2, with_bias=False))
        steps = trace.head_steps(1, 2)
        assert abs(steps.pattern - trace.pattern(1, 2).double().numpy()).max() < 1e-6
        assert (trace.attn_out(1) - trace.head_out(1).sum(0)).abs().max() < 1e-4  # z from the SDPA path with bias
        pooled = trace.pooled_patterns(size=trace.n_tokens)  # the pooled fast path adds the bias too
        assert (pooled[1, 2] - trace.pattern(1, 2)).abs().max() < 1e-5
    without = torch.softmax(pair.encoder.scores(1, 2, with_bias=False), -1)  # the encoder: no mask
    assert (without - pair.encoder.pattern(1, 2)).abs().max() > 0.05  # the bias moves real weight


def test_config_and_weights(t5):
    hf, ours, pair, _ = t5
    cfg = ours.config
    assert (cfg.arch, pair.decoder.config.arch) == ("t5", "t5-decoder")
    assert cfg.norm == "rms" and cfg.norm_position == "pre" and not cfg.uses_rope
    assert ours.weights["blocks.0.attn.rel_bias"].shape == (8, 4)
    assert "blocks.1.attn.rel_bias" not in ours.weights  # one table per stack
    gated = hf.config.is_gated_act
    assert cfg.gated_mlp == gated and cfg.act == ("gelu_tanh" if gated else "relu")
    assert (cfg.unembed_scale == 1.0) == gated
    learned = sum(p.numel() for p in hf.parameters())  # tied: the shared embedding counted once
    assert ours.parameter_counts()["total"] == learned
    assert "relative position bias" in " ".join(cfg.features())
    assert not cfg.absolute_positions and "embed.W_pos" not in ours.weights  # positions live in the bias alone


def test_an_encoder_decoder_is_told_apart_from_an_encoder(t5):
    """T5's decoder predicts tokens (trace_pair's logits): refusing generation or a logit lens of the encoder's
    trace said "it is an encoder"."""
    from attention_core.errors import InputError
    from attention_core.lens import require_lm_head

    ours = t5[1]
    with pytest.raises(InputError, match="an encoder-decoder"):
        ours.generate("the blue creature", max_new_tokens=2)
    with pytest.raises(ValueError, match="an encoder-decoder"):
        require_lm_head(ours.trace("the blue creature"))
