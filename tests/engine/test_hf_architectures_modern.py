"""Parity against `transformers` for today's open decoders, on tiny random models saved as safetensors.

Tolerances (max absolute difference, float32 CPU), as for the older architectures: patterns 1e-4;
logits and hidden states 1e-3. Weights are drawn with std 0.3 so patterns are peaked (a wrong RoPE,
mask or head mapping moves real weight). Windowed models get a window of 8 and a text of more than
8 tokens, so the window bites; Gemma 2's soft-cap is set low (5) so that it bites too.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from attention_core import ModelLoadError, blocks, load_model
from tests.engine.decoder_parity import assert_generation_matches_one_pass
from tests.tiny_models import byte_bpe, save_tiny

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL = 1e-4, 1e-3, 1e-3
TEXT = "the blue creature took a mole of the forest, and the fox jumps over the lazy dog"
KINDS = [
    "qwen3", "gemma", "gemma2", "gemma3", "phi3", "olmo2", "neox", "phi", "stablelm", "stablelm_parallel", "starcoder2",
    "smollm3", "mixtral", "qwen2_moe", "qwen3_moe", "olmoe", "bloom", "bloom_5h", "falcon",
    "falcon_new", "gpt_neo", "gptj", "opt", "granite", "cohere", "gpt_bigcode", "gpt_bigcode_mha", "phi3_longrope",
    "granitemoe", "cohere2", "nemotron", "qwen3_yarn", "olmo3",
    "olmo_clip", "olmoe_clip", "dbrx",
    "olmo", "exaone4", "exaone4_hybrid", "glm", "glm4", "helium", "ernie4_5", "seed_oss", "arcee", "ministral",
    "ministral3", "mistral3", "hunyuan", "hunyuan_alpha", "apertus",
    "qwen2_5_vl", "qwen3_vl", "gpt_oss", "llama4_text", "llama4", "llama4_dense",
    "nanochat", "minimax_m2", "qwen3_vl_moe", "vaultgemma", "ernie4_5_moe", "flex_olmo", "solar_open", "exaone_moe",
    "hunyuan_moe", "granitemoeshared", "exaone4_5", "cohere2_moe", "cohere2_moe_sigmoid",
    "jais2", "phimoe", "granite_swa", "granitemoe_swa",
    "cwm", "hyperclovax", "hyperclovax_pre", "mellum", "hy_v3", "flint", "afmoe", "kolibri1", "mimo_v2_flash",
    "modernbert_decoder",
    "openai_gpt", "codegen", "xglm", "mpt", "granitemoehybrid", "granitemoehybrid_moe",
    "phi_qk", "stablelm_qk", "cohere_qk", "persimmon", "falcon_rw",
]
# the rest: RoPE or ALiBi, positions inside attention
LEARNED_POSITIONS = ("gpt_neo", "opt", "gpt_bigcode", "gpt_bigcode_mha", "openai_gpt", "xglm")  # XGLM's: computed


def _alibi_once(hf) -> None:
    """transformers 5's Falcon with ALiBi (Falcon-RW) puts alibi/√d_head into the mask its layers get, and its eager
    path (the one that returns patterns) then adds alibi to q·k again before the scale: twice, where its default
    SDPA path, and Falcon-RW as trained, add it once (test_falcon_rw_reference_is_transformers_default_path). Each
    layer is handed zeros for its own alibi, so that the mask's copy is the only one."""
    for block in hf.transformer.h:
        block.self_attention.register_forward_pre_hook(
            lambda _, args, kwargs: (args, {**kwargs, "alibi": torch.zeros_like(kwargs["alibi"])}), with_kwargs=True
        )


@pytest.fixture(scope="module", params=KINDS)
def pair(request, tmp_path_factory, monkeypatch_module):
    folder = tmp_path_factory.mktemp(request.param)
    hf = save_tiny(request.param, folder)
    if request.param == "falcon_rw":
        _alibi_once(hf)
    monkeypatch_module.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    return request.param, hf, load_model(str(folder), device="cpu")


def _final_hidden(ours, trace) -> torch.Tensor:
    """HF's last hidden state is after the final norm (GPT-1 has none: its last block's own norm ends it)."""
    if ours.config.norm_weights and "ln_final.w" not in ours.weights:
        return trace.resid(ours.config.n_layers)
    return blocks.normalize(trace.resid(ours.config.n_layers), ours.weights, "ln_final", ours.config)


def test_patterns_logits_and_hidden_states_match(pair):
    kind, hf, ours = pair
    trace = ours.trace(TEXT)
    ids = torch.tensor([trace.token_ids])
    assert ids.shape[1] > 12  # longer than the windows below
    with torch.inference_mode():
        out = hf(ids, output_attentions=True, output_hidden_states=True)
    for layer in range(ours.config.n_layers):
        ref, mine = out.attentions[layer][0], trace.layer_patterns(layer)
        if kind in ("granite_swa", "granitemoe_swa"):  # transformers returns the softmax before the sink's share (it
            mine = mine / mine.sum(-1, keepdim=True)  # scales each head's output by it): ours, rows summing to 1 − it
        diff = (mine - ref).abs().max().item()
        assert diff <= PATTERN_TOL, f"{kind} layer {layer} pattern differs by {diff}"
        assert ref[:, -1].max() > 3.0 / ids.shape[1], "random weights too small to make a peaked pattern"
        masked = ~trace.mask(layer)  # zero exactly there (an allowed weight may underflow to 0: GPT-Neo's unscaled)
        assert masked.any() and (trace.layer_patterns(layer)[:, masked] == 0).all()
    for layer in range(ours.config.n_layers):
        diff = (trace.resid(layer) - out.hidden_states[layer][0]).abs().max().item()
        assert diff <= HIDDEN_TOL, f"{kind} hidden state {layer} differs by {diff}"
    assert (_final_hidden(ours, trace) - out.hidden_states[-1][0]).abs().max().item() <= HIDDEN_TOL
    assert (trace.logits - out.logits[0]).abs().max().item() <= LOGIT_TOL


def test_parameter_counts_match(pair):
    kind, hf, ours = pair
    if kind == "llama4":  # Llama4ForConditionalGeneration: its language model is a Llama4ForCausalLM, lm_head in
        assert ours.parameter_counts()["total"] == sum(p.numel() for p in hf.language_model.parameters())
        return
    if kind in ("mistral3", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe", "exaone4_5"):  # the vision tower is not read
        language = [*hf.model.language_model.parameters(), *([] if ours.config.tie_embeddings else [hf.lm_head.weight])]
        assert ours.parameter_counts()["total"] == sum(p.numel() for p in language)
        return
    # MiniMax-M2's correction biases are buffers in transformers, read as weights here (as DeepSeek-V3's); so is
    # XGLM's fixed position table, a computed tensor here
    counted = ("e_score_correction_bias", "embed_positions.weights")
    buffers = sum(b.numel() for name, b in hf.named_buffers() if name.endswith(counted))
    assert ours.parameter_counts()["total"] == sum(p.numel() for p in hf.parameters()) + buffers


def test_declared_features(pair):
    kind, _, ours = pair
    cfg = ours.config
    import typing

    from attention_core.config import ModelConfig

    assert cfg.arch in typing.get_args(typing.get_type_hints(ModelConfig)["arch"])  # and so labelled in the sidebar
    expected = {
        "qwen3": dict(qk_norm="head", norm_position="pre"),
        "gemma2": dict(attn_softcap=5.0, final_softcap=10.0, norm_position="sandwich", sliding_layers=(True, False)),
        "gemma3": dict(qk_norm="head", rope_theta_local=10000.0, rope_theta=500000.0, norm_position="sandwich"),
        "phi3": dict(sliding_window=8, sliding_layers=()),
        "olmo2": dict(qk_norm="full", norm_position="post_sublayer"),
        "neox": dict(rotary_dim=4, parallel_blocks=True, norm="layer"),
        "gemma": dict(norm_position="pre", attn_softcap=None, sliding_window=None, embed_scale=8.0),
        "phi": dict(rotary_dim=8, parallel_blocks=True, shared_block_norm=True, norm="layer", gated_mlp=False),
        "stablelm": dict(rotary_dim=4, parallel_blocks=False, norm="layer", attn_bias=True, gated_mlp=True),
        "stablelm_parallel": dict(rotary_dim=4, parallel_blocks=True, shared_block_norm=True, norm="layer"),
        "starcoder2": dict(sliding_window=8, norm="layer", attn_bias=True, mlp_bias=True, gated_mlp=False),
        "smollm3": dict(rope_layers=(True, False), uses_rope=True),  # layer 1 is NoPE
        "mixtral": dict(n_experts=4, experts_per_token=2, moe_renormalize=True),
        "qwen3_moe": dict(n_experts=4, experts_per_token=2, moe_renormalize=False, qk_norm="head"),
        "falcon": dict(n_kv_heads=1, parallel_blocks=True, shared_block_norm=True, norm="layer", attn_bias=False),
        "falcon_new": dict(n_kv_heads=2, parallel_blocks=True, shared_block_norm=False, norm="layer"),
        "bloom": dict(position_bias="alibi", uses_rope=False, norm="layer", attn_bias=True),
        "bloom_5h": dict(position_bias="alibi", n_heads=5),
        "qwen2_moe": dict(n_experts=4, experts_per_token=2, moe_renormalize=False, attn_bias=True),
        "olmoe": dict(n_experts=4, experts_per_token=2, moe_renormalize=False, qk_norm="full"),
        "olmoe_clip": dict(arch="olmoe", qk_norm="full", qkv_clip=1.0),
        "gpt_oss": dict(n_experts=4, experts_per_token=2, moe_renormalize=True, attn_bias=True, attn_sinks=True,
                        act="swiglu_clamped", swiglu_clamp=(2.0, 1.702), sliding_window=8,
                        sliding_layers=(True, False)),
        "gpt_neo": dict(attn_scale=1.0, sliding_window=8, sliding_layers=(False, True), uses_rope=False),
        "gptj": dict(rotary_dim=8, rope_pairs_reordered=True, parallel_blocks=True, shared_block_norm=True,
                     attn_bias=False, mlp_bias=True),
        "opt": dict(pos_offset=2, act="relu", attn_bias=True, uses_rope=False, gated_mlp=False),
        "gpt_bigcode": dict(n_kv_heads=1, attn_bias=True, uses_rope=False, act="gelu_tanh"),
        "gpt_bigcode_mha": dict(n_kv_heads=4, attn_bias=True),
        "phi3_longrope": dict(rope_freq_divisors=(1.0, 1.3, 1.7, 2.2, 2.9, 3.4, 4.0, 5.0), n_ctx=64,
                              rope_attention_factor=pytest.approx(1.0801234497346435)),  # √(1 + ln 2 / ln 64)
        "olmo3": dict(sliding_window=8, sliding_layers=(True, True, True, False), rope_theta_local=100.0,
                      qk_norm="full", norm_position="post_sublayer", rope_attention_factor=pytest.approx(1.1386294)),
        "olmo": dict(norm="layer", norm_weights=False, attn_bias=True),
        "olmo_clip": dict(arch="olmo", qkv_clip=2.0),
        "dbrx": dict(norm="layer", qkv_clip=2.0, n_kv_heads=2, rope_theta=5000.0, n_experts=4, experts_per_token=2,
                     moe_renormalize=True, d_mlp=48),
        "exaone4": dict(qk_norm="head", norm_position="post_sublayer", sliding_window=None, rope_layers=()),
        "exaone4_hybrid": dict(qk_norm="head", norm_position="post_sublayer", sliding_window=8,
                               sliding_layers=(True, True, True, False), rope_layers=(True, True, True, False)),
        "glm": dict(rotary_dim=8, rope_pairs_reordered=True, attn_bias=True, norm_position="pre"),
        "glm4": dict(rotary_dim=8, rope_pairs_reordered=True, attn_bias=True, norm_position="sandwich"),
        "helium": dict(rope_pairs_reordered=True, rotary_dim=None),
        "ernie4_5": dict(rope_pairs_reordered=True, rotary_dim=None),
        "seed_oss": dict(attn_bias=True),
        "arcee": dict(gated_mlp=False, act="relu2"),
        "ministral": dict(sliding_window=8, sliding_layers=(True, False)),
        "hunyuan": dict(qk_norm="head", qk_norm_after_rope=True),
        "apertus": dict(act="xielu", gated_mlp=False, qk_norm="head"),
        "qwen2_5_vl": dict(arch="qwen2_vl", attn_bias=True, qk_norm="none"),
        "qwen3_vl": dict(arch="qwen3_vl", attn_bias=False, qk_norm="head"),
        "llama4_text": dict(rope_layers=(True, True, True, False), qk_norm="head", qk_norm_after_rope=True,
                            qk_norm_layers=(True, True, True, False), qk_norm_weights=False, n_experts=4,
                            experts_per_token=1, moe_router="sigmoid", moe_renormalize=False, moe_scales_input=True,
                            rope_pairs_reordered=True),
        "llama4": dict(rope_layers=(True, True, True, False), qk_norm="none", n_experts=4, moe_scales_input=True,
                       d_mlp=128),
        "llama4_dense": dict(rope_layers=(True,) * 4, qk_norm="head", qk_norm_layers=(True,) * 4, n_experts=0,
                             d_mlp=128, n_ctx=128, conversion_notes=()),  # its unused chunk size caps nothing
        "nanochat": dict(norm_weights=False, embed_norm=True, rope_reversed=True, qk_norm="head",
                         qk_norm_after_rope=True, qk_norm_weights=False, gated_mlp=False, act="relu2",
                         final_softcap=3.0),
        "minimax_m2": dict(qk_norm="full", rotary_dim=8, n_experts=4, experts_per_token=2, moe_router="sigmoid",
                           moe_renormalize=True),
        "qwen3_vl_moe": dict(qk_norm="head", n_experts=4, experts_per_token=2, moe_renormalize=True, d_mlp=96),
        "vaultgemma": dict(norm_position="pre", attn_softcap=5.0, final_softcap=10.0, sliding_window=8,
                           sliding_layers=(True, False), embed_scale=8.0, attn_scale=pytest.approx(24**-0.5)),
        "ernie4_5_moe": dict(rope_pairs_reordered=True, n_experts=4, experts_per_token=2, moe_router="softmax",
                             moe_renormalize=True),
        "flex_olmo": dict(qk_norm="full", norm_position="post_sublayer", n_experts=4, experts_per_token=2,
                          moe_renormalize=False),
        "solar_open": dict(n_experts=8, experts_per_token=2, moe_router="sigmoid", moe_groups=(4, 2), moe_scale=2.5,
                           moe_renormalize=True),
        "exaone_moe": dict(qk_norm="head", norm_position="pre", sliding_window=8,
                           sliding_layers=(True, True, True, False), rope_layers=(True, True, True, False),
                           n_experts=8, moe_groups=(4, 2), moe_scale=2.5),
        "hunyuan_moe": dict(qk_norm="head", qk_norm_after_rope=True, n_experts=4, experts_per_token=2,
                            moe_renormalize=True),
        "granitemoeshared": dict(arch="granitemoe", n_experts=4, experts_per_token=2, moe_renormalize=True,
                                 residual_scale=0.5, embed_scale=3.0, attn_scale=0.2, unembed_scale=0.25),
        "granitemoehybrid": dict(n_experts=0, d_mlp=48, residual_scale=0.5, embed_scale=3.0, attn_scale=0.2,
                                 unembed_scale=0.25, rope_layers=()),
        "granitemoehybrid_moe": dict(n_experts=4, experts_per_token=2, rope_layers=(False, False), residual_scale=0.5),
        "exaone4_5": dict(arch="exaone4", qk_norm="head", norm_position="post_sublayer", sliding_window=8,
                          sliding_layers=(True, True, True, False), rope_layers=(True, True, True, False)),
        "cohere2_moe": dict(rope_layers=(True, True, True, True, False),
                            sliding_layers=(False, True, True, True, False),
                            n_experts=4, moe_router="softmax", moe_renormalize=True, moe_scale=0.5, d_mlp=128,
                            norm="layer", parallel_blocks=True, rope_pairs_reordered=True, unembed_scale=0.5),
        "cohere2_moe_sigmoid": dict(moe_router="sigmoid", moe_renormalize=False, moe_scale=1.0, norm="rms"),
        "jais2": dict(norm="layer", attn_bias=True, mlp_bias=True, gated_mlp=False, act="relu2"),
        "phimoe": dict(norm="layer", attn_bias=True, moe_router="sparsemixer", moe_mixer_eps=0.5, n_experts=4,
                       experts_per_token=2, n_ctx=64, rope_attention_factor=pytest.approx(1.2)),
        "granite_swa": dict(attn_sinks=True, sliding_window=8, sliding_layers=(False, True, True, True),
                            rope_layers=(True, False, True, True), residual_scale=0.5, attn_scale=0.2),
        "granitemoe_swa": dict(attn_sinks=True, n_experts=4, experts_per_token=2, moe_renormalize=True,
                               rope_layers=(True, False, True, True)),
        "cwm": dict(sliding_window=8, sliding_layers=(False, True, True, True), rope_scaling="llama3, factor 4",
                    rope_freq_divisors=pytest.approx((1.0, 1.8624725) + (4.0,) * 6)),  # 2π·1000^(i/8) past 32: ×4
        "hyperclovax": dict(norm_position="sandwich", embed_scale=3.0, attn_scale=0.2, residual_scale=0.5,
                            unembed_scale=4.0),
        "hyperclovax_pre": dict(arch="hyperclovax", norm_position="pre", attn_scale=0.25,  # as saved: 16^-½
                                unembed_scale=4.0),
        "mellum": dict(qk_norm="head", sliding_window=8, sliding_layers=(True, True, True, False), rope_theta=1000.0,
                       rope_theta_local=50.0, n_experts=4, experts_per_token=2, moe_router="softmax",
                       moe_renormalize=False),
        "hy_v3": dict(qk_norm="head", n_experts=4, experts_per_token=2, moe_router="sigmoid", moe_renormalize=True,
                      moe_scale=2.5, moe_groups=(1, 1)),
        "flint": dict(qk_norm="head", attn_sinks=True, sliding_window=8, sliding_layers=(False, False, True, False),
                      rope_layers=(False, False, True, False), n_experts=4, experts_per_token=2, moe_router="sigmoid",
                      moe_renormalize=True, moe_scale=1.0),
        "afmoe": dict(attn_output_gate=True, qk_norm="head", norm_position="sandwich", sliding_window=8,
                      sliding_layers=(True, False, True, False), rope_layers=(True, False, True, False),
                      embed_scale=8.0, n_experts=4, experts_per_token=2, moe_router="sigmoid", moe_renormalize=True,
                      moe_scale=2.5),
        "kolibri1": dict(qk_norm="head", norm_position="sandwich", sliding_window=8,
                         sliding_layers=(True, True, True, True, False), rope_layers=(True, True, True, True, False),
                         n_experts=4, experts_per_token=2, moe_router="sigmoid_logits", moe_renormalize=True),
        "mimo_v2_flash": dict(attn_sinks=True, n_kv_heads=4, kv_heads_layers=(2, 4, 4, 2), d_head=24, d_head_v=16,
                              rotary_dim=8, sliding_window=8,
                              sliding_layers=(False, True, True, False), rope_theta=5000.0, rope_theta_local=50.0,
                              n_experts=4, experts_per_token=2, moe_router="sigmoid", moe_groups=(2, 1),
                              moe_scale=2.5, folded_multipliers=(("attention_value_scale", 0.6),)),
        "codegen": dict(rotary_dim=4, rope_pairs_reordered=True, parallel_blocks=True, shared_block_norm=True,
                        attn_bias=False, mlp_bias=True, n_heads=8, d_head=8),
        "openai_gpt": dict(norm_position="post", norm="layer", act="gelu_tanh", attn_bias=True, mlp_bias=True,
                           uses_rope=False, tie_embeddings=True, d_mlp=256),
        "mpt": dict(position_bias="alibi", alibi_bias_max=8.0, n_heads=6, attn_bias=False, mlp_bias=False, act="gelu",
                    uses_rope=False, tie_embeddings=True, d_mlp=384),
        "xglm": dict(norm_position="pre", norm="layer", act="gelu", attn_bias=True, mlp_bias=True, uses_rope=False,
                     tie_embeddings=True, pos_offset=2, embed_scale=8.0, d_mlp=96),
        "modernbert_decoder": dict(causal=True, sliding_window=8, sliding_layers=(False, True, True), head_act="gelu",
                                   skip_first_attn_norm=True, rope_theta=160000.0, rope_theta_local=10000.0,
                                   norm="layer", tie_embeddings=True, gated_mlp=True),
        "hunyuan_alpha": dict(qk_norm_after_rope=True, rope_theta=pytest.approx(100.0 * 8.0 ** (16 / 14))),
        "ministral3": dict(n_ctx=32, rope_attention_factor=pytest.approx(1.1386294)),  # capped: Llama 4's scale
        "mistral3": dict(n_ctx=32, rope_attention_factor=pytest.approx(1.1386294), arch="ministral3"),
        "qwen3_yarn": dict(rope_theta=100.0, rope_attention_factor=pytest.approx(1 + 0.1 * math.log(4)),
                           rope_freq_divisors=pytest.approx((1.0, 4 / 3.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0))),
        "granitemoe": dict(n_experts=4, experts_per_token=2, moe_renormalize=True, residual_scale=0.5, embed_scale=3.0),
        "cohere2": dict(sliding_layers=(True, True, True, False), rope_layers=(True, True, True, False),
                        rope_pairs_reordered=True, shared_block_norm=True),
        "nemotron": dict(norm="layer", act="relu2", gated_mlp=False, rotary_dim=8, attn_bias=False, mlp_bias=False),
        "granite": dict(embed_scale=3.0, attn_scale=0.2, residual_scale=0.5, unembed_scale=0.25),
        "cohere": dict(rope_pairs_reordered=True, parallel_blocks=True, shared_block_norm=True, norm="layer",
                       unembed_scale=0.5),
        # per-head q/k LayerNorms: shared by the heads with a bias (Phi, Persimmon), or a weight per head (StableLM,
        # Command R+: checked below)
        "phi_qk": dict(qk_norm="head", norm="layer", rotary_dim=8, parallel_blocks=True),
        "stablelm_qk": dict(qk_norm="head", norm="layer", rotary_dim=4, parallel_blocks=False),
        "cohere_qk": dict(qk_norm="head", norm="layer", rope_pairs_reordered=True, parallel_blocks=True),
        "persimmon": dict(qk_norm="head", norm="layer", act="relu2", gated_mlp=False, rotary_dim=8, attn_bias=True,
                          mlp_bias=True, parallel_blocks=False, n_kv_heads=4),
        "falcon_rw": dict(position_bias="alibi", alibi_scaled=True, uses_rope=False, parallel_blocks=False,
                          attn_bias=True, mlp_bias=True, n_kv_heads=4),
    }[kind]
    for field, value in expected.items():
        assert getattr(cfg, field) == value, field
    learned = kind in LEARNED_POSITIONS
    assert cfg.absolute_positions == learned and ("embed.W_pos" in ours.weights) == learned
    if kind in ("gemma2", "gemma3"):
        assert cfg.attn_scale == pytest.approx(24**-0.5) and cfg.act == "gelu_tanh"
    if kind == "gemma":  # Gemma 1: the scale is 1/√d_head, GeGLU
        assert cfg.attn_scale is None and cfg.act == "gelu_tanh" and cfg.final_softcap is None
    if kind == "granite_swa":  # its own RoPE base per layer; layer 1's 0 means no RoPE
        assert [cfg.rope_base(i) for i in (0, 2, 3)] == [1000.0, 50.0, 1000.0] and not cfg.rotates(1)
    if kind in ("stablelm_qk", "cohere_qk"):  # one q norm weight per query head, one k norm per key/value head
        assert ours.weights["blocks.0.attn.q_norm.w"].shape == (cfg.n_heads, cfg.d_head)
        assert ours.weights["blocks.0.attn.k_norm.w"].shape == (cfg.n_kv_heads, cfg.d_head)
    if kind in ("phi_qk", "persimmon"):  # one LayerNorm for every head, with its bias
        assert ours.weights["blocks.0.attn.q_norm.w"].shape == ours.weights["blocks.0.attn.k_norm.b"].shape == (16,)
    if kind == "gemma3":  # sliding_window_pattern 2: layers 0 and 2 slide, 1 is global
        assert [cfg.window(i) for i in range(3)] == [8, None, 8]
        assert cfg.rope_base(0) == 10000.0 and cfg.rope_base(1) == 500000.0


def test_a_windowed_layer_masks_keys_out_of_reach(pair):
    kind, _, ours = pair
    trace = ours.trace(TEXT)
    if ours.config.sliding_window is None:  # no window: every layer's mask is the causal one, nothing more
        causal = torch.ones(trace.n_tokens, trace.n_tokens, dtype=torch.bool).tril()
        assert all(torch.equal(trace.mask(layer), causal) for layer in range(ours.config.n_layers)), kind
        return
    layer = next(i for i in range(ours.config.n_layers) if ours.config.window(i) is not None)
    n = trace.n_tokens
    assert (trace.pattern(layer, 0)[-1, : n - 8] == 0).all() and (trace.pattern(layer, 0)[-1, n - 8 :] > 0).all()
    assert torch.equal(trace.mask(layer), trace.window_mask(layer) & torch.ones(n, n, dtype=torch.bool).tril())
    assert ours.max_tokens == ours.config.n_ctx  # no cap at the window: the mask holds it


def test_generation_with_the_cache_matches_a_fresh_trace(pair):
    """The key/value cache path (per-layer RoPE base, window on one query) gives the full pass's numbers."""
    _, _, ours = pair
    gen = ours.generate("the blue creature took a mole of the forest", max_new_tokens=8)
    ids = torch.tensor(gen.trace.token_ids)
    assert ids.shape[0] > 12  # past the window of 8
    assert_generation_matches_one_pass(ours, gen, HIDDEN_TOL)  # the whole text in one pass


def test_softcapped_scores_are_kept_before_and_after_the_cap(pair):
    kind, _, ours = pair
    trace = ours.trace(TEXT)
    raw, capped = trace.scores(0, 1, capped=False), trace.scores(0, 1)
    if kind not in ("gemma2", "vaultgemma"):
        assert torch.equal(raw, capped)
        return
    assert raw.abs().max() > 5.0  # the cap bites on these weights
    assert torch.allclose(capped, 5.0 * torch.tanh(raw / 5.0)) and capped.abs().max() < 5.0
    steps = trace.head_steps(0, 1)
    assert abs(steps.capped - capped.double().numpy()).max() < 1e-5
    assert abs(steps.pattern - trace.pattern(0, 1).double().numpy()).max() < 1e-6


def test_steps_sweep_and_pooled_views_agree_with_the_trace(pair):
    kind, _, ours = pair
    trace = ours.trace(TEXT)
    layer = ours.config.n_layers - 1
    s = trace.head_steps(layer, 2)
    # the float64 steps against the float32 pass: a weight moves with its score's rounding, which float32 makes about
    # 6e-8 of the score (a unit roundoff), so the bound is 1e-7 of the largest score (at least 10): the worst of the
    # kinds here was 4.8e-8 of it (2026-12-08; Nemotron's squared ReLU makes its scores reach 91, Phi-3.5-MoE's 34)
    largest = max(10.0, float(np.abs(s.capped[np.isfinite(s.capped)]).max()))
    assert abs(s.pattern - trace.pattern(layer, 2).double().numpy()).max() < 1e-7 * largest
    assert trace.rope_check(s) < 1e-4  # the step-by-step q (norms included) rotates into the captured q
    pooled = trace.pooled_patterns(size=trace.n_tokens)  # one token per block: the exact patterns, but from
    # recompute's chunked, fused softmax: the same float32 numbers summed in another order, a few ulps apart (2e-6 is
    # 16 ulps of a weight near 1; Granite MoE Shared's reach 1.07e-6)
    assert (pooled[layer] - trace.layer_patterns(layer)).abs().max() <= 2e-6
    from attention_core import ablate_head

    target = int(trace.logits[-1].argmax())
    sweep = trace.ablation_sweep(target)
    ablated = ours.trace(TEXT, interventions=[ablate_head(0, 1)])
    expected = torch.log_softmax(ablated.logits[-1], -1)[target] - torch.log_softmax(trace.logits[-1], -1)[target]
    assert abs(sweep[0, 1] - expected) <= 1e-4


def test_falcon_rw_reference_is_transformers_default_path(tmp_path, monkeypatch):
    """The reference the parity tests hold Falcon-RW to (transformers' eager path, its ALiBi counted once: _alibi_once)
    gives the logits of transformers' default SDPA path; the eager path as shipped does not (ALiBi twice)."""
    hf = save_tiny("falcon_rw", tmp_path / "falcon_rw")
    sdpa = transformers.FalconForCausalLM.from_pretrained(str(tmp_path / "falcon_rw"), attn_implementation="sdpa")
    ids = torch.tensor([[5, 40, 77, 12, 200, 31, 9, 150, 64, 3, 18, 99]])
    with torch.inference_mode():
        default, twice = sdpa.eval()(ids).logits, hf(ids).logits
        _alibi_once(hf)
        once = hf(ids).logits
    assert (once - default).abs().max().item() <= LOGIT_TOL < (twice - default).abs().max().item()
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    ours = load_model(str(tmp_path / "falcon_rw"), device="cpu")
    assert (ours.trace_ids(ids[0].tolist()).logits - default[0]).abs().max().item() <= LOGIT_TOL


def test_gemma_configs_without_layer_types_follow_the_models_rule():
    """Configs saved before transformers listed `layer_types` (e.g. the original Gemma 2 releases): Gemma 2
    slides on even layers, Gemma 3 on all but every sliding_window_pattern-th; the rope bases as saved then."""
    from attention_core.loading.hf_adapters_modern import gemma_config

    hf = dict(
        model_type="gemma2", hidden_size=64, num_attention_heads=4, num_key_value_heads=2, num_hidden_layers=4,
        head_dim=16, intermediate_size=96, vocab_size=300, sliding_window=8, query_pre_attn_scalar=16,
        hidden_activation="gelu_pytorch_tanh", attn_logit_softcapping=50.0, final_logit_softcapping=30.0,
    )  # fmt: skip
    assert [gemma_config(hf, "g2").window(i) for i in range(4)] == [8, None, 8, None]
    g3 = dict(hf, model_type="gemma3_text", num_hidden_layers=7, rope_theta=1e6, rope_local_base_freq=1e4)
    cfg = gemma_config(g3, "g3")
    assert [cfg.window(i) for i in range(7)] == [8, 8, 8, 8, 8, None, 8]
    assert (cfg.rope_base(0), cfg.rope_base(5)) == (1e4, 1e6)


def test_the_declared_scale_is_named_only_when_it_is_not_one_over_root_d_head():
    """Most Gemma 2/3 checkpoints set query_pre_attn_scalar = head_dim: their scale IS 1/√d_head, and the sidebar
    said "scores scaled by 0.0625 (not 1/√d_head)". A Gemma 3 whose every layer slides uses one RoPE base."""
    from attention_core.loading.hf_adapters_modern import gemma_config

    hf = dict(
        model_type="gemma2", hidden_size=64, num_attention_heads=4, num_key_value_heads=2, num_hidden_layers=4,
        head_dim=16, intermediate_size=96, vocab_size=300, sliding_window=8, query_pre_attn_scalar=16,
        hidden_activation="gelu_pytorch_tanh", attn_logit_softcapping=50.0, final_logit_softcapping=30.0,
    )  # fmt: skip
    assert not any("scaled by" in f for f in gemma_config(hf, "g2").features())
    own = gemma_config(dict(hf, query_pre_attn_scalar=24), "g2").features()
    assert any(f.startswith("scores scaled by 0.2041 (not 1/√d_head") for f in own)  # 24/16: no whole multiple
    assert gemma_config(dict(hf, query_pre_attn_scalar=24), "g2").scale_multiple is None
    assert gemma_config(dict(hf, query_pre_attn_scalar=32), "g2").scale_multiple == 2
    g3 = dict(hf, model_type="gemma3_text", num_hidden_layers=2, rope_theta=1e6, rope_local_base_freq=1e4,
              layer_types=["sliding_attention", "sliding_attention"])  # fmt: skip
    said = " ".join(gemma_config(g3, "g3").features())
    assert "elsewhere" not in said and "RoPE base 10000" in said


def test_gemma3s_multimodal_checkpoint_runs_its_language_model(tmp_path, monkeypatch):
    """Gemma 3 4B/12B/27B are Gemma3ForConditionalGeneration (model_type "gemma3", the text model under
    text_config, its weights under language_model.model.): we load the language model and match transformers
    on a text, which has no image tokens, so the vision tower never runs."""
    t = transformers
    torch.manual_seed(0)
    text = t.Gemma3TextConfig(
        vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, query_pre_attn_scalar=24, sliding_window=8, sliding_window_pattern=2,
        max_position_embeddings=128,
    )  # fmt: skip
    vision = t.SiglipVisionConfig(
        hidden_size=32, intermediate_size=37, num_hidden_layers=1, num_attention_heads=2, image_size=28, patch_size=14
    )
    config = t.Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=4, image_token_index=299,
                            boi_token_index=297, eoi_token_index=298)  # fmt: skip
    hf = t.Gemma3ForConditionalGeneration(config)
    hf.set_attn_implementation("eager")
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.3)
            elif "norm" in name:
                p.add_(torch.randn_like(p) * 0.1)
    hf.save_pretrained(tmp_path, safe_serialization=True)
    byte_bpe(300).save(str(tmp_path / "tokenizer.json"))
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    ours = load_model(str(tmp_path), device="cpu")
    assert ours.config.arch == "gemma3" and [ours.config.window(i) for i in range(3)] == [8, None, 8]
    trace = ours.trace(TEXT)
    with torch.inference_mode():
        out = hf.eval()(torch.tensor([trace.token_ids]), output_attentions=True, output_hidden_states=True)
    for layer in range(3):
        assert (trace.layer_patterns(layer) - out.attentions[layer][0]).abs().max().item() <= PATTERN_TOL, layer
        assert (trace.resid(layer) - out.hidden_states[layer][0]).abs().max().item() <= HIDDEN_TOL, layer
    assert (trace.logits - out.logits[0]).abs().max().item() <= LOGIT_TOL


def test_a_gemma3_config_that_names_only_its_sizes_takes_transformers_defaults():
    """Gemma 3 4B's config.json gives text_config only its sizes, window and RoPE scaling: the heads (8 of 256
    dimensions, 4 key/value heads), the vocabulary and the activation are Gemma3TextConfig's defaults."""
    from attention_core.loading.hf_adapters_modern import gemma3_multimodal_config

    hf = dict(
        model_type="gemma3", eos_token_id=[1, 106],
        text_config=dict(hidden_size=2560, intermediate_size=10240, model_type="gemma3_text", num_hidden_layers=34,
                         rope_scaling=dict(factor=8.0, rope_type="linear"), sliding_window=1024),
    )  # fmt: skip
    cfg = gemma3_multimodal_config(hf, "gemma-3-4b-it")
    assert (cfg.n_heads, cfg.n_kv_heads, cfg.d_head, cfg.d_vocab, cfg.n_ctx) == (8, 4, 256, 262_208, 131_072)
    assert cfg.act == "gelu_tanh" and cfg.attn_scale == 256**-0.5 and cfg.eos_token_id == 1 and cfg.tie_embeddings
    assert [cfg.window(i) for i in range(6)] == [1024] * 5 + [None]  # five sliding layers, then a global one
    assert cfg.rope_divisors(5) == (8.0,) * 128 and cfg.rope_divisors(0) == ()  # linear scaling on global layers
    assert (cfg.rope_base(5), cfg.rope_base(0)) == (1_000_000.0, 10_000.0)


@pytest.mark.parametrize("per_token", [0, 5])
def test_a_mixture_whose_tokens_use_no_expert_or_more_than_it_has_is_refused(per_token):
    from attention_core import ModelLoadError
    from attention_core.loading.hf_adapters_moe import mixtral_config

    hf = dict(
        model_type="mixtral", hidden_size=64, num_attention_heads=4, num_key_value_heads=2, num_hidden_layers=2,
        intermediate_size=96, vocab_size=300, num_local_experts=4, num_experts_per_tok=per_token,
    )  # fmt: skip
    with pytest.raises(ModelLoadError, match=f"use {per_token} of 4 experts"):
        mixtral_config(hf, "m")


def test_a_qwen25_vl_config_from_before_transformers_5_reads_alike(tmp_path, monkeypatch):
    """Qwen2-VL and Qwen2.5-VL configs on the Hub keep the language model's fields at the top level and name M-RoPE
    a scaling type ("rope_scaling": {"type": "mrope", ...}); they load as the nested form does, with plain RoPE."""
    import json

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    hf = save_tiny("qwen2_5_vl", tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    text = config.pop("text_config")
    theta = text["rope_parameters"]["rope_theta"]
    flat = {**text, **config, "rope_theta": theta, "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]}}
    flat.pop("rope_parameters")
    flat["model_type"] = "qwen2_5_vl"
    (tmp_path / "config.json").write_text(json.dumps(flat))
    ours = load_model(str(tmp_path), device="cpu")
    trace = ours.trace(TEXT)
    with torch.inference_mode():
        out = hf(torch.tensor([trace.token_ids]), output_attentions=True)
    assert ours.config.rope_theta == theta and ours.config.rope_freq_divisors == ()
    for layer in range(ours.config.n_layers):
        assert (trace.layer_patterns(layer) - out.attentions[layer][0]).abs().max().item() <= PATTERN_TOL, layer


@pytest.mark.parametrize(("drop", "sliding"), [(("layer_types",), (True, True, True, False)),
                                               (("layer_types", "sliding_window"), (True, True, True, False))])
def test_an_exaone4_config_without_layer_types_takes_transformers_defaults(drop, sliding):
    """Exaone4Config makes layer_types from sliding_window_pattern (4) where a config has none, and a config without
    sliding_window gets 4096: three sliding layers (with RoPE) to every full one (without)."""
    from attention_core.loading.hf_adapters_recent import exaone4_config

    hf = transformers.Exaone4Config(vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=4,
                                    num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                                    sliding_window=8).to_dict()  # fmt: skip
    for key in drop:
        hf.pop(key)
    cfg = exaone4_config(hf, "t")
    assert cfg.sliding_layers == sliding and cfg.rope_layers == sliding
    assert cfg.sliding_window == (4096 if "sliding_window" in drop else 8)


def test_an_olmo3_config_without_layer_types_takes_transformers_defaults():
    """Olmo3Config makes three sliding layers to every full one where a config lists no layer types (and a 4096-token
    window where it names none); every layer sliding, as before, was not the model."""
    from attention_core.loading.hf_adapters_modern import olmo3_config

    hf = transformers.Olmo3Config(vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=4,
                                  num_attention_heads=4, num_key_value_heads=2).to_dict()  # fmt: skip
    assert hf.pop("layer_types") == ["sliding_attention"] * 3 + ["full_attention"]  # what transformers made
    hf.pop("sliding_window")
    cfg = olmo3_config(hf, "t")
    assert cfg.sliding_layers == (True, True, True, False) and cfg.sliding_window == 4096


def test_a_persimmon_config_that_names_only_its_sizes_takes_transformers_defaults():
    """PersimmonConfig's defaults are its own: q/k LayerNorms on, squared ReLU, half of each head rotating."""
    from attention_core.loading.hf_adapters_layernorm import persimmon_config

    sizes = dict(vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4)
    reference = transformers.PersimmonConfig(**sizes)
    cfg = persimmon_config({"model_type": "persimmon", **sizes}, "p")
    assert reference.qk_layernorm and cfg.qk_norm == "head"
    assert (cfg.act, cfg.rotary_dim) == (reference.hidden_act, 16 * reference.rope_parameters["partial_rotary_factor"])


@pytest.mark.parametrize("kind", ["ernie4_5", "seed_oss", "helium", "glm4", "ministral3"])
def test_a_config_without_head_dim_takes_transformers_default_of_128(kind):
    """These configs' head_dim is 128 unless config.json gives one (not d_model / n_heads, here 64 / 4 = 16); GLM's
    partial rotary factor is 0.5 unless given."""
    from attention_core.loading.hf_adapters import adapter_for

    configs = {"ernie4_5": transformers.Ernie4_5Config, "seed_oss": transformers.SeedOssConfig,
               "helium": transformers.HeliumConfig, "glm4": transformers.Glm4Config,
               "ministral3": transformers.Ministral3Config}  # fmt: skip
    hf = configs[kind](vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2).to_dict()  # fmt: skip
    assert hf.pop("head_dim") == 128  # what transformers made of the same config
    if kind == "glm4":
        hf["rope_parameters"].pop("partial_rotary_factor")
    cfg = adapter_for(hf)[0](hf, "t")
    assert cfg.d_head == 128
    assert cfg.rotary_dim == (64 if kind == "glm4" else None)


def test_minimax_m2s_released_config_names_its_rotary_part_by_rotary_dim():
    """MiniMax-M2's config.json says rotary_dim (64 of 128), which transformers reads as partial_rotary_factor."""
    from attention_core.loading.hf_adapters_moe import minimax_m2_config

    hf = dict(vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, head_dim=16, rotary_dim=8, num_local_experts=4, num_experts_per_tok=2)  # fmt: skip
    assert transformers.MiniMaxM2Config(**hf).rope_parameters["partial_rotary_factor"] == 0.5
    assert minimax_m2_config({**hf, "model_type": "minimax_m2"}, "x").rotary_dim == 8


def test_a_hunyuan_moe_config_whose_layers_use_different_counts_of_experts_is_refused():
    """HunYuan MoE may give num_experts and moe_topk per layer; the engine has one count for every layer."""
    from attention_core.errors import ModelLoadError
    from attention_core.loading.hf_adapters_moe import hunyuan_moe_config

    hf = dict(model_type="hunyuan_v1_moe", vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, head_dim=16, num_experts=4)  # fmt: skip
    assert hunyuan_moe_config({**hf, "moe_topk": [2, 2]}, "x").experts_per_token == 2
    with pytest.raises(ModelLoadError, match=r"moe_topk differs between layers \(\[2, 1\]\)"):
        hunyuan_moe_config({**hf, "moe_topk": [2, 1]}, "x")


def test_a_codegen_whose_heads_do_not_split_into_its_four_groups_is_refused():
    from attention_core import ModelLoadError
    from attention_core.loading.hf_adapters_classic import codegen_config

    hf = dict(model_type="codegen", n_embd=48, n_head=6, n_layer=1, vocab_size=10, rotary_dim=4)
    with pytest.raises(ModelLoadError, match="6 heads do not split into its 4 groups"):
        codegen_config(hf, "x")


def test_an_xglm_whose_padding_would_zero_a_position_is_refused():
    """transformers zeroes the padding id's row of XGLM's position table; with pad_token_id 1 (its checkpoints') that
    row is never read, as positions start at row 2; with another it would be a position's."""
    from attention_core import ModelLoadError
    from attention_core.loading.hf_adapters_classic import xglm_config

    hf = dict(model_type="xglm", d_model=64, attention_heads=4, num_layers=2, ffn_dim=96, vocab_size=300,
              max_position_embeddings=128)  # fmt: skip
    assert xglm_config({**hf, "pad_token_id": 1}, "x").pos_offset == 2
    with pytest.raises(ModelLoadError, match="XGLM with pad_token_id 3 is not supported"):
        xglm_config({**hf, "pad_token_id": 3}, "x")


def test_mpts_alibi_is_the_bias_transformers_adds(tmp_path, monkeypatch):
    """MPT's ALiBi as the masking page draws it: slope_h × (key − last key), MPT's slopes (6 heads: 8 slopes, the odd
    ones first), the same numbers as transformers' build_mpt_alibi_tensor (tolerance 1e-6)."""
    from transformers.models.mpt.modeling_mpt import build_mpt_alibi_tensor

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    save_tiny("mpt", tmp_path / "mpt")
    trace = load_model(str(tmp_path / "mpt"), device="cpu").trace("the blue creature took a mole of the forest")
    n = trace.n_tokens
    reference = build_mpt_alibi_tensor(6, 128)[:, :, 128 - n :]  # (heads, 1, n): transformers slices the last n keys
    for head in range(6):
        bias = trace.position_bias(1, head)  # (n, n), every query row the same
        assert (bias - reference[head]).abs().max() <= 1e-6, head
    assert trace.position_bias(0, 0)[0, -1] == 0.0 and trace.position_bias(0, 5)[0, 0] < 0.0


@pytest.mark.parametrize(
    "attn, top, named",
    [({"clip_qkv": 8}, {}, "clip_qkv"), ({"qk_ln": True}, {}, "qk_ln"), ({"softmax_scale": 0.1}, {}, "softmax_scale"),
     ({"alibi": False}, {}, "alibi false"), ({}, {"expansion_ratio": 2}, "expansion_ratio 2")],
)  # fmt: skip
def test_an_mpt_with_what_transformers_mpt_does_not_run_is_refused(attn, top, named):
    from attention_core import ModelLoadError
    from attention_core.loading.hf_adapters_layernorm import mpt_config

    hf = dict(model_type="mpt", d_model=64, n_heads=4, n_layers=2, vocab_size=300, max_seq_len=128)
    assert mpt_config({**hf, "attn_config": {"alibi": True}}, "x").alibi_bias_max == 8.0
    with pytest.raises(ModelLoadError, match=f"MPT checkpoints with {named} are not supported"):
        mpt_config({**hf, **top, "attn_config": attn}, "x")


def test_mimo_v2_flash_full_layers_keep_their_fewer_key_value_heads(tmp_path, monkeypatch):
    """MiMo-V2-Flash's full layers hold 2 key/value heads, its sliding ones 4: the weights keep each layer's own (the
    parameter count is the model's), the pass gives a full layer's head 0 to query heads 0-1 and head 1 to 2-3, and
    Inside one head names the stored head and its group."""
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    hf = save_tiny("mimo_v2_flash", tmp_path / "mimo")
    ours = load_model(str(tmp_path / "mimo"), device="cpu")
    assert ours.weights["blocks.0.attn.W_K"].shape == (64, 2 * 24)  # [d_model, heads · d_head]
    assert ours.weights["blocks.1.attn.W_K"].shape == (64, 4 * 24)
    trace = ours.trace(TEXT)
    k = trace.captured.k[0]  # (n_kv_heads, n, d_head): the stored heads repeated
    assert k.shape[0] == 4 and torch.equal(k[0], k[1]) and torch.equal(k[2], k[3]) and not torch.equal(k[1], k[2])
    steps = trace.head_steps(0, 3)
    assert (steps.kv_head, steps.group_size, steps.n_kv_heads) == (1, 2, 2)
    W_K = hf.model.layers[0].self_attn.k_proj.weight.detach()  # [2 · 24, 64]
    np.testing.assert_allclose(steps.W_K, W_K[24:].T.double().numpy(), atol=1e-6)
    assert abs(steps.pattern - trace.pattern(0, 3).double().numpy()).max() < 1e-6
    assert (trace.head_steps(1, 3).kv_head, trace.head_steps(1, 3).group_size) == (3, 1)


def test_mimo_v2_flash_reads_xiaomis_own_config_names():
    """The hub's config.json names MiMo-V2-Flash's fields Xiaomi's way (hybrid_layer_pattern, swa_*, layernorm_epsilon,
    flat RoPE bases), which transformers' config class does not read: the adapter reads them as they say."""
    from attention_core.loading.hf_adapters_moe_recent import mimo_v2_flash_config

    hf = dict(model_type="mimo_v2_flash", vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=4,
              num_attention_heads=8, num_key_value_heads=2, swa_num_key_value_heads=8, head_dim=24, v_head_dim=16,
              swa_head_dim=24, swa_v_head_dim=16, hybrid_layer_pattern=[0, 1, 1, 0], layernorm_epsilon=1e-5,
              rope_theta=10_000_000.0, swa_rope_theta=10_000.0, partial_rotary_factor=0.334, sliding_window_size=128,
              n_routed_experts=4, num_experts_per_tok=2)  # fmt: skip
    cfg = mimo_v2_flash_config(hf, "mimo")
    assert cfg.kv_heads_layers == (2, 8, 8, 2) and cfg.n_kv_heads == 8
    assert cfg.sliding_layers == (False, True, True, False) and cfg.sliding_window == 129
    assert (cfg.rope_theta, cfg.rope_theta_local, cfg.rotary_dim, cfg.norm_eps) == (1e7, 1e4, 8, 1e-5)
    with pytest.raises(ModelLoadError, match="sliding layers with another head_dim"):
        mimo_v2_flash_config({**hf, "swa_head_dim": 32}, "mimo")
    with pytest.raises(ModelLoadError, match="3 in its sliding ones"):
        mimo_v2_flash_config({**hf, "swa_num_key_value_heads": 3}, "mimo")


@pytest.mark.parametrize(("ffn", "named"), [({"ffn_act_fn": {"name": "gelu"}}, "'gelu'"),
                                            ({"moe_normalize_expert_weights": 2.0}, "2.0-norm")])  # fmt: skip
def test_a_dbrx_whose_experts_the_engine_does_not_run_is_refused(ffn, named):
    from attention_core.loading.hf_adapters_moe_recent import dbrx_config

    hf = dict(model_type="dbrx", d_model=64, n_heads=4, n_layers=2, vocab_size=300, attn_config={"kv_n_heads": 2},
              ffn_config={"ffn_hidden_size": 48, "moe_num_experts": 4, "moe_top_k": 2})  # fmt: skip
    assert dbrx_config(hf, "x").moe_renormalize and dbrx_config(hf, "x").rope_theta == 10000.0
    with pytest.raises(ModelLoadError, match=named):
        dbrx_config({**hf, "ffn_config": {**hf["ffn_config"], **ffn}}, "x")
