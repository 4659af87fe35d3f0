"""Hugging Face encoder-decoders of the BART family → the canonical encoder-decoder layout.

Marian (opus-mt), BART, mBART, PLBART, Pegasus, Blenderbot, M2M100 (NLLB-200 too), LED and BigBird-Pegasus share one
layer layout (q/k/v/out_proj with biases, fc1 and fc2, LayerNorms with biases, one embedding shared by both stacks and
the output, a `final_logits_bias` but in M2M100) and differ in four choices, each declared in `_FAMILIES` and read
from transformers' own modeling files:

- positions: Marian's and Pegasus's fixed sinusoids (computed, shared by both stacks), M2M100's fairseq sinusoids
  (computed: sines then cosines at frequencies 10000^(-i/(d/2 - 1)), position p at row pad + 1 + p, as fairseq
  counts positions from past the padding id), or BART's, mBART's and PLBART's learned tables, one per stack, whose
  first two rows are never used (position p reads row p + 2), or Blenderbot's, read from row 0;
- where the norms sit: after each sublayer (Marian, BART, PLBART) or before it (mBART, Pegasus, Blenderbot, M2M100),
  the pre-norm ones closing each stack with a final LayerNorm (`ln_final`, `dec.ln_final`);
- a LayerNorm on the embeddings (BART, mBART, PLBART: `layernorm_embedding`), per stack;
- whether token embeddings are multiplied by √d_model (`scale_embedding`; Marian, Pegasus and M2M100 do).

LED (Longformer Encoder-Decoder, allenai/led-*) is BART's layout with positions from row 0, its stacks under `led.`,
its encoder's queries reading the keys within attention_window / 2 either way (Longformer's local attention, as
LEDForConditionalGeneration runs a text given no global_attention_mask; the global projections are not read) and a
decoder position table shorter than the encoder's (`ModelConfig.decoder_n_ctx`: targets stop there). BigBird-Pegasus
(google/bigbird-pegasus-large-*) is Pegasus's pre-norm layout with learned positions from row 0, no attention biases
(use_bias false), each stack closed by a norm it calls layernorm_embedding, and its encoder's block-sparse attention
replaced by full attention, as transformers runs it, up to (5 + 2·num_random_blocks)·block_size tokens: texts are
capped there (704 tokens in the releases).

The decoder's own position table and embedding norm are stored as `dec.embed.*`; the decoder reads them in
place of the encoder's (attention_core/seq2seq.py `decoder_view`). Blenderbot Small is not read: its decoder
normalises the token embeddings before adding the positions, which no other stack here does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..config import ModelConfig
from ..errors import ModelLoadError
from .hf_adapters import StateDict, _act, _Reader
from .hf_adapters_bert_variants import full_attention_tokens

_BART_ATTENTION = ("q_proj", "k_proj", "v_proj", "out_proj")
LONGFORMER_ATTENTION = ("longformer_self_attn.query", "longformer_self_attn.key", "longformer_self_attn.value",
                        "output")  # LED's encoder: its local projections (the global ones not read)  # fmt: skip
BIGBIRD_ATTENTION = ("self.query", "self.key", "self.value", "output")  # BigBird-Pegasus's encoder


@dataclass(frozen=True)
class _Family:
    positions: str  # "learned": a table per stack (BART's, read from row 2 on); "sinusoid": Marian's, Pegasus's;
    # "fairseq": M2M100's sinusoids from row pad + 1 on
    pre_norm: bool  # mBART, Pegasus, ...: a norm before each sublayer, and a final norm closing each stack
    embedding_norm: bool  # BART, mBART, PLBART: layernorm_embedding after token + position
    default_act: str
    learned_offset: int = 2  # the row of position 0 in a learned table (BART's 2; Blenderbot's 0)
    longformer_encoder: bool = False  # LED: the encoder's queries read keys within attention_window / 2 either way
    encoder_attention: tuple[str, ...] = _BART_ATTENTION  # the encoder's Q, K, V, O under self_attn.
    final_norm: str = "layer_norm"  # the pre-norm stacks' closing norm (BigBird-Pegasus's: layernorm_embedding)
    capped_encoder: bool = False  # BigBird-Pegasus: sources stop where its block-sparse attention is still full


_FAMILIES = {
    "marian": _Family("sinusoid", pre_norm=False, embedding_norm=False, default_act="swish"),
    "bart": _Family("learned", pre_norm=False, embedding_norm=True, default_act="gelu"),
    "plbart": _Family("learned", pre_norm=False, embedding_norm=True, default_act="gelu"),  # BART's layout
    "mbart": _Family("learned", pre_norm=True, embedding_norm=True, default_act="gelu"),
    "pegasus": _Family("sinusoid", pre_norm=True, embedding_norm=False, default_act="gelu"),
    "blenderbot": _Family("learned", pre_norm=True, embedding_norm=False, default_act="gelu", learned_offset=0),
    "m2m_100": _Family("fairseq", pre_norm=True, embedding_norm=False, default_act="relu"),
    "led": _Family("learned", pre_norm=False, embedding_norm=True, default_act="gelu", learned_offset=0,
                   longformer_encoder=True, encoder_attention=LONGFORMER_ATTENTION),
    "bigbird_pegasus": _Family("learned", pre_norm=True, embedding_norm=False, default_act="gelu_new",
                               learned_offset=0, encoder_attention=BIGBIRD_ATTENTION, final_norm="layernorm_embedding",
                               capped_encoder=True),
}  # fmt: skip
# BartLearnedPositionalEmbedding: "BART is set up so that if padding_idx is specified then offset the embedding ids by
# 2": position p is row p + 2 of a (max_position_embeddings + 2)-row table; Blenderbot's reads row p of its own


def seq2seq_config(hf: dict, name: str) -> ModelConfig:
    kind = str(hf["model_type"])
    family = _FAMILIES[kind]
    d_model, n_heads = int(hf["d_model"]), int(hf["encoder_attention_heads"])
    if int(hf["decoder_attention_heads"]) != n_heads or int(hf["decoder_ffn_dim"]) != int(hf["encoder_ffn_dim"]):
        raise ModelLoadError(f"{kind} models whose encoder and decoder differ in heads or MLP width are not supported.")
    if kind == "marian" and (hf.get("normalize_before") or not hf.get("share_encoder_decoder_embeddings", True)):
        raise ModelLoadError("Only post-norm Marian models with shared embeddings are supported.")
    # mBART's config may name no decoder start: its decoder then starts from the end-of-sequence token, as
    # mBART-50's checkpoints say (decoder_start_token_id = eos) and mBART's shift_tokens_right does for cc25. Another
    # (PLBART's) starts from its <s>, as transformers' generate falls back to bos_token_id.
    start = hf.get("decoder_start_token_id")
    if start is None:
        start = hf.get("eos_token_id") if kind == "mbart" else hf.get("bos_token_id")
    encoder_positions, decoder_positions = _positions(hf, family)
    return ModelConfig(
        name=name, arch=kind, n_layers=int(hf["encoder_layers"]), n_heads=n_heads, n_kv_heads=n_heads,
        d_model=d_model, d_head=d_model // n_heads, d_mlp=int(hf["encoder_ffn_dim"]), d_vocab=int(hf["vocab_size"]),
        n_ctx=encoder_positions, causal=False, norm="layer", norm_eps=1e-5,
        norm_position="pre" if family.pre_norm else "post", act=_act(hf.get("activation_function", family.default_act)),
        gated_mlp=False, uses_rope=False, attn_bias=bool(hf.get("use_bias", True)), mlp_bias=True,
        pos_offset=_position_offset(hf, family),
        tie_embeddings=bool(hf.get("tie_word_embeddings", True)),
        embed_scale=math.sqrt(d_model) if hf.get("scale_embedding") else 1.0,
        n_decoder_layers=int(hf["decoder_layers"]),
        decoder_start_token_id=start, decoder_n_ctx=0 if decoder_positions == encoder_positions else decoder_positions,
        sliding_window=_encoder_window(hf) if family.longformer_encoder else None,
        forced_bos_token_id=hf.get("forced_bos_token_id"),
        bos_token_id=hf.get("bos_token_id"), eos_token_id=hf.get("eos_token_id"),
        display_name=str(hf.get("_name_or_path") or name), conversion_notes=_position_notes(hf, encoder_positions),
    )  # fmt: skip


def _positions(hf: dict, family: _Family) -> tuple[int, int]:
    """(the encoder's, the decoder's) positions: max_position_embeddings for both, LED's two, or, with a capped
    encoder (BigBird-Pegasus's), the encoder's where its block-sparse attention is still full attention."""
    if "max_encoder_position_embeddings" in hf:
        return int(hf["max_encoder_position_embeddings"]), int(hf["max_decoder_position_embeddings"])
    n = int(hf["max_position_embeddings"])
    full = full_attention_tokens(hf) if family.capped_encoder else None
    return (n if full is None else min(full, n)), n


def _position_notes(hf: dict, encoder_positions: int) -> tuple[str, ...]:
    """What the sidebar says of texts capped below the encoder's positions (BigBird-Pegasus's: the model's cap, so its
    targets' too)."""
    if encoder_positions >= int(hf.get("max_position_embeddings", encoder_positions)):
        return ()
    return (f"Texts are capped at {encoder_positions:,} tokens: up to there BigBird-Pegasus's encoder attends to every "
            "key, past them to global, sliding and random blocks, which this engine does not run.",)  # fmt: skip


def _encoder_window(hf: dict) -> int:
    """LED's encoder window as a sliding_window both ways (|query − key| ≤ attention_window / 2), one for all layers,
    as its Longformer self-attention reads it given no global_attention_mask."""
    windows = hf.get("attention_window", 512)
    windows = windows if isinstance(windows, list) else [windows] * int(hf["encoder_layers"])
    if len(set(windows)) != 1 or int(windows[0]) % 2 or int(windows[0]) <= 0:
        raise ModelLoadError(f"LED with attention_window {windows} is not supported (one even window for all layers).")
    return int(windows[0]) // 2 + 1


def _position_offset(hf: dict, family: _Family) -> int:
    """The row of position 0 in the family's position table."""
    if family.positions == "fairseq":  # M2M100SinusoidalPositionalEmbedding: position ids start at padding_idx + 1
        return int(hf.get("pad_token_id", 1)) + 1
    return family.learned_offset if family.positions == "learned" else 0


def fairseq_positions(n_pos: int, dim: int, padding_idx: int) -> torch.Tensor:
    """fairseq's (tensor2tensor's) sinusoids, as M2M100 and XGLM compute them: sines of every frequency, then their
    cosines, the frequencies 10000^(-i / (dim/2 - 1)); a zero column when dim is odd; the padding row all zeros.
    In float32 as they compute it (float64 moves far rows by ~1e-5)."""
    half = dim // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float32) * -(math.log(10000.0) / (half - 1)))  # (half,)
    angles = torch.arange(n_pos, dtype=torch.float32)[:, None] * freqs[None, :]  # (n_pos, half)
    out = torch.zeros(n_pos, dim, dtype=torch.float32)
    out[:, :half], out[:, half : 2 * half] = torch.sin(angles), torch.cos(angles)
    out[padding_idx] = 0.0  # never read: no position id is the padding's
    return out


def sinusoidal_positions(n_pos: int, dim: int) -> torch.Tensor:
    """Marian's and Pegasus's fixed positions: sines in the first half of each vector, cosines in the second
    (not interleaved)."""
    pair = torch.div(torch.arange(dim, dtype=torch.float64), 2, rounding_mode="floor")  # j // 2
    angles = torch.arange(n_pos, dtype=torch.float64)[:, None] / torch.pow(10000.0, 2 * pair / dim)  # (n_pos, dim)
    half = dim // 2 + dim % 2
    out = torch.empty(n_pos, dim, dtype=torch.float64)
    out[:, :half] = torch.sin(angles[:, 0::2])
    out[:, half:] = torch.cos(angles[:, 1::2])
    return out.float()


def _position_table(r: _Reader, stack: str, n_pos: int, offset: int, capped: bool) -> torch.Tensor:
    """A stack's learned position table: (n_pos + offset, d_model), or more rows where the stack's texts are `capped`
    below its table (BigBird-Pegasus's encoder)."""
    table = r.get(f"{stack}.embed_positions.weight")  # (max_position_embeddings + offset, d_model)
    if table.shape[0] < n_pos + offset or (table.shape[0] != n_pos + offset and not capped):
        raise ModelLoadError(f"The {stack}'s position table has {table.shape[0]} rows, not {n_pos} + {offset}.")
    return table


def seq2seq_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    family = _FAMILIES[cfg.arch]
    r = _Reader(sd, ("model.", "led."))  # LED keeps its stacks under led.
    embed = r.get("shared.weight") if r.has("shared.weight") else r.get("encoder.embed_tokens.weight")
    w: StateDict = {"embed.W_E": embed}  # (d_vocab, d_model), shared by both stacks
    if family.positions == "sinusoid":
        w["embed.W_pos"] = sinusoidal_positions(cfg.n_ctx, cfg.d_model)  # fixed: computed, not read
    if family.positions == "fairseq":  # (pad + 1 + n_ctx, d_model), computed; position p at row pad + 1 + p
        w["embed.W_pos"] = fairseq_positions(cfg.pos_offset + cfg.n_ctx, cfg.d_model, cfg.pos_offset - 1)
    if "final_logits_bias" in sd:
        w["unembed.b_U"] = sd["final_logits_bias"].float().reshape(-1)  # (d_vocab,)
    if not cfg.tie_embeddings:
        w["unembed.W_U"] = sd["lm_head.weight"].float().T.contiguous()

    def norm(dst: str, src: str) -> None:
        w[dst + ".w"], w[dst + ".b"] = r.get(src + ".weight"), r.get(src + ".bias")

    def attention(dst: str, src: str, names: tuple[str, ...] = _BART_ATTENTION) -> None:
        for ours, theirs in zip("QKVO", names, strict=True):
            w[f"{dst}.W_{ours}"] = r.linear(f"{src}.{theirs}.weight")
            if cfg.attn_bias:  # BigBird-Pegasus has none (use_bias false)
                w[f"{dst}.b_{ours}"] = r.get(f"{src}.{theirs}.bias")

    stacks = (("encoder", "", cfg.n_layers, cfg.n_ctx), ("decoder", "dec.", cfg.n_decoder_layers,
                                                          cfg.decoder_positions))  # fmt: skip
    for stack, prefix, n_layers, n_pos in stacks:
        self_attention = family.encoder_attention if stack == "encoder" else _BART_ATTENTION
        if family.positions == "learned":
            capped = family.capped_encoder and stack == "encoder"
            w[prefix + "embed.W_pos"] = _position_table(r, stack, n_pos, cfg.pos_offset, capped)
        if family.embedding_norm:
            norm(prefix + "embed.ln", f"{stack}.layernorm_embedding")
        if family.pre_norm:
            norm(prefix + "ln_final", f"{stack}.{family.final_norm}")
        for layer in range(n_layers):
            src, dst = f"{stack}.layers.{layer}", f"{prefix}blocks.{layer}"
            attention(dst + ".attn", src + ".self_attn", self_attention)
            norm(dst + ".ln_attn", src + ".self_attn_layer_norm")
            if stack == "decoder":
                attention(dst + ".cross", src + ".encoder_attn")
                norm(dst + ".ln_cross", src + ".encoder_attn_layer_norm")
            w[dst + ".mlp.W_in"], w[dst + ".mlp.b_in"] = r.linear(src + ".fc1.weight"), r.get(src + ".fc1.bias")
            w[dst + ".mlp.W_out"], w[dst + ".mlp.b_out"] = r.linear(src + ".fc2.weight"), r.get(src + ".fc2.bias")
            norm(dst + ".ln_mlp", src + ".final_layer_norm")
    return w


ADAPTERS = {kind: (seq2seq_config, seq2seq_weights) for kind in _FAMILIES}
