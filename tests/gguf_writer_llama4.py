"""A transformers Llama 4 written as llama.cpp's Llama4Model converter writes it (tests/gguf_writer.py's helpers write
the file): the language model's names with "language_model." dropped and the vision tower left out; W_Q and W_K
rows as they are (no permutation); the experts' stacked gate_up_proj [E, d_model, 2·d_mlp] turned to
[E, 2·d_mlp, d_model] and split into gate and up, down_proj turned likewise; intermediate_size_mlp as
feed_forward_length and intermediate_size as expert_feed_forward_length; llama3 RoPE scaling as rope_freqs.
`ollama_keys` adds the two keys Ollama's converter writes besides (use_qk_norm, attention.chunk_size)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def llama4_tensors(hf) -> dict[str, np.ndarray]:
    import gguf

    cfg = hf.config.get_text_config()
    arch = {v: k for k, v in gguf.MODEL_ARCH_NAMES.items()}["llama4"]
    names = gguf.get_tensor_name_map(arch, cfg.num_hidden_layers)
    out = {}
    for name, tensor in hf.state_dict().items():
        if "vision_model" in name or "multi_modal_projector" in name:
            continue
        name, data = name.removeprefix("language_model."), tensor.detach().float()
        parts = [(name, data)]
        if name.endswith("experts.gate_up_proj"):  # [E, d_model, 2·d_mlp] → gate, up: [E, d_mlp, d_model] each
            gate, up = data.transpose(-1, -2).chunk(2, dim=-2)
            parts = [(name.replace("gate_up_proj", "gate_proj.weight"), gate),
                     (name.replace("gate_up_proj", "up_proj.weight"), up)]  # fmt: skip
        elif name.endswith("experts.down_proj"):  # [E, d_mlp, d_model] → [E, d_model, d_mlp]
            parts = [(name + ".weight", data.transpose(-1, -2))]
        for part, value in parts:
            base, suffix = part.rsplit(".", 1)
            out[f"{names.get_name(base)}.{suffix}"] = np.ascontiguousarray(value.numpy(), dtype=np.float32)
    return out


def write_llama4_gguf(hf, tokenizer, path: Path, ollama_keys: bool = False, qtype=None) -> Path:
    import gguf

    from tests.engine.test_rope_scaling import llama_cpp_rope_freqs
    from tests.gguf_writer import _tokenizer, finish, rope_decoder_shape

    cfg = hf.config.get_text_config()
    w = gguf.GGUFWriter(str(path), "llama4")
    w.add_name("tiny-llama4")
    rope_decoder_shape(w, cfg, cfg.intermediate_size_mlp)
    w.add_expert_feed_forward_length(cfg.intermediate_size)
    rope = cfg.rope_parameters
    w.add_expert_count(cfg.num_local_experts)
    w.add_expert_used_count(cfg.num_experts_per_tok)
    w.add_interleave_moe_layer_step(cfg.interleave_moe_layer_step)
    if ollama_keys:
        w.add_bool("llama4.use_qk_norm", bool(cfg.use_qk_norm))
        w.add_uint32("llama4.attention.chunk_size", cfg.attention_chunk_size)
    _tokenizer(w, tokenizer)
    tensors = llama4_tensors(hf)
    if rope.get("rope_type") == "llama3":
        tensors["rope_freqs.weight"] = llama_cpp_rope_freqs(rope, rope["rope_theta"], cfg.head_dim)
    return finish(w, path, tensors, qtype, rng=np.random.default_rng(0))
