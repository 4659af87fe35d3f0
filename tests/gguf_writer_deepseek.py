"""Tiny `deepseek2` GGUF files from the tiny transformers DeepSeek models (tests/tiny_models_latent.py), laid out as
llama.cpp's convert_hf_to_gguf.py (DeepseekV2Model) writes them: the experts stacked, V3's correction bias as
exp_probs_b.bias, MLA's kv_b split into k_b (transposed per head) and v_b with the heads' widths in the *_mla keys and
head_count_kv 1 (`split_kv`, today's converter), or kept whole with the widths in key_length / value_length and
head_count_kv = the heads (older files, as Ollama's deepseek-v2 and deepseek-coder-v2); no rows permuted; yarn's
log multiplier written as 0.1·mscale_all_dim. A `mistral4` file (Mistral4Model: deepseek2's writer) keeps the experts
as transformers 5 stacks them, gate and up fused in ffn_gate_up_exps (rows gate | up), and kv_b split."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.gguf_writer import _split_experts, _tokenizer, finish
from tests.gguf_writer_gpt_oss import fused_gate_up


def _metadata(w, cfg, split_kv: bool, sigmoid: bool) -> None:
    import gguf

    nope, rope, r = cfg.qk_nope_head_dim, cfg.qk_rope_head_dim, cfg.kv_lora_rank
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(1 if split_kv else cfg.num_attention_heads)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_freq_base(float(cfg.rope_parameters.get("rope_theta", 10000.0)))
    w.add_rope_dimension_count(rope)
    w.add_vocab_size(cfg.vocab_size)
    if cfg.q_lora_rank is not None:
        w.add_q_lora_rank(cfg.q_lora_rank)
    w.add_kv_lora_rank(r)
    if split_kv:
        w.add_key_length(r + rope)
        w.add_value_length(r)
        w.add_key_length_mla(nope + rope)
        w.add_value_length_mla(cfg.v_head_dim)
    else:
        w.add_key_length(nope + rope)
        w.add_value_length(cfg.v_head_dim)
    w.add_leading_dense_block_count(cfg.first_k_dense_replace)
    w.add_expert_feed_forward_length(cfg.moe_intermediate_size)
    w.add_expert_count(cfg.n_routed_experts)
    w.add_expert_used_count(cfg.num_experts_per_tok)
    w.add_expert_shared_count(cfg.n_shared_experts)
    w.add_expert_weights_scale(cfg.routed_scaling_factor)
    if cfg.norm_topk_prob:
        w.add_expert_weights_norm(True)
    if sigmoid:  # V3: the hub config's scoring_func "sigmoid"; V2's older files carry no gating at all
        w.add_expert_gating_func(gguf.ExpertGatingFuncType.SIGMOID)
    if (cfg.n_group or 1) > 1 and (sigmoid or getattr(cfg, "topk_method", "") == "group_limited_greedy"):
        w.add_expert_group_count(cfg.n_group)
        w.add_expert_group_used_count(cfg.topk_group)
    rope_rule = cfg.rope_parameters
    if rope_rule.get("rope_type") == "yarn":  # as TextModel writes it, then DeepseekV2Model's log multiplier
        w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        w.add_rope_scaling_factor(rope_rule["factor"])
        w.add_rope_scaling_orig_ctx_len(rope_rule["original_max_position_embeddings"])
        w.add_rope_scaling_yarn_log_mul(0.1 * rope_rule["mscale_all_dim"])


def _tensors(hf, split_kv: bool, arch: str = "deepseek2") -> dict[str, np.ndarray]:
    import gguf

    cfg = hf.config
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.MISTRAL4 if arch == "mistral4" else gguf.MODEL_ARCH.DEEPSEEK2,
                                     cfg.num_hidden_layers)  # fmt: skip
    H, nope, v = cfg.num_attention_heads, cfg.qk_nope_head_dim, cfg.v_head_dim
    tensors = {}
    for hf_name, tensor in _split_experts(hf.state_dict(), "deepseek2"):
        data = tensor.detach().float().numpy()
        hf_name = hf_name.replace("e_score_correction_bias", "e_score_correction.bias")
        base, suffix = hf_name.rsplit(".", 1)
        if "rotary_emb" in base:
            continue
        if split_kv and base.endswith("kv_b_proj"):  # (H·(nope + v), rank) → k_b (H, rank, nope), v_b (H, v, rank)
            per_head = data.reshape(H, nope + v, -1)
            parts = {"k_b_proj": per_head[:, :nope].transpose(0, 2, 1), "v_b_proj": per_head[:, nope:]}
            for part, values in parts.items():
                tensors[f"{names.get_name(base.replace('kv_b_proj', part))}.{suffix}"] = np.ascontiguousarray(values)
            continue
        gguf_name = names.get_name(base)
        if gguf_name is None:
            raise KeyError(f"gguf's deepseek2 name map has no entry for {hf_name}")
        tensors[f"{gguf_name}.{suffix}"] = np.ascontiguousarray(data, dtype=np.float32)
    return fused_gate_up(tensors) if arch == "mistral4" else tensors


def write_deepseek_gguf(hf, tokenizer, path: Path, split_kv: bool = True, qtype=None, arch: str = "deepseek2") -> Path:
    """`hf` (a tiny transformers DeepSeek-V2 or V3; Mistral 4 with `arch` "mistral4") and its byte-level BPE
    `tokenizer` as a deepseek2 (mistral4) GGUF file."""
    import gguf

    w = gguf.GGUFWriter(str(path), arch)
    w.add_name(f"tiny-{hf.config.model_type}")
    _metadata(w, hf.config, split_kv, sigmoid=hf.config.model_type == "deepseek_v3")
    _tokenizer(w, tokenizer)
    return finish(w, path, _tensors(hf, split_kv, arch), qtype, rng=np.random.default_rng(0))


def write_glm4moe_gguf(hf, tokenizer, path: Path, nextn: bool = True, arch: str = "glm4moe") -> Path:
    """`hf` (a tiny transformers GLM-4.5) and its byte-level BPE `tokenizer` as llama.cpp's converter writes a glm4moe
    file (Glm4MoeModel): rows as Hugging Face's, V3's correction bias as exp_probs_b.bias, the experts stacked, a
    sigmoid gating, no expert groups; `nextn`: one more block after the model's, as GLM-4.5's multi-token prediction
    layer is written (block_count counts it; its own nextn.* tensors beside a whole layer's), random, never run.
    arch "dots1": a dots.llm1 as llama.cpp's Dots1Model writes it, the same keys and names (its heads rotate
    whole), without a prediction layer."""
    import gguf

    cfg = hf.config
    n_layers = cfg.num_hidden_layers
    nextn = nextn and arch == "glm4moe"
    rotated = cfg.rope_parameters.get("partial_rotary_factor", 0.5 if arch == "glm4moe" else 1.0)  # GLM's default
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name(f"tiny-{arch}")
    for add, value in [
        (w.add_context_length, cfg.max_position_embeddings), (w.add_embedding_length, cfg.hidden_size),
        (w.add_block_count, n_layers + nextn), (w.add_feed_forward_length, cfg.intermediate_size),
        (w.add_head_count, cfg.num_attention_heads), (w.add_head_count_kv, cfg.num_key_value_heads),
        (w.add_key_length, cfg.head_dim), (w.add_value_length, cfg.head_dim),
        (w.add_layer_norm_rms_eps, cfg.rms_norm_eps), (w.add_vocab_size, cfg.vocab_size),
        (w.add_rope_freq_base, float(cfg.rope_parameters.get("rope_theta", 10000.0))),
        (w.add_rope_dimension_count, int(cfg.head_dim * rotated)),
        (w.add_leading_dense_block_count, cfg.first_k_dense_replace),
        (w.add_expert_feed_forward_length, cfg.moe_intermediate_size), (w.add_expert_count, cfg.n_routed_experts),
        (w.add_expert_used_count, cfg.num_experts_per_tok), (w.add_expert_shared_count, cfg.n_shared_experts),
        (w.add_expert_weights_scale, cfg.routed_scaling_factor), (w.add_expert_weights_norm, cfg.norm_topk_prob),
        (w.add_expert_gating_func, gguf.ExpertGatingFuncType.SIGMOID),
        *([(w.add_nextn_predict_layers, int(nextn))] if arch == "glm4moe" else []),
    ]:  # fmt: skip
        add(value)
    _tokenizer(w, tokenizer)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GLM4_MOE if arch == "glm4moe" else gguf.MODEL_ARCH.DOTS1,
                                     n_layers + 1)
    tensors = {}
    for hf_name, tensor in _split_experts(hf.state_dict(), "glm4moe"):
        base, suffix = hf_name.replace("e_score_correction_bias", "e_score_correction.bias").rsplit(".", 1)
        if "rotary_emb" not in base:
            tensors[f"{names.get_name(base)}.{suffix}"] = np.ascontiguousarray(tensor.detach().float().numpy())
    if nextn:  # the prediction layer: a copy of the last block's shapes with random values, and its own parts
        rng = np.random.default_rng(1)
        last = f"blk.{n_layers - 1}."
        for name, data in list(tensors.items()):
            if name.startswith(last):
                tensors[name.replace(last, f"blk.{n_layers}.")] = rng.normal(0, 1, data.shape).astype(np.float32)
        d = cfg.hidden_size
        for part, shape in (("eh_proj", (d, 2 * d)), ("enorm", (d,)), ("hnorm", (d,)), ("shared_head_norm", (d,))):
            tensors[f"blk.{n_layers}.nextn.{part}.weight"] = rng.normal(0, 1, shape).astype(np.float32)
    return finish(w, path, tensors, rng=np.random.default_rng(0))


def write_minicpm3_gguf(hf, tokenizer, path: Path) -> Path:
    """`hf` (a tiny transformers MiniCPM3) and its byte-level BPE `tokenizer` as llama.cpp's converter writes a
    minicpm3 file (MiniCPM3Model): its own keys only (no value width, RoPE base, scales or original context), kv_b
    whole, no rows permuted, LongRoPE's factors as rope_factors_long / rope_factors_short."""
    import gguf

    cfg = hf.config
    w = gguf.GGUFWriter(str(path), "minicpm3")
    w.add_name("tiny-minicpm3")
    for add, value in [
        (w.add_context_length, cfg.max_position_embeddings), (w.add_embedding_length, cfg.hidden_size),
        (w.add_block_count, cfg.num_hidden_layers), (w.add_feed_forward_length, cfg.intermediate_size),
        (w.add_head_count, cfg.num_attention_heads), (w.add_head_count_kv, cfg.num_key_value_heads),
        (w.add_layer_norm_rms_eps, cfg.rms_norm_eps), (w.add_vocab_size, cfg.vocab_size),
        (w.add_q_lora_rank, cfg.q_lora_rank), (w.add_kv_lora_rank, cfg.kv_lora_rank),
        (w.add_key_length, cfg.qk_nope_head_dim + cfg.qk_rope_head_dim),
        (w.add_rope_dimension_count, cfg.qk_rope_head_dim),
    ]:  # fmt: skip
        add(value)
    _tokenizer(w, tokenizer)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.MINICPM3, cfg.num_hidden_layers)
    tensors = {}
    rope = cfg.rope_parameters
    if rope.get("short_factor"):
        tensors["rope_factors_long.weight"] = np.asarray(rope["long_factor"], dtype=np.float32)
        tensors["rope_factors_short.weight"] = np.asarray(rope["short_factor"], dtype=np.float32)
    for hf_name, tensor in hf.state_dict().items():
        base, suffix = hf_name.rsplit(".", 1)
        if "rotary_emb" not in base:
            tensors[f"{names.get_name(base)}.{suffix}"] = np.ascontiguousarray(tensor.detach().float().numpy())
    return finish(w, path, tensors, rng=np.random.default_rng(0))
