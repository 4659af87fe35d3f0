"""Tiny random decoders of the architectures in attention_core/loading/hf_adapters_recent.py (tests.tiny_models'
`save_tiny` builds them through `tiny_recent`). Each turns on what the adapter reads: biases, windows, NoPE layers,
RoPE over neighbouring pairs, partial rotary, sublayer norms."""

from __future__ import annotations

import torch


def tiny_recent(kind: str, base: dict):
    """`base`: tests.tiny_models' shared sizes (d_model 64, 4 heads, 2 key/value heads, 2 layers)."""
    import transformers

    ids = dict(pad_token_id=0, bos_token_id=0, eos_token_id=0)  # inside the tiny vocabulary
    if kind in ("olmo", "olmo_clip"):  # LayerNorms without weights; biases on q, k, v and the output; olmo_clip: q, k
        # and v clamped to ±2, which bites on these std-0.3 weights (OLMo 1.7's clip_qkv, there 8)
        clip = dict(clip_qkv=2.0) if kind == "olmo_clip" else {}
        return transformers.OlmoForCausalLM(transformers.OlmoConfig(attention_bias=True, **clip, **ids, **base))
    if kind in ("exaone4", "exaone4_hybrid"):  # hybrid: layers 0-2 slide (window 8) with RoPE, layer 3 full, NoPE
        hybrid = dict(sliding_window=8, sliding_window_pattern=4) if kind == "exaone4_hybrid" else dict(
            sliding_window=None, layer_types=["full_attention"] * 4)  # EXAONE 4.0 1.2B: every layer full, RoPE
        cfg = transformers.Exaone4Config(head_dim=16, **hybrid, **ids, **{**base, "num_hidden_layers": 4})
        return transformers.Exaone4ForCausalLM(cfg)
    if kind in ("glm", "glm4"):  # half of each head rotates, in neighbouring pairs; q/k/v biases; GLM-4: sandwich
        config, model = (transformers.Glm4Config, transformers.Glm4ForCausalLM) if kind == "glm4" else (
            transformers.GlmConfig, transformers.GlmForCausalLM)
        return model(config(head_dim=16, attention_bias=True, **ids, **base))
    if kind == "helium":  # neighbouring pairs over the whole head
        return transformers.HeliumForCausalLM(transformers.HeliumConfig(head_dim=16, **ids, **base))
    if kind == "ernie4_5":
        return transformers.Ernie4_5ForCausalLM(transformers.Ernie4_5Config(head_dim=16, **ids, **base))
    if kind == "seed_oss":  # biases on q, k, v and the output projection
        cfg = transformers.SeedOssConfig(head_dim=16, attention_bias=True, attention_out_bias=True, **ids, **base)
        return transformers.SeedOssForCausalLM(cfg)
    if kind == "arcee":  # up/down MLP with squared ReLU
        return transformers.ArceeForCausalLM(transformers.ArceeConfig(head_dim=16, **ids, **base))
    if kind == "ministral":  # layer 0 slides (window 8), layer 1 full
        types = ["sliding_attention", "full_attention"]
        cfg = transformers.MinistralConfig(head_dim=16, sliding_window=8, layer_types=types, **ids, **base)
        return transformers.MinistralForCausalLM(cfg)
    if kind in ("ministral3", "mistral3", "ministral3_mscale"):  # YaRN ×4 over an original 32 tokens, Llama 4's
        # query scale past them; mistral3: the same language model inside Mistral3ForConditionalGeneration, with a
        # one-layer vision tower; _mscale: mscale and mscale_all_dim 1, as the released configs (cos and sin unscaled)
        mscale = dict(mscale=1.0, mscale_all_dim=1.0) if kind == "ministral3_mscale" else {}
        rope = dict(rope_type="yarn", rope_theta=100.0, factor=4.0, original_max_position_embeddings=32,
                    llama_4_scaling_beta=0.1, **mscale)  # fmt: skip
        text = transformers.Ministral3Config(head_dim=16, rope_parameters=rope, **ids, **base)
        if kind != "mistral3":
            return transformers.Ministral3ForCausalLM(text)
        vision = transformers.PixtralVisionConfig(hidden_size=32, intermediate_size=48, num_hidden_layers=1,
                                                  num_attention_heads=2, image_size=32, patch_size=16, head_dim=16)
        return transformers.Mistral3ForConditionalGeneration(transformers.Mistral3Config(text_config=text,
                                                                                         vision_config=vision))
    if kind in ("hunyuan", "hunyuan_alpha"):  # q/k norms after RoPE; alpha: its NTK-alpha base stretch
        rope = dict(rope_type="dynamic", rope_theta=100.0, alpha=8.0, factor=1.0) if kind == "hunyuan_alpha" else None
        cfg = transformers.HunYuanDenseV1Config(head_dim=16, rope_parameters=rope, **ids, **base)
        return transformers.HunYuanDenseV1ForCausalLM(cfg)
    if kind == "apertus":  # xIELU (its two learned scalars drawn too), q/k norms, llama3 RoPE scaling
        cfg = transformers.ApertusConfig(head_dim=16, dtype="float32", **ids, **base)
        return transformers.ApertusForCausalLM(cfg)
    if kind in ("qwen2_5_vl", "qwen3_vl"):  # the language model inside a vision-language checkpoint (one-block
        # vision tower); M-RoPE sections over d_head 16, interleaved in Qwen3-VL
        qwen3 = kind == "qwen3_vl"
        rope = dict(rope_type="default", rope_theta=1000.0, mrope_section=[2, 3, 3], **(
            dict(mrope_interleaved=True) if qwen3 else {}))
        text = dict(head_dim=16, rope_parameters=rope, **ids, **base)
        vision = dict(depth=1, hidden_size=32, intermediate_size=48, num_heads=2, out_hidden_size=64,
                      **(dict(deepstack_visual_indexes=[0]) if qwen3 else {}))  # fmt: skip
        config, model = ((transformers.Qwen3VLConfig, transformers.Qwen3VLForConditionalGeneration) if qwen3 else
                         (transformers.Qwen2_5_VLConfig, transformers.Qwen2_5_VLForConditionalGeneration))
        return model(config(text_config=text, vision_config=vision))
    if kind in ("qwen3_vl_moe", "qwen3_vl_moe_sparse"):  # its language model: layer 0 dense (mlp_only_layers; none
        # in _sparse, as llama.cpp's qwen3vlmoe has none), layer 1 4 experts, 2 per token
        rope = dict(rope_type="default", rope_theta=1000.0, mrope_section=[2, 3, 3], mrope_interleaved=True)
        dense = [0] if kind == "qwen3_vl_moe" else []
        text = dict(head_dim=16, rope_parameters=rope, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=48,
                    mlp_only_layers=dense, **ids, **base)  # fmt: skip
        vision = dict(depth=1, hidden_size=32, intermediate_size=48, num_heads=2, out_hidden_size=64,
                      deepstack_visual_indexes=[0])  # fmt: skip
        config = transformers.Qwen3VLMoeConfig(text_config=text, vision_config=vision)
        return transformers.Qwen3VLMoeForConditionalGeneration(config)
    if kind in ("llama4_text", "llama4"):  # 4 layers, layer 3 NoPE; 4 experts, 1 per token, and a shared one.
        # llama4_text (Scout's layout): every layer's MLP a mixture, q/k normalised in the rotating layers;
        # llama4 (Maverick's): inside Llama4ForConditionalGeneration (a one-layer vision tower), experts in layers 1
        # and 3 only, the others dense (intermediate_size_mlp 128), no q/k norm
        maverick = kind == "llama4"
        text = transformers.Llama4TextConfig(
            head_dim=16, num_local_experts=4, num_experts_per_tok=1, intermediate_size_mlp=128,
            interleave_moe_layer_step=2 if maverick else 1, use_qk_norm=not maverick,
            rope_parameters=dict(rope_type="default", rope_theta=1000.0), **ids, **{**base, "num_hidden_layers": 4},
        )  # fmt: skip
        if not maverick:
            return transformers.Llama4ForCausalLM(text)
        vision = transformers.Llama4VisionConfig(hidden_size=32, intermediate_size=48, num_hidden_layers=1,
                                                 num_attention_heads=2, image_size=32, patch_size=16,
                                                 vision_output_dim=32, projector_input_dim=32,
                                                 projector_output_dim=64)  # fmt: skip
        config = transformers.Llama4Config(text_config=text, vision_config=vision)
        return transformers.Llama4ForConditionalGeneration(config)
    if kind == "nanochat":  # norms without weights (the embeddings' too), RoPE the other way, q/k normalised after
        # it, squared ReLU, logits soft-capped at 3 so the cap bites
        cfg = transformers.NanoChatConfig(final_logit_softcapping=3.0, rope_parameters=dict(rope_type="default",
                                          rope_theta=1000.0), **ids, **base)  # fmt: skip
        return transformers.NanoChatForCausalLM(cfg)
    if kind == "minimax_m2":  # q/k norms over the projection, half of each head rotates; 4 experts, 2 per token,
        # behind a sigmoid router whose correction bias (a buffer, drawn here) moves the choice
        rope = dict(rope_type="default", rope_theta=1000.0, partial_rotary_factor=0.5)
        cfg = transformers.MiniMaxM2Config(head_dim=16, num_local_experts=4, num_experts_per_tok=2,
                                           rope_parameters=rope, **ids, **base)  # fmt: skip
        model = transformers.MiniMaxM2ForCausalLM(cfg)
        with torch.no_grad():
            for layer in model.model.layers:
                layer.mlp.e_score_correction_bias.normal_(0.0, 0.5)
        return model
    if kind == "vaultgemma":  # Gemma 2 pre-norm: layer 0 slides (window 8); soft-caps low enough to bite
        cfg = transformers.VaultGemmaConfig(head_dim=16, query_pre_attn_scalar=24, sliding_window=8,
                                            attn_logit_softcapping=5.0, final_logit_softcapping=10.0, **ids,
                                            **{**base, "tie_word_embeddings": True})  # fmt: skip
        return transformers.VaultGemmaForCausalLM(cfg)
    if kind == "ernie4_5_moe":  # layer 0 dense, layer 1 4 experts (2 per token, their correction bias drawn with the
        # weights) and one shared expert; RoPE over neighbouring pairs
        cfg = transformers.Ernie4_5_MoeConfig(moe_num_experts=4, moe_k=2, moe_intermediate_size=48,
                                              moe_num_shared_experts=1, moe_layer_start_index=1, **ids, **base)
        return transformers.Ernie4_5_MoeForCausalLM(cfg)
    if kind == "flex_olmo":  # OLMo 2's norms and q/k norms; 4 experts, 2 per token, not renormalised
        cfg = transformers.FlexOlmoConfig(num_experts=4, num_experts_per_tok=2, **ids, **base)
        return transformers.FlexOlmoForCausalLM(cfg)
    if kind == "solar_open":  # DeepSeek-V3's router in every layer: 8 experts in 4 groups (2 kept), 2 per token,
        # scaled by 2.5, a shared expert; the correction bias (a buffer) drawn
        cfg = transformers.SolarOpenConfig(head_dim=16, n_routed_experts=8, num_experts_per_tok=2, n_group=4,
                                           topk_group=2, routed_scaling_factor=2.5, moe_intermediate_size=48,
                                           **ids, **base)  # fmt: skip
        model = transformers.SolarOpenForCausalLM(cfg)
        with torch.no_grad():
            for layer in model.model.layers:
                layer.mlp.gate.e_score_correction_bias.normal_(0.0, 0.5)
        return model
    if kind in ("exaone_moe", "exaone_moe_one_group"):  # layers 0-2 slide (window 8) with RoPE, layer 3 full
        # without; layer 0 dense, then 8 experts in 4 groups (2 kept; _one_group: no groups, as the released model's
        # and as llama.cpp reads it), 2 per token, scaled by 2.5, a shared expert, the correction bias drawn
        groups = dict(n_group=4, topk_group=2) if kind == "exaone_moe" else dict(n_group=1, topk_group=1)
        cfg = transformers.ExaoneMoeConfig(head_dim=16, sliding_window=8, sliding_window_pattern=4, num_experts=8,
                                           num_experts_per_tok=2, moe_intermediate_size=48, **groups, **ids,
                                           **{**base, "num_hidden_layers": 4})  # fmt: skip
        model = transformers.ExaoneMoeForCausalLM(cfg)
        with torch.no_grad():
            for layer in model.model.layers[1:]:
                layer.mlp.gate.e_score_correction_bias.normal_(0.0, 0.5)
        return model
    if kind == "hunyuan_moe":  # HunYuan dense's attention; 4 experts, 2 per token (given per layer), a shared MLP
        cfg = transformers.HunYuanMoEV1Config(head_dim=16, num_experts=4, moe_topk=[2, 2], **ids, **base)
        return transformers.HunYuanMoEV1ForCausalLM(cfg)
    if kind == "granitemoeshared":  # Granite MoE's multipliers and experts (4, 2 per token) and a shared MLP
        cfg = transformers.GraniteMoeSharedConfig(
            num_local_experts=4, num_experts_per_tok=2, shared_intermediate_size=48, embedding_multiplier=3.0,
            attention_multiplier=0.2, residual_multiplier=0.5, logits_scaling=4.0, **ids, **base,
        )  # fmt: skip
        return transformers.GraniteMoeSharedForCausalLM(cfg)
    if kind in ("granitemoehybrid", "granitemoehybrid_moe"):  # Granite 4 with attention in every layer: dense with
        # RoPE (granite-4.0-micro's layout), or with experts and no position encoding at all (NoPE)
        moe = kind.endswith("_moe")
        cfg = transformers.GraniteMoeHybridConfig(
            num_local_experts=4 if moe else 0, num_experts_per_tok=2, shared_intermediate_size=48,
            layer_types=["attention"] * base["num_hidden_layers"], position_embedding_type=None if moe else "rope",
            embedding_multiplier=3.0, attention_multiplier=0.2, residual_multiplier=0.5, logits_scaling=4.0,
            **ids, **base,
        )  # fmt: skip
        return transformers.GraniteMoeHybridForCausalLM(cfg)
    if kind == "exaone4_5":  # the hybrid EXAONE 4 inside Exaone4_5_ForConditionalGeneration (a one-block vision tower)
        text = dict(model_type="exaone4", head_dim=16, sliding_window=8, sliding_window_pattern=4, **ids,
                    **{**base, "num_hidden_layers": 4})  # fmt: skip
        vision = dict(depth=1, hidden_size=32, intermediate_size=48, num_heads=2, out_hidden_size=64,
                      num_key_value_heads=2, fullatt_block_indexes=[0])  # fmt: skip
        config = transformers.Exaone4_5_Config(text_config=text, vision_config=vision)
        return transformers.Exaone4_5_ForConditionalGeneration(config)
    if kind in ("cohere2_moe", "cohere2_moe_sigmoid"):  # layer 0 dense (128 wide) and full, rotating all the same;
        # layers 1-3 slide (window 8), layer 4 full without RoPE; 4 experts, 2 per token, one shared expert, logits
        # × 0.5. cohere2_moe: a softmax over the top logits, shared and routed averaged; _sigmoid: their sigmoids,
        # not renormalised, summed, and an RMSNorm
        sigmoid = kind == "cohere2_moe_sigmoid"
        variant = dict(expert_selection_fn="sigmoid", norm_topk_prob=False, shared_expert_combination_strategy="sum",
                       rms_norm_eps=1e-5) if sigmoid else {}  # fmt: skip
        cfg = transformers.Cohere2MoeConfig(
            head_dim=16, sliding_window=8, first_k_dense_replace=1, num_experts=4, num_experts_per_tok=2,
            num_shared_experts=1, prefix_dense_intermediate_size=128, logit_scale=0.5,
            **variant, **ids, **{**base, "num_hidden_layers": 5, "intermediate_size": 48, "tie_word_embeddings": True},
        )  # fmt: skip
        return transformers.Cohere2MoeForCausalLM(cfg)
    if kind == "jais2":  # LayerNorms with biases, biases on q/k/v/o and on its squared-ReLU up/down MLP
        return transformers.Jais2ForCausalLM(transformers.Jais2Config(**ids, **base))
    if kind == "phimoe":  # LayerNorms and biases everywhere (the unembedding's too); LongRoPE over an original 64
        # tokens with its own short_mscale; 4 experts, SparseMixer's two, its ε 0.5 so that several logits share each
        rope = dict(rope_type="longrope", rope_theta=1000.0, original_max_position_embeddings=64, short_mscale=1.2,
                    long_mscale=1.3, short_factor=[1.0, 1.1, 1.3, 1.6, 2.0, 2.5, 3.0, 4.0], long_factor=[2.0] * 8)
        cfg = transformers.PhimoeConfig(num_local_experts=4, num_experts_per_tok=2, router_jitter_noise=0.5,
                                        attention_bias=True, lm_head_bias=True, rope_parameters=rope, **ids,
                                        **base)  # fmt: skip
        return transformers.PhimoeForCausalLM(cfg)
    if kind in ("granite_swa", "granitemoe_swa"):  # Granite's multipliers; layers 1-3 slide (window 8), layer 0
        # full; a sink per head (drawn at std 1); RoPE bases per layer: 1000, 0 (no RoPE), 50, 1000; granitemoe_swa: 4
        # experts, 2 per token, and a shared MLP
        moe = kind == "granitemoe_swa"
        config, model = ((transformers.GraniteMoeSWAConfig, transformers.GraniteMoeSWAForCausalLM) if moe else
                         (transformers.GraniteSWAConfig, transformers.GraniteSWAForCausalLM))  # fmt: skip
        cfg = config(
            embedding_multiplier=3.0, attention_multiplier=0.2, residual_multiplier=0.5, logits_scaling=4.0,
            sliding_window=8, layer_rope_theta=[1000.0, 0, 50.0, 1000.0], **ids, **{**base, "num_hidden_layers": 4},
            **(dict(num_local_experts=4, num_experts_per_tok=2, shared_intermediate_size=48) if moe else {}),
        )  # fmt: skip
        model = model(cfg)
        with torch.no_grad():
            for layer in model.model.layers:
                layer.self_attn.sinks.normal_(0.0, 1.0)
        return model
    if kind == "eurobert":  # a Llama reading both ways, as EuroBertModel saves it (no head)
        return transformers.EuroBertModel(transformers.EuroBertConfig(**ids, **base))
    if kind == "llama4_dense":  # MobileLLM-R1's layout: no experts, every layer full and rotating (q/k normalised);
        # a chunk size of 8 that no layer uses (layer_types all full), so a text past 8 tokens shows it does not cap
        text = transformers.Llama4TextConfig(
            head_dim=16, num_local_experts=0, num_experts_per_tok=0, moe_layers=[], intermediate_size_mlp=128,
            no_rope_layers=[1] * 4, layer_types=["full_attention"] * 4, attention_chunk_size=8,
            attn_temperature_tuning=False, rope_parameters=dict(rope_type="default", rope_theta=1000.0), **ids,
            **{**base, "num_hidden_layers": 4},
        )  # fmt: skip
        return transformers.Llama4ForCausalLM(text)
    if kind == "gpt_oss":  # sinks drawn at std 1 (each takes a visible share); layer 0 slides (window 8); YaRN ×4
        # over an original 32 tokens, untruncated ramp; 4 experts, 2 per token; the SwiGLU clamp at 2, so it bites
        rope = dict(rope_type="yarn", rope_theta=100.0, factor=4.0, original_max_position_embeddings=32,
                    beta_fast=32.0, beta_slow=1.0, truncate=False)  # fmt: skip
        cfg = transformers.GptOssConfig(
            head_dim=16, sliding_window=8, layer_types=["sliding_attention", "full_attention"], num_local_experts=4,
            num_experts_per_tok=2, swiglu_limit=2.0, rope_parameters=rope, **ids, **base,
        )  # fmt: skip
        model = transformers.GptOssForCausalLM(cfg)
        with torch.no_grad():
            for layer in model.model.layers:
                layer.self_attn.sinks.normal_(0.0, 1.0)
        return model
    if kind == "embedding_gemma":  # EmbeddingGemma: bidirectional; two sliding layers (config's window 8: |i-j| < 5)
        cfg = transformers.Gemma3TextConfig(
            head_dim=16, query_pre_attn_scalar=16, sliding_window=8, use_bidirectional_attention=True,
            layer_types=["sliding_attention", "sliding_attention", "full_attention"],
            **ids, **{**base, "num_hidden_layers": 3, "tie_word_embeddings": True},
        )  # fmt: skip
        return transformers.Gemma3TextModel(cfg)  # no language-model head, as the checkpoint
    from tests.tiny_models_later import tiny_later

    return tiny_later(kind, base)
