"""Tiny random decoders of DeepSeek's family, saved in Hugging Face format for the parity tests: multi-head latent
attention (MLA: DeepSeek-V2, DeepSeek-V3, GLM-4.7-Flash, MiniCPM3) and DeepSeek-V3's router behind GLM-4.5's and
dots.llm1's attention. MLA's value heads (12) are narrower than its query/key heads (8 + 8), so a place that takes
d_head for the values' width shows; the routers' correction bias is drawn, so a router that ignores it shows.
"""

from __future__ import annotations

from pathlib import Path

import torch

from tests.tiny_models import _peaked_and_saved, byte_bpe

# 3 layers, 4 heads: q/k heads of 8 dimensions without RoPE and 8 rotated; values of 12; latents of 24 (queries) and
# 16 (keys and values)
_SHAPE = dict(
    vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4,
    num_key_value_heads=4, max_position_embeddings=128, tie_word_embeddings=False, q_lora_rank=24, kv_lora_rank=16,
    qk_nope_head_dim=8, qk_rope_head_dim=8, v_head_dim=12,
)  # fmt: skip
_LATENT_ONLY = ("q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim")
# layer 0 dense, layers 1-2 a mixture of 8 experts in 4 groups, 2 per token from the best 2 groups, one shared expert
_EXPERTS = dict(
    first_k_dense_replace=1, n_routed_experts=8, num_experts_per_tok=2, n_group=4, topk_group=2,
    n_shared_experts=1, moe_intermediate_size=32, routed_scaling_factor=2.5,
)  # fmt: skip


def _tiny(kind: str):
    import transformers

    if kind == "deepseek_v3":  # sigmoid router with a correction bias, group scores from each group's best two
        cfg = transformers.DeepseekV3Config(**_SHAPE, **_EXPERTS, norm_topk_prob=True, rope_interleave=True)
        return transformers.DeepseekV3ForCausalLM(cfg)
    if kind == "deepseek_v3_yarn":  # YaRN ×4 over 32 tokens, with DeepSeek's mscale on the scores
        rope = dict(rope_type="yarn", rope_theta=10000.0, factor=4.0, original_max_position_embeddings=32,
                    mscale=1.0, mscale_all_dim=1.0, beta_fast=32.0, beta_slow=1.0)  # fmt: skip
        cfg = transformers.DeepseekV3Config(**_SHAPE, **_EXPERTS, norm_topk_prob=True, rope_parameters=rope)
        return transformers.DeepseekV3ForCausalLM(cfg)
    if kind == "kimi_k25":  # deepseek_v3's language model inside Kimi K2.5 (a one-block vision tower)
        text = dict(model_type="deepseek_v3", **_SHAPE, **_EXPERTS, norm_topk_prob=True)
        vision = dict(num_hidden_layers=1, hidden_size=32, intermediate_size=48, num_attention_heads=2,
                      patch_size=14, pos_emb_height=4, pos_emb_width=4, pos_emb_time=1)  # fmt: skip
        config = transformers.Kimi_K25Config(text_config=text, vision_config=vision, projection_hidden_size=32,
                                             tie_word_embeddings=False)  # fmt: skip
        return transformers.Kimi_K25ForConditionalGeneration(config)
    if kind == "deepseek_v2":  # V2-Lite's layout: queries straight from the residual; softmax router, group-limited
        shape = _SHAPE | dict(q_lora_rank=None)
        cfg = transformers.DeepseekV2Config(**shape, **_EXPERTS, topk_method="group_limited_greedy")
        return transformers.DeepseekV2ForCausalLM(cfg)
    if kind == "glm4_moe_lite":  # GLM-4.7-Flash: V3's layers; dense and sparse layers listed, not counted
        lite = {k: v for k, v in (_SHAPE | _EXPERTS).items() if k != "first_k_dense_replace"}
        cfg = transformers.Glm4MoeLiteConfig(**lite, mlp_layer_types=["dense", "sparse", "sparse"])
        return transformers.Glm4MoeLiteForCausalLM(cfg)
    if kind == "axk1":  # SK Telecom's A.X K1: V3's layers, a query latent always, dense and sparse layers listed
        lite = {k: v for k, v in (_SHAPE | _EXPERTS).items() if k != "first_k_dense_replace"}
        cfg = transformers.AXK1Config(**lite, mlp_layer_types=["dense", "sparse", "sparse"], norm_topk_prob=True)
        return transformers.AXK1ForCausalLM(cfg)
    if kind.startswith("glm4_moe"):  # GLM-4.5: ordinary heads of 16, RoPE on the first half in halves, biases, q/k
        # norms; "glm4_moe_one_group": its experts in one group, as GLM-4.5's configs have them (llama.cpp's glm4moe
        # never groups them); "glm4_moe_air": that, without q/k norms (GLM-4.5-Air)
        shape = {k: v for k, v in _SHAPE.items() if k not in _LATENT_ONLY} | dict(num_key_value_heads=2, head_dim=16)
        one_group = dict(n_group=1, topk_group=1) if kind != "glm4_moe" else {}
        cfg = transformers.Glm4MoeConfig(**shape, **(_EXPERTS | one_group), attention_bias=True,
                                         use_qk_norm=kind != "glm4_moe_air", norm_topk_prob=True)  # fmt: skip
        return transformers.Glm4MoeForCausalLM(cfg)
    if kind.startswith("dots1"):  # dots.llm1: Qwen3's heads (q/k norms, no biases), V3's router; "dots1_one_group":
        # its experts in one group, as dots.llm1's config has them (llama.cpp's dots1 never groups them)
        shape = {k: v for k, v in _SHAPE.items() if k not in _LATENT_ONLY} | dict(num_key_value_heads=2, head_dim=16)
        one_group = dict(n_group=1, topk_group=1) if kind == "dots1_one_group" else {}
        cfg = transformers.Dots1Config(**shape, **(_EXPERTS | one_group), norm_topk_prob=True)
        return transformers.Dots1ForCausalLM(cfg)
    if kind == "glm_moe_dsa":  # GLM-5: V3.2's layers (an indexer keeping 64 keys: every key of these texts), its
        # first layer dense, experts in one group
        experts = _EXPERTS | dict(n_group=1, topk_group=1)
        cfg = transformers.GlmMoeDsaConfig(**_SHAPE, **experts, index_topk=64, index_n_heads=2, index_head_dim=16,
                                           norm_topk_prob=True)  # fmt: skip
        return transformers.GlmMoeDsaForCausalLM(cfg)
    if kind == "deepseek_v32":  # V3's layers with an indexer that keeps 64 keys: every key of these texts
        cfg = transformers.DeepseekV32Config(**_SHAPE, **_EXPERTS, index_topk=64, index_n_heads=2, index_head_dim=16)
        return transformers.DeepseekV32ForCausalLM(cfg)
    if kind == "mistral4":  # V3's latent attention with YaRN ×4 over 32 tokens (mscale on the scores) and Llama 4's
        # query scale past them; V2's softmax router, not grouped; every layer a mixture with a shared expert
        rope = dict(rope_type="yarn", rope_theta=10000.0, factor=4.0, original_max_position_embeddings=32, mscale=1.0,
                    mscale_all_dim=1.0, beta_fast=32.0, beta_slow=1.0, llama_4_scaling_beta=0.1)  # fmt: skip
        experts = _EXPERTS | dict(n_group=1, topk_group=1, first_k_dense_replace=0)
        cfg = transformers.Mistral4Config(**_SHAPE, **experts, rope_parameters=rope, norm_topk_prob=True)
        return transformers.Mistral4ForCausalLM(cfg)
    if kind == "youtu":  # V3's latent attention in a dense Llama
        return transformers.YoutuForCausalLM(transformers.YoutuConfig(**_SHAPE))
    if kind == "minicpm3":  # dense; embeddings × 12, each sublayer × 1.4/√3, logits ÷ 64/16
        cfg = transformers.MiniCPM3Config(**_SHAPE, scale_emb=12.0, scale_depth=1.4, dim_model_base=16)
        return transformers.MiniCPM3ForCausalLM(cfg)
    if kind == "minicpm3_4b_scales":  # MiniCPM3-4B's scales (12, 1.4, 256: the ones llama.cpp's minicpm3 graph
        # fixes), values d_model / heads wide (llama.cpp's width where a file names none), LongRoPE's short factors
        longrope = dict(rope_type="longrope", rope_theta=10000.0, original_max_position_embeddings=128,
                        short_factor=[1.0, 1.5, 2.5, 4.0], long_factor=[2.0, 3.0, 5.0, 8.0])  # fmt: skip
        cfg = transformers.MiniCPM3Config(**(_SHAPE | dict(v_head_dim=16)), scale_emb=12.0, scale_depth=1.4,
                                          dim_model_base=256, rope_parameters=longrope)  # fmt: skip
        return transformers.MiniCPM3ForCausalLM(cfg)
    raise ValueError(kind)


def save_tiny_latent(kind: str, folder: Path, seed: int = 0):
    """A tiny random decoder of `kind` ("deepseek_v3", "deepseek_v3_yarn", "deepseek_v2", "minicpm3", "glm4_moe_lite":
    latent attention; "glm4_moe", "dots1": DeepSeek-V3's router behind ordinary attention) with a byte-level
    tokenizer, saved as safetensors; returns it, in eval mode."""
    torch.manual_seed(seed)
    hf = _tiny(kind)
    with torch.no_grad():  # a buffer, not a parameter: _peaked_and_saved leaves it at zero
        for name, buffer in hf.named_buffers():
            if name.endswith("e_score_correction_bias"):
                buffer.normal_(0.0, 0.3)
    return _peaked_and_saved(hf, folder, byte_bpe(300), norms_too=True)
