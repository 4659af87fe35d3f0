"""DeBERTa-v2/v3 against `transformers` on a tiny random DebertaV2Model (tests.tiny_models.save_tiny_deberta).

Tolerances (max absolute difference, float32 CPU): patterns 1e-4, hidden states 1e-3. The text (over 40 tokens) is
longer than the 8 offsets each way the tiny model keeps exact, so its logarithmic buckets are read too. DeBERTa's
score is q·k/√(3·d_head) plus two position terms of each layer's own q and k (attention_core/disentangled.py);
the trace keeps them apart, as it keeps T5's bias apart: scores(with_bias=False) is the scaled q·k, position_bias
the terms, and every path that draws a pattern adds them (seen failing with the terms' relative index reversed,
and with the position table not normalised).
"""

from __future__ import annotations

import pytest
import torch

from attention_core import load_model
from attention_core import model as fwd
from attention_core.disentangled import log_bucket
from attention_core.errors import ModelLoadError
from tests.tiny_models import save_tiny_deberta

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, HIDDEN_TOL = 1e-4, 1e-3
TEXT = "the quick brown fox jumps over the lazy dog and a fluffy blue creature roamed the verdant forest " * 2


@pytest.fixture(scope="module")
def deberta(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache-deberta")))
    folder = tmp_path_factory.mktemp("tiny-deberta")
    hf = save_tiny_deberta(folder)
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


def test_buckets_are_transformers_own(deberta):
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
    assert cfg.arch == "deberta_v2" and not cfg.has_lm_head and not cfg.causal
    assert not cfg.absolute_positions and "embed.W_pos" not in ours.weights  # positions in the terms alone
    assert ours.weights["rel.W"].shape == (32, 64)  # 2 × 16 buckets
    assert any("disentangled attention" in f and "exact to ±8" in f for f in cfg.features())
    assert ours.parameter_counts()["total"] == sum(p.numel() for p in hf.parameters())


def test_v3s_own_config_spelling_loads(deberta, tmp_path):
    """DeBERTa-v3's config.json writes pos_att_type as "p2c|c2p" (a string; transformers splits it): read as the
    list it means (it was read character by character and refused)."""
    import json
    import shutil

    folder = tmp_path / "v3-spelling"
    shutil.copytree(deberta[4], folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "pos_att_type": "p2c|c2p"}))
    assert load_model(str(folder), device="cpu").config.position_bias == "disentangled"


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"conv_kernel_size": 3}, "conv_kernel_size"),
        ({"share_att_key": False}, "share_att_key false"),
        ({"pos_att_type": ["c2p"]}, "pos_att_type"),
    ],
)
def test_layouts_we_do_not_follow_are_refused_by_name(deberta, tmp_path, change, said):
    import json
    import shutil

    folder = tmp_path / "edited"
    shutil.copytree(deberta[4], folder)
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
    trace = ours.trace(TEXT)
    with torch.inference_mode():
        out = hf(torch.tensor([trace.token_ids]), output_attentions=True, output_hidden_states=True)
    assert (trace.resid(0) - out.hidden_states[0][0]).abs().max() <= HIDDEN_TOL
    for layer in range(ours.config.n_layers):
        assert (trace.layer_patterns(layer) - out.attentions[layer][0]).abs().max() <= PATTERN_TOL
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
