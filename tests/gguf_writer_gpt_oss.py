"""GPT-OSS's tensors as llama.cpp's GptOssModel converter writes a dequantised (bfloat16 or float32) checkpoint
(tests/gguf_writer.py writes the file): the sinks get a ".weight"; the experts, stacked [n_experts, in, out] with
gate and up interleaved in one tensor, are turned to (out, in) and split into gate_proj and up_proj (even and odd
rows), their biases alike; down_proj turned to (out, in). Newer converters can fuse gate and up again as
ffn_gate_up_exps, rows gate | up (`fused_gate_up`)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np


def gpt_oss_names(state: dict) -> Iterator[tuple[str, object]]:
    for name, tensor in state.items():
        if name.endswith("self_attn.sinks"):
            yield name + ".weight", tensor
        elif name.endswith("experts.gate_up_proj"):  # [E, d_model, 2·d_mlp]: gate, up, gate, up, …
            turned = tensor.transpose(-1, -2)  # [E, 2·d_mlp, d_model]
            yield name.replace("gate_up_proj", "gate_proj.weight"), turned[:, ::2]
            yield name.replace("gate_up_proj", "up_proj.weight"), turned[:, 1::2]
        elif name.endswith("experts.gate_up_proj_bias"):  # [E, 2·d_mlp]
            yield name.replace("gate_up_proj_bias", "gate_proj.bias"), tensor[..., ::2]
            yield name.replace("gate_up_proj_bias", "up_proj.bias"), tensor[..., 1::2]
        elif name.endswith("experts.down_proj"):  # [E, d_mlp, d_model]
            yield name + ".weight", tensor.transpose(-1, -2)
        elif name.endswith("experts.down_proj_bias"):
            yield name.replace("down_proj_bias", "down_proj.bias"), tensor
        else:
            yield name, tensor


def fused_gate_up(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each block's ffn_gate_exps and ffn_up_exps (weights and biases) as one ffn_gate_up_exps, gate first."""
    out = {}
    for name, data in tensors.items():
        if re.search(r"ffn_(gate|up)_exps", name) is None:
            out[name] = data
        elif "ffn_gate_exps" in name:
            up, rows = tensors[name.replace("ffn_gate_exps", "ffn_up_exps")], -2 if data.ndim == 3 else -1
            out[name.replace("ffn_gate_exps", "ffn_gate_up_exps")] = np.concatenate([data, up], axis=rows)
    return out


# Hugging Face → Ollama's names (its convert_gptoss.go, for a Hugging Face checkpoint), applied in turn to the names
# gpt_oss_names gives.
OLLAMA_NAMES = (
    ("self_attn.sinks.weight", "attn_sinks"), ("lm_head", "output"), ("model.embed_tokens", "token_embd"),
    ("model.norm", "output_norm"), ("model.layers", "blk"), ("input_layernorm", "attn_norm"),
    ("self_attn.q_proj", "attn_q"), ("self_attn.k_proj", "attn_k"), ("self_attn.v_proj", "attn_v"),
    ("self_attn.o_proj", "attn_out"), ("post_attention_layernorm", "ffn_norm"), ("mlp.router", "ffn_gate_inp"),
    ("mlp.experts.gate_proj", "ffn_gate_exps"), ("mlp.experts.up_proj", "ffn_up_exps"),
    ("mlp.experts.down_proj", "ffn_down_exps"),
)  # fmt: skip


def _ollama_tensors(hf, fused_qkv: bool) -> dict[str, np.ndarray]:
    tensors = {}
    for name, tensor in gpt_oss_names(hf.state_dict()):
        for theirs, ollamas in OLLAMA_NAMES:
            name = name.replace(theirs, ollamas)
        tensors[name] = np.ascontiguousarray(tensor.detach().float().numpy())
    if fused_qkv:  # as converted from OpenAI's own checkpoint layout: one attn_qkv, rows q | k | v
        for name in [n for n in tensors if ".attn_q." in n]:
            parts = [tensors.pop(name.replace("attn_q", f"attn_{p}")) for p in "qkv"]
            tensors[name.replace("attn_q", "attn_qkv")] = np.concatenate(parts)
    return tensors


def write_ollama_gptoss(hf, tokenizer, path, experts_qtype=None, fused_qkv: bool = False):
    """`hf` (a transformers GptOss) as Ollama's converter writes it: architecture 'gptoss', its names (attn_out,
    attn_sinks without ".weight", ffn_norm), no rope.scaling.type (its GPT-OSS is always YaRN) and
    tokenizer.ggml.pre 'default' (what it writes for o200k's tokenizer)."""
    import gguf

    from tests.gguf_writer import _tokenizer, finish

    cfg, rope = hf.config, hf.config.rope_parameters
    w = gguf.GGUFWriter(str(path), "gptoss")
    w.add_name("tiny-gptoss")
    w.add_context_length(cfg.max_position_embeddings)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_embedding_length(cfg.hidden_size)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_expert_count(cfg.num_local_experts)
    w.add_expert_used_count(cfg.num_experts_per_tok)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_key_length(cfg.head_dim)
    w.add_value_length(cfg.head_dim)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_sliding_window(cfg.sliding_window)
    w.add_rope_freq_base(rope["rope_theta"])
    w.add_rope_scaling_factor(rope["factor"])
    w.add_rope_scaling_orig_ctx_len(rope["original_max_position_embeddings"])
    _tokenizer(w, tokenizer, pre="default")
    return finish(w, path, _ollama_tensors(hf, fused_qkv), experts_qtype=experts_qtype)
