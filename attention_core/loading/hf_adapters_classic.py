"""Hugging Face adapters for the open decoders from before Llama that interpretability work still reads: GPT-Neo,
GPT-J, CodeGen, OPT, XGLM and GPT-BigCode (StarCoder 1, SantaCoder), and the first GPT (OpenAI's GPT-1, openai-gpt).

Each is a (config, weights) pair like those in hf_adapters.py. What differs from GPT-2, declared in the ModelConfig:
- GPT-Neo: q·k is not scaled (attn_scale=1.0: no 1/√d_head); every other layer (as `attention_layers` lists them)
  attends locally, a query seeing its last `window_size` keys, itself included (sliding_window, sliding_layers);
  q, k and v without biases.
- GPT-J: no position table: RoPE on the first `rotary_dim` dimensions of each head, attention and MLP side by side
  from one LayerNorm (parallel_blocks + shared_block_norm), no attention biases, a bias on the unembedding. GPT-J
  rotates pairs of neighbouring dimensions (0, 1), (2, 3), …; the engine rotates halves (i, i + r/2), as Llama
  does, so W_Q's and W_K's columns are reordered to match (conventions.pairs_to_halves): q·k, every score and
  pattern are unchanged, and a head's q and k list the same numbers, the even dimensions first.
- CodeGen (Salesforce): GPT-J's blocks, q, k and v fused in qkv_proj as its 4-way model-parallel code cut them: four
  groups of rows, each holding a quarter of the heads' q, then v, then k (codegen_weights splits them apart).
- GPT-BigCode: GPT-2's layout with one key/value head shared by every query head (multi_query: grouped-query
  attention with one group), q | k | v fused in c_attn (head by head without multi_query), Linear weights, not
  Conv1D.
- OPT: learned positions numbered from 2 (pos_offset=2, as OPT's embedding adds its offset of 2), ReLU, biases
  everywhere. OPT-350m's post-norm blocks and its projected embeddings are refused.
- XGLM (Meta's multilingual GPT): OPT's layers under `model.`, a final `layer_norm`, token embeddings × √d_model, and
  fairseq's sinusoids for positions (computed as M2M100's, hf_adapters_seq2seq.fairseq_positions; position p at row
  p + 2, the padding's row 1 zero).
- GPT-1: post-norm blocks (LayerNorm after each residual add, as BERT's), no final LayerNorm, learned positions,
  Conv1D weights as GPT-2's; its "gelu" is the tanh approximation (transformers' ACT_FNS for it).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

from ..config import ModelConfig
from ..errors import ModelLoadError
from .conventions import pairs_to_halves
from .hf_adapters import StateDict, _act, _Reader, conv1d_block
from .hf_adapters_layernorm import _layer_norm, _plain_mlp
from .hf_adapters_modern import _unembed, fused_qkv, interleaved_qkv
from .hf_adapters_seq2seq import fairseq_positions

# ── config ─────────────────────────────────────────────────────────────────────────────────────────


def _classic(hf: dict, name: str, arch: str, d_model: int, n_heads: int, n_layers: int, **features) -> ModelConfig:
    """A pre-LayerNorm decoder with one key/value head per query head and biases on its MLP."""
    fields = dict(
        name=name, arch=arch, n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_heads, d_model=d_model,
        d_head=d_model // n_heads, d_vocab=int(hf["vocab_size"]), causal=True, norm="layer",
        norm_eps=float(hf.get("layer_norm_epsilon", 1e-5)), norm_position="pre",
        act=_act(hf.get("activation_function", "gelu_new")), gated_mlp=False, mlp_bias=True,
        tie_embeddings=bool(hf.get("tie_word_embeddings", True)), bos_token_id=hf.get("bos_token_id"),
        eos_token_id=hf.get("eos_token_id"), display_name=str(hf.get("_name_or_path") or name),
    )  # fmt: skip
    return ModelConfig(**{**fields, **features})


def _neo_layers(hf: dict) -> list[str]:
    """GPT-Neo's "global" or "local" for each layer: `attention_layers`, or expanded from `attention_types`
    ([[["global", "local"], 12]] = that pair 12 times), as GPTNeoConfig does."""
    if hf.get("attention_layers"):
        return list(hf["attention_layers"])
    return [kind for kinds, times in hf.get("attention_types") or [] for _ in range(int(times)) for kind in kinds]


def gpt_neo_config(hf: dict, name: str) -> ModelConfig:
    n_layers, d_model = int(hf["num_layers"]), int(hf["hidden_size"])
    kinds = _neo_layers(hf)
    if len(kinds) != n_layers or set(kinds) - {"global", "local"}:
        raise ModelLoadError(f"config.json's attention layers {kinds} do not give one of global/local per layer for "
                             f"{n_layers} layers.")  # fmt: skip
    local = tuple(kind == "local" for kind in kinds)
    return _classic(
        hf, name, "gpt_neo", d_model, int(hf["num_heads"]), n_layers, d_mlp=int(hf.get("intermediate_size") or
        4 * d_model), n_ctx=int(hf.get("max_position_embeddings", 2048)), uses_rope=False, attn_scale=1.0,
        sliding_window=int(hf.get("window_size", 256)) if any(local) else None, sliding_layers=local if any(local)
        else (), attn_bias=False,
    )  # fmt: skip


def gptj_config(hf: dict, name: str) -> ModelConfig:
    d_model, n_heads = int(hf["n_embd"]), int(hf["n_head"])
    rotary = hf.get("rotary_dim")
    return _classic(
        hf, name, "gptj", d_model, n_heads, int(hf["n_layer"]), d_mlp=int(hf.get("n_inner") or 4 * d_model),
        n_ctx=int(hf.get("n_positions", 2048)), uses_rope=True, rope_theta=10000.0,
        rotary_dim=int(rotary) if rotary else None, rope_pairs_reordered=True, parallel_blocks=True,
        shared_block_norm=True, attn_bias=False, tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
    )  # fmt: skip


def codegen_config(hf: dict, name: str) -> ModelConfig:
    if int(hf["n_head"]) % CODEGEN_GROUPS:
        raise ModelLoadError(f"CodeGen's {hf['n_head']} heads do not split into its {CODEGEN_GROUPS} groups.")
    return dataclasses.replace(gptj_config(hf, name), arch="codegen")


def gpt_bigcode_config(hf: dict, name: str) -> ModelConfig:
    d_model, n_heads = int(hf["n_embd"]), int(hf["n_head"])
    return _classic(
        hf, name, "gpt_bigcode", d_model, n_heads, int(hf["n_layer"]), d_mlp=int(hf.get("n_inner") or 4 * d_model),
        n_ctx=int(hf.get("n_positions", 2048)), uses_rope=False, n_kv_heads=1 if hf.get("multi_query", True) else
        n_heads, attn_bias=True, attn_scale=None if hf.get("scale_attn_weights", True) else 1.0,
        act=_act(hf.get("activation_function", "gelu_pytorch_tanh")),
    )  # fmt: skip


def opt_config(hf: dict, name: str) -> ModelConfig:
    d_model = int(hf["hidden_size"])
    if not hf.get("do_layer_norm_before", True) or int(hf.get("word_embed_proj_dim") or d_model) != d_model:
        raise ModelLoadError("OPT checkpoints with post-norm blocks or projected embeddings (OPT-350m) are not "
                             "supported yet.")  # fmt: skip
    if not hf.get("layer_norm_elementwise_affine", True):
        raise ModelLoadError("OPT checkpoints whose LayerNorms have no weights are not supported yet.")
    biases = bool(hf.get("enable_bias", True))
    return _classic(
        hf, name, "opt", d_model, int(hf["num_attention_heads"]), int(hf["num_hidden_layers"]),
        d_mlp=int(hf["ffn_dim"]), n_ctx=int(hf.get("max_position_embeddings", 2048)), uses_rope=False,
        pos_offset=2, act=_act(hf.get("activation_function", "relu")), attn_bias=biases, mlp_bias=biases,
    )  # fmt: skip


# ── weights ────────────────────────────────────────────────────────────────────────────────────────


def _attention(w: StateDict, r: _Reader, src: str, dst: str, names: tuple[str, ...], biases: tuple[str, ...]) -> None:
    """W_Q, W_K, W_V, W_O ([in, out]) from Q, K, V, O's `names`, with the biases of the parts in `biases`."""
    for part, theirs in zip("QKVO", names, strict=True):
        w[f"{dst}attn.W_{part}"] = r.linear(f"{src}{theirs}.weight")
        if part in biases:
            w[f"{dst}attn.b_{part}"] = r.get(f"{src}{theirs}.bias")


AttentionReader = Callable[[StateDict, _Reader, str, str], None]  # (w, r, src, dst): one block's attention weights


def _gpt2_layout(sd: StateDict, cfg: ModelConfig, attention: AttentionReader) -> StateDict:
    """GPT-2's layout under `transformer.` (GPT-Neo, GPT-BigCode): wte, wpe; per block ln_1, the attention that
    `attention(w, r, src, dst)` reads, ln_2, mlp.c_fc and mlp.c_proj (Linear); ln_f."""
    r = _Reader(sd, ("transformer.",))
    w: StateDict = {"embed.W_E": r.get("wte.weight"), "embed.W_pos": r.get("wpe.weight")}
    for layer in range(cfg.n_layers):
        src, dst = f"h.{layer}.", f"blocks.{layer}."
        attention(w, r, src, dst)
        _layer_norm(w, r, dst + "ln_attn", src + "ln_1")
        _layer_norm(w, r, dst + "ln_mlp", src + "ln_2")
        _plain_mlp(w, r, src, dst, "mlp.c_fc", "mlp.c_proj")
    _layer_norm(w, r, "ln_final", "ln_f")
    _unembed(w, sd, cfg)
    return w


def gpt_neo_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    def attention(w: StateDict, r: _Reader, src: str, dst: str) -> None:
        _attention(w, r, src + "attn.attention.", dst, ("q_proj", "k_proj", "v_proj", "out_proj"), "O")

    return _gpt2_layout(sd, cfg, attention)


def gptj_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    r = _Reader(sd, ("transformer.",))
    w: StateDict = {"embed.W_E": r.get("wte.weight")}
    for layer in range(cfg.n_layers):
        src, dst = f"h.{layer}.", f"blocks.{layer}."
        _attention(w, r, src + "attn.", dst, ("q_proj", "k_proj", "v_proj", "out_proj"), "")
        _layer_norm(w, r, dst + "ln_attn", src + "ln_1")
        _plain_mlp(w, r, src, dst, "mlp.fc_in", "mlp.fc_out")
    _layer_norm(w, r, "ln_final", "ln_f")
    _unembed(w, sd, cfg)
    if "lm_head.bias" in sd:
        w["unembed.b_U"] = sd["lm_head.bias"].float()
    return pairs_to_halves(w, cfg)


CODEGEN_GROUPS = 4  # mp_num: transformers' CodeGen attention fixes it


def codegen_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """CodeGen's qkv_proj ([3·d_model, d_model]: 4 groups of rows, each q | v | k for a quarter of the heads) cut into
    GPT-J's q_proj, k_proj, v_proj (heads in order), then read as GPT-J's."""
    split = dict(sd)
    for name in [k for k in sd if k.endswith("attn.qkv_proj.weight")]:
        groups = split.pop(name).reshape(CODEGEN_GROUPS, 3, cfg.d_model // CODEGEN_GROUPS, cfg.d_model)
        for i, part in enumerate("qvk"):  # (groups, rows per group, d_model) → heads in order
            split[name.replace("qkv_proj", f"{part}_proj")] = groups[:, i].reshape(cfg.d_model, cfg.d_model)
    return gptj_weights(split, cfg)


def gpt_bigcode_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    def attention(w: StateDict, r: _Reader, src: str, dst: str) -> None:
        if cfg.n_kv_heads == cfg.n_heads:  # without multi_query: rows head by head, q, k and v of each in turn
            interleaved_qkv(w, r, src + "attn.c_attn", dst, cfg)
        else:  # rows q | k | v, one key/value head
            fused_qkv(w, r, src + "attn.c_attn", dst, cfg, biases=True)
        w[dst + "attn.W_O"], w[dst + "attn.b_O"] = r.linear(src + "attn.c_proj.weight"), r.get(src + "attn.c_proj.bias")

    return _gpt2_layout(sd, cfg, attention)


def opt_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    r = _Reader(sd, ("model.decoder.", "decoder."))
    w: StateDict = {"embed.W_E": r.get("embed_tokens.weight"), "embed.W_pos": r.get("embed_positions.weight")}
    _fairseq_layers(w, r, cfg)
    if r.has("final_layer_norm.weight"):  # absent in checkpoints saved with _remove_final_layer_norm
        _layer_norm(w, r, "ln_final", "final_layer_norm")
    _unembed(w, sd, cfg)
    return w


def _fairseq_layers(w: StateDict, r: _Reader, cfg: ModelConfig) -> None:
    """OPT's and XGLM's blocks: self_attn's q/k/v/out_proj, self_attn_layer_norm, fc1, fc2, final_layer_norm."""
    biases = "QKVO" if cfg.attn_bias else ""
    for layer in range(cfg.n_layers):
        src, dst = f"layers.{layer}.", f"blocks.{layer}."
        _attention(w, r, src + "self_attn.", dst, ("q_proj", "k_proj", "v_proj", "out_proj"), biases)
        _layer_norm(w, r, dst + "ln_attn", src + "self_attn_layer_norm")
        _layer_norm(w, r, dst + "ln_mlp", src + "final_layer_norm")
        _plain_mlp(w, r, src, dst, "fc1", "fc2", biases=cfg.mlp_bias)


_XGLM_PADDING = 1  # the padding id whose row of XGLM's position table is zero (never read: positions start at 2)


def xglm_config(hf: dict, name: str) -> ModelConfig:
    if int(hf.get("pad_token_id", _XGLM_PADDING)) != _XGLM_PADDING:  # its row would be a position's, zeroed
        pad = hf.get("pad_token_id")
        raise ModelLoadError(f"XGLM with pad_token_id {pad} is not supported (its checkpoints' is 1).")
    d_model = int(hf["d_model"])
    return _classic(
        hf, name, "xglm", d_model, int(hf["attention_heads"]), int(hf["num_layers"]), d_mlp=int(hf["ffn_dim"]),
        n_ctx=int(hf["max_position_embeddings"]), uses_rope=False, pos_offset=2, attn_bias=True,
        act=_act(hf.get("activation_function", "gelu")),
        embed_scale=math.sqrt(d_model) if hf.get("scale_embedding", True) else 1.0,
    )  # fmt: skip


def xglm_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    r = _Reader(sd, ("model.",))
    w: StateDict = {
        "embed.W_E": r.get("embed_tokens.weight"),  # (d_vocab, d_model)
        "embed.W_pos": fairseq_positions(cfg.n_ctx + 2, cfg.d_model, _XGLM_PADDING),  # (n_ctx + 2, d_model)
    }
    _fairseq_layers(w, r, cfg)
    _layer_norm(w, r, "ln_final", "layer_norm")
    _unembed(w, sd, cfg)
    return w


_GPT1_ACTS = {"gelu": "gelu_tanh", "relu": "relu", "silu": "silu", "swish": "silu"}  # transformers' openai ACT_FNS


def openai_gpt_config(hf: dict, name: str) -> ModelConfig:
    afn = str(hf.get("afn", "gelu"))
    if afn not in _GPT1_ACTS:
        raise ModelLoadError(f"GPT-1's afn {afn!r} is not one of {', '.join(_GPT1_ACTS)}.")
    d_model = int(hf["n_embd"])
    return _classic(
        hf, name, "openai_gpt", d_model, int(hf["n_head"]), int(hf["n_layer"]), d_mlp=4 * d_model,
        n_ctx=int(hf.get("n_positions", 512)), norm_position="post", act=_GPT1_ACTS[afn], attn_bias=True,
        uses_rope=False, tie_embeddings=True,
    )  # fmt: skip


def openai_gpt_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """tokens_embed, positions_embed; per block c_attn (q | k | v, Conv1D: [in, out]) and c_proj, ln_1 after
    attention's residual add, the MLP, ln_2 after its add. No final norm: the last block's ln_2 is it."""
    r = _Reader(sd, ("transformer.",))
    w: StateDict = {"embed.W_E": r.get("tokens_embed.weight"), "embed.W_pos": r.get("positions_embed.weight")}
    for layer in range(cfg.n_layers):
        conv1d_block(w, r, f"h.{layer}.", f"blocks.{layer}.", cfg.d_model)
    return w


ADAPTERS = {
    "openai-gpt": (openai_gpt_config, openai_gpt_weights),
    "gpt_neo": (gpt_neo_config, gpt_neo_weights),
    "gptj": (gptj_config, gptj_weights),
    "codegen": (codegen_config, codegen_weights),
    "opt": (opt_config, opt_weights),
    "xglm": (xglm_config, xglm_weights),
    "gpt_bigcode": (gpt_bigcode_config, gpt_bigcode_weights),
}
