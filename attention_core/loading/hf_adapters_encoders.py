"""Hugging Face adapters for encoders beyond BERT's layout: DeBERTa (v1, v2, v3), RoFormer, EuroBERT, UltraBERT,
Nomic BERT, GTE, Jina Embeddings v3 (ModernBERT's are in hf_adapters_modernbert.py).

A (config, weights) pair like those in hf_adapters.py. EuroBERT is a Llama reading both ways; UltraBERT adds local
layers with their own RoPE base. Nomic BERT (nomic-embed-text) keeps BERT's post-norm layers, its segment embeddings
and embedding LayerNorm, but rotates q and k (RoPE, no position table), has no biases in attention or MLP, and a
SwiGLU MLP; config.json may spell its fields as
Nomic's own code does (n_embd, n_head, n_layer, n_inner, rotary_emb_base) or as transformers' NomicBertConfig does,
and the checkpoint's tensors as Nomic's (encoder.layers.N.attn.Wqkv, mlp.fc11 up, fc12 gate, fc2, norm1, norm2,
emb_ln) or transformers' (layers.N.self_attn.q_proj, ...).

DeBERTa-v2 and v3 keep BERT's post-norm layer, under their own names, and add disentangled attention
(`position_bias="disentangled"`, attention_core/disentangled.py): a relative-position table for the whole encoder
(`encoder.rel_embeddings` → `rel.W`, with its LayerNorm `encoder.LayerNorm` → `rel.ln`), projected by each layer's
own W_Q and W_K (share_att_key), scores scaled by 1/√(3·d_head) as there are three terms. Without
position_biased_input (v3) the embeddings carry no position. Refused: the convolution after layer 0 (v2-xlarge's
conv_kernel_size), separate position projections (share_att_key false), other pos_att_type lists. Embeddings narrower
than the layers are projected up before their LayerNorm (`embed_proj`).

DeBERTa (v1: microsoft/deberta-base, -large) has the same attention with three differences, in the weights alone: q, k
and v fused per head in `in_proj` with a bias on q and v only; each layer's own position projections (`pos_q_proj`,
`pos_proj` → W_pos_Q, b_pos_Q, W_pos_K) instead of its W_Q and W_K; a position table without a norm. Offsets are not
bucketed, only clamped at ±max_relative_positions. Refused: talking heads, other pos_att_type lists.
"""

from __future__ import annotations

import dataclasses
import math

from ..config import ModelConfig
from ..errors import ModelLoadError
from .conventions import pairs_to_halves
from .hf_adapters import BERT_NAMES, StateDict, _act, _Reader, bert_config, check_embedding_width, encoder_weights
from .hf_adapters_modern import _decoder, _gated, _rope, _theta, fused_qkv, llama_layout
from .hf_adapters_recent import _defaults
from .rope_scaling import scaling_kind


def _pos_att_kinds(hf: dict) -> list[str]:
    kinds = hf.get("pos_att_type") or []
    if isinstance(kinds, str):  # DeBERTa-v3's config.json writes "p2c|c2p", as transformers' config reads it
        kinds = kinds.lower().split("|")
    return sorted(str(k).strip() for k in kinds)


def _refuse(refused: dict[str, bool], supported: str) -> None:
    for what, bad in refused.items():
        if bad:
            raise ModelLoadError(f"DeBERTa with {what} is not supported ({supported}).")


def _disentangled_config(hf: dict, name: str, arch: str, buckets: int) -> ModelConfig:
    """BERT's post-norm encoder with disentangled attention over 2 × span relative positions (log buckets where
    `buckets` > 0; otherwise every offset its own row, clamped at ±max_relative_positions)."""
    base = bert_config({**hf, "position_embedding_type": "absolute"}, name)
    most = int(hf.get("max_relative_positions", -1))
    most = most if most >= 1 else int(hf["max_position_embeddings"])
    return dataclasses.replace(
        base, arch=arch, norm_eps=float(hf.get("layer_norm_eps", 1e-7)), position_bias="disentangled",
        # without position_buckets, offsets are only clamped to ±max_relative_positions: no log buckets (distance 0)
        rel_buckets=buckets if buckets > 0 else most, rel_max_distance=most if buckets > 0 else 0,
        attn_scale=1.0 / math.sqrt(3 * base.d_head),  # three terms: q·k, content→position, position→content
        position_table_too=bool(hf.get("position_biased_input", True)),
        n_token_types=int(hf.get("type_vocab_size", 0)),
        bos_token_id=hf.get("bos_token_id"), eos_token_id=hf.get("eos_token_id"),
    )  # fmt: skip


def deberta_v2_config(hf: dict, name: str) -> ModelConfig:
    kinds = _pos_att_kinds(hf)
    refused = {
        "conv_kernel_size": int(hf.get("conv_kernel_size", 0)) > 0,
        "share_att_key false": not hf.get("share_att_key", False),
        f"pos_att_type {kinds}": kinds != ["c2p", "p2c"] or not hf.get("relative_attention", False),
        f"norm_rel_ebd {hf.get('norm_rel_ebd')!r}": "layer_norm" not in str(hf.get("norm_rel_ebd", "none")),
    }
    _refuse(refused, "DeBERTa-v3's layout is")
    return _disentangled_config(hf, name, "deberta_v2", int(hf.get("position_buckets", -1)))


def deberta_config(hf: dict, name: str) -> ModelConfig:
    """DeBERTa (v1): the same disentangled attention with its own position projections and no log buckets."""
    kinds = _pos_att_kinds(hf)
    refused = {
        "talking_head": bool(hf.get("talking_head")),
        f"pos_att_type {kinds}": kinds != ["c2p", "p2c"] or not hf.get("relative_attention", False),
    }
    _refuse(refused, "microsoft/deberta-base's layout is")
    return _disentangled_config(hf, name, "deberta", buckets=-1)


DEBERTA_NAMES = dataclasses.replace(
    BERT_NAMES, prefixes=("deberta.",),
    linears=(("attn.Q", "attention.self.query_proj"), ("attn.K", "attention.self.key_proj"),
             ("attn.V", "attention.self.value_proj"), *BERT_NAMES.linears[3:]),
)  # fmt: skip
DEBERTA_V1_NAMES = dataclasses.replace(DEBERTA_NAMES, linears=BERT_NAMES.linears[3:])  # W_O and the MLP's


def _relative_table(w: StateDict, r: _Reader, cfg: ModelConfig) -> StateDict:
    """`w` plus the projection up of narrower embeddings and the relative-position table's rows the model reads."""
    if r.has("embeddings.embed_proj.weight"):  # embedding_size < hidden_size: projected up, then normalised
        w["embed.W_proj"] = r.linear("embeddings.embed_proj.weight")  # (embedding_size, d_model), no bias
    w["rel.W"] = r.get("encoder.rel_embeddings.weight")  # (2·span, d_model)
    if w["rel.W"].shape[0] < 2 * cfg.rel_buckets:
        raise ModelLoadError(f"The relative-position table has {w['rel.W'].shape[0]} rows, not 2 × {cfg.rel_buckets}.")
    w["rel.W"] = w["rel.W"][: 2 * cfg.rel_buckets].contiguous()  # the rows the model reads (att_span · 2)
    return check_embedding_width(w, cfg)


def deberta_v2_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    w = encoder_weights(sd, cfg, DEBERTA_NAMES)
    r = _Reader(sd, DEBERTA_NAMES.prefixes)
    w["rel.ln.w"], w["rel.ln.b"] = r.get("encoder.LayerNorm.weight"), r.get("encoder.LayerNorm.bias")
    return _relative_table(w, r, cfg)


def deberta_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """DeBERTa (v1): q, k and v from one in_proj, its rows per head (head 0's q, k, v, then head 1's, ...: transformers
    splits its output per head, then in three); a bias on q and on v only; each layer's own position projections
    (pos_q_proj → W_pos_Q and b_pos_Q, pos_proj → W_pos_K, no bias) over a table without a norm."""
    w = encoder_weights(sd, cfg, DEBERTA_V1_NAMES)
    r = _Reader(sd, DEBERTA_V1_NAMES.prefixes)
    width = cfg.n_heads * cfg.d_head
    for layer in range(cfg.n_layers):
        src, dst = f"encoder.layer.{layer}.attention.self.", f"blocks.{layer}.attn."
        fused = r.get(src + "in_proj.weight").view(cfg.n_heads, 3, cfg.d_head, cfg.d_model)  # (head, q|k|v, d, d_model)
        for i, part in enumerate("QKV"):
            w[f"{dst}W_{part}"] = fused[:, i].reshape(width, cfg.d_model).T.contiguous()  # (d_model, n_heads·d_head)
        w[dst + "b_Q"], w[dst + "b_V"] = r.get(src + "q_bias"), r.get(src + "v_bias")
        w[dst + "W_pos_Q"], w[dst + "b_pos_Q"] = r.linear(src + "pos_q_proj.weight"), r.get(src + "pos_q_proj.bias")
        w[dst + "W_pos_K"] = r.linear(src + "pos_proj.weight")
    return _relative_table(w, r, cfg)


def eurobert_config(hf: dict, name: str) -> ModelConfig:
    """EuroBERT: a Llama reading both ways (every key, no causal mask). Its masked-language-model head is not read
    (masked_lm.py reads BERT's and RoBERTa's families' and ModernBERT's), so neither is the unembedding."""
    return _decoder(hf, name, "eurobert", causal=False, attn_bias=bool(hf.get("attention_bias")), tie_embeddings=True)


ULTRABERT_ROPE = {"sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0},
                  "full_attention": {"rope_type": "default", "rope_theta": 2_560_000.0}}  # UltrabertConfig's default


def ultrabert_config(hf: dict, name: str) -> ModelConfig:
    """UltraBERT: EuroBERT's layers, two of every three attending locally (layer_types; keys at most sliding_window
    positions away either side, so the engine's window, |query − key| < window, is one more), each layer type with
    its own RoPE base (rope_parameters["full_attention"], ["sliding_attention"]: rope_theta, rope_theta_local)."""
    n = int(hf["num_hidden_layers"])
    types = ["sliding_attention" if (i + 1) % 3 else "full_attention" for i in range(n)]  # UltrabertConfig's rule
    hf = _defaults(hf, layer_types=types, sliding_window=128)
    if not hf.get("rope_parameters"):
        hf = {**hf, "rope_parameters": ULTRABERT_ROPE}
    cfg = _decoder(hf, name, "ultrabert", causal=False, attn_bias=bool(hf.get("attention_bias")), tie_embeddings=True,
                   rope_theta=_theta(hf, "full_attention", 2_560_000.0),
                   rope_theta_local=_theta(hf, "sliding_attention", 10_000.0))  # fmt: skip
    return dataclasses.replace(cfg, sliding_window=cfg.sliding_window + 1) if cfg.sliding_window else cfg


_NOMIC_FIELDS = (("hidden_size", "n_embd"), ("num_attention_heads", "n_head"), ("num_hidden_layers", "n_layer"),
                 ("intermediate_size", "n_inner"), ("max_position_embeddings", "n_positions"),
                 ("layer_norm_eps", "layer_norm_epsilon"))  # (transformers' name, Nomic's)  # fmt: skip


def nomic_bert_config(hf: dict, name: str) -> ModelConfig:
    hf = {**hf, **{ours: hf[theirs] for ours, theirs in _NOMIC_FIELDS if hf.get(ours) is None and theirs in hf}}
    if hf.get("rotary_emb_interleaved") or hf.get("prenorm") or hf.get("qkv_proj_bias") or hf.get("mlp_fc1_bias"):
        raise ModelLoadError("Nomic BERT checkpoints with interleaved RoPE, pre-norm layers or biases are not "
                             "supported yet.")  # fmt: skip
    fraction = float(hf.get("rotary_emb_fraction", 1.0))
    d_head = int(hf.get("head_dim") or int(hf["hidden_size"]) // int(hf["num_attention_heads"]))
    theta = float(hf.get("rotary_emb_base") or 1000.0)  # Nomic's spelling, else NomicBertConfig's default
    cfg = _rope_bert_config(hf, name, "nomic_bert", theta, n_ctx=2048, eps=1e-12, segments=2)
    return dataclasses.replace(cfg, rotary_dim=int(d_head * fraction)) if fraction != 1.0 else cfg


def _rope_bert_config(
    hf: dict, name: str, arch: str, theta: float, n_ctx: int, eps: float, segments: int, **features
) -> ModelConfig:  # fmt: skip
    """A post-norm encoder with RoPE (Nomic BERT, GTE, Jina v3): BERT's LayerNorms after each residual add and its
    segment embeddings, no position table. `theta`, `n_ctx`, `eps`, `segments`: the model's own defaults where
    config.json leaves out the RoPE base, the context, the norms' epsilon or the segment count; `features`: as in
    _decoder."""
    theta = float(_rope(hf).get("rope_theta") or hf.get("rope_theta") or theta)
    hf = _defaults(hf, max_position_embeddings=n_ctx, rope_parameters={"rope_type": "default", "rope_theta": theta})
    eps, segments = float(hf.get("layer_norm_eps", eps)), int(hf.get("type_vocab_size", segments))
    return _decoder(hf, name, arch, causal=False, norm="layer", norm_position="post", rope_theta=theta, norm_eps=eps,
                    n_token_types=segments, tie_embeddings=True, **features)  # fmt: skip


def _plain_rope(hf: dict, model: str) -> None:
    """Refuse RoPE scaling for a model whose checkpoints this reader was written against without any."""
    if scaling_kind(_rope(hf)) != "default":
        raise ModelLoadError(f"{model} checkpoints with RoPE scaling are not supported yet.")


@dataclasses.dataclass(frozen=True)
class _RopeBertNames:
    """Where a post-norm encoder with RoPE keeps its tensors (Nomic's, transformers' port of it, GTE's)."""

    layer: str  # a layer's prefix, "{}" its index
    qkv: str  # q, k and v fused, rows q | k | v; "" where they are three (q_proj, k_proj, v_proj under `split`)
    split: str  # the three projections' prefix where not fused
    linears: tuple[tuple[str, str], ...]  # (ours, theirs): the output and the MLP's maps
    up_gate: str  # up and gate fused, rows up | gate (GTE); "" where separate
    norms: tuple[str, str, str]  # the embeddings', then the two after each residual add


NOMIC_NAMES = _RopeBertNames("encoder.layers.{}.", "attn.Wqkv", "", (("attn.O", "attn.out_proj"),
                             ("mlp.in", "mlp.fc11"), ("mlp.gate", "mlp.fc12"), ("mlp.out", "mlp.fc2")), "",
                             ("emb_ln", "norm1", "norm2"))  # fmt: skip
NOMIC_PORT_NAMES = _RopeBertNames(
    "layers.{}.", "", "self_attn.",
    (("attn.O", "self_attn.o_proj"), ("mlp.in", "mlp.up_proj"), ("mlp.gate", "mlp.gate_proj"),
     ("mlp.out", "mlp.down_proj")),
    "", ("embeddings.LayerNorm", "post_attention_layernorm", "post_mlp_layernorm"),
)  # fmt: skip
GTE_NAMES = _RopeBertNames("encoder.layer.{}.", "attention.qkv_proj", "", (("attn.O", "attention.o_proj"),
                           ("mlp.out", "mlp.down_proj")), "mlp.up_gate_proj",
                           ("embeddings.LayerNorm", "attn_ln", "mlp_ln"))  # fmt: skip


JINA_V3_NAMES = _RopeBertNames(
    "encoder.layers.{}.", "mixer.Wqkv", "",
    (("attn.O", "mixer.out_proj"), ("mlp.in", "mlp.fc1"), ("mlp.out", "mlp.fc2")), "", ("emb_ln", "norm1", "norm2"),
)  # fmt: skip


def rope_bert_weights(sd: StateDict, cfg: ModelConfig, names: _RopeBertNames) -> StateDict:
    """Token (and segment) embeddings and their LayerNorm; per layer q, k, v, the output, the gated MLP (each with
    the biases the checkpoint has) and the two LayerNorms after each residual add."""
    r = _Reader(sd, ("nomic_bert.", "gte.", "new.", "bert.", "model.", ""))
    emb, ln_attn, ln_mlp = names.norms
    w: StateDict = {"embed.W_E": r.get("embeddings.word_embeddings.weight")}
    if r.has("embeddings.token_type_embeddings.weight"):  # gte-base-en-v1.5 has none
        w["embed.W_type"] = r.get("embeddings.token_type_embeddings.weight")
    three = [] if names.qkv else [(f"attn.{p}", f"{names.split}{p.lower()}_proj") for p in "QKV"]  # q, k, v apart
    linears = (*three, *names.linears)
    for layer in range(cfg.n_layers):
        src, dst = names.layer.format(layer), f"blocks.{layer}."
        if names.qkv:  # fused: rows q | k | v
            fused_qkv(w, r, src + names.qkv, dst, cfg, biases=r.has(f"{src}{names.qkv}.bias"))
        if names.up_gate:  # fused: rows up | gate
            _up_gate(w, r, src + names.up_gate, dst)
        for ours, theirs in linears:
            prefix, which = ours.rsplit(".", 1)
            w[f"{dst}{prefix}.W_{which}"] = r.linear(f"{src}{theirs}.weight")
            if r.has(f"{src}{theirs}.bias"):
                w[f"{dst}{prefix}.b_{which}"] = r.get(f"{src}{theirs}.bias")
        for ours, theirs in (("ln_attn", ln_attn), ("ln_mlp", ln_mlp)):
            w[f"{dst}{ours}.w"], w[f"{dst}{ours}.b"] = r.get(f"{src}{theirs}.weight"), r.get(f"{src}{theirs}.bias")
    w["embed.ln.w"], w["embed.ln.b"] = r.get(emb + ".weight"), r.get(emb + ".bias")
    return w


def _up_gate(w: StateDict, r: _Reader, name: str, dst: str) -> None:
    """A gated MLP's up and gate maps stored as one projection, rows up | gate (GTE's up_gate_proj), biases alike."""
    up, gate = r.linear(name + ".weight").chunk(2, dim=1)  # [d_model, d_mlp] each
    w[dst + "mlp.W_in"], w[dst + "mlp.W_gate"] = up.contiguous(), gate.contiguous()
    if r.has(name + ".bias"):
        b_up, b_gate = r.get(name + ".bias").chunk(2)
        w[dst + "mlp.b_in"], w[dst + "mlp.b_gate"] = b_up.contiguous(), b_gate.contiguous()


def nomic_bert_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """Nomic's fused Wqkv, fc11 (up), fc12 (gate), fc2, norm1, norm2, emb_ln; or transformers' port's names."""
    nomic = any(k.endswith("encoder.layers.0.attn.Wqkv.weight") for k in sd)
    return rope_bert_weights(sd, cfg, NOMIC_NAMES if nomic else NOMIC_PORT_NAMES)


def gte_config(hf: dict, name: str) -> ModelConfig:
    """GTE (transformers' gte: gte-multilingual-base): Nomic BERT's layers with biases on q, k, v, the output and the
    MLP's down map, a GeGLU (or SwiGLU) MLP by hidden_act, one segment row (or none)."""
    _plain_rope(hf, "GTE")
    return _rope_bert_config(hf, name, "gte", 160_000.0, n_ctx=8192, eps=1e-12, segments=1, attn_bias=True,
                             act=_act(hf.get("hidden_act", "gelu")))  # GteConfig's defaults  # fmt: skip


def gte_remote_config(hf: dict, name: str) -> ModelConfig:
    """GTE as Alibaba's own code ships it (model_type "new": gte-base-en-v1.5, gte-large-en-v1.5,
    gte-multilingual-base): the layers and tensor names transformers' gte port reads, under NewConfig's field names
    and defaults (RoPE base 10000, 2048 positions), and its fixed NTK scaling (gte-large-en-v1.5: factor 2), which
    the port lacks. What the remote code has beyond that is refused: RMSNorm layers, log-n attention scaling, learned
    positions, NTK's mixed_b."""
    refused = {"layer_norm_type": (hf.get("layer_norm_type", "layer_norm"), "layer_norm"),
               "position_embedding_type": (hf.get("position_embedding_type", "rope"), "rope"),
               "logn_attention_scale": (bool(hf.get("logn_attention_scale", False)), False)}  # fmt: skip
    for key, (value, supported) in refused.items():
        if value != supported:
            raise ModelLoadError(f"GTE (model_type 'new') with {key} {value!r} is not supported; only {supported!r}.")
    ntk = _gte_ntk_factor(hf.get("rope_scaling"))
    cfg = _rope_bert_config({**hf, "rope_scaling": None}, name, "gte", 10_000.0, n_ctx=2048, eps=1e-12, segments=1,
                            attn_bias=True, act=_act(hf.get("hidden_act", "gelu")))  # NewConfig's defaults  # fmt: skip
    if ntk == 1.0:
        return cfg
    # NewModel's NTKScalingRotaryEmbedding (vLLM's reads alike): inv_freq_i = (θ·s)^(-2i/r) / s^(2/r), built once for
    # every position: θ^(-2i/r) divided by s^((2i + 2)/r)
    r = cfg.rotary_dim or cfg.d_head
    divisors = tuple(ntk ** ((2 * i + 2) / r) for i in range(r // 2))
    return dataclasses.replace(cfg, rope_freq_divisors=divisors, rope_scaling=f"fixed NTK, factor {ntk:g}")


def _gte_ntk_factor(scaling: dict | None) -> float:
    """The factor of NewConfig's rope_scaling ({"type": "ntk", "factor": s}), 1.0 without one."""
    if not scaling:
        return 1.0
    kind = scaling.get("type") or scaling.get("rope_type")
    if kind != "ntk" or scaling.get("mixed_b") is not None:
        raise ModelLoadError(f"GTE's RoPE scaling {scaling!r} is not supported; only its fixed NTK ({{'type': 'ntk', "
                             "'factor': …}) is.")  # fmt: skip
    factor = float(scaling.get("factor", 1.0))
    if not factor >= 1.0:
        raise ModelLoadError(f"GTE's NTK factor {factor:g} is below 1.")
    return factor


def jina_v3_config(hf: dict, name: str) -> ModelConfig:
    """Jina Embeddings v3 (transformers' jina_embeddings_v3): XLM-RoBERTa's post-norm layers with RoPE (base 20000)
    instead of positions, biases everywhere and a plain GELU MLP."""
    _plain_rope(hf, "Jina Embeddings v3")
    return _rope_bert_config(hf, name, "jina_v3", 20_000.0, n_ctx=8194, eps=1e-5, segments=1, attn_bias=True,
                             mlp_bias=True, gated_mlp=False, act=_act(hf.get("hidden_act", "gelu")))  # fmt: skip


def jina_v3_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    if any(".parametrizations." in k or "lora_" in k for k in sd):
        raise ModelLoadError("This Jina Embeddings v3 checkpoint holds LoRA task adapters beside its weights; the "
                             "engine reads transformers' port, whose weights are plain.")  # fmt: skip
    return rope_bert_weights(sd, cfg, JINA_V3_NAMES)


def gte_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    return rope_bert_weights(sd, cfg, GTE_NAMES)


def eurobert_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    if cfg.attn_bias or any(k.endswith("mlp.gate_proj.bias") for k in sd):
        raise ModelLoadError("EuroBERT checkpoints with biases are not supported yet.")
    return llama_layout(sd, cfg, _gated)


def roformer_config(hf: dict, name: str) -> ModelConfig:
    """RoFormer (Su et al., the paper RoPE comes from): BERT's post-norm layers with no position table, q and k
    rotated in neighbouring pairs at base 10000 (reordered to halves here, as GPT-J's), embeddings narrower than the
    layers normalised then projected up (as ELECTRA-small's). Rotating the values too (rotary_value) is refused."""
    if hf.get("rotary_value"):
        raise ModelLoadError("RoFormer with rotary_value (values rotated too) is not supported.")
    base = bert_config({**hf, "position_embedding_type": "absolute"}, name)
    return dataclasses.replace(
        base, arch="roformer", uses_rope=True, rope_theta=10000.0, rope_pairs_reordered=True, embed_proj_after_norm=True
    )


ROFORMER_NAMES = dataclasses.replace(BERT_NAMES, prefixes=("roformer.",))


def roformer_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    w = encoder_weights(sd, cfg, ROFORMER_NAMES)
    r = _Reader(sd, ROFORMER_NAMES.prefixes)
    if r.has("embeddings_project.weight"):  # embedding_size < hidden_size
        w["embed.W_proj"], w["embed.b_proj"] = r.linear("embeddings_project.weight"), r.get("embeddings_project.bias")
    return pairs_to_halves(check_embedding_width(w, cfg), cfg)


ADAPTERS = {
    "roformer": (roformer_config, roformer_weights),
    "eurobert": (eurobert_config, eurobert_weights),
    "ultrabert": (ultrabert_config, eurobert_weights),  # EuroBERT's tensors
    "nomic_bert": (nomic_bert_config, nomic_bert_weights),
    "gte": (gte_config, gte_weights),
    "new": (gte_remote_config, gte_weights),  # GTE under Alibaba's own code (trust_remote_code)
    "jina_embeddings_v3": (jina_v3_config, jina_v3_weights),
    "deberta-v2": (deberta_v2_config, deberta_v2_weights),
    "deberta": (deberta_config, deberta_weights),
}
