"""Tiny random hybrids (attention_core/loading/hf_adapters_hybrid.py): layers that attend beside layers that mix
tokens another way, saved as safetensors with the byte-level tokenizer of tests.tiny_models."""

from __future__ import annotations

from pathlib import Path

import torch

# conv, attention, conv, attention: a convolution first (LFM2's own models start with two) and last but one
LFM2_LAYERS = ["conv", "full_attention", "conv", "full_attention"]


def save_tiny_lfm2(folder: Path, seed: int = 0, conv_bias: bool = False):
    """LFM2 with a kernel of 3, grouped-query attention (4 heads over 2), and an MLP width the config rounds (96 × 2/3
    × 1.3 = 83, up to a multiple of 32: 96), so a width read from intermediate_size alone would be wrong."""
    import transformers

    from tests.tiny_models import _peaked_and_saved, byte_bpe

    torch.manual_seed(seed)
    cfg = transformers.Lfm2Config(
        vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=4, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=128, layer_types=LFM2_LAYERS, conv_L_cache=3,
        conv_bias=conv_bias, block_multiple_of=32, block_ffn_dim_multiplier=1.3, tie_word_embeddings=True,
        pad_token_id=0, bos_token_id=0, eos_token_id=0, rope_parameters={"rope_type": "default", "rope_theta": 5000.0},
    )  # fmt: skip
    return _peaked_and_saved(transformers.Lfm2ForCausalLM(cfg), folder, byte_bpe(300), norms_too=True)


def save_tiny_lfm2_moe(folder: Path, seed: int = 0):
    """LFM2 MoE: LFM2's layers (as save_tiny_lfm2's), the first dense (num_dense_layers 1, its MLP 96 wide), then 4
    experts 24 wide (so no stacked tensor is square), 2 per token, chosen with a random expert bias (so a router without
    it picks others), renormalised and scaled by 1.5."""
    import transformers

    from tests.tiny_models import _peaked_and_saved, byte_bpe

    torch.manual_seed(seed)
    cfg = transformers.Lfm2MoeConfig(
        vocab_size=300, hidden_size=64, intermediate_size=96, moe_intermediate_size=24, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128, layer_types=LFM2_LAYERS,
        conv_L_cache=3, num_dense_layers=1, num_experts=4, num_experts_per_tok=2, routed_scaling_factor=1.5,
        norm_topk_prob=True, use_expert_bias=True, tie_word_embeddings=True, pad_token_id=0, bos_token_id=0,
        eos_token_id=0, rope_parameters={"rope_type": "default", "rope_theta": 5000.0},
    )  # fmt: skip
    model = transformers.Lfm2MoeForCausalLM(cfg)
    with torch.no_grad():
        for layer in model.model.layers[1:]:
            layer.feed_forward.expert_bias.copy_(torch.randn(4))  # a buffer: zeros unless drawn here
    return _peaked_and_saved(model, folder, byte_bpe(300), norms_too=True)


def save_tiny_lfm3(folder: Path, seed: int = 0):
    """LFM3: a convolution, a sliding-window layer (window 4, its own RoPE base of 100 over the whole head), a
    convolution, a full layer (proportional RoPE: 4 of each head's 8 pairs turn, base 5000); each head's output
    gated, a norm on each sublayer's output (drawn with the others: so a missing one shows)."""
    import transformers

    from tests.tiny_models import _peaked_and_saved, byte_bpe

    torch.manual_seed(seed)
    rope = {"sliding_attention": {"rope_type": "default", "rope_theta": 100.0},
            "full_attention": {"rope_type": "proportional", "rope_theta": 5000.0, "partial_rotary_factor": 0.5}}
    cfg = transformers.Lfm3Config(
        vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=4, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, max_position_embeddings=128, conv_L_cache=3, sliding_window=4,
        layer_types=["conv", "sliding_attention", "conv", "full_attention"], rope_parameters=rope,
        use_sandwich_norm=True, use_attention_gate=True, tie_word_embeddings=True, pad_token_id=0, bos_token_id=0,
        eos_token_id=0,
    )  # fmt: skip
    return _peaked_and_saved(transformers.Lfm3ForCausalLM(cfg), folder, byte_bpe(300), norms_too=True)


def save_tiny_qwen3_5(folder: Path, seed: int = 0):
    """Qwen3.5's language model: layers 0 and 2 run the gated delta rule (2 key heads of 8 over 4 value heads of
    12, a kernel of 4), 1 and 3 Qwen3-Next's gated attention (4 heads of 16 over 2 key/value heads, RoPE on a quarter
    of each head). A_log and dt_bias drawn too, so a wrong decay shows."""
    import transformers

    from tests.tiny_models import _peaked_and_saved, byte_bpe

    torch.manual_seed(seed)
    cfg = transformers.Qwen3_5TextConfig(
        vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=4, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, max_position_embeddings=128, linear_conv_kernel_dim=4,
        linear_key_head_dim=8, linear_value_head_dim=12, linear_num_key_heads=2, linear_num_value_heads=4,
        layer_types=["linear_attention", "full_attention", "linear_attention", "full_attention"],
        pad_token_id=0, bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    model = transformers.Qwen3_5ForCausalLM(cfg)
    _draw_scan_parameters([layer.linear_attn for layer in model.model.layers[0::2]], ("A_log", "dt_bias"))
    return _peaked_and_saved(model, folder, byte_bpe(300), norms_too=True)


def save_tiny_qwen3_5_moe(folder: Path, seed: int = 0):
    """Qwen3.5 MoE's language model: save_tiny_qwen3_5's layers, each MLP 4 experts of 24 (2 a token, renormalised)
    beside a shared expert of 32 behind its sigmoid gate."""
    import transformers

    from tests.tiny_models import _peaked_and_saved, byte_bpe

    torch.manual_seed(seed)
    cfg = transformers.Qwen3_5MoeTextConfig(
        vocab_size=300, hidden_size=64, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
        head_dim=16, max_position_embeddings=128, linear_conv_kernel_dim=4, linear_key_head_dim=8,
        linear_value_head_dim=12, linear_num_key_heads=2, linear_num_value_heads=4, num_experts=4,
        num_experts_per_tok=2, moe_intermediate_size=24, shared_expert_intermediate_size=32,
        layer_types=["linear_attention", "full_attention", "linear_attention", "full_attention"],
        pad_token_id=0, bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    return _peaked_and_saved(transformers.Qwen3_5MoeForCausalLM(cfg), folder, byte_bpe(300), norms_too=True)


def save_tiny_qwen3_next(folder: Path, seed: int = 0):
    """Qwen3-Next: save_tiny_qwen3_5_moe's layers with its delta rule's maps fused per key head, layer 0's MLP dense
    (mlp_only_layers) and the others 4 experts (2 a token, renormalised) beside a gated shared expert."""
    import transformers

    from tests.tiny_models import _peaked_and_saved, byte_bpe

    torch.manual_seed(seed)
    cfg = transformers.Qwen3NextConfig(
        vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=4, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, max_position_embeddings=128, linear_conv_kernel_dim=4,
        linear_key_head_dim=8, linear_value_head_dim=12, linear_num_key_heads=2, linear_num_value_heads=4,
        num_experts=4, num_experts_per_tok=2, moe_intermediate_size=24, shared_expert_intermediate_size=32,
        norm_topk_prob=True, mlp_only_layers=[0], decoder_sparse_step=1,
        layer_types=["linear_attention", "full_attention", "linear_attention", "full_attention"],
        pad_token_id=0, bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    return _peaked_and_saved(transformers.Qwen3NextForCausalLM(cfg), folder, byte_bpe(300), norms_too=True)


def save_tiny_granite_hybrid(folder: Path, seed: int = 0, experts: int = 0):
    """Granite 4's hybrid (granitemoehybrid): layers 0 and 2 Mamba-2 (4 heads of 32 channels over 2 groups, a state of
    8, a kernel of 4, conv bias), 1 and 3 attention without RoPE (NoPE, as Granite 4 H); Granite's multipliers away
    from 1 so a missing one shows; the MLP dense (the shared MLP) or, with `experts`, a mixture beside it. A_log,
    dt_bias and D drawn."""
    import transformers

    from tests.tiny_models import _peaked_and_saved, byte_bpe

    torch.manual_seed(seed)
    cfg = transformers.GraniteMoeHybridConfig(
        vocab_size=300, hidden_size=64, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=128, shared_intermediate_size=96, intermediate_size=48, num_local_experts=experts,
        num_experts_per_tok=2 if experts else 0, layer_types=["mamba", "attention", "mamba", "attention"],
        mamba_n_heads=4, mamba_d_head=32, mamba_n_groups=2, mamba_d_state=8, mamba_d_conv=4, mamba_expand=2,
        mamba_conv_bias=True, position_embedding_type="nope", embedding_multiplier=2.0, residual_multiplier=0.5,
        attention_multiplier=0.3, logits_scaling=2.0, pad_token_id=0, bos_token_id=0, eos_token_id=0,
        tie_word_embeddings=False,
    )  # fmt: skip
    model = transformers.GraniteMoeHybridForCausalLM(cfg)
    _draw_scan_parameters([layer.mamba for layer in model.model.layers[0::2]], ("A_log", "dt_bias", "D"))
    return _peaked_and_saved(model, folder, byte_bpe(300), norms_too=True)


def save_tiny_bamba(folder: Path, seed: int = 0):
    """Bamba: layers 0 and 2 Mamba-2 (4 heads of 32 over 2 groups, a state of 8, a kernel of 4), 1 and 3 Llama
    attention with RoPE on half of each head (attn_layer_indices); A_log, dt_bias and D drawn."""
    import transformers

    from tests.tiny_models import _peaked_and_saved, byte_bpe

    torch.manual_seed(seed)
    cfg = transformers.BambaConfig(
        vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=4, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=128, attn_layer_indices=[1, 3], mamba_n_heads=4,
        mamba_n_groups=2, mamba_d_state=8, mamba_d_conv=4, mamba_expand=2, pad_token_id=0, bos_token_id=0,
        eos_token_id=0,
    )  # fmt: skip
    model = transformers.BambaForCausalLM(cfg)
    _draw_scan_parameters([layer.mamba for layer in model.model.layers[0::2]], ("A_log", "dt_bias", "D"))
    return _peaked_and_saved(model, folder, byte_bpe(300), norms_too=True)


def _draw_scan_parameters(modules, names: tuple[str, ...]) -> None:
    """Random values for each module's per-head scan parameters `names` (their initial values are alike for every
    head, so a mix-up of heads or a wrong decay would not show): N(0, 0.5²), D N(0, 1)."""
    with torch.no_grad():
        for module in modules:
            for name in names:
                tensor = getattr(module, name)
                tensor.copy_(torch.randn_like(tensor) * (1.0 if name == "D" else 0.5))


# Nemotron-H: each layer one sublayer; Mamba first and last but one, as NVIDIA's models start and end with Mamba
NEMOTRON_H_LAYERS = ["linear_attention", "mlp", "full_attention", "mlp", "linear_attention", "full_attention"]


def save_tiny_nemotron_h(folder: Path, seed: int = 0, moe: bool = False, latent: bool = False, groups: int = 2):
    """Nemotron-H (NEMOTRON_H_LAYERS; with `moe`, the MLP layers a mixture of 4 experts, 2 a token, in `groups` groups
    of which 1 is kept, beside a shared expert, its correction bias drawn; `latent`: the experts read a latent of 32).
    Mamba-2: 4 heads of 32 channels over 2 groups, a state of 8, a kernel of 4; A_log, dt_bias and D drawn, one head's
    Δ under the clamp."""
    import transformers

    from tests.tiny_models import _peaked_and_saved, byte_bpe

    torch.manual_seed(seed)
    layers = [("moe" if moe and kind == "mlp" else kind) for kind in NEMOTRON_H_LAYERS]
    cfg = transformers.NemotronHConfig(
        vocab_size=300, hidden_size=64, layers_block_type=layers, num_attention_heads=4, num_key_value_heads=2,
        head_dim=16, max_position_embeddings=128, intermediate_size=96, mamba_num_heads=4, mamba_head_dim=32,
        n_groups=2, ssm_state_size=8, conv_kernel=4, n_routed_experts=4, num_experts_per_tok=2, n_group=groups,
        topk_group=1, moe_intermediate_size=48, moe_shared_expert_intermediate_size=40, routed_scaling_factor=1.5,
        moe_latent_size=32 if latent else None, pad_token_id=0, bos_token_id=0, eos_token_id=0,
        tie_word_embeddings=False,
    )  # fmt: skip
    model = transformers.NemotronHForCausalLM(cfg)
    mambas = [layer.mixer for layer, kind in zip(model.model.layers, layers, strict=True) if kind == "linear_attention"]
    _draw_scan_parameters(mambas, ("A_log", "dt_bias", "D"))
    with torch.no_grad():
        mambas[0].dt_bias[1] = -9.0  # softplus ≈ 1e-4: under time_step_min, so head 1's Δ is the clamp's
        for layer, kind in zip(model.model.layers, layers, strict=True):
            if kind == "moe":  # a buffer, zero at init: drawn so that a choice without it would differ
                layer.mixer.gate.e_score_correction_bias.copy_(torch.randn(4) * 0.3)
    return _peaked_and_saved(model, folder, byte_bpe(300), norms_too=True)


def save_tiny_olmo_hybrid(folder: Path, seed: int = 0, rope: bool = False):
    """OLMo Hybrid: layers 0 and 2 the gated delta rule in pre-norm blocks (2 key heads of 8 over 4 value heads of 12,
    a kernel of 4, β up to 2), 1 and 3 OLMo 3 attention blocks (norms on the sublayers' outputs, q/k norms over the
    whole projection; no RoPE as released, or with `rope` RoPE); A_log and dt_bias drawn."""
    import transformers

    from tests.tiny_models import _peaked_and_saved, byte_bpe

    torch.manual_seed(seed)
    cfg = transformers.OlmoHybridConfig(
        vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=4, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=128, linear_conv_kernel_dim=4, linear_key_head_dim=8,
        linear_value_head_dim=12, linear_num_key_heads=2, linear_num_value_heads=4,
        layer_types=["linear_attention", "full_attention", "linear_attention", "full_attention"],
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0} if rope else None,
        pad_token_id=0, bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    model = transformers.OlmoHybridForCausalLM(cfg)
    _draw_scan_parameters([layer.linear_attn for layer in model.model.layers[0::2]], ("A_log", "dt_bias"))
    return _peaked_and_saved(model, folder, byte_bpe(300), norms_too=True)


def save_tiny_falcon_h1(folder: Path, seed: int = 0, norm: str = "none", tied: bool = False, biases: bool = False):
    """Falcon-H1: 3 layers, each attention (4 heads of 16, 2 key/value heads, RoPE) beside a Mamba-2 scan (4 heads of
    32 channels over 2 groups, mamba_d_ssm 128 ≠ 2 · d_model, a state of 8, a kernel of 4); the scan's norm `norm`
    ("none": no mamba_rms_norm, as released; "before_gate", "after_gate"); with `biases`, every projection's bias
    (attention, MLP, the scan's in and out); every µP multiplier away from 1 and from the others, so a missing or
    misplaced fold shows; A_log, dt_bias and D drawn."""
    import transformers

    from tests.tiny_models import _peaked_and_saved, byte_bpe

    torch.manual_seed(seed)
    cfg = transformers.FalconH1Config(
        vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, max_position_embeddings=128, mamba_d_ssm=128, mamba_n_heads=4,
        mamba_n_groups=2, mamba_d_state=8, mamba_d_conv=4, mamba_rms_norm=norm != "none",
        mamba_norm_before_gate=norm == "before_gate", embedding_multiplier=2.0, lm_head_multiplier=0.5,
        mlp_multipliers=[1.5, 0.7], key_multiplier=0.8, attention_in_multiplier=1.2, attention_out_multiplier=0.9,
        ssm_multipliers=[1.1, 0.9, 1.3, 0.6, 1.4], ssm_in_multiplier=0.8, ssm_out_multiplier=1.3,
        attention_bias=biases, mlp_bias=biases, mamba_proj_bias=biases, projectors_bias=biases,
        pad_token_id=0, bos_token_id=0, eos_token_id=0, tie_word_embeddings=tied,
    )  # fmt: skip
    model = transformers.FalconH1ForCausalLM(cfg)
    _draw_scan_parameters([layer.mamba for layer in model.model.layers], ("A_log", "dt_bias", "D"))
    return _peaked_and_saved(model, folder, byte_bpe(300), norms_too=True)


def save_tiny_jamba(folder: Path, seed: int = 0, experts: int = 4):
    """Jamba: 4 layers, Mamba (64 · 2 = 128 channels, a state of 8, Δ rank 4, a kernel of 4, its dt/B/C norms) in
    0, 2 and 3, attention without position encoding (4 heads, 2 key/value heads) in 1 (attn_layer_period 4, offset
    1); the MLP of layers 1 and 3 a mixture of `experts` experts (2 a token, not renormalised; 0: dense), the others
    dense. A_log, dt_proj's bias and D drawn."""
    import transformers

    from tests.tiny_models import _peaked_and_saved, byte_bpe

    torch.manual_seed(seed)
    cfg = transformers.JambaConfig(
        vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=4, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=128, attn_layer_period=4, attn_layer_offset=1,
        expert_layer_period=2, expert_layer_offset=1, num_experts=experts or 1, num_experts_per_tok=2,
        mamba_d_state=8, mamba_d_conv=4, mamba_expand=2, mamba_dt_rank=4, use_mamba_kernels=False,
        pad_token_id=0, bos_token_id=0, eos_token_id=0, tie_word_embeddings=False,
    )  # fmt: skip
    model = transformers.JambaForCausalLM(cfg)
    with torch.no_grad():
        for layer in model.model.layers:
            if hasattr(layer, "mamba"):  # initial values alike in every channel, so a mix-up would not show
                layer.mamba.A_log.copy_(torch.randn_like(layer.mamba.A_log) * 0.5)
                layer.mamba.D.copy_(torch.randn_like(layer.mamba.D))
    return _peaked_and_saved(model, folder, byte_bpe(300), norms_too=True)


def save_tiny_kimi_linear(folder: Path, seed: int = 0):
    """Kimi Linear: 4 layers, Kimi Delta Attention (2 heads of 16, a kernel of 4) in 0, 1 and 2, latent attention
    without position encoding (4 heads, q 8 + 4 wide, values 8, a key/value latent of 16) in 3; layer 0's MLP dense,
    the others 4 experts (2 a token, in 2 groups of which 1 is kept, renormalised, × 1.5) beside a shared expert.
    A_log, dt_bias and the router's correction bias drawn."""
    import transformers

    from tests.tiny_models import _peaked_and_saved, byte_bpe

    torch.manual_seed(seed)
    cfg = transformers.KimiLinearConfig(
        vocab_size=300, hidden_size=64, intermediate_size=96, moe_intermediate_size=24, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=4, kv_lora_rank=16, q_lora_rank=None, qk_rope_head_dim=4,
        qk_nope_head_dim=8, v_head_dim=8, num_local_experts=4, num_experts_per_tok=2, n_group=2, topk_group=1,
        n_shared_experts=1, routed_scaling_factor=1.5, norm_topk_prob=True, max_position_embeddings=128,
        layer_types=["linear_attention", "linear_attention", "linear_attention", "full_attention"],
        mlp_layer_types=["dense", "sparse", "sparse", "sparse"], linear_head_dim=16, linear_num_heads=2,
        linear_conv_kernel_dim=4, pad_token_id=0, bos_token_id=0, eos_token_id=0, tie_word_embeddings=False,
    )  # fmt: skip
    model = transformers.KimiLinearForCausalLM(cfg)
    with torch.no_grad():
        for layer in model.model.layers[:3]:
            gate = layer.self_attn.forget_gate
            gate.A_log.copy_(torch.randn_like(gate.A_log) * 0.5)
            gate.dt_bias.copy_(torch.randn_like(gate.dt_bias) * 0.5)
        for layer in model.model.layers[1:]:  # a buffer, zero at init: drawn so that a choice without it would differ
            layer.mlp.gate.e_score_correction_bias.copy_(torch.randn(4) * 0.3)
    return _peaked_and_saved(model, folder, byte_bpe(300), norms_too=True)


def save_tiny_recurrent_gemma(folder: Path, seed: int = 0, attention_bias: bool = False):
    """RecurrentGemma (Griffin): 4 layers, the recurrent block (96 channels in 4 blocks of 24, a kernel of 4) in 0, 1
    and 3, local multi-query attention (4 heads of 16, 1 key/value head, a window of 8 tokens, RoPE on half of each
    head) in 2; a gated MLP of 48; logits soft-capped at 30. recurrent_param drawn, so each channel decays at its own
    rate."""
    import transformers

    from tests.tiny_models import _peaked_and_saved, byte_bpe

    torch.manual_seed(seed)
    cfg = transformers.RecurrentGemmaConfig(
        vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=4, num_attention_heads=4,
        num_key_value_heads=1, lru_width=96, attention_window_size=8, conv1d_width=4, logits_soft_cap=30.0,
        attention_bias=attention_bias, pad_token_id=0, bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    model = transformers.RecurrentGemmaForCausalLM(cfg)
    with torch.no_grad():
        for layer in model.model.layers:
            if hasattr(layer.temporal_block, "rg_lru"):
                layer.temporal_block.rg_lru.recurrent_param.copy_(torch.randn(96) * 2.0)
    return _peaked_and_saved(model, folder, byte_bpe(300), norms_too=True)
