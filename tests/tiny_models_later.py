"""Tiny random models (decoders and encoders) of the architectures added after tests/tiny_models_recent.py's
(save_tiny reaches them through `tiny_recent`). Each turns on what its adapter reads: windows per layer, per-type RoPE
bases, sublayer norms, gates, routers, its checkpoints' own tensor names."""

from __future__ import annotations

import torch

TEXT_SHAPE = dict(
    vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, max_position_embeddings=128, pad_token_id=0, bos_token_id=0, eos_token_id=0,
)  # fmt: skip
VISION_SHAPE = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=1, num_attention_heads=2, image_size=28,
                    patch_size=14)  # fmt: skip


def tiny_vision_language(kind: str):
    """A tiny `kind` checkpoint: its default text architecture at TEXT_SHAPE, its vision tower at VISION_SHAPE."""
    import transformers

    config_class = transformers.CONFIG_MAPPING[kind]
    default = config_class()
    text = {"model_type": default.get_text_config().model_type, **TEXT_SHAPE}
    if kind in ("lfm2_vl", "lfm3_vl"):  # LFM2's and LFM3's hybrid layers: a short convolution, then attention
        text["layer_types"] = ["conv", "full_attention"]
    if kind in ("qwen3_5", "qwen3_5_moe"):  # Qwen3.5's: the gated delta rule, then gated attention
        text.update(layer_types=["linear_attention", "full_attention"], head_dim=16, linear_key_head_dim=8,
                    linear_value_head_dim=12, linear_num_key_heads=2, linear_num_value_heads=4)  # fmt: skip
    if kind == "qwen3_5_moe":  # its MLPs: 4 experts of 24 (2 a token) beside a shared one of 32
        del text["intermediate_size"]
        text.update(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=24, shared_expert_intermediate_size=32)
    vision = default.vision_config.to_dict() if getattr(default, "vision_config", None) is not None else None
    small = {} if vision is None else {k: v for k, v in VISION_SHAPE.items() if k in vision}
    extra = {} if vision is None else {"vision_config": {**vision, **small}}
    if vision is not None and vision.get("layer_types"):  # LFM3-VL's tower lists a type per layer: keep its first
        extra["vision_config"]["layer_types"] = vision["layer_types"][: small.get("num_hidden_layers", 1)]
    return transformers.AutoModelForImageTextToText.from_config(config_class(text_config=text, **extra))


def tiny_mllama():
    """A tiny Llama 3.2 Vision (Mllama): 4 text layers, layer 1 cross-attending to the image, a one-layer vision
    tower; a text runs through layers 0, 2 and 3 alone."""
    import transformers

    default = transformers.MllamaConfig()
    vision = {**default.vision_config.to_dict(), **VISION_SHAPE, "num_global_layers": 1,
              "intermediate_layers_indices": [0]}  # fmt: skip
    text = {**TEXT_SHAPE, "model_type": "mllama_text_model", "num_hidden_layers": 4, "cross_attention_layers": [1]}
    config = transformers.MllamaConfig(text_config=text, vision_config=vision)
    return transformers.MllamaForConditionalGeneration(config)


def tiny_later(kind: str, base: dict):
    """`base`: tests.tiny_models' shared sizes (d_model 64, 4 heads, 2 key/value heads, 2 layers)."""
    import transformers

    ids = dict(pad_token_id=0, bos_token_id=0, eos_token_id=0)  # inside the tiny vocabulary
    if kind in ("llava", "smolvlm"):  # the language model of a vision-language checkpoint (a Llama in both)
        return tiny_vision_language(kind)
    if kind == "mllama":
        return tiny_mllama()
    if kind == "roformer":  # BERT's layers, RoPE in neighbouring pairs (its sinusoid table a fixed parameter)
        cfg = transformers.RoFormerConfig(vocab_size=300, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                          intermediate_size=96, max_position_embeddings=128)  # fmt: skip
        return transformers.RoFormerModel(cfg)
    if kind == "albert":  # BERT's post-norm layers, all 3 running one block's weights; 32-wide embeddings projected up
        shape = dict(vocab_size=300, hidden_size=64, num_hidden_layers=3, num_attention_heads=4, intermediate_size=96)
        cfg = transformers.AlbertConfig(embedding_size=32, max_position_embeddings=128, **shape)
        return transformers.AlbertModel(cfg, add_pooling_layer=False)
    if kind == "big_bird":  # BERT's layers; full attention up to (5 + 2·1)·8 = 56 tokens, where texts are capped
        shape = dict(vocab_size=300, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=96)
        cfg = transformers.BigBirdConfig(block_size=8, num_random_blocks=1, max_position_embeddings=128, **shape)
        return transformers.BigBirdModel(cfg, add_pooling_layer=False)
    if kind == "longformer":  # RoBERTa's layers reading 4 keys either way (attention_window 8), no global attention
        cfg = transformers.LongformerConfig(vocab_size=300, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                            intermediate_size=96, max_position_embeddings=130, attention_window=8,
                                            pad_token_id=1)  # fmt: skip
        return transformers.LongformerModel(cfg, add_pooling_layer=False)
    if kind == "ernie":  # BERT with a task-type embedding on every token (ERNIE 3.0's use_task_id)
        shape = dict(vocab_size=300, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=96)
        return transformers.ErnieModel(transformers.ErnieConfig(use_task_id=True, **shape), add_pooling_layer=False)
    if kind == "rembert":  # BERT's layers; embeddings 32 wide, normalised there, projected up to 64
        shape = dict(vocab_size=300, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=96,
                     input_embedding_size=32, output_embedding_size=48)  # fmt: skip
        return transformers.RemBertModel(transformers.RemBertConfig(**shape), add_pooling_layer=False)
    if kind in ("roberta-prelayernorm", "xlm-roberta-xl", "megatron-bert"):  # pre-norm RoBERTa and BERT encoders
        shape = dict(vocab_size=300, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=96,
                     max_position_embeddings=130, pad_token_id=1)  # fmt: skip
        config = transformers.AutoConfig.for_model(kind, **shape)
        return transformers.AutoModel.from_config(config, add_pooling_layer=False)
    if kind == "cwm":  # CwmConfig's own layer rule: layer 0 full, layers 1-3 slide (window 8); llama3 RoPE ×4 over
        # an original 32 tokens, so the text's positions reach the interpolated frequencies
        rope = dict(rope_type="llama3", rope_theta=1000.0, factor=4.0, high_freq_factor=4.0, low_freq_factor=1.0,
                    original_max_position_embeddings=32)  # fmt: skip
        cfg = transformers.CwmConfig(head_dim=16, sliding_window=8, rope_parameters=rope, **ids,
                                     **{**base, "num_hidden_layers": 4})  # fmt: skip
        return transformers.CwmForCausalLM(cfg)
    if kind in ("hyperclovax", "hyperclovax_pre"):  # Granite's multipliers (the logits × 4), an RMSNorm on each
        # sublayer's output before the residual multiplier (_pre: none, and q·k × 1/√d_head)
        cfg = transformers.HyperCLOVAXConfig(
            embedding_multiplier=3.0, residual_multiplier=0.5, logits_scaling=4.0,
            **(dict(use_post_norm=False) if kind == "hyperclovax_pre" else dict(attention_multiplier=0.2)),
            **ids, **base,
        )  # fmt: skip
        return transformers.HyperCLOVAXForCausalLM(cfg)
    if kind == "mellum":  # layers 0-2 slide (window 8), layer 3 full, RoPE bases 50 and 1000 by type; layer 0 dense,
        # then 4 experts, 2 per token, not renormalised
        types = ["sliding_attention"] * 3 + ["full_attention"]
        rope = {"full_attention": dict(rope_type="default", rope_theta=1000.0),
                "sliding_attention": dict(rope_type="default", rope_theta=50.0)}  # fmt: skip
        cfg = transformers.MellumConfig(
            head_dim=16, sliding_window=8, layer_types=types, rope_parameters=rope, num_experts=4,
            num_experts_per_tok=2, moe_intermediate_size=48, norm_topk_prob=False,
            mlp_layer_types=["dense"] + ["sparse"] * 3, **ids, **{**base, "num_hidden_layers": 4},
        )  # fmt: skip
        return transformers.MellumForCausalLM(cfg)
    if kind == "hy_v3":  # layer 0 dense, then 4 experts, 2 per token, behind a sigmoid router (its correction bias
        # drawn) scaled by 2.5, and a shared MLP
        cfg = transformers.HYV3Config(head_dim=16, num_experts=4, num_experts_per_tok=2, num_shared_experts=1,
                                      moe_intermediate_size=48, router_scaling_factor=2.5, **ids,
                                      **{**base, "num_hidden_layers": 3})  # fmt: skip
        model = transformers.HYV3ForCausalLM(cfg)
        with torch.no_grad():
            for layer in model.model.layers[1:]:
                layer.mlp.e_score_correction_bias.normal_(0.0, 0.5)
        return model
    if kind == "flint":  # layers 0, 1 and 3 full without RoPE, layer 2 slides (window 8) and rotates; a sink per
        # head (drawn at std 1); layers 0-1 dense, then 4 experts, 2 per token, sigmoid scores renormalised, a shared
        # expert
        cfg = transformers.FlintConfig(head_dim=16, sliding_window=8, num_experts=4, num_experts_per_tok=2,
                                       moe_intermediate_size=48, shared_expert_intermediate_size=32, **ids,
                                       **{**base, "num_hidden_layers": 4})  # fmt: skip
        model = transformers.FlintForCausalLM(cfg)
        with torch.no_grad():
            for layer in model.model.layers:
                layer.self_attn.sinks.normal_(0.0, 1.0)
        return model
    if kind == "mimo_v2_flash":  # layers 0 and 3 full (2 key/value heads), 1-2 slide (window 8, 4 key/value heads
        # and a sink per head, drawn at std 1); q/k heads of 24, values of 16 × 0.6; RoPE on 8 of 24, bases 5000 and
        # 50; layer 0 dense, then 4 experts in 2 groups (1 kept), 2 per token, V3's correction bias drawn
        rope = {"full_attention": dict(rope_type="default", rope_theta=5000.0, partial_rotary_factor=0.334),
                "sliding_attention": dict(rope_type="default", rope_theta=50.0, partial_rotary_factor=0.334)}
        types = ["full_attention", "sliding_attention", "sliding_attention", "full_attention"]
        cfg = transformers.MiMoV2FlashConfig(
            head_dim=24, v_head_dim=16, sliding_window=8, layer_types=types, rope_parameters=rope,
            attention_value_scale=0.6, mlp_layer_types=["dense", "sparse", "sparse", "sparse"], n_routed_experts=4,
            num_experts_per_tok=2, moe_intermediate_size=32, n_group=2, topk_group=1, routed_scaling_factor=2.5,
            **ids, **{**base, "num_hidden_layers": 4},
        )  # fmt: skip
        model = transformers.MiMoV2FlashForCausalLM(cfg)
        with torch.no_grad():
            for layer in model.model.layers:
                if layer.self_attn.sinks is not None:
                    layer.self_attn.sinks.normal_(0.0, 1.0)
                if hasattr(layer.mlp, "gate"):
                    layer.mlp.gate.e_score_correction_bias.normal_(0.0, 0.5)
        return model
    if kind == "dbrx":  # a fused Wqkv clamped to ±2 (which bites here), LayerNorms without biases; 4 experts stacked,
        # 2 per token, renormalised
        attn = dict(kv_n_heads=2, clip_qkv=2.0, rope_theta=5000.0)
        ffn = dict(ffn_hidden_size=48, moe_num_experts=4, moe_top_k=2, moe_normalize_expert_weights=1.0)
        rope = dict(rope_type="default", rope_theta=5000.0)  # transformers 5 reads the base here, not attn_config
        cfg = transformers.DbrxConfig(d_model=64, n_heads=4, n_layers=2, max_seq_len=128, vocab_size=300,
                                      attn_config=attn, ffn_config=ffn, rope_parameters=rope, **ids)  # fmt: skip
        return transformers.DbrxForCausalLM(cfg)
    if kind == "ultrabert":  # EuroBERT's layers reading both ways; layers 0 and 1 see keys at most 3 positions away
        # either side, layer 2 every key; RoPE bases 50 (local) and 5000 (global); saved without a head
        rope = {"sliding_attention": dict(rope_type="default", rope_theta=50.0),
                "full_attention": dict(rope_type="default", rope_theta=5000.0)}  # fmt: skip
        cfg = transformers.UltrabertConfig(sliding_window=3, rope_parameters=rope, **ids,
                                           **{**base, "num_hidden_layers": 3})  # fmt: skip
        return transformers.UltrabertModel(cfg)
    if kind in ("afmoe", "afmoe_every4"):  # heads gated by σ(E·W_G); layers 0 and 2 slide (window 8) and rotate, 1
        # and 3 global without RoPE (_every4: layers 0-2 and 3, the released models' pattern, which llama.cpp fixes);
        # a norm before and after each sublayer; layer 0 dense, then 4 experts, 2 per token (sigmoid scores, the
        # correction bias drawn, × 2.5) and a shared expert; embeddings × 8 (muP)
        cfg = transformers.AfmoeConfig(
            head_dim=16, moe_intermediate_size=48, num_dense_layers=1, num_experts=4, num_experts_per_tok=2,
            num_shared_experts=1, route_scale=2.5, global_attn_every_n_layers=4 if kind == "afmoe_every4" else 2,
            sliding_window=8, mup_enabled=True, **ids, **{**base, "num_hidden_layers": 4},
        )  # fmt: skip
        model = transformers.AfmoeForCausalLM(cfg)
        with torch.no_grad():
            for layer in model.model.layers[1:]:
                layer.mlp.expert_bias.normal_(0.0, 0.5)
        return model
    if kind == "kolibri1":  # layers 0-3 slide (window 8) and rotate, layer 4 full without RoPE; a norm before and after
        # each sublayer; in every layer 4 experts, 2 per token, chosen by their logits plus the correction bias (drawn),
        # weighted by their sigmoids, renormalised, and a shared MLP
        cfg = transformers.Kolibri1Config(head_dim=16, sliding_window=8, num_experts=4, num_experts_per_tok=2,
                                          moe_intermediate_size=48, shared_expert_intermediate_size=32,
                                          norm_topk_prob=True, **ids, **{**base, "num_hidden_layers": 5})  # fmt: skip
        model = transformers.Kolibri1ForCausalLM(cfg)
        with torch.no_grad():
            for layer in model.model.layers:
                layer.mlp.gate.e_score_correction_bias.normal_(0.0, 2.0)
        return model
    if kind == "nomic_bert":  # BERT's post-norm layers with RoPE (base 1000), SwiGLU, no biases; saved with Nomic's
        # own tensor names (transformers writes them so)
        cfg = transformers.NomicBertConfig(**{k: v for k, v in base.items() if k != "num_key_value_heads"},
                                           pad_token_id=0)  # fmt: skip
        return transformers.NomicBertModel(cfg)
    if kind == "gte":  # Nomic BERT's layers with biases on q, k, v, the output and the MLP's down map, a GeGLU MLP
        # (exact GELU), RoPE at base 160000; saved with GTE's own tensor names (fused qkv_proj, up_gate_proj)
        cfg = transformers.GteConfig(**{k: v for k, v in base.items() if k != "num_key_value_heads"}, pad_token_id=0)
        return transformers.GteModel(cfg)
    if kind == "jina_v3":  # XLM-RoBERTa's post-norm layers with RoPE (base 20000), biases, a plain GELU MLP; saved
        # with Jina's own tensor names (mixer.Wqkv, fc1, fc2)
        shape = {k: v for k, v in base.items() if k != "num_key_value_heads"}
        return transformers.JinaEmbeddingsV3Model(transformers.JinaEmbeddingsV3Config(**shape, pad_token_id=0))
    if kind == "codegen":  # GPT-J's blocks (4 of each head's 8 dimensions rotating in neighbouring pairs), q, k and
        # v fused in CodeGen's 4 groups (8 heads: 2 per group, so a wrong group order moves real weight)
        cfg = transformers.CodeGenConfig(vocab_size=300, n_embd=64, n_layer=2, n_head=8, n_positions=128, n_ctx=128,
                                         rotary_dim=4, **ids)  # fmt: skip
        return transformers.CodeGenForCausalLM(cfg)
    if kind == "mpt":  # MosaicML: ALiBi with its own slopes over 6 heads (8 slopes, the odd ones first), no biases
        cfg = transformers.MptConfig(d_model=96, n_heads=6, n_layers=2, vocab_size=300, max_seq_len=128)
        return transformers.MptForCausalLM(cfg)
    if kind == "xglm":  # Meta's multilingual GPT: OPT's blocks, fairseq sinusoids from row 2, embeddings × √d_model
        cfg = transformers.XGLMConfig(vocab_size=300, d_model=64, num_layers=2, attention_heads=4, ffn_dim=96,
                                      max_position_embeddings=128, pad_token_id=1, bos_token_id=0, eos_token_id=2)
        return transformers.XGLMForCausalLM(cfg)
    if kind == "openai_gpt":  # GPT-1: post-norm blocks, no final norm, learned positions, Conv1D, tanh GELU
        cfg = transformers.OpenAIGPTConfig(vocab_size=300, n_embd=64, n_layer=2, n_head=4, n_positions=128)
        return transformers.OpenAIGPTLMHeadModel(cfg)
    if kind == "modernbert_decoder":  # Ettin: ModernBERT's layers, causal; layer 0 global, layers 1-2 local (the
        # latest 8 keys: local_attention 16), RoPE bases 160000 and 10000; logits through a dense + GELU + LayerNorm
        # head, then the tied embedding and a bias
        shape = {k: v for k, v in base.items() if k not in ("num_key_value_heads", "tie_word_embeddings")}
        cfg = transformers.ModernBertDecoderConfig(
            **{**shape, "num_hidden_layers": 3, "intermediate_size": 48}, local_attention=16,
            cls_token_id=0, sep_token_id=0, **ids,
        )  # fmt: skip
        return transformers.ModernBertDecoderForCausalLM(cfg)
    raise ValueError(kind)


ESM_VOCAB = ("<cls>", "<pad>", "<eos>", "<unk>", *"LAGVSERTIDPKQNFYMHWCXBUZO.-", "<null_1>", "<mask>")  # ESM-2's


def save_tiny_esm(folder, rotary: bool = True, head: bool = True, seed: int = 0, tags: tuple[str, ...] = ()):
    """A tiny ESM protein model (2 layers, 4 heads, d_model 64) with ESM-2's vocab.txt and no tokenizer.json, as the
    hub's ESM folders: ESM-2's layout (RoPE) or, `rotary` false, ESM-1b's (learned positions, normalised embeddings);
    token dropout on. `head`: EsmForMaskedLM (tensors under esm., the LM and contact heads beside them), else EsmModel;
    `tags`: EsmForTokenClassification with those labels (a residue tagger's). tests.tiny_models._peaked_and_saved's
    weights; returns the model, in eval mode."""
    from pathlib import Path

    import transformers

    from tests.tiny_models import _peaked_and_saved  # here: tests.tiny_models reaches this module in turn

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(ESM_VOCAB) + "\n")
    transformers.EsmTokenizer(str(folder / "vocab.txt")).save_pretrained(str(folder))
    torch.manual_seed(seed)
    cfg = transformers.EsmConfig(
        vocab_size=len(ESM_VOCAB), hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=96,
        max_position_embeddings=130, position_embedding_type="rotary" if rotary else "absolute",
        emb_layer_norm_before=not rotary, token_dropout=True, mask_token_id=ESM_VOCAB.index("<mask>"), pad_token_id=1,
        layer_norm_eps=1e-5, hidden_act="gelu",
    )  # fmt: skip
    if tags:
        cfg.num_labels, cfg.id2label = len(tags), dict(enumerate(tags))
        cfg.label2id = {t: i for i, t in enumerate(tags)}
        hf = transformers.EsmForTokenClassification(cfg)
    else:
        hf = transformers.EsmForMaskedLM(cfg) if head else transformers.EsmModel(cfg, add_pooling_layer=False)
    return _peaked_and_saved(hf, folder, None, norms_too=True, norm_names=("norm", "Norm"))  # its LayerNorms too


def save_tiny_esmc(folder, head: bool = True, seed: int = 0):
    """A tiny ESM C (4 layers, so each sublayer's output is divided by √(4/36) = 1/3; 4 heads, d_model 64) with
    transformers' EsmcTokenizer (its tokenizer.json): EsmcForMaskedLM (tensors under esmc.), or EsmcModel where not
    `head`. tests.tiny_models._peaked_and_saved's weights (its LayerNorms, the q/k ones over all heads too); in eval
    mode."""
    from pathlib import Path

    import transformers

    from tests.tiny_models import _peaked_and_saved

    folder = Path(folder)
    transformers.EsmcTokenizer().save_pretrained(str(folder))
    torch.manual_seed(seed)
    shape = dict(vocab_size=64, hidden_size=64, intermediate_size=96, num_hidden_layers=4, num_attention_heads=4)
    cfg = transformers.EsmcConfig(**shape, num_key_value_heads=4, max_position_embeddings=128)
    hf = transformers.EsmcForMaskedLM(cfg) if head else transformers.EsmcModel(cfg)
    return _peaked_and_saved(hf, folder, None, norms_too=True)
