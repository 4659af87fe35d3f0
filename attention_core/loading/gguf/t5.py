"""GGUF t5 → the canonical encoder-decoder layout of hf_adapters_t5.py (T5, Flan-T5, mT5, umT5 as llama.cpp's
converter writes them): `enc.blk.N.*` and `dec.blk.N.*` (cross-attention `cross_attn_*`), each stack's RMSNorms and
closing `output_norm`, one shared `token_embd`.

What the file does not say, read as llama.cpp reads it:
- the MLP: gated (an `ffn_gate`: T5 v1.1, Flan-T5, mT5: GeGLU with the tanh GELU, wi_0 the gate) or ReLU.
- the relative position bias: `attn_rel_b` (n_buckets × n_heads) in layer 0 of each stack, read by every layer, or one
  in every layer (umT5); distances capped at 128 (T5's relative_attention_max_distance; llama.cpp fixes it).
- the unembedding: `output.weight` where the model has its own (v1.1, Flan-T5, unscaled); without it, the shared
  embedding, the decoder's output scaled by d_model^-0.5 as original T5's tied head is (transformers scales it;
  llama.cpp does not, so its logits are √d_model times these).
Queries are not scaled (T5 folds 1/√d_head into W_Q).

GGUF t5encoder: the encoder alone (the text encoders of image models, sentence-T5): `enc.*` and `token_embd`, no
decoder and no language-model head (arch "t5_encoder"; an `output.weight` a converter may keep is read and not run).
"""

from __future__ import annotations

import torch

from ...config import ModelConfig
from ...errors import ModelLoadError
from .reader import Meta, Tensors, attention_shape
from .tokenizer import token_id

Weights = dict[str, torch.Tensor]
T5_MAX_DISTANCE = 128  # llama.cpp's fixed relative_attention_max_distance, T5's own


def t5_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    d_model, n_heads, n_kv_heads, d_head = attention_shape(meta)
    if n_kv_heads != n_heads:
        raise ModelLoadError(f"A t5 file with {n_kv_heads} key/value heads for {n_heads} query heads is not supported.")
    n_layers, encoder_only = meta.count("block_count"), meta.arch == "t5encoder"
    gated, tied = "enc.blk.0.ffn_gate.weight" in tensor_names, "output.weight" not in tensor_names
    n_tokens = meta.vocab_size()
    return ModelConfig(
        name=name, arch="t5_encoder" if encoder_only else "t5", n_layers=n_layers, n_heads=n_heads,
        n_kv_heads=n_heads, d_model=d_model, d_head=d_head,
        d_mlp=meta.count("feed_forward_length"), d_vocab=n_tokens, n_ctx=meta.count("context_length"), causal=False,
        norm="rms", norm_eps=meta.number("attention.layer_norm_rms_epsilon"), norm_position="pre",
        act="gelu_tanh" if gated else "relu", gated_mlp=gated, uses_rope=False, attn_scale=1.0, position_bias="t5",
        rel_bias_per_layer=n_layers > 1 and "enc.blk.1.attn_rel_b.weight" in tensor_names,
        rel_buckets=meta.count("attention.relative_buckets_count"), rel_max_distance=T5_MAX_DISTANCE,
        unembed_scale=d_model**-0.5 if tied else 1.0, tie_embeddings=tied,
        n_decoder_layers=0 if encoder_only else meta.count("decoder_block_count", n_layers),
        decoder_start_token_id=int(meta.get("decoder_start_token_id", 0)),
        eos_token_id=token_id(meta, "tokenizer.ggml.eos_token_id", n_tokens),
        display_name=str(meta.key("general.name", name)),
    )  # fmt: skip


def t5_weights(t: Tensors, cfg: ModelConfig) -> Weights:
    w: Weights = {"embed.W_E": torch.from_numpy(t.raw("token_embd.weight"))}
    if not cfg.tie_embeddings and cfg.is_encoder_decoder:
        w["unembed.W_U"] = t.linear("output.weight")  # (d_model, d_vocab)
    else:
        t.skip("output.weight")  # an encoder's (a tied head's is absent)
    stacks = (("enc", "", cfg.n_layers), ("dec", "dec.", cfg.n_decoder_layers))
    for stack, prefix, n_layers in stacks[: 2 if cfg.is_encoder_decoder else 1]:
        for layer in range(n_layers if cfg.rel_bias_per_layer else 1):  # umT5: a table in every layer
            name = f"{stack}.blk.{layer}.attn_rel_b.weight"
            table = torch.from_numpy(t.raw(name))  # as stored: (n_buckets, n_heads)
            if tuple(table.shape) != (cfg.rel_buckets, cfg.n_heads):
                raise ModelLoadError(f"{name} is {tuple(table.shape)}, not (relative_buckets_count, head_count) = "
                                     f"({cfg.rel_buckets}, {cfg.n_heads}).")  # fmt: skip
            w[f"{prefix}blocks.{layer}.attn.rel_bias"] = table
        for layer in range(n_layers):
            src, dst = f"{stack}.blk.{layer}.", f"{prefix}blocks.{layer}."
            _attention(t, w, dst + "attn", src + "attn")
            w[dst + "ln_attn.w"] = t.vector(src + "attn_norm.weight")
            if stack == "dec":
                _attention(t, w, dst + "cross", src + "cross_attn")
                w[dst + "ln_cross.w"] = t.vector(src + "cross_attn_norm.weight")
            w[dst + "ln_mlp.w"] = t.vector(src + "ffn_norm.weight")
            if cfg.gated_mlp:
                w[dst + "mlp.W_gate"] = t.linear(src + "ffn_gate.weight")  # act(x·W_gate) * (x·W_in)
            w[dst + "mlp.W_in"] = t.linear(src + "ffn_up.weight")
            w[dst + "mlp.W_out"] = t.linear(src + "ffn_down.weight")
        w[prefix + "ln_final.w"] = t.vector(f"{stack}.output_norm.weight")
    return w


def _attention(t: Tensors, w: Weights, ours: str, theirs: str) -> None:
    for part, name in (("Q", "q"), ("K", "k"), ("V", "v"), ("O", "o")):
        w[f"{ours}.W_{part}"] = t.linear(f"{theirs}_{name}.weight")  # no biases in T5
