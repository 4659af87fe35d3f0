"""Tiny random decoders of the architectures added after tests/tiny_models_recent.py's (save_tiny reaches them
through `tiny_recent`). Each turns on what its adapter reads: windows per layer, per-type RoPE bases, sublayer
norms, routers."""

from __future__ import annotations


def tiny_later(kind: str, base: dict):
    """`base`: tests.tiny_models' shared sizes (d_model 64, 4 heads, 2 key/value heads, 2 layers)."""
    import transformers

    ids = dict(pad_token_id=0, bos_token_id=0, eos_token_id=0)  # inside the tiny vocabulary
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
    raise ValueError(kind)
