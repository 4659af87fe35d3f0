"""GGUF `deepseek2` files (DeepSeek-V2, V3 as llama.cpp and Ollama store them) against the transformers model they were
written from: transformers cannot read this architecture's GGUF files, so the reference is the model itself, and the
files are laid out as llama.cpp's converter lays them out (tests/gguf_writer_deepseek.py): today's split k_b / v_b and
the older whole kv_b, V3's sigmoid router with its correction bias and groups, V2's softmax router without a gating
key, V2-Lite's queries without a latent, YaRN with DeepSeek's log multiplier.

Tolerances (max absolute difference, float32 CPU), as for every architecture: patterns 1e-4; logits and hidden
states 1e-3. The models are tests/tiny_models_latent.py's (values narrower than q and k, 8 experts in 4 groups).
"""

from __future__ import annotations

import pytest

from attention_core import load_model
from tests.engine.decoder_parity import assert_matches_reference, reference_run
from tests.gguf_writer_deepseek import write_deepseek_gguf, write_glm4moe_gguf, write_minicpm3_gguf
from tests.tiny_models import byte_bpe
from tests.tiny_models_latent import save_tiny_latent

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL = 1e-4, 1e-3, 1e-3
TEXT = "the blue creature took a mole of the forest, and the fox jumps over the lazy dog"
CASES = [  # (tiny model, kv_b split as today's converter writes it)
    ("deepseek_v3", True), ("deepseek_v3", False), ("deepseek_v3_yarn", True), ("deepseek_v2", False),
    ("deepseek_v2", True),
]  # fmt: skip


@pytest.fixture(scope="module", params=CASES, ids=lambda case: f"{case[0]}-{'split' if case[1] else 'kv_b'}")
def pair(request, tmp_path_factory, monkeypatch_module):
    kind, split = request.param
    hf = save_tiny_latent(kind, tmp_path_factory.mktemp(kind))
    path = write_deepseek_gguf(hf, byte_bpe(300), tmp_path_factory.mktemp("gguf") / f"{kind}.gguf", split)
    monkeypatch_module.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    return kind, hf, load_model(str(path), device="cpu")


def test_patterns_logits_and_hidden_states_match_the_model_written(pair):
    kind, hf, ours = pair
    trace = ours.trace(TEXT)
    assert_matches_reference(kind, ours, trace, reference_run(hf, trace), (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL))


def test_the_file_declares_what_the_checkpoint_did(pair):
    """The config read from the metadata: head widths (from the *_mla keys or the plain ones), latents, router."""
    kind, hf, ours = pair
    cfg, theirs = ours.config, hf.config
    assert (cfg.d_head, cfg.d_value, cfg.rotary_dim) == (16, 12, 8)
    assert (cfg.kv_latent_rank, cfg.q_latent_rank) == (16, theirs.q_lora_rank or 0)
    assert cfg.n_kv_heads == cfg.n_heads == 4 and cfg.rope_pairs_reordered
    v3 = kind.startswith("deepseek_v3")
    assert cfg.moe_router == ("sigmoid" if v3 else "softmax") and cfg.moe_scale == 2.5
    assert cfg.moe_groups == (4, 2) and cfg.moe_renormalize == v3  # both tiny models route within groups
    assert cfg.arch == ("deepseek_v3" if v3 else "deepseek_v2")
    assert ("mlp.router.b_choice" in "".join(ours.weights)) == v3


@pytest.fixture(scope="module", params=["glm4_moe_one_group", "glm4_moe_air"])
def glm_pair(request, tmp_path_factory, monkeypatch_module):
    """GLM-4.5 (q/k norms) and GLM-4.5-Air (none) as llama.cpp's glm4moe files, with the prediction layer."""
    hf = save_tiny_latent(request.param, tmp_path_factory.mktemp(request.param))
    path = write_glm4moe_gguf(hf, byte_bpe(300), tmp_path_factory.mktemp("gguf") / f"{request.param}.gguf")
    monkeypatch_module.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    return request.param, hf, load_model(str(path), device="cpu")


def test_glm4moe_files_match_the_model_written(glm_pair):
    kind, hf, ours = glm_pair
    trace = ours.trace(TEXT)
    assert_matches_reference(kind, ours, trace, reference_run(hf, trace), (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL))


def test_glm4moe_files_declare_glms_attention_and_deepseeks_router(glm_pair):
    """The prediction layer is in the file (block_count 4) but not in the model; rows are Hugging Face's; the router
    is V3's (sigmoid, correction bias), never grouped."""
    kind, hf, ours = glm_pair
    cfg = ours.config
    assert cfg.arch == "glm4_moe" and cfg.n_layers == 3 and "blocks.3.attn.W_Q" not in ours.weights
    assert (cfg.d_head, cfg.rotary_dim, cfg.n_kv_heads, cfg.attn_bias) == (16, 8, 2, True)
    assert not cfg.rope_pairs_reordered and cfg.qk_norm == ("none" if kind == "glm4_moe_air" else "head")
    assert (cfg.moe_router, cfg.moe_groups, cfg.moe_scale, cfg.moe_renormalize) == ("sigmoid", (1, 1), 2.5, True)
    assert "blocks.0.mlp.W_gate" in ours.weights and "blocks.1.mlp.router.b_choice" in ours.weights
    bias = sum(b.numel() for n, b in hf.named_buffers() if n.endswith("e_score_correction_bias"))  # a buffer there
    assert ours.parameter_counts()["total"] == sum(p.numel() for p in hf.parameters()) + bias


def test_a_glm4moe_file_without_a_gating_key_routes_by_sigmoid(tmp_path, monkeypatch):
    """llama.cpp reads a glm4moe file that names no gating (or gating 0) as sigmoid, where deepseek2's default is
    softmax: the file still matches the model written; without the prediction layer, every block is the model's."""
    import gguf

    from tests.gguf_writer import rewrite_gguf

    hf = save_tiny_latent("glm4_moe_air", tmp_path / "hf")
    written = write_glm4moe_gguf(hf, byte_bpe(300), tmp_path / "written.gguf", nextn=False)
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    gating = "glm4moe.expert_gating_func"
    for fields, drop in (({}, (gating,)), ({gating: (0, gguf.GGUFValueType.UINT32)}, ())):
        path = rewrite_gguf(written, tmp_path / f"rewritten{len(drop)}.gguf", fields, drop)
        ours = load_model(str(path), device="cpu")
        assert ours.config.moe_router == "sigmoid" and ours.config.n_layers == 3
        trace = ours.trace(TEXT)
        tolerances = (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL)
        assert_matches_reference("glm4_moe_air", ours, trace, reference_run(hf, trace), tolerances)


def test_dots1_files_match_the_model_written(tmp_path, monkeypatch):
    """dots.llm1 as llama.cpp's Dots1Model writes it: Qwen3's heads (q/k norms, rows as Hugging Face's, every
    dimension rotating), a dense first layer, then V3's router with its correction bias, ungrouped, and a shared
    expert."""
    hf = save_tiny_latent("dots1_one_group", tmp_path / "hf")
    path = write_glm4moe_gguf(hf, byte_bpe(300), tmp_path / "dots1.gguf", arch="dots1")
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    ours = load_model(str(path), device="cpu")
    trace = ours.trace(TEXT)
    assert_matches_reference("dots1", ours, trace, reference_run(hf, trace), (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL))
    cfg = ours.config
    assert (cfg.arch, cfg.qk_norm, cfg.rotary_dim, cfg.n_kv_heads, cfg.attn_bias) == ("dots1", "head", None, 2, False)
    assert (cfg.moe_router, cfg.moe_groups, cfg.moe_scale, cfg.moe_renormalize) == ("sigmoid", (1, 1), 2.5, True)
    assert "blocks.0.mlp.W_gate" in ours.weights and "blocks.2.mlp.shared.W_out" in ours.weights
    assert "blocks.1.mlp.router.b_choice" in ours.weights
    bias = sum(b.numel() for n, b in hf.named_buffers() if n.endswith("e_score_correction_bias"))  # a buffer there
    assert ours.parameter_counts()["total"] == sum(p.numel() for p in hf.parameters()) + bias


def test_minicpm3_files_match_the_model_written(tmp_path, monkeypatch):
    """MiniCPM3 as llama.cpp's MiniCPM3Model writes it: latent attention with kv_b whole, rotating halves as stored,
    LongRoPE's short factors within the context; the file keeps no value width, RoPE base or scales, so they are
    llama.cpp's (d_model / heads, 10,000, and MiniCPM3-4B's 12, 1.4, 256, fixed in its minicpm3 graph), which the
    model written has too."""
    hf = save_tiny_latent("minicpm3_4b_scales", tmp_path / "hf")
    path = write_minicpm3_gguf(hf, byte_bpe(300), tmp_path / "minicpm3.gguf")
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    ours = load_model(str(path), device="cpu")
    trace = ours.trace(TEXT)
    tolerances = (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL)
    assert_matches_reference("minicpm3", ours, trace, reference_run(hf, trace), tolerances)
    cfg = ours.config
    assert (cfg.arch, cfg.d_head, cfg.d_value, cfg.rotary_dim, cfg.n_ctx) == ("minicpm3", 16, 16, 8, 128)
    assert (cfg.kv_latent_rank, cfg.q_latent_rank, cfg.rope_pairs_reordered) == (16, 24, False)
    assert (cfg.embed_scale, cfg.unembed_scale) == (12.0, 4.0) and abs(cfg.residual_scale - 1.4 / 3**0.5) < 1e-12
    assert cfg.rope_freq_divisors == (1.0, 1.5, 2.5, 4.0)
    assert ours.parameter_counts()["total"] == sum(p.numel() for p in hf.parameters())


def test_mistral4_files_match_the_model_written(tmp_path, monkeypatch):
    """Mistral 4 as llama.cpp's Mistral4Model writes it: deepseek2's keys and names, the experts' gate and up fused
    (ffn_gate_up_exps), V2's softmax router ungrouped. The file does not say whether the model scales its queries
    past YaRN's original context (Llama 4's attention temperature, as Mistral Small 4 does and llama.cpp's graph
    does not), so texts are capped there, with a note; within it the file is the model written."""
    hf = save_tiny_latent("mistral4", tmp_path / "hf")
    path = write_deepseek_gguf(hf, byte_bpe(300), tmp_path / "mistral4.gguf", arch="mistral4")
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    ours = load_model(str(path), device="cpu")
    cfg = ours.config
    assert (cfg.arch, cfg.n_ctx, cfg.moe_router, cfg.moe_groups, cfg.moe_renormalize) == (
        "mistral4", 32, "softmax", (1, 1), True)
    assert any("past them Mistral 4 may also scale its queries" in note for note in cfg.conversion_notes)
    trace = ours.trace(TEXT + " " + TEXT)
    assert trace.n_tokens == 32
    tolerances = (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL)
    assert_matches_reference("mistral4", ours, trace, reference_run(hf, trace), tolerances)
    assert "blocks.0.mlp.experts.7.W_gate" in ours.weights and "blocks.0.mlp.shared.W_out" in ours.weights
    assert ours.parameter_counts()["total"] == sum(p.numel() for p in hf.parameters())


def test_a_minicpm3_file_whose_values_are_not_d_model_over_heads_wide_is_refused_by_name(tmp_path, monkeypatch):
    """llama.cpp's MiniCPM3 converter writes no value width, so a reader takes d_model / heads; a checkpoint whose
    values are narrower (v_head_dim 12 here, 64 / 4 = 16) makes a file whose attn_kv_b does not fit that: refused,
    naming the tensor and the width, not a reshape's traceback."""
    import torch
    import transformers

    from attention_core import ModelLoadError
    from tests.tiny_models import _peaked_and_saved
    from tests.tiny_models_latent import _SHAPE

    torch.manual_seed(0)
    cfg = transformers.MiniCPM3Config(**_SHAPE, scale_emb=12.0, scale_depth=1.4, dim_model_base=256)
    hf = _peaked_and_saved(transformers.MiniCPM3ForCausalLM(cfg), tmp_path / "hf", byte_bpe(300), norms_too=True)
    path = write_minicpm3_gguf(hf, byte_bpe(300), tmp_path / "narrow.gguf")
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(ModelLoadError, match=r"blk\.0\.attn_kv_b has .*values 16 wide"):
        load_model(str(path), device="cpu")


def test_a_reader_that_trips_on_a_tensor_says_which_file(tmp_path, monkeypatch):
    """Whatever a reader's arithmetic trips on in a file whose tensors do not fit its metadata (a reshape, an
    index), the load is refused with the file's name and the reason, never the exception's traceback."""
    from attention_core import ModelLoadError
    from attention_core.loading import gguf as gguf_loading

    hf = save_tiny_latent("minicpm3_4b_scales", tmp_path / "hf")
    path = write_minicpm3_gguf(hf, byte_bpe(300), tmp_path / "m.gguf")
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))

    def trips(t, cfg):
        raise RuntimeError("shape '[16, 4, 24]' is invalid for input of size 1280")

    monkeypatch.setitem(gguf_loading.CONVERTERS, "minicpm3", (gguf_loading.CONVERTERS["minicpm3"][0], trips))
    with pytest.raises(ModelLoadError, match=r"m\.gguf: its tensors do not fit its metadata: shape"):
        load_model(str(path), device="cpu")
