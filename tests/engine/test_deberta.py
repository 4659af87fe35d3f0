"""DeBERTa against `transformers` on tiny random models: DeBERTa-v2/v3 (DebertaV2Model,
tests.tiny_models.save_tiny_deberta) and DeBERTa v1 (DebertaModel, save_tiny_deberta_v1: microsoft/deberta-base's
layout). The tests taking the `deberta` fixture run on both.

Tolerances (max absolute difference, float32 CPU): patterns 1e-4, hidden states 1e-3. The text (over 40 tokens) is
longer than the 8 offsets each way the tiny v2 model keeps exact, so its logarithmic buckets are read too, and than
the ±16 offsets the tiny v1 model keeps, so its clamp at the table's ends is. DeBERTa's
score is q·k/√(3·d_head) plus two position terms of each layer's own q and k (attention_core/disentangled.py);
the trace keeps them apart, as it keeps T5's bias apart: scores(with_bias=False) is the scaled q·k, position_bias
the terms, and every path that draws a pattern adds them (seen failing with the terms' relative index reversed,
and with the position table not normalised). v1 differs in its weights alone, each difference failing these tests
when read as v2 reads it: q, k and v fused per head in `in_proj` with a bias on q and v but none on k (the fused
bias dropped them all until a missing one got zeros), the position terms from each layer's own `pos_q_proj` and
`pos_proj`, a table without a LayerNorm.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from attention_core import load_model
from attention_core import model as fwd
from attention_core.disentangled import log_bucket
from attention_core.errors import ModelLoadError
from tests.tiny_models import save_tiny_deberta, save_tiny_deberta_v1

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, HIDDEN_TOL = 1e-4, 1e-3
TEXT = "the quick brown fox jumps over the lazy dog and a fluffy blue creature roamed the verdant forest " * 2
LAYOUTS = {"v2": save_tiny_deberta, "v1": save_tiny_deberta_v1}


def _traced(tmp_path_factory, layout: str):
    """(transformers' model, ours, our trace of TEXT, transformers' outputs, the folder) of a tiny `layout` model."""
    mp = pytest.MonkeyPatch()
    mp.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp(f"cache-deberta-{layout}")))
    folder = tmp_path_factory.mktemp(f"tiny-deberta-{layout}")
    hf = LAYOUTS[layout](folder)
    ours = load_model(str(folder), device="cpu")
    trace = ours.trace(TEXT)
    with torch.inference_mode():
        out = hf(torch.tensor([trace.token_ids]), output_attentions=True, output_hidden_states=True)
    return (hf, ours, trace, out, folder), mp


@pytest.fixture(scope="module", params=list(LAYOUTS))
def deberta(request, tmp_path_factory):
    traced, mp = _traced(tmp_path_factory, request.param)
    yield traced
    mp.undo()


@pytest.fixture(scope="module")
def deberta_v2(tmp_path_factory):
    traced, mp = _traced(tmp_path_factory, "v2")
    yield traced
    mp.undo()


def test_patterns_and_hidden_states_match_transformers(deberta):
    _, ours, trace, out, _ = deberta
    assert trace.n_tokens > 40
    for layer in range(ours.config.n_layers):
        assert (trace.layer_patterns(layer) - out.attentions[layer][0]).abs().max() <= PATTERN_TOL
        assert (trace.resid(layer) - out.hidden_states[layer][0]).abs().max() <= HIDDEN_TOL
    assert (trace.captured.resid_pre[-1] - out.last_hidden_state[0]).abs().max() <= HIDDEN_TOL
    assert trace.layer_patterns(0).max() > 0.5  # peaked: a wrong term would move real weight


def test_buckets_are_transformers_own():
    from transformers.models.deberta_v2.modeling_deberta_v2 import make_log_bucket_position

    offsets = torch.arange(-300, 301)
    for buckets, most in ((16, 64), (256, 512)):
        expected = make_log_bucket_position(offsets, buckets, most).long()
        assert torch.equal(log_bucket(offsets, buckets, most), expected)


def test_the_position_terms_are_their_own_term_and_differ_by_layer(deberta):
    _, ours, trace, _, _ = deberta
    cfg = ours.config
    assert cfg.position_bias == "disentangled" and cfg.scale == pytest.approx((3 * cfg.d_head) ** -0.5)
    q, k = trace.captured.q[1][2], trace.captured.k[1][2]
    assert torch.equal(trace.scores(1, 2, with_bias=False), fwd.attention_scores(q, k, cfg.attn_scale))
    terms = trace.position_bias(1, 2)
    assert torch.allclose(trace.scores(1, 2), trace.scores(1, 2, with_bias=False) + terms)
    assert not torch.allclose(terms, trace.position_bias(0, 2), atol=1e-3)  # each layer's own q and k
    assert torch.equal(trace["blocks.1.attn.position_bias"][2], terms)
    without = torch.softmax(trace.scores(1, 2, with_bias=False), -1)
    assert (without - trace.pattern(1, 2)).abs().max() > 0.05  # the terms move real weight
    steps = trace.head_steps(1, 2)
    assert abs(steps.pattern - trace.pattern(1, 2).double().numpy()).max() < 1e-6
    b_O = ours.weights["blocks.1.attn.b_O"]  # attn_out = Σ heads' outputs + b_O; z from the SDPA path with the terms
    assert (trace.attn_out(1) - trace.head_out(1).sum(0) - b_O).abs().max() < 1e-4
    pooled = trace.pooled_patterns(size=trace.n_tokens)  # the pooled fast path adds them too
    assert (pooled[1, 2] - trace.pattern(1, 2)).abs().max() < 1e-5


def test_config_names_it_and_counts_every_parameter(deberta):
    hf, ours, _, _, _ = deberta
    cfg = ours.config
    layout = "v1" if isinstance(hf, transformers.DebertaModel) else "v2"
    assert cfg.arch == {"v2": "deberta_v2", "v1": "deberta"}[layout] and not cfg.has_lm_head and not cfg.causal
    assert cfg.own_position_projections == (layout == "v1")
    assert not cfg.absolute_positions and "embed.W_pos" not in ours.weights  # positions in the terms alone
    assert ours.weights["rel.W"].shape == (32, 64)  # v2: 2 × 16 buckets; v1: 2 × max_relative_positions 16
    reach = {"v2": "exact to ±8", "v1": "offsets exact, clamped at ±16"}[layout]
    assert any("disentangled attention" in f and reach in f for f in cfg.features())
    # q·k and the two position terms are divided by √(3·d_head): the sidebar says so (was "scaled by 0.1443")
    assert cfg.scale_multiple == 3
    assert "scores scaled by 1/√(3·d_head) = 0.1443 (not 1/√d_head = 0.25)" in cfg.features()
    assert ours.parameter_counts()["total"] == sum(p.numel() for p in hf.parameters())


def test_v1s_fused_projections_split_per_head_with_their_biases(tmp_path_factory):
    """in_proj's rows are (head, q|k|v, d_head): head 1's query is rows 3·d_head .. 4·d_head of it; no k bias and no
    norm on the position table, each layer's own position projections."""
    (hf, ours, _, _, _), mp = _traced(tmp_path_factory, "v1")
    mp.undo()
    cfg, w = ours.config, ours.weights
    in_proj = hf.encoder.layer[1].attention.self.in_proj.weight  # (n_heads · 3 · d_head, d_model)
    d = cfg.d_head
    assert torch.equal(w["blocks.1.attn.W_Q"][:, d : 2 * d], in_proj[3 * d : 4 * d].T)
    assert torch.equal(w["blocks.1.attn.W_V"][:, :d], in_proj[2 * d : 3 * d].T)
    assert torch.equal(w["blocks.1.attn.b_Q"], hf.encoder.layer[1].attention.self.q_bias)
    assert "blocks.1.attn.b_K" not in w and "rel.ln.w" not in w and "blocks.1.attn.W_pos_K" in w


def test_v3s_own_config_spelling_loads(deberta_v2, tmp_path):
    """DeBERTa-v3's config.json writes pos_att_type as "p2c|c2p" (a string; transformers splits it): read as the
    list it means (it was read character by character and refused)."""
    folder = tmp_path / "v3-spelling"
    shutil.copytree(deberta_v2[4], folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "pos_att_type": "p2c|c2p"}))
    assert load_model(str(folder), device="cpu").config.position_bias == "disentangled"


@pytest.mark.parametrize(
    ("layout", "change", "said"),
    [
        ("v2", {"conv_kernel_size": 3}, "conv_kernel_size"),
        ("v2", {"share_att_key": False}, "share_att_key false"),
        ("v2", {"pos_att_type": ["c2p"]}, "pos_att_type"),
        ("v1", {"talking_head": True}, "talking_head"),
        ("v1", {"pos_att_type": ["c2p"]}, "pos_att_type"),
        ("v1", {"relative_attention": False}, "pos_att_type"),
    ],
)
def test_layouts_we_do_not_follow_are_refused_by_name(tmp_path, monkeypatch, layout, change, said):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "edited"
    LAYOUTS[layout](folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **change}))
    with pytest.raises(ModelLoadError, match="DeBERTa with") as refused:
        load_model(str(folder), device="cpu")
    assert said in str(refused.value)


def test_bfloat16_weights_run_the_same_terms(deberta):
    """Half-precision weights on the CPU (attention_core/dtypes.py): the position terms are computed in float32
    and handed back in the pass's dtype, and the patterns stay near float32's (mean difference 3e-3, the
    tolerance tests/engine/test_half.py gives SmolLM2; the tiny model's peaked scores move its largest cells more)."""
    _, ours, trace, _, folder = deberta
    half = load_model(str(folder), device="cpu", dtype="bfloat16").trace(TEXT)
    for layer in range(ours.config.n_layers):
        assert (half.layer_patterns(layer) - trace.layer_patterns(layer)).abs().mean() <= 3e-3


def test_narrower_embeddings_are_projected_up_before_their_norm(tmp_path, monkeypatch):
    """embedding_size < hidden_size: DeBERTa projects the embeddings up (embed_proj, no bias), then normalises."""
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    hf = save_tiny_deberta(tmp_path / "narrow", embedding_size=32)
    ours = load_model(str(tmp_path / "narrow"), device="cpu")
    assert ours.weights["embed.W_proj"].shape == (32, 64) and "embed.b_proj" not in ours.weights
    trace = _embeddings_and_patterns_match(hf, ours)
    assert trace.head_steps(0, 0).embedding_projection == "before"
    assert ours.parameter_counts()["total"] == sum(p.numel() for p in hf.parameters())


def test_without_buckets_every_offset_is_its_own_row_clamped_at_the_span(tmp_path, monkeypatch):
    """position_buckets -1 (transformers' default): offsets are not bucketed, only clamped to ±max_relative_positions
    (16 here, the text is over 40 tokens); they were bucketed logarithmically past ±8."""
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    hf = save_tiny_deberta(tmp_path / "plain", buckets=-1)
    ours = load_model(str(tmp_path / "plain"), device="cpu")
    trace = ours.trace(TEXT)
    with torch.inference_mode():
        out = hf(torch.tensor([trace.token_ids]), output_attentions=True)
    for layer in range(ours.config.n_layers):
        assert (trace.layer_patterns(layer) - out.attentions[layer][0]).abs().max() <= PATTERN_TOL
    assert any("offsets exact, clamped at ±16" in f for f in ours.config.features())


def test_v1_with_absolute_positions_too(tmp_path, monkeypatch):
    """position_biased_input true (DebertaConfig's default): learned positions are added to the tokens as well."""
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    hf = save_tiny_deberta_v1(tmp_path / "biased", position_biased_input=True)
    ours = load_model(str(tmp_path / "biased"), device="cpu")
    assert "embed.W_pos" in ours.weights
    _embeddings_and_patterns_match(hf, ours)


def _embeddings_and_patterns_match(hf, ours):
    """Our trace of TEXT, after checking its embeddings (layer 0's residual) and every pattern against `hf`'s."""
    trace = ours.trace(TEXT)
    with torch.inference_mode():
        out = hf(torch.tensor([trace.token_ids]), output_attentions=True, output_hidden_states=True)
    assert (trace.resid(0) - out.hidden_states[0][0]).abs().max() <= HIDDEN_TOL
    for layer in range(ours.config.n_layers):
        assert (trace.layer_patterns(layer) - out.attentions[layer][0]).abs().max() <= PATTERN_TOL
    return trace
