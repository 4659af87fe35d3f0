"""Hugging Face checkpoints → the canonical layout: one small adapter per architecture.

Each adapter is a pair of pure functions: `config(hf_json, name) -> ModelConfig` and
`weights(state_dict, config) -> canonical dict`. The forward pass stays shared.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch

from ..config import ModelConfig
from ..errors import ModelLoadError
from .not_yet import not_read, not_yet
from .rope_scaling import rope_rule

StateDict = dict[str, torch.Tensor]


class _Reader:
    """Fetch tensors under an optional prefix, with a clear error when one is missing."""

    def __init__(self, sd: StateDict, prefixes: tuple[str, ...]):
        self.sd = sd
        self.prefix = next((p for p in prefixes if any(k.startswith(p) for k in sd)), "")

    def has(self, key: str) -> bool:
        return self.prefix + key in self.sd

    def get(self, key: str) -> torch.Tensor:
        try:
            return self.sd[self.prefix + key].float()
        except KeyError:
            raise ModelLoadError(f"The checkpoint lacks {self.prefix + key!r}.") from None

    def linear(self, key: str) -> torch.Tensor:
        """nn.Linear weights are [out, in]; the canonical layout is [in, out]."""
        return self.get(key).T.contiguous()


def _rope_rule(hf: dict) -> dict:
    """The RoPE parameters, whichever spelling the config uses (rope_parameters, or the older rope_scaling)."""
    return {**(hf.get("rope_scaling") or {}), **(hf.get("rope_parameters") or {})}


def _rope_theta(hf: dict) -> float:
    return float(_rope_rule(hf).get("rope_theta") or hf.get("rope_theta") or 10000.0)


def _rope_scaling(hf: dict, d_head: int) -> dict:
    """ModelConfig's RoPE scaling fields and n_ctx (capped where the rule holds only for shorter texts)."""
    n_ctx = int(hf.get("max_position_embeddings", 2048))
    rule = rope_rule(_rope_rule(hf), _rope_theta(hf), d_head, n_ctx)
    return {**rule.fields(), "n_ctx": rule.cap(n_ctx)}


def _act(name: str) -> str:
    table = {
        "gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "silu": "silu", "swish": "silu",
        "relu": "relu", "relu2": "relu2", "xielu": "xielu",
    }  # fmt: skip
    if name not in table:
        raise ModelLoadError(f"Activation {name!r} is not supported.")
    return table[name]


# ── BERT and RoBERTa encoders ─────────────────────────────────────────────────────────────────────


def bert_config(hf: dict, name: str) -> ModelConfig:
    if hf.get("position_embedding_type", "absolute") != "absolute":
        raise ModelLoadError("Only absolute position embeddings are supported for BERT-style encoders.")
    d_model, n_heads = int(hf["hidden_size"]), int(hf["num_attention_heads"])
    roberta = hf.get("model_type") in ("roberta", "xlm-roberta", "camembert", "data2vec-text", "longformer",
                                       *PRE_NORM_ROBERTAS)  # fmt: skip
    offset = int(hf.get("pad_token_id", 1)) + 1 if roberta else 0  # RoBERTa's first position id is padding_idx + 1
    return ModelConfig(
        name=name, arch="bert", n_layers=int(hf["num_hidden_layers"]), n_heads=n_heads, n_kv_heads=n_heads,
        d_model=d_model, d_head=d_model // n_heads, d_mlp=int(hf["intermediate_size"]), d_vocab=int(hf["vocab_size"]),
        n_ctx=int(hf["max_position_embeddings"]) - offset,
        causal=False, norm="layer", norm_eps=float(hf.get("layer_norm_eps", 1e-12)), norm_position="post",
        act=_act(hf.get("hidden_act", "gelu")), gated_mlp=False, uses_rope=False,
        n_token_types=int(hf.get("type_vocab_size", 2)), pos_offset=offset,
        attn_bias=True, mlp_bias=True, tie_embeddings=True, display_name=str(hf.get("_name_or_path") or name),
    )


@dataclass(frozen=True)
class _EncoderNames:
    """Where a post-norm encoder keeps its tensors (BERT's names, or DistilBERT's)."""

    prefixes: tuple[str, ...]  # the model's own prefix in a checkpoint saved with a head
    layer: str  # a layer's prefix, "{}" its index
    linears: tuple[tuple[str, str], ...]  # (ours, theirs): attention's Q, K, V, O and the MLP's in and out
    norms: tuple[tuple[str, str], ...]  # (ours, theirs): the norms after attention's and the MLP's residual add
    rel_bias: str | None = None  # MPNet's relative position bias table, shared by every layer
    embedding_norm: bool = True  # a LayerNorm on the embeddings (XLM-RoBERTa-XL has none)
    final_norm: str | None = None  # pre-norm encoders: the LayerNorm closing the stack


BERT_NAMES = _EncoderNames(
    ("bert.", "roberta.", "data2vec_text.", "ernie.", "longformer.", "model."), "encoder.layer.{}.",
    (("attn.Q", "attention.self.query"), ("attn.K", "attention.self.key"), ("attn.V", "attention.self.value"),
     ("attn.O", "attention.output.dense"), ("mlp.in", "intermediate.dense"), ("mlp.out", "output.dense")),
    (("ln_attn", "attention.output.LayerNorm"), ("ln_mlp", "output.LayerNorm")),
)  # fmt: skip
DISTILBERT_NAMES = _EncoderNames(
    ("distilbert.",), "transformer.layer.{}.",
    (("attn.Q", "attention.q_lin"), ("attn.K", "attention.k_lin"), ("attn.V", "attention.v_lin"),
     ("attn.O", "attention.out_lin"), ("mlp.in", "ffn.lin1"), ("mlp.out", "ffn.lin2")),
    (("ln_attn", "sa_layer_norm"), ("ln_mlp", "output_layer_norm")),
)  # fmt: skip


MPNET_NAMES = _EncoderNames(
    ("mpnet.",), "encoder.layer.{}.",
    (("attn.Q", "attention.attn.q"), ("attn.K", "attention.attn.k"), ("attn.V", "attention.attn.v"),
     ("attn.O", "attention.attn.o"), ("mlp.in", "intermediate.dense"), ("mlp.out", "output.dense")),
    (("ln_attn", "attention.LayerNorm"), ("ln_mlp", "output.LayerNorm")),
    rel_bias="encoder.relative_attention_bias.weight",
)  # fmt: skip


def encoder_weights(sd: StateDict, cfg: ModelConfig, names: _EncoderNames = BERT_NAMES) -> StateDict:
    """BERT, RoBERTa or DistilBERT (no segment embeddings; its positions learned, or fixed sinusoids stored too)."""
    r = _Reader(sd, names.prefixes)
    w: StateDict = {"embed.W_E": r.get("embeddings.word_embeddings.weight")}
    if names.embedding_norm:  # all but XLM-RoBERTa-XL's
        w["embed.ln.w"], w["embed.ln.b"] = r.get("embeddings.LayerNorm.weight"), r.get("embeddings.LayerNorm.bias")
    if cfg.absolute_positions:  # all but DeBERTa without position_biased_input
        w["embed.W_pos"] = r.get("embeddings.position_embeddings.weight")
    if cfg.n_token_types:  # BERT's segments
        w["embed.W_type"] = r.get("embeddings.token_type_embeddings.weight")
    for layer in range(cfg.stored_layers):  # ALBERT: its groups' blocks, which its layers share
        src, dst = names.layer.format(layer), f"blocks.{layer}."
        for ours, theirs in names.linears:  # "attn.Q" → attn.W_Q and attn.b_Q
            part, name = ours.split(".")
            w[f"{dst}{part}.W_{name}"] = r.linear(f"{src}{theirs}.weight")
            w[f"{dst}{part}.b_{name}"] = r.get(f"{src}{theirs}.bias")
        for ours, theirs in names.norms:
            w[f"{dst}{ours}.w"], w[f"{dst}{ours}.b"] = r.get(f"{src}{theirs}.weight"), r.get(f"{src}{theirs}.bias")
    if names.rel_bias is not None:
        w["blocks.0.attn.rel_bias"] = r.get(names.rel_bias)  # (n_buckets, n_heads): every layer reads it
    if r.has("embeddings.task_type_embeddings.weight"):  # ERNIE's use_task_id: a task per token too
        w["embed.W_task"] = r.get("embeddings.task_type_embeddings.weight")  # (task_type_vocab_size, d_model)
    if names.final_norm is not None:
        w["ln_final.w"], w["ln_final.b"] = r.get(names.final_norm + ".weight"), r.get(names.final_norm + ".bias")
    return w


# RoBERTa's layers with a LayerNorm before each sublayer instead of after it, and one closing the stack:
# RoBERTa-PreLayerNorm (its embeddings normalised too) and XLM-RoBERTa-XL and -XXL (embeddings not normalised)
PRE_NORM_ROBERTAS = ("roberta-prelayernorm", "xlm-roberta-xl")
_PRE_NORM_NAMES = {
    "roberta-prelayernorm": dataclasses.replace(
        BERT_NAMES, prefixes=("roberta_prelayernorm.",), final_norm="LayerNorm",
        norms=(("ln_attn", "attention.LayerNorm"), ("ln_mlp", "intermediate.LayerNorm")),
    ),
    "xlm-roberta-xl": dataclasses.replace(
        BERT_NAMES, prefixes=("roberta.",), embedding_norm=False, final_norm="encoder.LayerNorm",
        norms=(("ln_attn", "attention.self_attn_layer_norm"), ("ln_mlp", "LayerNorm")),
    ),
}  # fmt: skip


def ernie_config(hf: dict, name: str) -> ModelConfig:
    """ERNIE 1.0 to 3.0 (Baidu): BERT's encoder under `ernie.`, with use_task_id a task-type embedding added to every
    token as well (task 0, as transformers' ErnieModel adds it when given no task_type_ids)."""
    return dataclasses.replace(bert_config(hf, name), arch="ernie")


def longformer_config(hf: dict, name: str) -> ModelConfig:
    """Longformer (AllenAI): RoBERTa's layers, each query reading the keys within attention_window / 2 of it either
    way, as LongformerModel runs a text given no global_attention_mask (its q/k/v_global projections, which task heads
    turn on for chosen tokens, are not read). Windows that differ between layers are refused."""
    windows = hf.get("attention_window", 512)
    windows = windows if isinstance(windows, list) else [windows] * int(hf["num_hidden_layers"])
    if len(set(windows)) != 1 or int(windows[0]) % 2:
        raise ModelLoadError(f"Longformer with attention_window {windows} is not supported (one even window for all).")
    return dataclasses.replace(bert_config(hf, name), arch="longformer", sliding_window=int(windows[0]) // 2 + 1)


def pre_norm_roberta_config(hf: dict, name: str) -> ModelConfig:
    return dataclasses.replace(bert_config(hf, name), arch=str(hf["model_type"]), norm_position="pre")


def pre_norm_roberta_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    return encoder_weights(sd, cfg, _PRE_NORM_NAMES[cfg.arch])


ELECTRA_NAMES = dataclasses.replace(BERT_NAMES, prefixes=("electra.",))


def electra_config(hf: dict, name: str) -> ModelConfig:
    """ELECTRA (its discriminators and generators): BERT's encoder under `electra.`; where the embeddings are
    narrower than the layers (embedding_size < hidden_size: ELECTRA-small), they are normalised at their own
    width and then projected up (`embeddings_project` → embed.W_proj, embed.b_proj)."""
    return dataclasses.replace(bert_config(hf, name), embed_proj_after_norm=True)


def electra_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    w = encoder_weights(sd, cfg, ELECTRA_NAMES)
    r = _Reader(sd, ELECTRA_NAMES.prefixes)
    if r.has("embeddings_project.weight"):  # (hidden_size, embedding_size) as nn.Linear keeps it
        w["embed.W_proj"], w["embed.b_proj"] = r.linear("embeddings_project.weight"), r.get("embeddings_project.bias")
    return check_embedding_width(w, cfg)


def check_embedding_width(w: StateDict, cfg: ModelConfig) -> StateDict:
    """`w`, unless its embeddings are narrower than the layers with no projection between them."""
    width = w["embed.W_E"].shape[1]
    if width != cfg.d_model and "embed.W_proj" not in w:
        raise ModelLoadError(f"The embeddings are {width} wide and the layers {cfg.d_model}, with no projection "
                             "between them in the checkpoint.")  # fmt: skip
    return w


def mpnet_config(hf: dict, name: str) -> ModelConfig:
    """MPNet (all-mpnet-base-v2): BERT's post-norm encoder with positions from padding_idx + 1, and T5's
    bidirectional relative position bias added to the scaled scores of every layer. Its code buckets positions
    into 32 buckets up to 128 tokens, whatever the config's table size: a table of another size is refused."""
    buckets = int(hf.get("relative_attention_num_buckets", 32))
    if buckets != 32:
        raise ModelLoadError(f"MPNet with {buckets} relative attention buckets: its code always uses 32.")
    cfg = bert_config({**hf, "type_vocab_size": 0}, name)
    offset = int(hf.get("pad_token_id", 1)) + 1
    return dataclasses.replace(
        cfg, arch="mpnet", pos_offset=offset, n_ctx=int(hf["max_position_embeddings"]) - offset, position_bias="t5",
        rel_buckets=32, rel_max_distance=128, position_table_too=True,
    )  # fmt: skip


def distilbert_config(hf: dict, name: str) -> ModelConfig:
    """DistilBERT: BERT's post-norm encoder without segment embeddings, under its own config names."""
    d_model, n_heads = int(hf["dim"]), int(hf["n_heads"])
    return ModelConfig(
        name=name, arch="bert", n_layers=int(hf["n_layers"]), n_heads=n_heads, n_kv_heads=n_heads,
        d_model=d_model, d_head=d_model // n_heads, d_mlp=int(hf["hidden_dim"]), d_vocab=int(hf["vocab_size"]),
        n_ctx=int(hf["max_position_embeddings"]), causal=False, norm="layer", norm_eps=1e-12,  # fixed in its code
        norm_position="post", act=_act(hf.get("activation", "gelu")), gated_mlp=False, uses_rope=False,
        attn_bias=True, mlp_bias=True, tie_embeddings=True, display_name=str(hf.get("_name_or_path") or name),
    )  # fmt: skip


# ── GPT-2 ─────────────────────────────────────────────────────────────────────────────────────────


def gpt2_config(hf: dict, name: str) -> ModelConfig:
    if hf.get("scale_attn_by_inverse_layer_idx") or hf.get("reorder_and_upcast_attn"):
        raise ModelLoadError("GPT-2 variants with per-layer attention scaling are not supported.")
    d_model, n_heads = int(hf["n_embd"]), int(hf["n_head"])
    return ModelConfig(
        name=name, arch="gpt2", n_layers=int(hf["n_layer"]), n_heads=n_heads, n_kv_heads=n_heads, d_model=d_model,
        d_head=d_model // n_heads, d_mlp=int(hf.get("n_inner") or 4 * d_model), d_vocab=int(hf["vocab_size"]),
        n_ctx=int(hf["n_positions"]), causal=True, norm="layer", norm_eps=float(hf.get("layer_norm_epsilon", 1e-5)),
        norm_position="pre", act=_act(hf.get("activation_function", "gelu_new")), gated_mlp=False, uses_rope=False,
        attn_bias=True, mlp_bias=True, tie_embeddings=True, bos_token_id=hf.get("bos_token_id"),
        eos_token_id=hf.get("eos_token_id"), display_name=str(hf.get("_name_or_path") or name),
    )


def gpt2_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    r = _Reader(sd, ("transformer.",))
    w: StateDict = {"embed.W_E": r.get("wte.weight"), "embed.W_pos": r.get("wpe.weight")}
    for layer in range(cfg.n_layers):
        conv1d_block(w, r, f"h.{layer}.", f"blocks.{layer}.", cfg.d_model)
    w["ln_final.w"], w["ln_final.b"] = r.get("ln_f.weight"), r.get("ln_f.bias")
    return w


def conv1d_block(w: StateDict, r: _Reader, src: str, dst: str, d: int) -> None:
    """One block of GPT-2's layout (GPT-1's too): q | k | v fused in c_attn and the MLP's c_fc, c_proj, as Conv1D
    weights ([in, out] already), biases everywhere; its two LayerNorms ln_1 and ln_2 (where the block applies them
    is the config's norm_position)."""
    qkv_w, qkv_b = r.get(src + "attn.c_attn.weight"), r.get(src + "attn.c_attn.bias")
    for i, part in enumerate("QKV"):
        w[f"{dst}attn.W_{part}"] = qkv_w[:, i * d : (i + 1) * d].contiguous()
        w[f"{dst}attn.b_{part}"] = qkv_b[i * d : (i + 1) * d].contiguous()
    w[dst + "attn.W_O"], w[dst + "attn.b_O"] = r.get(src + "attn.c_proj.weight"), r.get(src + "attn.c_proj.bias")
    for ours, theirs in (("ln_attn", "ln_1"), ("ln_mlp", "ln_2")):
        w[f"{dst}{ours}.w"], w[f"{dst}{ours}.b"] = r.get(src + theirs + ".weight"), r.get(src + theirs + ".bias")
    w[dst + "mlp.W_in"], w[dst + "mlp.b_in"] = r.get(src + "mlp.c_fc.weight"), r.get(src + "mlp.c_fc.bias")
    w[dst + "mlp.W_out"], w[dst + "mlp.b_out"] = r.get(src + "mlp.c_proj.weight"), r.get(src + "mlp.c_proj.bias")


# ── Llama family: Llama, SmolLM, Mistral, Qwen2 ──────────────────────────────────────────────────


def llama_config(hf: dict, name: str) -> ModelConfig:
    d_model, n_heads = int(hf["hidden_size"]), int(hf["num_attention_heads"])
    qwen = hf.get("model_type") == "qwen2"
    window = hf.get("sliding_window") if (hf.get("model_type") == "mistral" or hf.get("use_sliding_window")) else None
    named = [key for key in ("qkv_bias", "bias", *(("attention_bias", "mlp_bias") if qwen else ())) if hf.get(key)]
    if named:  # InternLM3's own bias fields; Qwen2's biases are on q, k and v alone
        raise ModelLoadError(f"{hf.get('model_type')} checkpoints with {' and '.join(named)} are not supported yet.")
    d_head = int(hf.get("head_dim") or d_model // n_heads)
    return ModelConfig(
        name=name, arch="llama", n_layers=int(hf["num_hidden_layers"]), n_heads=n_heads,
        n_kv_heads=int(hf.get("num_key_value_heads") or n_heads), d_model=d_model, d_head=d_head,
        d_mlp=int(hf["intermediate_size"]), d_vocab=int(hf["vocab_size"]), causal=True, norm="rms",
        norm_eps=float(hf.get("rms_norm_eps", 1e-6)), norm_position="pre", act=_act(hf.get("hidden_act", "silu")),
        gated_mlp=True, uses_rope=True, rope_theta=_rope_theta(hf), attn_bias=qwen or bool(hf.get("attention_bias")),
        mlp_bias=bool(hf.get("mlp_bias")), tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
        sliding_window=int(window) if window else None, bos_token_id=hf.get("bos_token_id"),
        eos_token_id=hf.get("eos_token_id"), display_name=str(hf.get("_name_or_path") or name),
        **_rope_scaling(hf, d_head),
    )


def llama_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    r = _Reader(sd, ("model.",))
    w: StateDict = {"embed.W_E": r.get("embed_tokens.weight"), "ln_final.w": r.get("norm.weight")}
    for layer in range(cfg.n_layers):
        src, dst = f"layers.{layer}.", f"blocks.{layer}."
        for part in "qkvo":
            w[f"{dst}attn.W_{part.upper()}"] = r.linear(f"{src}self_attn.{part}_proj.weight")
            if cfg.attn_bias and (part != "o" or r.has(f"{src}self_attn.o_proj.bias")):  # Qwen2's: not on o
                w[f"{dst}attn.b_{part.upper()}"] = r.get(f"{src}self_attn.{part}_proj.bias")
        w[dst + "ln_attn.w"] = r.get(src + "input_layernorm.weight")
        w[dst + "ln_mlp.w"] = r.get(src + "post_attention_layernorm.weight")
        for ours, theirs in (("gate", "gate_proj"), ("in", "up_proj"), ("out", "down_proj")):
            w[f"{dst}mlp.W_{ours}"] = r.linear(f"{src}mlp.{theirs}.weight")
            if cfg.mlp_bias:  # Llama's mlp_bias
                w[f"{dst}mlp.b_{ours}"] = r.get(f"{src}mlp.{theirs}.bias")
    if not cfg.tie_embeddings:  # r.linear says which tensor a checkpoint lacks
        w["unembed.W_U"] = _Reader(sd, ("",)).linear("lm_head.weight")  # [d_model, d_vocab]
    return w


Adapter = tuple[Callable[[dict, str], ModelConfig], Callable[[StateDict, ModelConfig], StateDict]]  # (config, weights)
ADAPTERS: dict[str, Adapter] = {
    "bert": (bert_config, encoder_weights),
    "roberta": (bert_config, encoder_weights),
    "xlm-roberta": (bert_config, encoder_weights),  # multilingual-e5, bge-m3, paraphrase-multilingual
    "camembert": (bert_config, encoder_weights),  # RoBERTa's layout under its own model_type (French)
    "ernie": (ernie_config, encoder_weights),  # ERNIE 1.0-3.0: BERT, with a task-type embedding where use_task_id
    "longformer": (longformer_config, encoder_weights),  # local windows both ways; no global attention
    "data2vec-text": (bert_config, encoder_weights),  # data2vec's text model: RoBERTa's layout under data2vec_text.
    **dict.fromkeys(PRE_NORM_ROBERTAS, (pre_norm_roberta_config, pre_norm_roberta_weights)),
    "distilbert": (distilbert_config, partial(encoder_weights, names=DISTILBERT_NAMES)),
    "electra": (electra_config, electra_weights),
    "mpnet": (mpnet_config, partial(encoder_weights, names=MPNET_NAMES)),
    "gpt2": (gpt2_config, gpt2_weights),
    "llama": (llama_config, llama_weights),
    "mistral": (llama_config, llama_weights),
    "qwen2": (llama_config, llama_weights),
    "iquestcoder": (llama_config, llama_weights),  # IQuest-Coder: transformers runs it as a Llama
    "internlm3": (llama_config, llama_weights),  # InternLM3: likewise (its qkv_bias and bias: refused above)
}


def _every_adapter() -> dict[str, Adapter]:
    from .hf_adapters_bert_variants import ADAPTERS as BERT_VARIANTS  # these import this module's helpers: imported
    from .hf_adapters_classic import ADAPTERS as CLASSIC
    from .hf_adapters_encoders import ADAPTERS as ENCODERS  # here, not on top
    from .hf_adapters_falcon_h1 import ADAPTERS as FALCON_H1
    from .hf_adapters_hybrid import ADAPTERS as HYBRID
    from .hf_adapters_jamba import ADAPTERS as JAMBA
    from .hf_adapters_kimi_linear import ADAPTERS as KIMI_LINEAR
    from .hf_adapters_latent import ADAPTERS as LATENT
    from .hf_adapters_layernorm import ADAPTERS as LAYERNORM
    from .hf_adapters_llama4 import ADAPTERS as LLAMA4
    from .hf_adapters_modern import ADAPTERS as MODERN
    from .hf_adapters_modernbert import ADAPTERS as MODERNBERT
    from .hf_adapters_moe import ADAPTERS as MOE
    from .hf_adapters_moe_recent import ADAPTERS as MOE_RECENT
    from .hf_adapters_nemotron_h import ADAPTERS as NEMOTRON_H
    from .hf_adapters_olmo_hybrid import ADAPTERS as OLMO_HYBRID
    from .hf_adapters_recent import ADAPTERS as RECENT
    from .hf_adapters_recurrent_gemma import ADAPTERS as RECURRENT_GEMMA
    from .hf_adapters_scaled import ADAPTERS as SCALED
    from .hf_adapters_seq2seq import ADAPTERS as SEQ2SEQ
    from .hf_adapters_t5 import ADAPTERS as T5
    from .hf_adapters_t5gemma import ADAPTERS as T5GEMMA
    from .hf_adapters_vision import ADAPTERS as VISION

    every = (ADAPTERS, MODERN, LAYERNORM, CLASSIC, SCALED, MOE, ENCODERS, T5, SEQ2SEQ, RECENT, LATENT, LLAMA4,
             MOE_RECENT, MODERNBERT, VISION, BERT_VARIANTS, T5GEMMA, HYBRID, NEMOTRON_H,
             OLMO_HYBRID, FALCON_H1, JAMBA, KIMI_LINEAR, RECURRENT_GEMMA)
    return {kind: adapter for table in every for kind, adapter in table.items()}


def supported_model_types() -> tuple[str, ...]:
    """Every config.json model_type a Hugging Face folder may have, sorted."""
    return tuple(sorted(_every_adapter()))


def adapter_for(hf: dict) -> Adapter:
    table = _every_adapter()
    kind = hf.get("model_type")
    if kind not in table and (why := not_yet(str(kind))) is not None:
        raise ModelLoadError(f"model_type {kind!r} is not supported yet. {why}")
    if kind not in table:
        raise ModelLoadError(not_read("model_type", str(kind), table))
    return table[kind]
