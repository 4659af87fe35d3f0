"""Tiny randomly initialised models, saved in Hugging Face format, for tests that must not need a network.

Weights are drawn with std 0.3 (not the usual 0.02) so that attention patterns are peaked: a wrong
mapping of heads, positions or masks then moves real weight and a comparison can catch it.
"""

from __future__ import annotations

from pathlib import Path

import torch

from tests.tiny_tokenizers import CORPUS, byte_bpe, sentencepiece_unigram, wordpiece  # noqa: F401 (re-exported)


def _peaked_and_saved(hf, folder: Path, tokenizer, norms_too: bool = False, norm_names: tuple[str, ...] = ("norm",)):
    """`hf` with std 0.3 matrices and biases (and, with `norms_too`, 1-D norm weights, named with one of
    `norm_names`, moved off their init, so a wrong (1 + w) convention shows), saved as safetensors with `tokenizer`
    (None: the caller saved its tokenizer's files); returns it, in eval mode."""
    hf.set_attn_implementation("eager")  # the only implementation that returns attention patterns
    with torch.no_grad():
        for name, p in hf.named_parameters():
            per_head_norm = p.dim() == 2 and name.endswith(("q_norm.weight", "k_norm.weight"))  # Command R+'s
            if (p.dim() >= 2 or name.endswith("bias")) and not per_head_norm:  # 3-D: a MoE layer's experts, fused
                p.normal_(0.0, 0.3)
            elif norms_too and any(word in name for word in norm_names):
                p.add_(torch.randn_like(p) * 0.1)
    hf.save_pretrained(folder, safe_serialization=True)
    if tokenizer is not None:
        tokenizer.save(str(Path(folder) / "tokenizer.json"))
    return hf.eval()


def save_tiny_marian(folder: Path, seed: int = 1):
    """A 2-layer encoder, 3-layer decoder Marian translation model with a byte-level tokenizer; returns it."""
    import transformers

    torch.manual_seed(seed)
    cfg = transformers.MarianConfig(
        vocab_size=300, d_model=64, encoder_layers=2, decoder_layers=3, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=96, decoder_ffn_dim=96, max_position_embeddings=128,
        pad_token_id=0, decoder_start_token_id=0, eos_token_id=1, scale_embedding=True, activation_function="swish",
    )
    hf = transformers.MarianMTModel(cfg)
    hf.set_attn_implementation("eager")  # the only implementation that returns attention patterns
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if (p.dim() == 2 and "embed_positions" not in name) or name.endswith("bias"):
                p.normal_(0.0, 0.3)
        hf.final_logits_bias.normal_(0.0, 0.3)
    hf.save_pretrained(folder, safe_serialization=True)
    byte_bpe(300).save(str(Path(folder) / "tokenizer.json"))
    return hf.eval()


def save_tiny_gpt2(folder: Path, seed: int = 0):
    """A 2-layer, 4-head GPT-2 with a byte-level tokenizer, saved as safetensors; returns it."""
    import transformers

    torch.manual_seed(seed)
    cfg = transformers.GPT2Config(
        vocab_size=300, n_embd=64, n_layer=2, n_head=4, n_positions=128, bos_token_id=0, eos_token_id=0
    )
    return _peaked_and_saved(transformers.GPT2LMHeadModel(cfg), folder, byte_bpe(300))


def _tiny_hf(kind: str):
    """A tiny random transformers decoder of one of today's architectures (2-3 layers, d_model 64)."""
    import transformers

    base = dict(
        vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=128, tie_word_embeddings=False,
    )  # fmt: skip
    if kind == "qwen3":
        return transformers.Qwen3ForCausalLM(transformers.Qwen3Config(head_dim=16, rope_theta=5000.0, **base))
    if kind == "qwen3_wide":  # every row a whole number of 64-value blocks (bitsandbytes: test_bnb_checkpoints.py)
        cfg = transformers.Qwen3Config(head_dim=16, rope_theta=5000.0, **{**base, "intermediate_size": 128})
        return transformers.Qwen3ForCausalLM(cfg)
    if kind == "qwen3_yarn":  # YaRN ×4 over an original 32 tokens: base 100 puts its ramp over frequencies 0..3
        rule = dict(rope_type="yarn", rope_theta=100.0, factor=4.0, original_max_position_embeddings=32)
        return transformers.Qwen3ForCausalLM(transformers.Qwen3Config(head_dim=16, rope_parameters=rule, **base))
    if kind == "gemma2":
        cfg = transformers.Gemma2Config(
            head_dim=16, query_pre_attn_scalar=24, sliding_window=8, attn_logit_softcapping=5.0,
            final_logit_softcapping=10.0, **{**base, "tie_word_embeddings": True},
        )  # fmt: skip
        return transformers.Gemma2ForCausalLM(cfg)
    if kind == "gemma3":
        cfg = transformers.Gemma3TextConfig(
            head_dim=16, query_pre_attn_scalar=24, sliding_window=8, sliding_window_pattern=2, rope_theta=500000.0,
            rope_local_base_freq=10000.0, **{**base, "num_hidden_layers": 3, "tie_word_embeddings": True},
        )  # fmt: skip
        return transformers.Gemma3ForCausalLM(cfg)
    if kind == "phi3":
        return transformers.Phi3ForCausalLM(transformers.Phi3Config(sliding_window=8, pad_token_id=0, **base))
    if kind == "phi3_longrope":  # Phi-3.5 / Phi-4-mini's LongRoPE: short factors and an attention factor (≈ 1.08)
        # within an original context of 64 tokens (the tests' texts are shorter), the long ones beyond it
        short = [1.0, 1.3, 1.7, 2.2, 2.9, 3.4, 4.0, 5.0]
        rule = dict(rope_type="longrope", rope_theta=10000.0, short_factor=short, long_factor=[2 * f for f in short])
        cfg = transformers.Phi3Config(pad_token_id=0, eos_token_id=0, original_max_position_embeddings=64,
                                      rope_parameters=rule, **base)  # fmt: skip
        return transformers.Phi3ForCausalLM(cfg)
    if kind == "smollm3":  # every 2nd layer rotates nothing (NoPE; the real models: every 4th)
        ids = dict(pad_token_id=0, bos_token_id=0, eos_token_id=0)  # inside the tiny vocabulary
        cfg = transformers.SmolLM3Config(no_rope_layer_interval=2, **ids, **base)
        return transformers.SmolLM3ForCausalLM(cfg)
    if kind == "mixtral":  # 4 experts, 2 per token, renormalised
        cfg = transformers.MixtralConfig(num_local_experts=4, num_experts_per_tok=2, **base)
        return transformers.MixtralForCausalLM(cfg)
    if kind == "qwen3_moe":  # layer 0 dense (mlp_only_layers), layer 1 of 4 experts, 2 per token, not renormalised
        cfg = transformers.Qwen3MoeConfig(
            head_dim=16, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=48, norm_topk_prob=False,
            mlp_only_layers=[0], **base,
        )  # fmt: skip
        return transformers.Qwen3MoeForCausalLM(cfg)
    if kind == "qwen2_moe":  # q/k/v biases; 4 experts, 2 per token, and a shared expert behind a sigmoid gate
        cfg = transformers.Qwen2MoeConfig(
            num_experts=4, num_experts_per_tok=2, moe_intermediate_size=48, shared_expert_intermediate_size=64,
            norm_topk_prob=False, **base,
        )  # fmt: skip
        return transformers.Qwen2MoeForCausalLM(cfg)
    if kind in ("olmoe", "olmoe_clip"):  # 4 experts, 2 per token, not renormalised; q/k RMSNorms over the whole
        # projection; olmoe_clip: then q, k and v clamped to ±1 (its normed q and k are near 1: the clamp bites)
        clip = dict(clip_qkv=1.0) if kind == "olmoe_clip" else {}
        cfg = transformers.OlmoeConfig(num_experts=4, num_experts_per_tok=2, norm_topk_prob=False, pad_token_id=0,
                                       **clip, **base)  # fmt: skip
        return transformers.OlmoeForCausalLM(cfg)
    if kind == "olmo2":
        return transformers.Olmo2ForCausalLM(transformers.Olmo2Config(pad_token_id=0, **base))
    if kind == "olmo3":  # OLMo 2's blocks; layers 0-2 slide (window 8), layer 3 full with YaRN as on the 7B
        yarn = dict(rope_type="yarn", rope_theta=100.0, factor=4.0, original_max_position_embeddings=32)
        rope = {"full_attention": yarn, "sliding_attention": dict(rope_type="default", rope_theta=100.0)}
        ids = dict(pad_token_id=0, bos_token_id=0, eos_token_id=0)  # inside the tiny vocabulary
        sizes = {**base, "num_hidden_layers": 4}
        cfg = transformers.Olmo3Config(sliding_window=8, rope_parameters=rope, **ids, **sizes)
        return transformers.Olmo3ForCausalLM(cfg)
    if kind == "granite":  # embeddings × 3, q·k × 0.2, sublayer outputs × 0.5, logits ÷ 4
        cfg = transformers.GraniteConfig(embedding_multiplier=3.0, attention_multiplier=0.2, residual_multiplier=0.5,
                                         logits_scaling=4.0, **base)  # fmt: skip
        return transformers.GraniteForCausalLM(cfg)
    if kind == "granitemoe":  # Granite's multipliers and 4 experts, 2 per token, renormalised
        cfg = transformers.GraniteMoeConfig(embedding_multiplier=3.0, attention_multiplier=0.2, residual_multiplier=0.5,
                                            logits_scaling=4.0, num_local_experts=4, num_experts_per_tok=2,
                                            **{**base, "intermediate_size": 48})  # fmt: skip
        return transformers.GraniteMoeForCausalLM(cfg)
    if kind in ("cohere", "cohere_qk"):  # parallel blocks from one bias-free LayerNorm; RoPE in neighbouring pairs;
        # logits × 0.5; cohere_qk: a bias-free LayerNorm with its own weights on each head's q and k (Command R+)
        cfg = transformers.CohereConfig(logit_scale=0.5, pad_token_id=0, bos_token_id=0, eos_token_id=0,
                                        use_qk_norm=kind == "cohere_qk", **{**base, "tie_word_embeddings": True})
        return transformers.CohereForCausalLM(cfg)
    if kind == "cohere2":  # Cohere's blocks; layers 0-2 slide (window 8) and rotate, layer 3 is global without RoPE
        ids = dict(pad_token_id=0, bos_token_id=0, eos_token_id=0)
        cfg = transformers.Cohere2Config(logit_scale=0.5, sliding_window=8, **ids,
                                         **{**base, "num_hidden_layers": 4, "tie_word_embeddings": True})
        return transformers.Cohere2ForCausalLM(cfg)
    if kind == "neox":
        cfg = transformers.GPTNeoXConfig(
            rotary_pct=0.25, rotary_emb_base=5000, use_parallel_residual=True,
            **{k: v for k, v in base.items() if k != "num_key_value_heads"},
        )  # fmt: skip
        return transformers.GPTNeoXForCausalLM(cfg)
    return _tiny_hf_layernorm(kind, base)


def _tiny_hf_layernorm(kind: str, base: dict):
    """A tiny random Gemma (1) or LayerNorm decoder: Phi (1, 1.5, 2), StableLM (sequential or parallel blocks),
    BLOOM, Falcon, GPT-Neo, GPT-J, OPT, StarCoder2."""
    import transformers

    falcon = dict(vocab_size=300, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, ffn_hidden_size=96)
    if kind == "gemma":
        cfg = transformers.GemmaConfig(head_dim=16, **{**base, "tie_word_embeddings": True})
        return transformers.GemmaForCausalLM(cfg)
    if kind == "phi":  # one LayerNorm feeds attention and MLP side by side; partial rotary; lm_head with a bias
        return transformers.PhiForCausalLM(transformers.PhiConfig(partial_rotary_factor=0.5, **base))
    if kind == "phi_qk":  # Phi with qk_layernorm: one LayerNorm (weight and bias) over each head's d_head, shared
        return transformers.PhiForCausalLM(transformers.PhiConfig(partial_rotary_factor=0.5, qk_layernorm=True, **base))
    if kind in ("stablelm", "stablelm_parallel", "stablelm_qk"):  # stablelm_qk: a LayerNorm per head (StableLM 2 12B)
        cfg = transformers.StableLmConfig(
            partial_rotary_factor=0.25, use_qkv_bias=True, use_parallel_residual=kind == "stablelm_parallel",
            qk_layernorm=kind == "stablelm_qk", **base,
        )  # fmt: skip
        return transformers.StableLmForCausalLM(cfg)
    if kind == "persimmon":  # GPT-NeoX's fused q, k, v; one q/k LayerNorm shared by the heads; squared ReLU
        cfg = transformers.PersimmonConfig(
            vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            max_position_embeddings=128, partial_rotary_factor=0.5, bos_token_id=0, eos_token_id=0,
        )  # fmt: skip
        return transformers.PersimmonForCausalLM(cfg)
    if kind in ("bloom", "bloom_5h"):  # ALiBi; 4 heads (a power of two), or 5: the slopes' second sequence
        heads = 5 if kind == "bloom_5h" else 4
        cfg = transformers.BloomConfig(vocab_size=300, hidden_size=16 * heads, n_layer=2, n_head=heads)
        return transformers.BloomForCausalLM(cfg)
    if kind == "falcon_rw":  # Falcon-RW: ALiBi (added to q·k before the 1/√d_head), sequential blocks, biases
        cfg = transformers.FalconConfig(alibi=True, parallel_attn=False, bias=True, multi_query=False, **falcon)
        return transformers.FalconForCausalLM._from_config(cfg, attn_implementation="eager")
    if kind in ("falcon", "falcon_new"):  # Falcon's eager attention only at construction (set_attn_implementation
        # is refused): its SDPA path returns patterns without the causal mask
        layout = dict(multi_query=True) if kind == "falcon" else dict(new_decoder_architecture=True, num_kv_heads=2)
        cfg = transformers.FalconConfig(**layout, **falcon)  # 7B: one key/value head and one norm; 40B: groups, two
        return transformers.FalconForCausalLM._from_config(cfg, attn_implementation="eager")
    if kind == "gpt_neo":  # q·k unscaled; layer 1 attends locally, to its last 8 keys
        cfg = transformers.GPTNeoConfig(
            vocab_size=300, hidden_size=64, num_layers=2, num_heads=4, intermediate_size=96,
            attention_types=[[["global", "local"], 1]], window_size=8, max_position_embeddings=128,
        )  # fmt: skip
        return transformers.GPTNeoForCausalLM(cfg)
    if kind == "gptj":  # RoPE on 8 of 16 dimensions, in neighbouring pairs; parallel blocks; lm_head with a bias
        cfg = transformers.GPTJConfig(vocab_size=300, n_embd=64, n_layer=2, n_head=4, n_inner=96, rotary_dim=8,
                                      n_positions=128, bos_token_id=0, eos_token_id=0)  # fmt: skip
        return transformers.GPTJForCausalLM(cfg)
    if kind in ("gpt_bigcode", "gpt_bigcode_mha"):  # one key/value head (multi_query), or one per query head
        cfg = transformers.GPTBigCodeConfig(vocab_size=300, n_embd=64, n_layer=2, n_head=4, n_inner=96,
                                            n_positions=128, multi_query=kind == "gpt_bigcode")  # fmt: skip
        return transformers.GPTBigCodeForCausalLM(cfg)
    if kind == "opt":  # learned positions numbered from 2; ReLU
        cfg = transformers.OPTConfig(vocab_size=300, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                     ffn_dim=96, max_position_embeddings=128, pad_token_id=1, bos_token_id=0,
                                     eos_token_id=0)  # fmt: skip
        return transformers.OPTForCausalLM(cfg)
    if kind == "nemotron":  # LayerNorm1P (1 + w), half of each head rotates, squared ReLU
        cfg = transformers.NemotronConfig(partial_rotary_factor=0.5, pad_token_id=0, bos_token_id=0, eos_token_id=0,
                                          **base)  # fmt: skip
        return transformers.NemotronForCausalLM(cfg)
    if kind == "starcoder2":
        cfg = transformers.Starcoder2Config(sliding_window=8, use_bias=True, bos_token_id=0, eos_token_id=0, **base)
        return transformers.Starcoder2ForCausalLM(cfg)
    from tests.tiny_models_recent import tiny_recent

    return tiny_recent(kind, base)


def save_tiny(kind: str, folder: Path, seed: int = 0):
    """A tiny random decoder of a kind `_tiny_hf` or `_tiny_hf_layernorm` builds (their `kind ==` lines list them)
    with a byte-level tokenizer, saved as safetensors (std 0.3 weights, norm weights included, so a wrong norm
    convention shows); returns it."""
    torch.manual_seed(seed)
    return _peaked_and_saved(_tiny_hf(kind), folder, byte_bpe(300), norms_too=True)


def save_tiny_deberta(folder: Path, seed: int = 0, embedding_size: int = 64, buckets: int = 16):
    """A tiny DeBERTa-v3-layout encoder (2 layers, 4 heads, d_model 64): disentangled attention with 16 position
    buckets (offsets exact to ±8, then logarithmic to 64), no absolute positions, no segments; a WordPiece
    tokenizer; returns it. embedding_size < 64: narrower embeddings, projected up before their LayerNorm. buckets -1: no
    log buckets (transformers' default), every offset its own row, clamped at ±16 (max_relative_positions 16)."""
    import transformers

    torch.manual_seed(seed)
    cfg = transformers.DebertaV2Config(
        vocab_size=300, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=96,
        max_position_embeddings=128, relative_attention=True, position_buckets=buckets,
        max_relative_positions=64 if buckets > 0 else 16,
        pos_att_type=["p2c", "c2p"], share_att_key=True, norm_rel_ebd="layer_norm", position_biased_input=False,
        type_vocab_size=0, pad_token_id=0, embedding_size=embedding_size,
    )  # fmt: skip
    return _peaked_and_saved(transformers.DebertaV2Model(cfg), folder, wordpiece(300), norms_too=True)


def save_tiny_deberta_v1(folder: Path, seed: int = 0, position_biased_input: bool = False):
    """A tiny DeBERTa (v1) encoder (2 layers, 4 heads, d_model 64): q, k and v fused per head in in_proj with
    q_bias and v_bias beside it, the position terms from each layer's own pos_q_proj and pos_proj over a table
    without a norm, offsets clamped at ±16 (max_relative_positions); a WordPiece tokenizer; returns it."""
    import transformers

    torch.manual_seed(seed)
    cfg = transformers.DebertaConfig(
        vocab_size=300, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=96,
        max_position_embeddings=128, relative_attention=True, max_relative_positions=16,
        pos_att_type=["c2p", "p2c"], position_biased_input=position_biased_input, type_vocab_size=0, pad_token_id=0,
    )  # fmt: skip
    return _peaked_and_saved(transformers.DebertaModel(cfg), folder, wordpiece(300), norms_too=True)


def save_tiny_encoder(kind: str, folder: Path, seed: int = 0):
    """A tiny encoder with a WordPiece tokenizer, saved as safetensors; returns it. "mpnet": 2 layers, 4 heads, a
    relative position bias beside learned positions; "modernbert": 3 layers, 4 heads, RoPE, layer 0 global and
    layers 1-2 local (keys at most 4 positions away), no norm before layer 0's attention."""
    import transformers

    torch.manual_seed(seed)
    shape = dict(vocab_size=300, hidden_size=64, num_attention_heads=4, intermediate_size=96)
    if kind == "modernbert":
        cfg = transformers.ModernBertConfig(
            **shape, num_hidden_layers=3, max_position_embeddings=128, local_attention=8, pad_token_id=0,
            bos_token_id=2, eos_token_id=3, cls_token_id=2, sep_token_id=3,
        )  # fmt: skip
        return _peaked_and_saved(transformers.ModernBertModel(cfg), folder, wordpiece(300), norms_too=True)
    cfg = transformers.MPNetConfig(**shape, num_hidden_layers=2, max_position_embeddings=130, pad_token_id=1)
    return _peaked_and_saved(transformers.MPNetModel(cfg, add_pooling_layer=False), folder, wordpiece(300))


def draw_like_t5(hf) -> None:
    """A T5-layout model's weights drawn so that its numbers test something: the relative position tables at std 2
    (a bias as large as q·k, so a wrong bucket moves real weight), W_Q and W_K at 0.15 (T5 does not scale q·k: smaller
    maps keep it near the bias's size), routers (Switch's) at 1 (tokens spread over the experts), other matrices at
    0.3, 1-D norm weights moved off 1 (a missing norm weight would show)."""
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if "relative_attention_bias" in name:
                p.normal_(0.0, 2.0)
            elif name.endswith((".q.weight", ".k.weight")):
                p.normal_(0.0, 0.15)
            elif "router" in name:
                p.normal_(0.0, 1.0)
            elif p.dim() == 2:
                p.normal_(0.0, 0.3)
            else:
                p.add_(torch.randn_like(p) * 0.1)


def save_tiny_t5(
    folder: Path, feed_forward: str = "relu", seed: int = 3, model_type: str = "t5", vocab: int = 300,
    max_distance: int = 16,
):  # fmt: skip
    """A tiny T5ForConditionalGeneration (d_model 32, 2 + 2 layers, 4 heads of d_kv 8, 8 relative buckets up to
    `max_distance` tokens, `vocab` rows) with a SentencePiece-style tokenizer, saved as safetensors; returns it.

    feed_forward "relu": original T5 (tied embeddings, decoder output × d_model^-0.5). "gated-gelu": T5 v1.1 /
    Flan-T5 (GeGLU, tie_word_embeddings false: its own lm_head, no rescale), written out by hand, since
    transformers 5 ties every T5's lm_head to the shared embedding when it builds one. model_type "mt5": the same
    checkpoint as mT5's config names it (MT5ForConditionalGeneration: T5's layout, another model_type).
    """
    import json

    import transformers
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    v1_1 = feed_forward != "relu"
    cfg = transformers.T5Config(
        vocab_size=vocab, d_model=32, d_kv=8, d_ff=48, num_layers=2, num_decoder_layers=2, num_heads=4,
        relative_attention_num_buckets=8, relative_attention_max_distance=max_distance, feed_forward_proj=feed_forward,
        decoder_start_token_id=0, pad_token_id=0, eos_token_id=1, dropout_rate=0.0,
    )  # fmt: skip
    hf = transformers.T5ForConditionalGeneration(cfg)
    hf.set_attn_implementation("eager")  # the only implementation that returns attention patterns
    if v1_1:  # an lm_head of its own, and no rescale of the decoder's output
        hf.lm_head = torch.nn.Linear(32, vocab, bias=False)
        hf.config.scale_decoder_outputs = False
    draw_like_t5(hf)
    if v1_1:
        with torch.no_grad():
            hf.lm_head.weight.normal_(0.0, 0.3)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().clone().contiguous() for k, v in hf.state_dict().items()}  # tied tensors as copies
    if not v1_1:
        state.pop("lm_head.weight", None)  # tied: only the shared embedding is stored, as save_pretrained does
    save_file(state, str(folder / "model.safetensors"))
    config = hf.config.to_dict()
    architecture = "MT5ForConditionalGeneration" if model_type == "mt5" else "T5ForConditionalGeneration"
    config.update(architectures=[architecture], model_type=model_type, tie_word_embeddings=not v1_1)
    config.pop("scale_decoder_outputs", None)  # checkpoints on the hub say it through tie_word_embeddings alone
    (folder / "config.json").write_text(json.dumps(config, indent=2, default=str))
    sentencepiece_unigram(vocab).save(str(folder / "tokenizer.json"))
    return hf.eval()
