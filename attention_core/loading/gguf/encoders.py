"""GGUF bert → canonical weights: the BERT encoders llama.cpp runs for embeddings (Ollama's all-minilm,
mxbai-embed-large, snowflake-arctic-embed). Post-norm blocks with LayerNorm and biases everywhere, learned positions
and segment embeddings, a LayerNorm on the embeddings; q, k and v separate, rows as Hugging Face's.

GGUF nomic-bert (Ollama's nomic-embed-text): the same post-norm blocks and embeddings without a position table: q and
k rotate instead (RoPE, NeoX: rows kept, at rope.freq_base), q, k and v fused in attn_qkv (rows q | k | v), no biases
but any on the output, and a SwiGLU MLP (ffn_up, ffn_gate, ffn_down).

GGUF jina-bert-v3 (Jina Embeddings v3 as llama.cpp's converter writes it, its task LoRAs in files of their own): bert's
layers and embeddings with RoPE (NeoX) in place of the position table, q, k and v fused in attn_qkv with their biases.

GGUF modern-bert (ModernBERT, and the embedders built on it: granite-embedding r2, gte-modernbert): pre-norm blocks with
LayerNorms without biases (none before layer 0's attention), a LayerNorm on the embeddings and one closing the stack;
q, k and v fused in attn_qkv, RoPE (NeoX) at rope.freq_base on the global layers and rope.freq_base_swa on the local
ones, which reach attention.sliding_window / 2 tokens both ways; every sliding_window_pattern-th layer from layer 0 is
global; a GeGLU MLP whose ffn_up holds the activated half first. No biases anywhere.

The MLP's GELU is the exact (erf) one BERT was trained with; llama.cpp runs its tanh approximation. A reranker's
classification head (cls.*) is read and left out: the pages show the encoder, whose last layer it reads.
"""

from __future__ import annotations

import dataclasses

import torch

from ...config import ModelConfig
from ...errors import ModelLoadError
from .reader import Meta, Tensors, attention_shape, matrix, sliding_layers, split_rows

Weights = dict[str, torch.Tensor]
_HEAD = ("cls.weight", "cls.bias", "cls.output.weight", "cls.output.bias")  # a reranker's classifier


def bert_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    if meta.get("attention.causal", False):
        raise ModelLoadError("A GGUF bert file with causal attention is not supported.")
    d_model, n_heads, n_kv_heads, d_head = attention_shape(meta)
    if n_kv_heads != n_heads:
        raise ModelLoadError(f"A bert file with {n_kv_heads} key/value heads for {n_heads} query heads is not "
                             "supported.")  # fmt: skip
    types = int(meta.key("tokenizer.ggml.token_type_count", 2)) if "token_types.weight" in tensor_names else 0
    return ModelConfig(
        name=name, arch="bert", n_layers=meta.count("block_count"), n_heads=n_heads, n_kv_heads=n_heads,
        d_model=d_model, d_head=d_head, d_mlp=meta.count("feed_forward_length"), d_vocab=meta.vocab_size(),
        n_ctx=meta.count("context_length"), causal=False, norm="layer",
        norm_eps=meta.number("attention.layer_norm_epsilon"), norm_position="post", act="gelu", gated_mlp=False,
        uses_rope=False, n_token_types=types, attn_bias=True, mlp_bias=True, tie_embeddings=True,
        display_name=str(meta.key("general.name", name)),
    )  # fmt: skip


def nomic_bert_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    cfg = bert_config(meta, name, tensor_names)
    if "blk.0.attn_qkv.bias" in tensor_names or "blk.0.ffn_up.bias" in tensor_names:
        raise ModelLoadError("A nomic-bert file with biases on q, k, v or its MLP is not supported yet.")
    rotary = meta.count("rope.dimension_count", cfg.d_head)
    return dataclasses.replace(
        cfg, arch="nomic_bert", uses_rope=True, rope_theta=meta.number("rope.freq_base", 1000.0),
        rotary_dim=rotary if rotary < cfg.d_head else None, act="silu", gated_mlp=True, attn_bias=False,
        mlp_bias=False,
    )  # fmt: skip


def jina_bert_v3_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    """XLM-RoBERTa's post-norm layers with RoPE; rope.freq_base as llama.cpp reads it (its default 10000 where the
    file has none; Jina's converted files say 20000)."""
    cfg = bert_config(meta, name, tensor_names)
    rotary = meta.count("rope.dimension_count", cfg.d_head)
    return dataclasses.replace(cfg, arch="jina_v3", uses_rope=True, rope_theta=meta.number("rope.freq_base", 10000.0),
                               rotary_dim=rotary if rotary < cfg.d_head else None)  # fmt: skip


def modern_bert_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    d_model, n_heads, n_kv_heads, d_head = attention_shape(meta)
    if n_kv_heads != n_heads:
        raise ModelLoadError(f"A modern-bert file with {n_kv_heads} key/value heads for {n_heads} query heads is not "
                             "supported.")  # fmt: skip
    n_layers, window = meta.count("block_count"), int(meta.get("attention.sliding_window", 0))
    sliding = sliding_layers(meta, n_layers, 3, global_first=True) if window > 0 else ()
    theta = meta.number("rope.freq_base", 10000.0)
    eps_key = "attention.layer_norm_epsilon" if meta.has("attention.layer_norm_epsilon") else \
        "attention.layer_norm_rms_epsilon"  # the LayerNorms' epsilon, under the key a converter found it by
    return ModelConfig(
        name=name, arch="modernbert", n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_heads, d_model=d_model,
        d_head=d_head, d_mlp=meta.count("feed_forward_length"), d_vocab=meta.vocab_size(),
        n_ctx=meta.count("context_length"), causal=False, norm="layer", norm_eps=meta.number(eps_key),
        norm_position="pre", act="gelu", gated_mlp=True, uses_rope=True, rope_theta=theta,
        rope_theta_local=meta.number("rope.freq_base_swa", 10000.0) if any(sliding) else None,  # llama.cpp's
        sliding_window=window // 2 + 1 if any(sliding) else None, sliding_layers=sliding if any(sliding) else (),
        tie_embeddings=True, skip_first_attn_norm="blk.0.attn_norm.weight" not in tensor_names,
        display_name=str(meta.key("general.name", name)),
    )  # fmt: skip


def modern_bert_weights(t: Tensors, cfg: ModelConfig) -> Weights:
    w: Weights = {"embed.W_E": _table(t, "token_embd.weight"), "embed.ln.w": t.vector("token_embd_norm.weight"),
                  "ln_final.w": t.vector("output_norm.weight")}  # fmt: skip
    width = cfg.n_heads * cfg.d_head
    for layer in range(cfg.n_layers):
        src, dst = f"blk.{layer}.", f"blocks.{layer}."
        if not (layer == 0 and cfg.skip_first_attn_norm):
            w[dst + "ln_attn.w"] = t.vector(src + "attn_norm.weight")
        _fused_qkv(t, w, dst + "attn", src + "attn_qkv", width, biased=False)
        w[dst + "attn.W_O"] = t.linear(src + "attn_output.weight")
        w[dst + "ln_mlp.w"] = t.vector(src + "ffn_norm.weight")
        up = src + "ffn_up.weight"
        activated, linear = split_rows(t.raw(up), [cfg.d_mlp] * 2, up)  # gelu(x·first) * (x·second)
        w[dst + "mlp.W_gate"], w[dst + "mlp.W_in"] = matrix(activated), matrix(linear)
        w[dst + "mlp.W_out"] = t.linear(src + "ffn_down.weight")
    t.skip(*_HEAD, "cls.norm.weight")  # a classifier's or masked-LM head's
    return w


def nomic_bert_weights(t: Tensors, cfg: ModelConfig) -> Weights:
    w = _embeddings(t, cfg)
    width = cfg.n_heads * cfg.d_head
    for layer in range(cfg.n_layers):
        src, dst = f"blk.{layer}.", f"blocks.{layer}."
        _fused_qkv(t, w, dst + "attn", src + "attn_qkv", width, biased=False)
        w[dst + "attn.W_O"] = t.linear(src + "attn_output.weight")
        if t.has(src + "attn_output.bias"):
            w[dst + "attn.b_O"] = t.vector(src + "attn_output.bias")
        _norm(t, w, dst + "ln_attn", src + "attn_output_norm")  # after attention's residual add (post-norm)
        for ours, theirs in (("W_in", "ffn_up"), ("W_gate", "ffn_gate"), ("W_out", "ffn_down")):
            w[f"{dst}mlp.{ours}"] = t.linear(f"{src}{theirs}.weight")
        _norm(t, w, dst + "ln_mlp", src + "layer_output_norm")
    return w


def _norm(t: Tensors, w: Weights, ours: str, theirs: str) -> None:
    w[ours + ".w"], w[ours + ".b"] = t.vector(theirs + ".weight"), t.vector(theirs + ".bias")


def _attention(t: Tensors, w: Weights, part: str, theirs: str, rows: int) -> None:
    """`part` (e.g. "blocks.0.attn.Q"): W ([in, out]) and b of a projection with `rows` outputs, checked against
    the header's shapes."""
    data = t.raw(theirs + ".weight")
    if data.shape[0] != rows:
        raise ModelLoadError(f"{theirs}.weight has {data.shape[0]} rows; the metadata implies {rows}.")
    prefix, which = part.rsplit(".", 1)
    w[f"{prefix}.W_{which}"], w[f"{prefix}.b_{which}"] = matrix(data), t.vector(theirs + ".bias")


def _fused_qkv(t: Tensors, w: Weights, prefix: str, theirs: str, width: int, biased: bool = True) -> None:
    """q, k and v from one tensor of rows q | k | v (each `width` wide), and, `biased`, their biases cut alike."""
    rows = split_rows(t.raw(theirs + ".weight"), [width] * 3, theirs + ".weight")
    for part, matrix_rows in zip("QKV", rows, strict=True):
        w[f"{prefix}.W_{part}"] = matrix(matrix_rows)
    if biased:
        for part, bias in zip("QKV", split_rows(t.raw(theirs + ".bias"), [width] * 3, theirs + ".bias"), strict=True):
            w[f"{prefix}.b_{part}"] = torch.from_numpy(bias.copy())


def _table(t: Tensors, name: str) -> torch.Tensor:
    """An embedding table as stored: one row per token, position or segment."""
    return torch.from_numpy(t.raw(name))


def _embeddings(t: Tensors, cfg: ModelConfig) -> Weights:
    """Token (and segment) embeddings and their LayerNorm; bert's learned positions (nomic-bert rotates instead)."""
    w: Weights = {"embed.W_E": _table(t, "token_embd.weight")}
    if cfg.arch == "bert":
        w["embed.W_pos"] = _table(t, "position_embd.weight")
    if cfg.n_token_types:
        w["embed.W_type"] = _table(t, "token_types.weight")
    _norm(t, w, "embed.ln", "token_embd_norm")
    return w


def bert_weights(t: Tensors, cfg: ModelConfig) -> Weights:
    w = _embeddings(t, cfg)
    width = cfg.n_heads * cfg.d_head
    for layer in range(cfg.n_layers):
        src, dst = f"blk.{layer}.", f"blocks.{layer}."
        if t.has(src + "attn_qkv.weight"):  # fused (jina-bert-v3; llama.cpp reads a bert file's so too)
            _fused_qkv(t, w, dst + "attn", src + "attn_qkv", width)
        else:
            for part in "qkv":
                _attention(t, w, f"{dst}attn.{part.upper()}", f"{src}attn_{part}", width)
        _attention(t, w, f"{dst}attn.O", f"{src}attn_output", cfg.d_model)
        _norm(t, w, dst + "ln_attn", src + "attn_output_norm")  # after attention's residual add (post-norm)
        w[dst + "mlp.W_in"], w[dst + "mlp.b_in"] = t.linear(src + "ffn_up.weight"), t.vector(src + "ffn_up.bias")
        w[dst + "mlp.W_out"] = t.linear(src + "ffn_down.weight")
        w[dst + "mlp.b_out"] = t.vector(src + "ffn_down.bias")
        _norm(t, w, dst + "ln_mlp", src + "layer_output_norm")
    t.skip(*_HEAD)
    return w
