"""Hugging Face adapters for encoders in BERT's layout with a twist: ALBERT, whose layers share their weights,
BigBird, whose sparse attention is full attention up to a length, Megatron-BERT, whose norms come before each
sublayer, RemBERT, whose narrow embeddings are projected up, and the protein language models ESM and ESM C.

ALBERT ("A Lite BERT": albert-base-v2 to albert-xxlarge-v2): BERT's post-norm layers, one set of weights shared by
every layer.

AlbertTransformer keeps num_hidden_groups blocks (1 in every released checkpoint) and runs num_hidden_layers layers,
layer i reading group int(i / (num_hidden_layers / num_hidden_groups)), as transformers picks it. The groups' blocks
are stored once (`blocks.{g}.*`); `ModelConfig.layer_weights` says which each layer reads and the Model answers a
layer's names with its group's tensors (attention_core/shared_layers.py). The embeddings (embedding_size wide, 128
in the releases) are normalised at their own width, then projected up to the layers' (embedding_hidden_mapping_in →
embed.W_proj), as ELECTRA-small's. The masked-LM head is read where a checkpoint has one (masked_lm.py); the
sentence-order and pooler heads are not. Refused:
inner_group_num ≠ 1 (several different layers inside each group; no released checkpoint has it).

BigBird (google/bigbird-roberta-base, -large): BERT's layers, positions from 0, embeddings × √d_model where
rescale_embeddings says so. Its block-sparse attention (global, sliding and random blocks) is replaced by full
attention, as transformers' BigBirdModel runs it, for texts up to (5 + 2·num_random_blocks)·block_size tokens (704 in
the releases): texts are capped there, past which the random blocks would choose the keys.

ESM (facebook/esm2_t6_8M_UR50D to esm2_t48_15B_UR50D; esm1b_t33_650M_UR50S): BERT's layers with a LayerNorm before
each sublayer and one after the stack (emb_layer_norm_after), read by EsmModel's and EsmForMaskedLM's (esm.) names.
ESM-2 rotates q and k (RoPE, base 10000, no position table); ESM-1b learns positions numbered from padding_idx + 1,
as RoBERTa's, and normalises its embeddings. A text is a protein sequence, one token per amino-acid letter
(esm_tokenizer.py). Token dropout (`ModelConfig.token_dropout_id`, embeddings.py): a <mask> token's embedding is zeroed
and the others scaled by 0.88 / (1 − the text's share of <mask>), as EsmEmbeddings does. The contact head (a logistic
regression over every head's pattern) is read for attention_core/contacts.py, the masked-LM head by masked_lm.py;
ESMFold (is_folding_model) is refused.

ESM C (EvolutionaryScale's ESM Cambrian, transformers' `esmc`): a Llama reading both ways (SwiGLU, RoPE, no
biases in its maps) with LayerNorms (ε 1e-5, fixed in its code): the blocks' with biases, the final one and the
q/k norms without; q and k each normalised over all heads at once (`qk_norm="full"`) before RoPE; each sublayer's
output divided by √(n_layers / 36) before it is added (ModelConfig.residual_scale, folded into W_O and W_out). Its
tokenizer.json is ESM's alphabet (and | between chains); no token dropout. Its masked-LM head (an untied decoder with
a bias) is read by masked_lm.py.
"""

from __future__ import annotations

import dataclasses
import math
from functools import partial

from ..config import ModelConfig
from ..errors import ModelLoadError
from .conventions import fold_residual_scale
from .hf_adapters import (
    BERT_NAMES,
    StateDict,
    _EncoderNames,
    _Reader,
    bert_config,
    check_embedding_width,
    encoder_weights,
)  # fmt: skip
from .hf_adapters_modern import _decoder, _gated, llama_layout

ALBERT_NAMES = dataclasses.replace(
    BERT_NAMES, prefixes=("albert.",), layer="encoder.albert_layer_groups.{}.albert_layers.0.",
    linears=(("attn.Q", "attention.query"), ("attn.K", "attention.key"), ("attn.V", "attention.value"),
             ("attn.O", "attention.dense"), ("mlp.in", "ffn"), ("mlp.out", "ffn_output")),
    norms=(("ln_attn", "attention.LayerNorm"), ("ln_mlp", "full_layer_layer_norm")),
)  # fmt: skip


def albert_config(hf: dict, name: str) -> ModelConfig:
    if int(hf.get("inner_group_num", 1)) != 1:
        raise ModelLoadError(f"ALBERT with inner_group_num {hf['inner_group_num']} is not supported (1: one layer a "
                             "group, as every released checkpoint).")  # fmt: skip
    layers, groups = int(hf["num_hidden_layers"]), int(hf.get("num_hidden_groups", 1))
    if not 1 <= groups <= layers:
        raise ModelLoadError(f"ALBERT with {groups} groups of weights for {layers} layers is not supported.")
    return dataclasses.replace(
        bert_config({**hf, "hidden_act": hf.get("hidden_act", "gelu_new")}, name), arch="albert",
        embed_proj_after_norm=True, layer_weights=tuple(int(i / (layers / groups)) for i in range(layers)),
    )


def projected_encoder_weights(sd: StateDict, cfg: ModelConfig, names: _EncoderNames) -> StateDict:
    """An encoder's tensors whose narrow embeddings are projected up to the layers by the encoder's
    embedding_hidden_mapping_in (ALBERT, RemBERT) → embed.W_proj (embedding width, d_model), embed.b_proj."""
    w = encoder_weights(sd, cfg, names)
    r = _Reader(sd, names.prefixes)
    w["embed.W_proj"] = r.linear("encoder.embedding_hidden_mapping_in.weight")  # (embedding_size, hidden_size)
    w["embed.b_proj"] = r.get("encoder.embedding_hidden_mapping_in.bias")
    return check_embedding_width(w, cfg)


def full_attention_tokens(hf: dict) -> int | None:
    """Up to how many tokens BigBird's block-sparse attention is full attention ((5 + 2·num_random_blocks)·block_size,
    where transformers switches to full attention); None where the config asks for full attention throughout."""
    if hf.get("attention_type", "block_sparse") != "block_sparse":
        return None
    return (5 + 2 * int(hf.get("num_random_blocks", 3))) * int(hf.get("block_size", 64))


def big_bird_config(hf: dict, name: str) -> ModelConfig:
    if not hf.get("use_bias", True):
        raise ModelLoadError("BigBird without biases on queries, keys and values (use_bias false) is not supported.")
    d_model = int(hf["hidden_size"])
    cfg = dataclasses.replace(
        bert_config({**hf, "hidden_act": hf.get("hidden_act", "gelu_new")}, name), arch="big_bird",
        embed_scale=math.sqrt(d_model) if hf.get("rescale_embeddings", False) else 1.0,
    )  # fmt: skip
    full = full_attention_tokens(hf)
    if full is None or full >= cfg.n_ctx:
        return cfg
    note = (f"Texts are capped at {full:,} tokens: up to there BigBird attends to every key, past them to global, "
            "sliding and random blocks, which this engine does not run.")  # fmt: skip
    return dataclasses.replace(cfg, n_ctx=full, conversion_notes=(*cfg.conversion_notes, note))


ESM_NAMES = dataclasses.replace(
    BERT_NAMES, prefixes=("esm.",), embedding_norm=False, final_norm="encoder.emb_layer_norm_after",
    norms=(("ln_attn", "attention.LayerNorm"), ("ln_mlp", "LayerNorm")),
)  # fmt: skip


ESM_TEXT = ("ESM reads protein sequences, one capital letter per amino acid (as MKTAYIAKQRQISFVKSHFSRQ); spaces and "
            "line breaks are skipped, and each run of other characters becomes one <unk>.")  # fmt: skip
ESMC_TEXT = ("ESM C reads protein sequences, one capital letter per amino acid (as MKTAYIAKQRQISFVKSHFSRQ; | between "
             "chains); every other character, spaces and line breaks included, becomes an <unk>.")  # fmt: skip


def esm_config(hf: dict, name: str) -> ModelConfig:
    positions = hf.get("position_embedding_type", "absolute")
    if hf.get("is_folding_model") or positions not in ("rotary", "absolute"):
        why = "ESMFold's folding trunk" if hf.get("is_folding_model") else f"{positions} positions"
        raise ModelLoadError(f"ESM with {why} is not supported (ESM-2's rotary and ESM-1b's learned positions are).")
    cfg = bert_config({**hf, "position_embedding_type": "absolute", "type_vocab_size": 0}, name)
    rotary, offset = positions == "rotary", int(hf.get("pad_token_id", 1)) + 1  # positions from padding_idx + 1
    return dataclasses.replace(
        cfg, arch="esm", norm_position="pre", uses_rope=rotary, rope_theta=10000.0 if rotary else None,
        pos_offset=0 if rotary else offset, n_ctx=cfg.n_ctx - (0 if rotary else offset),
        token_dropout_id=int(hf["mask_token_id"]) if hf.get("token_dropout") else None,
        conversion_notes=(*cfg.conversion_notes, ESM_TEXT),
    )  # fmt: skip


def esm_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    w = encoder_weights(sd, cfg, ESM_NAMES)
    r = _Reader(sd, ESM_NAMES.prefixes)
    if r.has("embeddings.layer_norm.weight"):  # ESM-1b's emb_layer_norm_before
        w["embed.ln.w"], w["embed.ln.b"] = r.get("embeddings.layer_norm.weight"), r.get("embeddings.layer_norm.bias")
    if r.has("contact_head.regression.weight"):  # a weight per layer's head: contacts from attention (contacts.py)
        w["contact.W"] = r.get("contact_head.regression.weight").flatten()  # (n_layers · n_heads,)
        w["contact.b"] = r.get("contact_head.regression.bias")  # (1,)
        if w["contact.W"].numel() != cfg.n_layers * cfg.n_heads or w["contact.b"].numel() != 1:
            raise ModelLoadError(f"ESM's contact head has {w['contact.W'].numel()} weights and "
                                 f"{w['contact.b'].numel()} biases for {cfg.n_layers} × {cfg.n_heads} heads and one "
                                 "bias: a mangled checkpoint.")  # fmt: skip
    return w


def esmc_config(hf: dict, name: str) -> ModelConfig:
    if int(hf.get("num_key_value_heads") or hf["num_attention_heads"]) != int(hf["num_attention_heads"]):
        raise ModelLoadError("ESM C with grouped-query attention is not supported (transformers refuses it too).")
    scale = 1.0 / math.sqrt(int(hf["num_hidden_layers"]) / 36)  # each sublayer's output ÷ √(n_layers / 36)
    return _decoder(hf, name, "esmc", causal=False, norm="layer", norm_eps=1e-5, qk_norm="full", tie_embeddings=True,
                    residual_scale=scale, conversion_notes=(ESMC_TEXT,))  # fmt: skip


def esmc_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """A Llama's layout (under esmc. where saved with its head), plus the blocks' LayerNorm biases."""
    norms = {"ln_attn": "input_layernorm", "ln_mlp": "post_attention_layernorm"}
    w = llama_layout(sd, cfg, _gated, prefixes=("esmc.",), norms=norms)
    r = _Reader(sd, ("esmc.",))
    for layer in range(cfg.n_layers):
        for ours, theirs in norms.items():
            w[f"blocks.{layer}.{ours}.b"] = r.get(f"layers.{layer}.{theirs}.bias")
    return fold_residual_scale(w, cfg)


# NVIDIA's Megatron-BERT (and IDEA's Erlangshen-MegatronBert): XLM-RoBERTa-XL's layout under BERT's names and positions
MEGATRON_BERT_NAMES = dataclasses.replace(
    BERT_NAMES, prefixes=("bert.",), embedding_norm=False, final_norm="encoder.ln",
    norms=(("ln_attn", "attention.ln"), ("ln_mlp", "ln")),
)  # fmt: skip


def megatron_bert_config(hf: dict, name: str) -> ModelConfig:
    """A BERT with a LayerNorm before each sublayer and one closing the stack, none on the embeddings."""
    return dataclasses.replace(bert_config(hf, name), arch="megatron-bert", norm_position="pre")


REMBERT_NAMES = dataclasses.replace(BERT_NAMES, prefixes=("rembert.",))


def rembert_config(hf: dict, name: str) -> ModelConfig:
    """RemBERT (Google's): BERT's post-norm layers, its embeddings input_embedding_size wide, normalised at that width
    and projected up to the layers' (encoder.embedding_hidden_mapping_in, as ALBERT's); the masked-language-model
    head's own decoder (output_embedding_size wide) is read as BERT's."""
    return dataclasses.replace(bert_config(hf, name), arch="rembert", embed_proj_after_norm=True)


ADAPTERS = {
    "rembert": (rembert_config, partial(projected_encoder_weights, names=REMBERT_NAMES)),
    "megatron-bert": (megatron_bert_config, partial(encoder_weights, names=MEGATRON_BERT_NAMES)),
    "esm": (esm_config, esm_weights),
    "esmc": (esmc_config, esmc_weights),
    "albert": (albert_config, partial(projected_encoder_weights, names=ALBERT_NAMES)),
    "big_bird": (big_bird_config, encoder_weights),  # BERT's names under bert.
}
