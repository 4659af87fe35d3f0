"""DeBERTa (v1, microsoft/deberta-base's layout) against `transformers` on a tiny random DebertaModel
(tests.tiny_models.save_tiny_deberta_v1).

Tolerances (max absolute difference, float32 CPU): patterns 1e-4, hidden states 1e-3, as for DeBERTa-v2
(test_deberta.py). What v1 does differently, each of which fails these tests when read as v2 reads it: q, k and v
come fused per head in `in_proj` (head 0's q, k, v rows, then head 1's, ...), with a bias on q and on v but none on
k; the position terms project the table with each layer's own `pos_q_proj` (with a bias) and `pos_proj` (without),
not its W_Q and W_K; the table has no LayerNorm. The text (over 40 tokens) is longer than the ±16 offsets the tiny
model keeps, so the clamp at the table's ends is read too.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from attention_core import load_model
from attention_core import model as fwd
from attention_core.errors import ModelLoadError
from tests.tiny_models import save_tiny_deberta_v1

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, HIDDEN_TOL = 1e-4, 1e-3
TEXT = "the quick brown fox jumps over the lazy dog and a fluffy blue creature roamed the verdant forest " * 2


@pytest.fixture(scope="module")
def deberta(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache-deberta-v1")))
    folder = tmp_path_factory.mktemp("tiny-deberta-v1")
    hf = save_tiny_deberta_v1(folder)
    ours = load_model(str(folder), device="cpu")
    trace = ours.trace(TEXT)
    with torch.inference_mode():
        out = hf(torch.tensor([trace.token_ids]), output_attentions=True, output_hidden_states=True)
    yield hf, ours, trace, out, folder
    mp.undo()


def test_patterns_and_hidden_states_match_transformers(deberta):
    _, ours, trace, out, _ = deberta
    assert trace.n_tokens > 40
    for layer in range(ours.config.n_layers):
        assert (trace.layer_patterns(layer) - out.attentions[layer][0]).abs().max() <= PATTERN_TOL
        assert (trace.resid(layer) - out.hidden_states[layer][0]).abs().max() <= HIDDEN_TOL
    assert (trace.captured.resid_pre[-1] - out.last_hidden_state[0]).abs().max() <= HIDDEN_TOL
    assert trace.layer_patterns(0).max() > 0.5  # peaked: a wrong term would move real weight


def test_the_fused_projections_split_per_head_with_their_biases(deberta):
    """in_proj's rows are (head, q|k|v, d_head): head 1's query is rows 3·d_head .. 4·d_head of it."""
    hf, ours, _, _, _ = deberta
    cfg, w = ours.config, ours.weights
    in_proj = hf.encoder.layer[1].attention.self.in_proj.weight  # (n_heads · 3 · d_head, d_model)
    d = cfg.d_head
    assert torch.equal(w["blocks.1.attn.W_Q"][:, d : 2 * d], in_proj[3 * d : 4 * d].T)
    assert torch.equal(w["blocks.1.attn.W_V"][:, :d], in_proj[2 * d : 3 * d].T)
    assert torch.equal(w["blocks.1.attn.b_Q"], hf.encoder.layer[1].attention.self.q_bias)
    assert "blocks.1.attn.b_K" not in w and "rel.ln.w" not in w


def test_the_position_terms_are_their_own_term_and_differ_by_layer(deberta):
    _, ours, trace, _, _ = deberta
    cfg = ours.config
    assert cfg.arch == "deberta" and cfg.scale == pytest.approx((3 * cfg.d_head) ** -0.5)
    q, k = trace.captured.q[1][2], trace.captured.k[1][2]
    assert torch.equal(trace.scores(1, 2, with_bias=False), fwd.attention_scores(q, k, cfg.attn_scale))
    terms = trace.position_bias(1, 2)
    assert torch.allclose(trace.scores(1, 2), trace.scores(1, 2, with_bias=False) + terms)
    assert not torch.allclose(terms, trace.position_bias(0, 2), atol=1e-3)  # each layer's own projections
    without = torch.softmax(trace.scores(1, 2, with_bias=False), -1)
    assert (without - trace.pattern(1, 2)).abs().max() > 0.05  # the terms move real weight
    steps = trace.head_steps(1, 2)
    assert abs(steps.pattern - trace.pattern(1, 2).double().numpy()).max() < 1e-6
    pooled = trace.pooled_patterns(size=trace.n_tokens)  # the pooled fast path adds them too
    assert (pooled[1, 2] - trace.pattern(1, 2)).abs().max() < 1e-5


def test_config_names_it_and_counts_every_parameter(deberta):
    hf, ours, _, _, _ = deberta
    cfg = ours.config
    assert not cfg.has_lm_head and not cfg.causal and "embed.W_pos" not in ours.weights
    assert ours.weights["rel.W"].shape == (32, 64)  # 2 × max_relative_positions
    assert any("offsets exact, clamped at ±16" in f for f in cfg.features())
    assert ours.parameter_counts()["total"] == sum(p.numel() for p in hf.parameters())


def test_absolute_positions_too_when_the_config_keeps_them(tmp_path, monkeypatch):
    """position_biased_input true (DebertaConfig's default): learned positions are added to the tokens as well."""
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    hf = save_tiny_deberta_v1(tmp_path / "biased", position_biased_input=True)
    ours = load_model(str(tmp_path / "biased"), device="cpu")
    assert "embed.W_pos" in ours.weights
    trace = ours.trace(TEXT)
    with torch.inference_mode():
        out = hf(torch.tensor([trace.token_ids]), output_attentions=True, output_hidden_states=True)
    assert (trace.resid(0) - out.hidden_states[0][0]).abs().max() <= HIDDEN_TOL
    for layer in range(ours.config.n_layers):
        assert (trace.layer_patterns(layer) - out.attentions[layer][0]).abs().max() <= PATTERN_TOL


def test_bfloat16_weights_run_the_same_terms(deberta):
    """Half-precision weights on the CPU: near float32's patterns (mean difference 3e-3, as test_deberta.py)."""
    _, ours, trace, _, folder = deberta
    half = load_model(str(folder), device="cpu", dtype="bfloat16").trace(TEXT)
    for layer in range(ours.config.n_layers):
        assert (half.layer_patterns(layer) - trace.layer_patterns(layer)).abs().mean() <= 3e-3


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"talking_head": True}, "talking_head"),
        ({"pos_att_type": ["c2p"]}, "pos_att_type"),
        ({"relative_attention": False}, "pos_att_type"),
    ],
)
def test_layouts_we_do_not_follow_are_refused_by_name(deberta, tmp_path, change, said):
    folder = tmp_path / "edited"
    shutil.copytree(deberta[4], folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **change}))
    with pytest.raises(ModelLoadError, match="DeBERTa with") as refused:
        load_model(str(folder), device="cpu")
    assert said in str(refused.value)
