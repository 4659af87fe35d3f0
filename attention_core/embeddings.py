"""The first step of the pass: token ids → layer 0's residual. A token's embedding (times the model's factor), plus
its position's, segment's and task type's where the model has them, then the embeddings' own norm and projection
where it has those."""

from __future__ import annotations

import torch

from .blocks import Weights, normalize
from .config import ModelConfig
from .linear import linear

ESM_TRAINING_MASK_SHARE = 0.15 * 0.8  # ESM's token dropout: the share of tokens its training zeroed (<mask>)


def token_scale(ids: torch.Tensor, cfg: ModelConfig) -> float:
    """The factor on each token embedding: embed_scale (Marian's √d_model), or ESM's token dropout, which makes up
    for the <mask> tokens its training zeroed: (1 − 0.15·0.8) / (1 − this text's share of <mask>)."""
    if cfg.token_dropout_id is None:
        return cfg.embed_scale
    return (1.0 - ESM_TRAINING_MASK_SHARE) / (1.0 - (ids == cfg.token_dropout_id).float().mean().item())


def embed(
    ids: torch.Tensor, w: Weights, cfg: ModelConfig, start: int = 0, segments: torch.Tensor | None = None
) -> torch.Tensor:
    """Token (and position) embeddings of ids (n,) at positions start .. start + n - 1; `segments` (n,): each
    token's segment (a text pair's type ids), or None where every token is in segment 0."""
    x = w["embed.W_E"][ids]  # (n, d_model)
    if cfg.token_dropout_id is not None:  # ESM: a <mask> token's embedding is dropped (zeroed)
        x = x.masked_fill((ids == cfg.token_dropout_id)[:, None], 0.0)
    scale = token_scale(ids, cfg)
    if scale != 1.0:
        x = x * scale
    if "embed.W_pos" in w:  # learned absolute positions (BERT, GPT-2)
        first = cfg.pos_offset + start
        x = x + w["embed.W_pos"][first : first + ids.shape[0]]
    if "embed.W_type" in w:  # BERT's segments: a text pair's second text is segment 1
        x = x + (w["embed.W_type"][0] if segments is None else w["embed.W_type"][segments])
    if "embed.W_task" in w:  # ERNIE's task types: every token is in task 0
        x = x + w["embed.W_task"][0]
    projected = "embed.W_proj" in w  # (embedding_size, d_model): narrower embeddings up to the layers' width
    if projected and not cfg.embed_proj_after_norm:  # DeBERTa: projected, then normalised
        x = linear(x, w["embed.W_proj"], w.get("embed.b_proj"))  # (n, d_model)
    if "embed.ln.w" in w or cfg.embed_norm:  # BERT normalises the embeddings; NanoChat too, with no weight
        x = normalize(x, w, "embed.ln", cfg)
    if projected and cfg.embed_proj_after_norm:  # ELECTRA-small: normalised, then projected
        x = linear(x, w["embed.W_proj"], w.get("embed.b_proj"))  # (n, d_model)
    return x


def embedding_terms(w: Weights) -> tuple[str, ...]:
    """What `embed` sums, in its order: "token", then "position", "segment" and "task type" where the model has them."""
    extra = (("position", "embed.W_pos"), ("segment", "embed.W_type"), ("task type", "embed.W_task"))
    return ("token", *(term for term, key in extra if key in w))
