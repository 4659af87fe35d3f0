"""Tiny GGUF files for tests, written the way llama.cpp's convert_hf_to_gguf.py lays them out.

From a Hugging Face model: tensor names from gguf-py's own name map (the one llama.cpp and transformers'
GGUF loader use), llama's Q/K rows permuted for llama.cpp's interleaved RoPE, GPT-2's Conv1D weights
transposed to (out, in), Gemma's RMSNorm weights stored as 1 + w, the metadata keys llama.cpp writes, and
the tokenizer as tokenizer.ggml.* fields (byte-level BPE, llama.cpp's 'gpt2' tokenizer model).

gguf-py can quantise Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and BF16 but not the K-quants: `quantize_q4_k` here writes
Q4_K blocks in gguf-py's block layout (tests check that they round-trip through gguf.quants.dequantize).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from tests.gguf_writer_gpt_oss import fused_gate_up, gpt_oss_names

QK_K = 256  # elements in a K-quant super-block

# ── Q4_K ─────────────────────────────────────────────────────────────────────────────────────────────


def quantize_q4_k(data: np.ndarray) -> np.ndarray:
    """float32 rows (last axis a multiple of 256) → Q4_K bytes, shape (..., n_blocks * 144).

    A 256-value super-block holds f16 d and dmin, eight 6-bit (scale, min) pairs packed into 12 bytes, and
    128 bytes of 4-bit values; value = d * scale_j * q - dmin * min_j for sub-block j of 32 values.
    """
    shape = data.shape
    x = data.reshape(-1, 8, 32).astype(np.float32)  # (n_blocks, sub-block, value)
    lo = np.minimum(x.min(axis=-1), 0.0)  # the offset is -dmin * min ≤ 0
    step = (x.max(axis=-1) - lo) / 15.0  # (n_blocks, 8)
    d = (step.max(axis=-1) / 63.0).astype(np.float16)  # (n_blocks,)
    dmin = ((-lo).max(axis=-1) / 63.0).astype(np.float16)
    d32, dmin32 = d.astype(np.float32)[:, None], dmin.astype(np.float32)[:, None]
    sc = np.clip(np.round(np.divide(step, d32, out=np.zeros_like(step), where=d32 > 0)), 0, 63).astype(np.uint8)
    mn = np.clip(np.round(np.divide(-lo, dmin32, out=np.zeros_like(lo), where=dmin32 > 0)), 0, 63).astype(np.uint8)
    scale = (d32 * sc)[..., None]  # (n_blocks, 8, 1)
    offset = (dmin32 * mn)[..., None]
    q = np.clip(np.round(np.divide(x + offset, scale, out=np.zeros_like(x), where=scale > 0)), 0, 15).astype(np.uint8)
    # 12 scale bytes as three rows of 4: low 6 bits of scales 0-3 | top 2 bits of scales 4-7, the same for
    # mins, then the low 4 bits of scales 4-7 and mins 4-7 (gguf.quants.Q4_K.get_scale_min reads it back).
    packed = np.concatenate(
        [
            sc[:, :4] | ((sc[:, 4:] >> 4) << 6),
            mn[:, :4] | ((mn[:, 4:] >> 4) << 6),
            (sc[:, 4:] & 0xF) | ((mn[:, 4:] & 0xF) << 4),
        ],
        axis=-1,
    )
    qs = q.reshape(-1, 4, 2, 32)  # sub-blocks 2g and 2g+1 share 32 bytes: low and high nibbles
    qs = qs[:, :, 0] | (qs[:, :, 1] << 4)  # (n_blocks, 4, 32)
    blocks = np.concatenate(
        [d.view(np.uint8).reshape(-1, 2), dmin.view(np.uint8).reshape(-1, 2), packed, qs.reshape(-1, 128)], axis=-1
    )
    return blocks.reshape(*shape[:-1], shape[-1] // QK_K * 144)


# Q2_K, Q3_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS: no quantiser here or in gguf-py. Their tensors are random blocks whose
# f16 scale fields are set so that values come out centred on 0 with a spread of about 0.15: the file's weights are
# then what those blocks decode to, and a parity test compares both readers on them. Per type: (byte offset, value)
# of each f16 field. Q5_K: value = d * scale * q - dmin * min (6-bit scale and min, 5-bit q), so dmin = 15.5 d
# centres it; Q2_K: the same with 4-bit scale and min and 2-bit q (d, dmin at bytes 80, 82), so dmin = 1.5 d; Q6_K:
# value = d * scale * (q - 32) (int8 scale, 6-bit q) and Q3_K: d * (scale - 32) * q (6-bit scale, q in -4..3; d at
# byte 108) are centred already, as are IQ4_NL (d · a table from -127 to 113) and IQ4_XS (d · (scale - 32) · it).
RANDOM_BLOCKS = {"Q5_K": ((0, 3e-4), (2, 15.5 * 3e-4)), "Q6_K": ((208, 1.5e-4),), "Q2_K": ((80, 0.01), (82, 0.015)),
                 "Q3_K": ((108, 3.5e-3),), "IQ4_NL": ((0, 2e-3),), "IQ4_XS": ((0, 1e-4),)}  # fmt: skip


def random_blocks(shape: tuple[int, int], qtype, rng: np.random.Generator) -> np.ndarray:
    import gguf

    block, size = gguf.GGML_QUANT_SIZES[qtype]
    blocks = rng.integers(0, 256, (shape[0] * shape[1] // block, size), dtype=np.uint8)
    for offset, value in RANDOM_BLOCKS[qtype.name]:
        blocks[:, offset : offset + 2] = np.full((len(blocks), 1), value, np.float16).view(np.uint8)
    return blocks.reshape(shape[0], -1)


def quantize(data: np.ndarray, qtype, rng: np.random.Generator) -> np.ndarray:
    import gguf

    if qtype.name in RANDOM_BLOCKS:
        return random_blocks(data.shape, qtype, rng)
    if qtype == gguf.GGMLQuantizationType.Q4_K:
        return quantize_q4_k(data)
    return gguf.quants.quantize(data, qtype)


def can_quantize(data: np.ndarray, qtype) -> bool:
    """llama.cpp quantises matrices whose rows split into whole blocks; vectors stay float32."""
    import gguf

    block = gguf.GGML_QUANT_SIZES[qtype][0]
    return data.ndim == 2 and data.shape[-1] % block == 0


# ── the file ─────────────────────────────────────────────────────────────────────────────────────────


def mamba2_as_llama_cpp(base: str, suffix: str, data: np.ndarray, groups: int) -> np.ndarray:
    """A Mamba-2 mixer's tensor (Hugging Face name `base`.`suffix`) as llama.cpp's Mamba2Model converter writes it:
    the conv kernel squeezed to (width, L), A = −exp(A_log) and D as (heads, 1), the gated norm's weight as (groups,
    width / groups); any other tensor as it is."""
    if base.endswith("conv1d") and suffix == "weight":
        return data[:, 0, :]
    if base.endswith(".A_log"):
        return -np.exp(data)[:, None]
    if base.endswith(".D"):
        return data[:, None]
    if base.endswith(("mamba.norm", "mixer.norm")):
        return data.reshape(groups, -1)
    return data


def mamba2_hybrid_tensor(names, base: str, suffix: str, data: np.ndarray, groups: int, heads: tuple[int, int]):
    """(GGUF name, float32 array) of one tensor of a Mamba-2 hybrid (Granite 4 H, Nemotron-H) as llama.cpp's converter
    writes it: mamba2_as_llama_cpp's reshapes, q and k rows permuted as a llama file's (heads: query, key/value),
    renamed by the architecture's tensor map `names`."""
    data = mamba2_as_llama_cpp(base, suffix, data, groups)
    if base.endswith(("q_proj", "k_proj")):
        data = permute_rope_rows(data, heads[0] if base.endswith("q_proj") else heads[1])
    mapped = names.get_name(base)
    assert mapped is not None, base
    return (f"{mapped}.{suffix}" if suffix else mapped), np.ascontiguousarray(data, dtype=np.float32)


def stacked_experts_as_llama_cpp(hf_name: str, data, out: dict) -> bool:
    """Experts stacked as transformers 5 holds them ((n, out, in) experts.gate_up_proj: gate rows, then up; and
    experts.down_proj) written into `out` as llama.cpp's ffn_gate_exps, ffn_up_exps and ffn_down_exps; whether
    hf_name was such a tensor."""
    if ".experts.gate_up_proj" not in hf_name and ".experts.down_proj" not in hf_name:
        return False
    layer = hf_name.split(".")[2]
    if hf_name.endswith("gate_up_proj"):
        gate, up = data.chunk(2, dim=1)
        out[f"blk.{layer}.ffn_gate_exps.weight"], out[f"blk.{layer}.ffn_up_exps.weight"] = gate, up
    else:
        out[f"blk.{layer}.ffn_down_exps.weight"] = data
    return True


def permute_rope_rows(w: np.ndarray, n_heads: int) -> np.ndarray:
    """llama.cpp's llama converter: each head's rows (half, i) reordered to (i, half) for its GPT-J rotation."""
    return w.reshape(n_heads, 2, w.shape[0] // n_heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


# llama.cpp's llama converter's rule (its Ministral3Model is a LlamaModel)
PERMUTED = ("llama", "granite", "granitemoe", "smollm3", "olmo", "arcee", "mistral3", "internlm2", "minicpm")


def _tensor_data(arch: str, hf_name: str, data: np.ndarray, cfg) -> np.ndarray:
    if arch in PERMUTED and hf_name.endswith(("q_proj.weight", "q_proj.bias")):
        return permute_rope_rows(data, cfg.num_attention_heads)
    if arch in PERMUTED and hf_name.endswith(("k_proj.weight", "k_proj.bias")):
        return permute_rope_rows(data, cfg.num_key_value_heads)
    if arch in ("bloom", "gptneox") and "query_key_value" in hf_name:  # llama.cpp: head by head → q | k | v blocks
        heads = cfg.n_head if arch == "bloom" else cfg.num_attention_heads
        return data.reshape(heads, 3, -1, *data.shape[1:]).swapaxes(0, 1).reshape(data.shape)
    if arch == "falcon" and "query_key_value" in hf_name:  # llama.cpp: kv groups (q…, k, v) → q | k | v blocks
        kv, per = _falcon_kv_heads(cfg), cfg.num_attention_heads // _falcon_kv_heads(cfg)
        groups = data.reshape(kv, per + 2, -1, data.shape[-1])
        parts = groups[:, :-2], groups[:, -2:-1], groups[:, -1:]  # each group's query heads, its key, its value
        return np.concatenate([part.reshape(-1, data.shape[-1]) for part in parts])
    if arch == "gpt2" and hf_name.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight")):
        return data.T  # Conv1D is [in, out]; GGUF matrices are (out, in)
    if arch in ("gemma", "gemma2", "gemma3", "gemma-embedding", "nemotron") and hf_name.endswith("norm.weight"):
        return data + 1.0  # llama.cpp stores Gemma's RMSNorm scale and Nemotron's LayerNorm1P weight as 1 + w
    return data


# llama.cpp writes their LayerNorm's epsilon, not an RMS one
def _falcon_kv_heads(cfg) -> int:
    """Falcon 7B: one key/value head (multi_query); 40B and later (new_decoder_architecture): num_kv_heads."""
    return cfg.num_kv_heads if cfg.new_decoder_architecture else (1 if cfg.multi_query else cfg.num_attention_heads)


LAYERNORM_ARCHS = ("phi2", "stablelm", "starcoder2", "command-r", "cohere2", "falcon", "gptneox", "nemotron", "jais2")


def _metadata(w, arch: str, cfg) -> None:
    if arch in ("gpt2", "bloom", "starcoder"):
        width = cfg.hidden_size if arch == "bloom" else cfg.n_embd
        w.add_context_length(2048 if arch == "bloom" else cfg.n_positions)
        w.add_embedding_length(width)
        w.add_block_count(cfg.n_layer)
        w.add_feed_forward_length(getattr(cfg, "n_inner", None) or 4 * width)
        w.add_head_count(cfg.n_head)
        w.add_head_count_kv(1 if getattr(cfg, "multi_query", False) else cfg.n_head)  # StarCoder 1: one
        w.add_layer_norm_eps(cfg.layer_norm_epsilon)
        return
    if arch == "mpt":  # llama.cpp's MPTModel: its config's own names, ε 1e-5 whatever it says, ALiBi's bias max
        w.add_context_length(cfg.max_seq_len)
        w.add_embedding_length(cfg.d_model)
        w.add_block_count(cfg.n_layers)
        w.add_feed_forward_length(4 * cfg.d_model)
        w.add_head_count(cfg.n_heads)
        w.add_layer_norm_eps(1e-5)
        w.add_max_alibi_bias(cfg.attn_config.alibi_bias_max)
        return
    if arch in ("bert", "nomic-bert"):  # an encoder: post-norm LayerNorms, learned positions (or RoPE) and segments
        w.add_causal_attention(False)
        w.add_token_type_count(cfg.type_vocab_size)
    falcon = arch == "falcon"  # its config's own names
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    w.add_context_length(2048 if falcon else cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.ffn_hidden_size if falcon else cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    kv_heads = {"falcon": _falcon_kv_heads, "bert": lambda c: c.num_attention_heads,
                "nomic-bert": lambda c: c.num_attention_heads, "gptneox": lambda c: c.num_attention_heads}.get(arch)
    w.add_head_count_kv(kv_heads(cfg) if kv_heads else cfg.num_key_value_heads)
    if arch == "olmo":  # llama.cpp's olmo converter: its LayerNorms' fixed epsilon, and clip_qkv where set
        w.add_layer_norm_eps(1e-5)
        if getattr(cfg, "clip_qkv", None) is not None:
            w.add_clamp_kqv(float(cfg.clip_qkv))
    elif arch in LAYERNORM_ARCHS or arch in ("bert", "nomic-bert"):
        names = ("layer_norm_eps", "layer_norm_epsilon", "norm_epsilon", "norm_eps")
        w.add_layer_norm_eps(next(getattr(cfg, n) for n in names if getattr(cfg, n, None) is not None))
    else:
        w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    rope = getattr(cfg, "rope_parameters", None) or {}
    rope = rope.get("full_attention", rope)  # Gemma 3 keeps one set per attention type
    theta = float(rope.get("rope_theta", getattr(cfg, "rope_theta", 10000.0)))
    if rope.get("rope_type") == "dynamic" and rope.get("alpha"):  # llama.cpp's HunYuan converter: the stretched base
        theta *= rope["alpha"] ** (head_dim / (head_dim - 2))
    w.add_rope_freq_base(theta)
    partial = rope.get("partial_rotary_factor") or getattr(cfg, "partial_rotary_factor", None) or 1.0
    w.add_rope_dimension_count(int(head_dim * partial))
    if head_dim != cfg.hidden_size // cfg.num_attention_heads or arch.startswith("gemma") or arch == "qwen3":
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
    if arch in ("gemma2", "gemma3", "gemma-embedding"):
        w.add_sliding_window(cfg.sliding_window)
    if arch in ("olmo2", "exaone4") and getattr(cfg, "sliding_window", None):  # OLMo 3, EXAONE 4's hybrids, as
        # llama.cpp's Olmo2Model and Exaone4Model write them
        w.add_sliding_window(cfg.sliding_window)
        w.add_sliding_window_pattern([t == "sliding_attention" for t in cfg.layer_types])
    if rope.get("rope_type") == "yarn":  # llama.cpp's TextModel: type, factor, the original context (and betas)
        import gguf

        w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        w.add_rope_scaling_factor(rope["factor"])
        w.add_rope_scaling_orig_ctx_len(rope["original_max_position_embeddings"])
    if arch == "mistral3":  # llama.cpp's Ministral3Model: mscale_all_dim as the log multiplier, Llama 4's β
        w.add_rope_scaling_yarn_log_mul(rope["mscale_all_dim"])
        w.add_attn_temperature_scale(rope["llama_4_scaling_beta"])
    if getattr(cfg, "num_experts_per_tok", None):  # a mixture of experts
        w.add_expert_count(getattr(cfg, "num_experts", None) or cfg.num_local_experts)
        w.add_expert_used_count(cfg.num_experts_per_tok)
        if getattr(cfg, "moe_intermediate_size", None):
            w.add_expert_feed_forward_length(cfg.moe_intermediate_size)
    if arch == "ernie4_5-moe":  # llama.cpp's Ernie4_5MoeModel: where the mixtures are, and the shared experts
        w.add_interleave_moe_layer_step(cfg.moe_layer_interval)
        w.add_leading_dense_block_count(cfg.moe_layer_start_index)
        w.add_expert_shared_count(cfg.moe_num_shared_experts)
        w.add_expert_shared_feed_forward_length(cfg.intermediate_size // cfg.num_key_value_heads)  # as it writes it
    if arch in ("qwen3vl", "qwen3vlmoe", "qwen2vl"):  # llama.cpp's Qwen2VL / Qwen3VL text converters: the sections
        w.add_rope_dimension_sections([*cfg.rope_parameters["mrope_section"], 0])
    if arch in ("qwen3vl", "qwen3vlmoe"):  # and Qwen3-VL's deepstack depth
        w.add_uint32(f"{arch}.n_deepstack_layers", 1)
    if arch == "hunyuan-moe":  # llama.cpp's HunYuanMoEModel: its counts (moe_topk), the experts' and shared widths
        w.add_expert_count(cfg.num_experts)
        w.add_expert_used_count(cfg.moe_topk[0] if isinstance(cfg.moe_topk, list) else cfg.moe_topk)
        w.add_expert_feed_forward_length(cfg.intermediate_size)
        w.add_expert_shared_feed_forward_length(cfg.intermediate_size)
    if arch == "exaone-moe":  # llama.cpp's ExaoneMoE converter: window, pattern, the router's keys, the dense lead
        import gguf

        w.add_sliding_window(cfg.sliding_window)
        w.add_sliding_window_pattern([t == "sliding_attention" for t in cfg.layer_types])
        w.add_expert_gating_func(gguf.ExpertGatingFuncType.SIGMOID)
        w.add_expert_weights_norm(cfg.norm_topk_prob)
        w.add_expert_weights_scale(cfg.routed_scaling_factor)
        w.add_leading_dense_block_count(cfg.first_k_dense_replace)
        w.add_expert_shared_count(cfg.num_shared_experts)
    if arch == "afmoe":  # llama.cpp's afmoe keys: the window, the router's, the dense lead, the shared experts
        import gguf

        w.add_sliding_window(cfg.sliding_window)
        w.add_expert_gating_func(gguf.ExpertGatingFuncType.SIGMOID)
        w.add_expert_weights_norm(True)
        w.add_expert_weights_scale(cfg.route_scale)
        w.add_leading_dense_block_count(cfg.num_dense_layers)
        w.add_expert_shared_count(cfg.num_shared_experts)
    if arch == "minimax-m2":  # llama.cpp's MiniMaxM2Model: its scoring function, the experts' width
        import gguf

        w.add_expert_gating_func(gguf.ExpertGatingFuncType.SIGMOID)
        w.add_expert_feed_forward_length(cfg.intermediate_size)
    if arch == "gpt-oss":  # llama.cpp's GptOssModel: the window, and the experts' width beside the dense one
        w.add_sliding_window(cfg.sliding_window)
        w.add_expert_feed_forward_length(cfg.intermediate_size)
    if arch in ("granite", "granitemoe"):  # llama.cpp's names for Granite's multipliers
        w.add_embedding_scale(cfg.embedding_multiplier)
        w.add_attention_scale(cfg.attention_multiplier)
        w.add_residual_scale(cfg.residual_multiplier)
        w.add_logit_scale(cfg.logits_scaling)
    if arch == "minicpm":  # llama.cpp's MiniCPMModel: scale_emb, scale_depth/√layers, hidden/dim_model_base; no
        # attention scale, and of LongRoPE only the factors (below)
        w.add_embedding_scale(cfg.embedding_multiplier)
        w.add_residual_scale(cfg.residual_multiplier)
        w.add_logit_scale(cfg.logits_scaling)
    if arch in ("command-r", "cohere2"):
        w.add_logit_scale(cfg.logit_scale)
    if arch == "cohere2":
        w.add_sliding_window(cfg.sliding_window)
    if arch == "gptneox":
        w.add_parallel_residual(cfg.use_parallel_residual)
    longrope = (getattr(cfg, "rope_parameters", None) or {}).get("rope_type") == "longrope"
    if longrope and arch == "minicpm":
        for which in ("long", "short"):
            w.add_tensor(f"rope_factors_{which}.weight", np.array(cfg.rope_parameters[f"{which}_factor"], np.float32))
    elif longrope:  # llama.cpp's Phi-3 converter
        original = cfg.rope_parameters["original_max_position_embeddings"]
        scale = cfg.max_position_embeddings / original
        w.add_rope_scaling_attn_factors(math.sqrt(1 + math.log(scale) / math.log(original)))
        w.add_rope_scaling_orig_ctx_len(original)
        for which in ("short", "long"):
            w.add_tensor(f"rope_factors_{which}.weight", np.array(cfg.rope_parameters[f"{which}_factor"], np.float32))
    if arch == "gemma2":
        w.add_attn_logit_softcapping(cfg.attn_logit_softcapping)
        w.add_final_logit_softcapping(cfg.final_logit_softcapping)


def _wordpiece_tokenizer(w, tokenizer) -> None:
    """A WordPiece vocabulary as llama.cpp's BERT converter writes it: '▁' before a word-start token, no '##' on a
    continuation, special tokens (CONTROL) as they are; [CLS] as BOS and [SEP] as EOS and separator, both added."""
    vocab = sorted(json.loads(tokenizer.to_str())["model"]["vocab"].items(), key=lambda kv: kv[1])
    specials = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
    w.add_tokenizer_model("bert")
    w.add_token_list([t if t in specials else t[2:] if t.startswith("##") else "\u2581" + t for t, _ in vocab])
    w.add_token_types([3 if t in specials else 1 for t, _ in vocab])  # CONTROL, NORMAL
    ids = dict(vocab)
    w.add_bos_token_id(ids["[CLS]"])
    w.add_eos_token_id(ids["[SEP]"])
    w.add_sep_token_id(ids["[SEP]"])
    w.add_unk_token_id(ids["[UNK]"])
    w.add_pad_token_id(ids["[PAD]"])
    w.add_add_bos_token(True)
    w.add_add_eos_token(True)


def _tokenizer(w, tokenizer, pre: str = "gpt-2") -> None:  # byte_bpe splits as GPT-2 does
    if json.loads(tokenizer.to_str())["model"]["type"] == "WordPiece":
        return _wordpiece_tokenizer(w, tokenizer)
    model = json.loads(tokenizer.to_str())["model"]
    vocab = sorted(model["vocab"].items(), key=lambda kv: kv[1])
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list([tok for tok, _ in vocab])
    w.add_token_types([1] * len(vocab))  # all NORMAL
    w.add_token_merges(merges)
    w.add_bos_token_id(0)
    w.add_eos_token_id(0)
    w.add_pad_token_id(
        0
    )  # transformers sizes padding_idx from it (Phi-3's default, 32000, is outside a tiny vocabulary)


def write_gguf(
    hf, tokenizer, path: Path, arch: str, qtype=None, name: str | None = None, experts_qtype=None,
    fuse_gate_up: bool = False,
) -> Path:  # fmt: skip
    """Write `hf` (a transformers model) and its byte-level BPE `tokenizer` as llama.cpp would, as `arch`
    (tokenizer "sentencepiece": `sentencepiece_vocab()` as a 'llama' vocabulary instead; hf's vocab must fit it).

    qtype (a gguf.GGMLQuantizationType) quantises every matrix whose rows split into whole blocks (Q5_K
    and Q6_K: random blocks, see RANDOM_BLOCKS); vectors (norms, biases) stay float32, as in llama.cpp's files.
    experts_qtype quantises a mixture's stacked experts (ffn_*_exps, 3-D), as llama.cpp writes GPT-OSS's in MXFP4;
    fuse_gate_up writes GPT-OSS's gate and up experts as one ffn_gate_up_exps (rows gate | up).
    """
    import gguf

    arch_enum = {v: k for k, v in gguf.MODEL_ARCH_NAMES.items()}[arch]
    cfg = hf.config.get_text_config()  # a vision-language model's language model (llama.cpp writes its own file)
    n_layers = cfg.n_layer if arch in ("gpt2", "bloom", "starcoder") else cfg.num_hidden_layers
    names = gguf.get_tensor_name_map(arch_enum, n_layers)
    rng = np.random.default_rng(0)
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name(name or f"tiny-{arch}")
    _metadata(w, arch, cfg)
    if tokenizer == "sentencepiece":
        _sentencepiece_tokenizer(w)
    else:
        _tokenizer(w, tokenizer)
    tied = bool(getattr(cfg, "tie_word_embeddings", False))
    tensors = {}
    for hf_name, tensor in _split_experts(hf.state_dict(), arch):
        if hf_name == "lm_head.weight" and tied:
            continue  # llama.cpp writes no output tensor for tied embeddings
        base, suffix = hf_name.rsplit(".", 1)
        if arch == "bloom":
            base = base.removeprefix("transformer.")  # llama.cpp's BLOOM converter drops it before mapping
        if base.endswith(".attn") or base.endswith("rotary_emb"):
            continue  # buffers (GPT-2's causal mask, RoPE frequencies), not weights
        gguf_name = names.get_name(base)
        if gguf_name is None:
            raise KeyError(f"gguf's {arch} name map has no entry for {hf_name}")
        data = _tensor_data(arch, hf_name, tensor.detach().float().numpy(), cfg)
        tensors[f"{gguf_name}.{suffix}"] = np.ascontiguousarray(data, dtype=np.float32)
    if fuse_gate_up:
        tensors = fused_gate_up(tensors)
    return finish(w, path, tensors, qtype, experts_qtype, rng)


def rope_decoder_shape(w, cfg, d_mlp: int) -> None:
    """The keys llama.cpp's converters write for any RoPE decoder with explicit head widths (llama4, apertus): the
    context, widths and counts, the RMSNorm epsilon, the RoPE base over whole heads; `d_mlp` the dense MLP's width."""
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(d_mlp)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_key_length(cfg.head_dim)
    w.add_value_length(cfg.head_dim)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_freq_base(cfg.rope_parameters["rope_theta"])
    w.add_rope_dimension_count(cfg.head_dim)


def finish(w, path: Path, tensors: dict[str, np.ndarray], qtype=None, experts_qtype=None, rng=None) -> Path:
    """Add `tensors` to the GGUFWriter `w` (qtype, experts_qtype: write_gguf's) and write the file."""
    import gguf

    for tensor_name, data in tensors.items():
        if experts_qtype is not None and tensor_name.endswith("_exps.weight"):
            w.add_tensor(tensor_name, gguf.quants.quantize(data, experts_qtype), raw_dtype=experts_qtype)
        elif qtype is not None and can_quantize(data, qtype):
            w.add_tensor(tensor_name, quantize(data, qtype, rng), raw_dtype=qtype)
        else:
            w.add_tensor(tensor_name, data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def _stacked_head_norms(state: dict) -> dict:
    """StableLM's per-head q/k LayerNorms (self_attn.q_layernorm.norms.{h}.weight) stacked into one [heads, d_head]
    q_layernorm.weight, as llama.cpp's converter writes attn_q_norm; every other tensor as it is."""
    out, stacks = {}, {}
    for name, tensor in state.items():
        if ".norms." in name and "_layernorm." in name:
            base, head = name.split(".norms.")[0], int(name.split(".norms.")[1].split(".")[0])
            stacks.setdefault(base + ".weight", {})[head] = tensor
        else:
            out[name] = tensor
    import torch

    for name, heads in stacks.items():
        out[name] = torch.stack([heads[h] for h in sorted(heads)])
    return out


def _split_experts(state: dict, arch: str):
    """(name, tensor) pairs with a mixture of experts in the names llama.cpp's converter maps: the fused gate_up_proj
    [n_experts, 2·d_mlp, d_model] as gate_proj and up_proj, each [n_experts, d_mlp, d_model]; Granite MoE's
    block_sparse_moe as mlp, its router as mlp.gate; GPT-OSS's own layout (tests/gguf_writer_gpt_oss.py)."""
    if arch == "gpt-oss":
        yield from gpt_oss_names(state)
        return
    for name, tensor in _stacked_head_norms(state).items():
        if name.startswith("model.visual."):  # Qwen3-VL's vision tower: llama.cpp writes it to its mmproj file
            continue
        name = name.replace("model.language_model.", "model.")  # as llama.cpp's Qwen3VL converters name them
        name = name.replace("block_sparse_moe.router.weight", "mlp.gate.weight").replace("block_sparse_moe.", "mlp.")
        # ERNIE 4.5 MoE's correction bias, under the name llama.cpp's converter gives it before mapping
        name = name.replace("mlp.gate.moe_statics.e_score_correction_bias", "mlp.moe_statics.e_score_correction.bias")
        if name.endswith("mlp.expert_bias"):  # AFMoE's correction bias: llama.cpp's exp_probs_b.bias
            name += ".bias"
        if name.endswith("e_score_correction_bias"):  # MiniMax-M2's, K-EXAONE's likewise
            name = name.removesuffix("_bias") + ".bias"
        if name.endswith("experts.gate_up_proj"):
            gate, up = tensor.chunk(2, dim=1)
            yield name.replace("gate_up_proj", "gate_proj.weight"), gate
            yield name.replace("gate_up_proj", "up_proj.weight"), up
        elif name.endswith("experts.down_proj"):
            yield name + ".weight", tensor
        else:
            yield name, tensor


# ── ready-made tiny files ────────────────────────────────────────────────────────────────────────────


def save_tiny_gguf(path: Path, arch: str = "llama", seed: int = 0) -> Path:
    """A tiny model with a 300-token byte-level BPE, as GGUF: arch "llama" (2 layers, 4 heads, 2 key/value
    heads) or "gemma2" (2 layers, 2 heads; layer 0 in a 4-token sliding window, soft-caps 50 and 30)."""
    import torch
    import transformers

    from tests.tiny_models import byte_bpe

    torch.manual_seed(seed)
    shape = dict(vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=2, max_position_embeddings=128)
    if arch == "gemma2":
        cfg = transformers.Gemma2Config(**shape, num_attention_heads=2, num_key_value_heads=1, head_dim=256,
                                        sliding_window=4)  # fmt: skip
        hf = transformers.Gemma2ForCausalLM(cfg)
    else:
        cfg = transformers.LlamaConfig(**shape, num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)
        hf = transformers.LlamaForCausalLM(cfg)
    with torch.no_grad():
        for p in hf.parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_gguf(hf, byte_bpe(300), path, arch, name=f"tiny-{arch}")


def add_to_ollama_store(store: Path, gguf_path: Path, name: str, tag: str = "latest") -> Path:
    """Lay `gguf_path` out in a fake Ollama store as `ollama pull` would: a blob named by its sha256 and a
    manifest (with the template and params layers Ollama writes beside the model); returns the blob."""
    import hashlib
    import shutil

    def blob(data: bytes) -> dict:
        digest = hashlib.sha256(data).hexdigest()
        (store / "blobs").mkdir(parents=True, exist_ok=True)
        (store / "blobs" / f"sha256-{digest}").write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    parts = name.split("/")
    parts = ["registry.ollama.ai", "library", *parts] if len(parts) == 1 else ["registry.ollama.ai", *parts]
    digest = hashlib.sha256(gguf_path.read_bytes()).hexdigest()
    (store / "blobs").mkdir(parents=True, exist_ok=True)
    target = store / "blobs" / f"sha256-{digest}"
    shutil.copyfile(gguf_path, target)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", **blob(b'{"model_format":"gguf"}')},
        "layers": [
            {
                "mediaType": "application/vnd.ollama.image.model",
                "digest": f"sha256:{digest}",
                "size": target.stat().st_size,
            },
            {"mediaType": "application/vnd.ollama.image.template", **blob(b"{{ .Prompt }}")},
            {"mediaType": "application/vnd.ollama.image.params", **blob(b'{"stop":["</s>"]}')},
        ],
    }
    folder = store / "manifests" / Path(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / tag).write_text(json.dumps(manifest), encoding="utf-8")
    return target


def sentencepiece_vocab(vocab_size: int = 200) -> tuple[list[str], list[int], list[float]]:
    """(tokens, types, scores) laid out like a Llama SentencePiece vocabulary in GGUF: <unk>, <s>, </s>, the 256
    byte-fallback tokens <0x00>..<0xFF>, then BPE pieces ('▁the') best first, scored -rank."""
    from tokenizers import SentencePieceBPETokenizer

    from tests.tiny_models import CORPUS

    sp = SentencePieceBPETokenizer()
    sp.train_from_iterator(CORPUS, vocab_size=vocab_size, special_tokens=[])
    pieces = [t for t, _ in sorted(sp.get_vocab().items(), key=lambda kv: kv[1])]
    tokens = ["<unk>", "<s>", "</s>", *(f"<0x{b:02X}>" for b in range(256)), *pieces]
    types = [2, 3, 3] + [6] * 256 + [1] * len(pieces)  # UNKNOWN, CONTROL, BYTE, NORMAL
    scores = [0.0] * 259 + [-float(i) for i in range(len(pieces))]
    return tokens, types, scores


def _sentencepiece_tokenizer(w) -> None:
    tokens, types, scores = sentencepiece_vocab()
    w.add_tokenizer_model("llama")  # llama.cpp's name for a SentencePiece vocabulary: no merges, scores
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_scores(scores)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_pad_token_id(0)  # transformers sizes padding_idx from it


def write_tokenizer_only(path: Path, arch: str, kind: str, pre: str | None = None, add_bos: bool | None = None, *,
                         add_eos: bool | None = None, add_space_prefix: bool | None = None) -> Path:
    """A GGUF with a tokenizer and no weights: kind 'gpt2' (tests.tiny_models.byte_bpe) or 'llama' (SentencePiece);
    the flags tokenizer.ggml.add_bos_token, add_eos_token and add_space_prefix written where not None."""
    import gguf

    from tests.tiny_models import byte_bpe

    w = gguf.GGUFWriter(str(path), arch)
    w.add_block_count(1)
    w.add_context_length(64)
    w.add_embedding_length(8)
    w.add_head_count(1)
    if kind == "gpt2":
        _tokenizer(w, byte_bpe(300), pre=pre or "gpt-2")
    else:
        _sentencepiece_tokenizer(w)
    if add_bos is not None:
        w.add_add_bos_token(add_bos)
    if add_eos is not None:
        w.add_add_eos_token(add_eos)
    if add_space_prefix is not None:
        w.add_add_space_prefix(add_space_prefix)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def rewrite_gguf(src: Path, dst: Path, fields: dict | None = None, drop: tuple[str, ...] = (), big_endian=False):
    """`src` written again as `dst` (a file for the hostile-input tests): `fields` set (key → (value, gguf value
    type[, array item type])), the keys in `drop` left out, and big_endian writes it the other way round."""
    import gguf

    reader = gguf.GGUFReader(str(src))
    order = gguf.GGUFEndian.BIG if big_endian else gguf.GGUFEndian.LITTLE
    w = gguf.GGUFWriter(str(dst), str(reader.fields["general.architecture"].contents()), endianess=order)
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture" or key in drop or key in (fields or {}):
            continue
        w.add_key_value(key, field.contents(), field.types[0], field.types[-1] if len(field.types) > 1 else None)
    for key, value in (fields or {}).items():
        w.add_key_value(key, *value)
    for t in reader.tensors:  # the tiny files hold float32 tensors only
        w.add_tensor(t.name, np.asarray(t.data, dtype=np.float32))
    w.write_header_to_file(), w.write_kv_data_to_file(), w.write_tensors_to_file()
    w.close()
    return dst
