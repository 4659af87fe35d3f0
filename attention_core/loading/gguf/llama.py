"""GGUF llama-family decoders → canonical weights: llama (also Mistral, SmolLM and Mixtral, which llama.cpp writes as
'llama'; Ministral 3 as 'mistral3'), qwen2 (q/k/v biases), qwen3 and qwen3moe (per-head q/k RMSNorm) and phi3
(fused QKV and gate+up); a block with a router (ffn_gate_inp) is a mixture of experts.

Only llama.cpp's *llama* converter permutes the rows of W_Q and W_K (for its interleaved RoPE); qwen2, qwen3,
phi3 and exaone (EXAONE 3, 3.5) use llama.cpp's NeoX rotation, which is Hugging Face's rotate-half already, so their
rows are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch

from ...config import ModelConfig
from ...errors import ModelLoadError
from ..conventions import pairs_to_halves
from ..rope_scaling import gguf_rule, longrope_attention_factor, longrope_rule
from .reader import Meta, Tensors, attention_shape, matrix, split_rows, unpermute_rope_rows

Weights = dict[str, torch.Tensor]


def rope_config(
    meta: Meta, name: str, tensor_names: set[str], *, scaling: str = "none", yarn_truncate: bool = True,
    experts: dict | None = None, hybrid: bool = False, **overrides,
) -> ModelConfig:  # fmt: skip
    """What every RoPE decoder in GGUF shares: shapes, RMSNorm, SwiGLU, RoPE (linear or YaRN scaling where declared;
    `scaling` where the file names no rope.scaling.type; YaRN's ramp ends rounded unless `yarn_truncate` is False);
    a mixture of experts' fields by moe_fields' rule unless `experts` gives them; `overrides` replace any field.
    `hybrid`: layers without attention may count 0 key/value heads (reader.attention_shape)."""
    d_model, n_heads, n_kv_heads, d_head = attention_shape(meta, hybrid)
    rotary = meta.count("rope.dimension_count", d_head)
    if not 0 < rotary <= d_head or rotary % 2:
        raise ModelLoadError(f"rope.dimension_count {rotary} does not fit a head of {d_head} dimensions.")
    fields = dict(
        name=name,
        arch="llama",
        n_layers=meta.count("block_count"),
        n_heads=n_heads,
        n_kv_heads=n_kv_heads,
        d_model=d_model,
        d_head=d_head,
        d_mlp=overrides["d_mlp"] if "d_mlp" in overrides else meta.count("feed_forward_length"),  # a list in some
        d_vocab=meta.vocab_size(),
        n_ctx=meta.count("context_length"),
        causal=True,
        norm="rms",
        # a LayerNorm model (phi2, stablelm, starcoder2) gives its own epsilon; the rms one is not in its file
        norm_eps=overrides["norm_eps"] if "norm_eps" in overrides else meta.number("attention.layer_norm_rms_epsilon"),
        norm_position="pre",
        act="silu",
        gated_mlp=True,
        uses_rope=True,
        rope_theta=meta.number("rope.freq_base", 10000.0),
        rotary_dim=rotary if rotary < d_head else None,  # partial rotary (Phi-4-mini): the first dims rotate
        attn_bias="blk.0.attn_q.bias" in tensor_names or "blk.0.attn_qkv.bias" in tensor_names,
        tie_embeddings="output.weight" not in tensor_names,
        bos_token_id=meta.maybe_int("tokenizer.ggml.bos_token_id"),
        eos_token_id=meta.maybe_int("tokenizer.ggml.eos_token_id"),
        display_name=str(meta.key("general.name", name)),
    )
    fields.update(moe_fields(meta, tensor_names) if experts is None else experts)
    r = rotary if rotary < d_head else d_head
    factor = meta.unless_zero("rope.scaling.factor", meta.number) or 1.0  # llama.cpp reads 0 as no scaling
    yarn = {**yarn_keys(meta), "truncate": yarn_truncate}
    rule = gguf_rule(str(meta.get("rope.scaling.type", scaling)), factor, r, fields["rope_theta"], yarn)
    fields.update(rule.fields())
    fields.update(overrides)
    return ModelConfig(**fields)


def yarn_keys(meta: Meta) -> dict:
    """The file's YaRN keys (rope_scaling.gguf_rule), None where absent."""
    keys = dict(beta_fast="yarn_beta_fast", beta_slow="yarn_beta_slow", log_mul="yarn_log_multiplier",
                attn_factor="attn_factor", ext_factor="yarn_ext_factor")  # fmt: skip
    found = {ours: meta.get(f"rope.scaling.{theirs}", None) for ours, theirs in keys.items()}
    found = {ours: None if value is None else float(value) for ours, value in found.items()}
    return {**found, "original": meta.count("rope.scaling.original_context_length", meta.count("context_length"))}


_NOT_RENORMALISED = ("qwen2moe", "olmoe")  # llama.cpp renormalises the chosen experts' weights for the others


def moe_fields(meta: Meta, tensor_names: set[str]) -> dict:
    """A mixture of experts' ModelConfig fields where the file has routers (Mixtral as 'llama', qwen2moe, qwen3moe,
    olmoe, granitemoe): expert_count, expert_used_count, and whether the chosen experts' weights are renormalised,
    by llama.cpp's rule for the architecture; a gating other than softmax or a weights scale is refused."""
    if "blk.0.ffn_gate_inp.weight" not in tensor_names:
        return {}
    if meta.get("expert_gating_func", 1) != 1 or meta.get("expert_weights_scale", 0.0) not in (0.0, 1.0):
        raise ModelLoadError("Mixtures of experts with a gating other than softmax, or scaled expert weights, are not "
                             "supported yet.")  # fmt: skip
    n, used = expert_counts(meta)
    return dict(n_experts=n, experts_per_token=used, moe_renormalize=meta.arch not in _NOT_RENORMALISED)


def expert_counts(meta: Meta) -> tuple[int, int]:
    """(expert_count, expert_used_count), each positive (Meta.count), checked to fit together."""
    n, used = meta.count("expert_count"), meta.count("expert_used_count")
    if used > n:
        raise ModelLoadError(f"The file has each token use {used} of {n} experts; it must be 1 to {n}.")
    return n, used


def llama_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    return with_rope_freqs(rope_config(meta, name, tensor_names), meta)


def with_rope_freqs(cfg: ModelConfig, meta: Meta) -> ModelConfig:
    """`cfg` with the file's rope_freqs as its RoPE frequency divisors, where it has them (llama3 scaling)."""
    freqs = meta.tensor_f32("rope_freqs.weight")
    if freqs is None:
        return cfg
    # Llama 3.1/3.2: llama.cpp's converter stores llama3 scaling as one divisor per frequency ([r/2], F32)
    r = cfg.rotary_dim or cfg.d_head
    if freqs.shape != (r // 2,):
        raise ModelLoadError(f"rope_freqs.weight has {freqs.size} values; {r // 2} RoPE frequencies need one each.")
    if cfg.rope_freq_divisors:
        raise ModelLoadError("The file declares both rope_freqs and linear RoPE scaling; llama.cpp writes one.")
    low = float(freqs.max())
    return replace(cfg, rope_freq_divisors=tuple(float(f) for f in freqs),
                   rope_scaling=f"llama3 frequency divisors from the file (up to {low:g})")


def mistral3_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    """Ministral 3 (llama.cpp's mistral3: Ministral 3 3B/8B/14B, Mistral 3's language model): a llama file (rows
    permuted alike) with YaRN; where attention.temperature_scale is set, llama.cpp's graph multiplies each query by
    1 + β·ln(1 + ⌊position / n⌋) past n = rope.scaling.original_context_length (1 before it), so texts are capped
    there, as the Hugging Face adapter caps them."""
    cfg = replace(llama_config(meta, name, tensor_names), arch="ministral3")
    if not meta.number("attention.temperature_scale", 0.0):
        return cfg
    floor = meta.count("rope.scaling.original_context_length", cfg.n_ctx)
    scaled = f"; texts up to {floor} tokens, past which Ministral 3 also scales its queries"
    return replace(cfg, n_ctx=min(cfg.n_ctx, floor), rope_scaling=(cfg.rope_scaling or "none") + scaled)


def smollm3_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    """SmolLM3: a llama file (rows permuted alike) whose every 4th layer rotates nothing (NoPE): llama.cpp fixes the
    step at 4, with no key in the file."""
    cfg = llama_config(meta, name, tensor_names)
    return replace(cfg, arch="smollm3", rope_layers=tuple((i + 1) % 4 != 0 for i in range(cfg.n_layers)))


def qwen2moe_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    """Qwen2-MoE (Qwen1.5-MoE, Qwen2-57B-A14B): Qwen 2's attention, a mixture of experts plus a shared expert."""
    return rope_config(meta, name, tensor_names, arch="qwen2_moe")


def olmoe_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    """OLMoE: RMSNorms over the whole query and key projections, a mixture of experts; rows kept (NeoX rotation). A
    file that clamps q, k and v (attention.clamp_kqv) is refused: where llama.cpp's graph clamps them is not known
    here (transformers' OLMoE clamps after the norms)."""
    if meta.unless_zero("attention.clamp_kqv", meta.number):
        raise ModelLoadError("OLMoE files that clamp q, k and v (attention.clamp_kqv) are not supported yet.")
    return rope_config(meta, name, tensor_names, arch="olmoe", qk_norm="full")


_QWEN3 = {"qwen3moe": "qwen3_moe", "qwen3vl": "qwen3_vl", "qwen3vlmoe": "qwen3_vl_moe"}  # llama.cpp's: ours


def qwen3_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    """Qwen 3, dense or a mixture of experts (qwen3moe: every layer's MLP, each expert expert_feed_forward_length
    wide): RMSNorm per head on q and k. Qwen3-VL's language model (qwen3vl, qwen3vlmoe; its vision tower is a file of
    its own, the mmproj) is the same for a text: its M-RoPE sections (rope.dimension_sections) all read one position,
    which is NeoX RoPE, and its deepstack layers add nothing where there is no image."""
    arch = _QWEN3.get(meta.arch, "qwen3")
    return rope_config(meta, name, tensor_names, arch=arch, qk_norm="head")


def phi3_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    """Phi-3, and Phi-3.5 / Phi-4-mini with LongRoPE (with_longrope)."""
    window = meta.unless_zero("attention.sliding_window", meta.count)
    return with_longrope(meta, rope_config(meta, name, tensor_names, arch="phi3", sliding_window=window))


def with_longrope(meta: Meta, cfg: ModelConfig) -> ModelConfig:
    """`cfg` with LongRoPE where the file has its factors: the short ones (rope_factors_short) divide the
    frequencies, cos and sin take rope.scaling.attn_factor (else Hugging Face's default from the two context
    lengths), and texts stop at rope.scaling.original_context_length (else context_length, as llama.cpp reads a file
    without it), past which llama.cpp (and the model) switch to the long factors."""
    short = meta.tensor_f32("rope_factors_short.weight")
    if short is None:
        return cfg
    original = int(meta.get("rope.scaling.original_context_length", 0) or 0) or cfg.n_ctx
    if short.shape != ((cfg.rotary_dim or cfg.d_head) // 2,):
        raise ModelLoadError(f"rope_factors_short.weight has {short.size} values; each RoPE frequency needs one.")
    default = longrope_attention_factor(cfg.n_ctx / original, original)
    rule = longrope_rule(tuple(float(f) for f in short), meta.number("rope.scaling.attn_factor", default), original)
    return replace(cfg, **rule.fields(), n_ctx=rule.cap(cfg.n_ctx))


def ends(t: Tensors, cfg: ModelConfig) -> Weights:
    """Token embedding, final norm and the unembedding (absent when tied)."""
    w: Weights = {"embed.W_E": torch.from_numpy(t.raw("token_embd.weight"))}
    if cfg.norm_weights:  # OLMo 1's LayerNorms have none
        w["ln_final.w"] = t.vector("output_norm.weight")
    if not cfg.tie_embeddings:
        w["unembed.W_U"] = t.linear("output.weight")  # [d_model, d_vocab]
    return w


def fused_gated_mlp(t: Tensors, w: Weights, src: str, dst: str, d_mlp: int) -> None:
    """A gated MLP whose gate and up are fused in ffn_up (rows gate | up, as llama.cpp's SwiGLU splits them: Phi-3,
    GLM-4), then ffn_down."""
    gate, up = split_rows(t.raw(src + "ffn_up.weight"), [d_mlp, d_mlp], src + "ffn_up.weight")
    w[dst + "mlp.W_gate"], w[dst + "mlp.W_in"] = matrix(gate), matrix(up)
    w[dst + "mlp.W_out"] = t.linear(src + "ffn_down.weight")


def gated_mlp(t: Tensors, w: Weights, src: str, dst: str) -> None:
    """SwiGLU / GeGLU: act(x W_gate) * (x W_in), then W_out (ffn_gate, ffn_up, ffn_down)."""
    w[dst + "mlp.W_gate"] = t.linear(src + "ffn_gate.weight")
    w[dst + "mlp.W_in"] = t.linear(src + "ffn_up.weight")
    w[dst + "mlp.W_out"] = t.linear(src + "ffn_down.weight")


MOE_PARTS = (("W_gate", "ffn_gate_exps"), ("W_in", "ffn_up_exps"), ("W_out", "ffn_down_exps"))  # (ours, llama.cpp's)


def expert_stacks(t: Tensors, src: str) -> list[tuple[str, np.ndarray]]:
    """(our name, (n_experts, out, in)) for each expert matrix of the block: the three ffn_*_exps, or ffn_gate_exps
    and ffn_up_exps fused in one ffn_gate_up_exps (rows gate | up, as transformers 5 stacks them; llama.cpp's graph
    splits it so)."""
    fused = src + "ffn_gate_up_exps.weight"
    if not t.has(fused):
        return [(ours, t.raw(f"{src}{theirs}.weight")) for ours, theirs in MOE_PARTS]
    gate_up, down = t.raw(fused), t.raw(src + "ffn_down_exps.weight")
    if gate_up.shape[1] != 2 * down.shape[2]:
        raise ModelLoadError(f"{fused} has {gate_up.shape[1]} rows per expert; gate and up need {down.shape[2]} each.")
    half = down.shape[2]
    return [("W_gate", gate_up[:, :half]), ("W_in", gate_up[:, half:]), ("W_out", down)]


def _mlp(t: Tensors, w: Weights, src: str, dst: str, norm: str = "ffn_norm") -> None:
    """The MLP's input norm (`norm`: qwen35 calls it post_attention_norm), then the gated MLP, or a mixture of experts
    where the block has a router (ffn_gate_inp): the router [d_model, n_experts] and each expert's W_gate, W_in,
    W_out from the 3-D ffn_*_exps (one slice per expert; expert_stacks)."""
    w[dst + "ln_mlp.w"] = t.vector(f"{src}{norm}.weight")
    if not t.has(src + "ffn_gate_inp.weight"):
        gated_mlp(t, w, src, dst)
        return
    w[dst + "mlp.router.W"] = t.linear(src + "ffn_gate_inp.weight")  # [d_model, n_experts]
    parts = expert_stacks(t, src)  # (n_experts, out, in) each
    for e in range(parts[0][1].shape[0]):
        for ours, stacked in parts:
            w[f"{dst}mlp.experts.{e}.{ours}"] = matrix(stacked[e])
    if t.has(src + "ffn_gate_inp_shexp.weight"):  # qwen2moe: a shared expert every token uses, behind a sigmoid gate
        w[dst + "mlp.shared_gate.W"] = t.vector(src + "ffn_gate_inp_shexp.weight").reshape(-1, 1)  # [d_model, 1]
        for ours, theirs in MOE_PARTS:
            w[f"{dst}mlp.shared.{ours}"] = t.linear(f"{src}{theirs.replace('_exps', '_shexp')}.weight")


def plain_mlp(t: Tensors, w: Weights, src: str, dst: str) -> None:
    """ffn_norm, then an ungated MLP: act(x W_in) W_out (ffn_up, ffn_down; Arcee's squared ReLU)."""
    w[dst + "ln_mlp.w"] = t.vector(src + "ffn_norm.weight")
    w[dst + "mlp.W_in"] = t.linear(src + "ffn_up.weight")
    w[dst + "mlp.W_out"] = t.linear(src + "ffn_down.weight")


def separate_qkv_weights(
    t: Tensors, cfg: ModelConfig, permuted: bool, mlp: Callable[[Tensors, Weights, str, str], None] = _mlp
) -> Weights:
    """llama / qwen2 layout: attn_q, attn_k, attn_v, attn_output, then the block's `mlp`; `permuted` undoes
    llama.cpp's Q/K row order."""
    w = ends(t, cfg)
    heads = {"q": cfg.n_heads, "k": cfg.n_kv_heads, "v": cfg.n_kv_heads}
    for layer in range(cfg.n_layers):
        src, dst = f"blk.{layer}.", f"blocks.{layer}."
        if cfg.norm_weights:
            w[dst + "ln_attn.w"] = t.vector(src + "attn_norm.weight")
        for part in "qkv":
            data, bias = t.rows(f"{src}attn_{part}.weight", heads[part], cfg.d_head), None
            if cfg.attn_bias:
                bias = t.rows(f"{src}attn_{part}.bias", heads[part], cfg.d_head)
            if permuted and part != "v":
                data = unpermute_rope_rows(data, heads[part])
                bias = None if bias is None else unpermute_rope_rows(bias, heads[part])
            w[f"{dst}attn.W_{part.upper()}"] = matrix(data)
            if bias is not None:
                w[f"{dst}attn.b_{part.upper()}"] = torch.from_numpy(bias.copy())
        w[dst + "attn.W_O"] = t.linear(src + "attn_output.weight")
        if t.has(src + "attn_output.bias"):  # Llama with attention_bias=True (llama.cpp loads it); the forward
            w[dst + "attn.b_O"] = t.vector(src + "attn_output.bias")  # pass adds b_O once per layer, as GPT-2's
        if cfg.qk_norm != "none" and cfg.qk_norm_weights:  # Qwen3: one d_head-wide RMSNorm weight shared by every
            # head; OLMoE: d_model-wide (Llama 4's norm has no weight)
            w[dst + "attn.q_norm.w"] = t.vector(src + "attn_q_norm.weight")
            w[dst + "attn.k_norm.w"] = t.vector(src + "attn_k_norm.weight")
        mlp(t, w, src, dst)
    return w


def arcee_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    """Arcee AFM (llama.cpp's arcee): a llama file (rows permuted alike, rope_freqs where it has them) whose MLP is
    ungated, with squared ReLU."""
    return replace(llama_config(meta, name, tensor_names), arch="arcee", gated_mlp=False, act="relu2")


def arcee_weights(t: Tensors, cfg: ModelConfig) -> Weights:
    skip_rope_freqs(t)
    return separate_qkv_weights(t, cfg, permuted=True, mlp=plain_mlp)


def exaone_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    """EXAONE 3 and 3.5 (llama.cpp's exaone, Ollama's exaone3.5): a Llama whose rows llama.cpp rotates as Hugging Face
    stores them (its NEOX RoPE: the converter permutes nothing), rope_freqs where its llama3 scaling has them."""
    return replace(llama_config(meta, name, tensor_names), arch="exaone")


def exaone_weights(t: Tensors, cfg: ModelConfig) -> Weights:
    skip_rope_freqs(t)
    return separate_qkv_weights(t, cfg, permuted=False)


def internlm2_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    """InternLM2 and 2.5 (llama.cpp's internlm2, Ollama's internlm2): a llama file, its wqkv cut into attn_q, attn_k
    and attn_v by the converter and their rows permuted alike. llama.cpp's graph reads no rope_freqs for it (its
    dynamic NTK scaling starts past the trained context), so a file holding them is refused as unread."""
    return rope_config(meta, name, tensor_names, arch="internlm2")


def internlm2_weights(t: Tensors, cfg: ModelConfig) -> Weights:
    return separate_qkv_weights(t, cfg, permuted=True)


def ernie4_5_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    """ERNIE 4.5 (dense): llama.cpp rotates its rows as Hugging Face stores them, in neighbouring pairs."""
    return rope_config(meta, name, tensor_names, arch="ernie4_5", rope_pairs_reordered=True)


def ernie4_5_weights(t: Tensors, cfg: ModelConfig) -> Weights:
    return pairs_to_halves(separate_qkv_weights(t, cfg, permuted=False), cfg)


def seed_oss_weights(t: Tensors, cfg: ModelConfig) -> Weights:
    """Seed-OSS (llama.cpp's seed_oss): rows kept, q/k/v (and output) biases; the MLP's input norm is stored as
    post_attention_norm (Hugging Face's post_attention_layernorm, under that name in llama.cpp's map)."""

    def mlp(t: Tensors, w: Weights, src: str, dst: str) -> None:
        w[dst + "ln_mlp.w"] = t.vector(src + "post_attention_norm.weight")
        gated_mlp(t, w, src, dst)

    return separate_qkv_weights(t, cfg, permuted=False, mlp=mlp)


def olmo_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    """OLMo (1) (llama.cpp's olmo): LayerNorms without weights or biases, rows permuted as a llama file's; q, k and v
    clamped to ±attention.clamp_kqv right after their maps where the file sets it (OLMo 1.7), as llama.cpp's olmo
    graph and transformers clamp them."""
    clip = meta.unless_zero("attention.clamp_kqv", meta.number)
    return rope_config(meta, name, tensor_names, arch="olmo", norm="layer", norm_weights=False, qkv_clip=clip,
                       norm_eps=meta.number("attention.layer_norm_epsilon"))  # fmt: skip


def olmo_weights(t: Tensors, cfg: ModelConfig) -> Weights:
    """A llama file's matrices with no norm tensors at all (llama.cpp's olmo graph normalises without weights)."""
    return separate_qkv_weights(t, cfg, permuted=True, mlp=gated_mlp)


def skip_rope_freqs(t: Tensors) -> None:
    """Mark rope_freqs.weight read where the file has it: not a weight, llama_config made it the RoPE divisors."""
    t.skip("rope_freqs.weight")


def llama_weights(t: Tensors, cfg: ModelConfig) -> Weights:
    skip_rope_freqs(t)
    return separate_qkv_weights(t, cfg, permuted=True)


def qwen2_weights(t: Tensors, cfg: ModelConfig) -> Weights:
    return separate_qkv_weights(t, cfg, permuted=False)


def phi3_weights(t: Tensors, cfg: ModelConfig) -> Weights:
    """Phi-3 fuses Q, K and V into attn_qkv (rows q | k | v) and gate and up into ffn_up (rows gate | up)."""
    # not weights: phi3_config made the short ones the RoPE divisors; the long ones unused
    t.skip("rope_factors_short.weight", "rope_factors_long.weight")
    w = ends(t, cfg)
    q_rows, kv_rows = cfg.n_heads * cfg.d_head, cfg.n_kv_heads * cfg.d_head
    for layer in range(cfg.n_layers):
        src, dst = f"blk.{layer}.", f"blocks.{layer}."
        w[dst + "ln_attn.w"] = t.vector(src + "attn_norm.weight")
        qkv = split_rows(t.raw(src + "attn_qkv.weight"), [q_rows, kv_rows, kv_rows], src + "attn_qkv.weight")
        for part, data in zip("QKV", qkv, strict=True):
            w[f"{dst}attn.W_{part}"] = matrix(data)
        w[dst + "attn.W_O"] = t.linear(src + "attn_output.weight")
        w[dst + "ln_mlp.w"] = t.vector(src + "ffn_norm.weight")
        fused_gated_mlp(t, w, src, dst, cfg.d_mlp)
    return w
