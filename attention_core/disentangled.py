"""DeBERTa's disentangled attention (v1, v2, v3): beside content q·k, every head scores where the key is from the query;
and `layer_position_bias`, what any layer adds to its scores before the mask.

A model with `position_bias="disentangled"` keeps one table of relative-position embeddings for the whole
encoder (`rel.W`, (2·span, d_model), span = its `rel_buckets`), in v2 and v3 normalised by its own LayerNorm
(`rel.ln`). Each layer projects that table with its own W_Q and W_K (biases included; v2 and v3 share them,
`share_att_key`) or, in v1, with projections of its own (W_pos_Q with a bias, W_pos_K), giving a query and a key
per relative position, Q_pos and K_pos (n_heads, 2·span, d_head). For query i and key j, with
r = the bucket of i − j shifted into 0 .. 2·span − 1 (`relative_index`), the score is

    s_ij = (q_i·k_j  +  q_i·K_pos[r]  +  k_j·Q_pos[r]) / √(3·d_head)
            content     content→position   position→content

The first term is the model's scaled q·k (`attn_scale` = 1/√(3·d_head)); the other two are the layer's position
terms (`disentangled_bias`), added before the mask as T5's bias is (model.add_position_bias), but computed from
this layer's own q and k, so they differ from layer to layer and from text to text (`layer_position_bias`).
Read in transformers' modeling_deberta_v2.py (`DisentangledSelfAttention.disentangled_attention_bias`,
`make_log_bucket_position`) and modeling_deberta.py (v1's `disentangled_att_bias`: the table sliced to ±att_span
and indexed by offset + att_span is the whole table indexed by offset + span, clamped, as here).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .blocks import normalize, position_bias
from .config import ModelConfig

Weights = Mapping[str, torch.Tensor]
REL_TABLE, REL_NORM = "rel.W", "rel.ln"


def log_bucket(relative: torch.Tensor, n_buckets: int, max_distance: int) -> torch.Tensor:
    """DeBERTa's bucket of each offset i − j: itself within ±n_buckets/2, then logarithmically wider buckets out
    to max_distance (computed in float32, rounded up, as transformers' make_log_bucket_position)."""
    mid = n_buckets // 2
    sign = torch.sign(relative)
    near = (relative < mid) & (relative > -mid)
    distance = torch.where(near, torch.full_like(relative, mid - 1), relative.abs()).float()
    ratio = torch.log(torch.tensor((max_distance - 1) / mid))  # a float32 tensor, as transformers divides by
    log_pos = torch.ceil(torch.log(distance / mid) / ratio * (mid - 1)) + mid
    return torch.where(distance <= mid, relative.float(), log_pos * sign).long()


def relative_index(cfg: ModelConfig, n_q: int, n_k: int, row_offset: int, device: torch.device) -> torch.Tensor:
    """(n_q, n_k) the row of the position table each (query, key) pair reads: bucket(i − j) + span, clamped to
    the table (queries at row_offset .. row_offset + n_q − 1, keys 0 .. n_k − 1). A model without position buckets
    (rel_max_distance 0) reads i − j itself, clamped."""
    span = cfg.rel_buckets
    queries = torch.arange(row_offset, row_offset + n_q, device=device)[:, None]  # (n_q, 1)
    keys = torch.arange(n_k, device=device)[None, :]  # (1, n_k)
    bucketed = cfg.rel_max_distance > 0
    buckets = log_bucket(queries - keys, span, cfg.rel_max_distance) if bucketed else queries - keys
    return (buckets + span).clamp(0, 2 * span - 1)  # (n_q, n_k)


def position_projections(w: Weights, cfg: ModelConfig, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(Q_pos, K_pos), each (n_heads, 2·span, d_head): the layer's W_Q and W_K (and biases) applied to the
    normalised relative-position table; DeBERTa v1 projects the table as it is, with projections of its own."""
    table = w[REL_TABLE]  # (2·span, d_model)
    if REL_NORM + ".w" in w:  # v2 and v3 normalise it (norm_rel_ebd)
        table = normalize(table, w, REL_NORM, cfg)
    p = f"blocks.{layer}.attn."
    if cfg.own_position_projections:  # v1: pos_q_proj (with a bias) and pos_proj (without)
        return project_table(table, w, cfg, p + "W_pos_Q", p + "b_pos_Q"), project_table(table, w, cfg, p + "W_pos_K")
    return project_table(table, w, cfg, p + "W_Q", p + "b_Q"), project_table(table, w, cfg, p + "W_K", p + "b_K")


def project_table(table: torch.Tensor, w: Weights, cfg: ModelConfig, W: str, b: str = "") -> torch.Tensor:
    """(n_heads, 2·span, d_head): the table (2·span, d_model) through the matrix named W, plus its bias if any."""
    y = table @ w[W] + (w[b] if b in w else 0.0)  # (2·span, n_heads·d_head)
    return y.view(-1, cfg.n_heads, cfg.d_head).transpose(0, 1)  # (n_heads, 2·span, d_head)


def disentangled_bias(
    w: Weights, cfg: ModelConfig, layer: int, q: torch.Tensor, k: torch.Tensor, row_offset: int = 0
) -> torch.Tensor:
    """(..., n_heads, n_q, n_k) the layer's position terms, (q_i·K_pos[r] + k_j·Q_pos[r]) × attn_scale, for q
    (..., n_heads, n_q, d_head) of the queries from row_offset on and k (..., n_heads, n_k, d_head) (a leading
    batch: the ablation sweep's variants)."""
    q_pos, k_pos = (t.float() for t in position_projections(w, cfg, layer))
    dtype, q, k = q.dtype, q.float(), k.float()  # computed in float32, returned in the pass's dtype
    r = relative_index(cfg, q.shape[-2], k.shape[-2], row_offset, q.device)  # (n_q, n_k)
    c2p = torch.gather(q @ k_pos.transpose(-1, -2), -1, r.expand(*q.shape[:-2], *r.shape))  # (..., n_heads, n_q, n_k)
    p2c = torch.gather(k @ q_pos.transpose(-1, -2), -1, r.T.expand(*k.shape[:-2], *r.T.shape))  # (..., n_k, n_q)
    return ((c2p + p2c.transpose(-1, -2)) * cfg.attn_scale).to(dtype)  # (..., n_heads, n_q, n_k)


def layer_position_bias(
    stack_bias: torch.Tensor | None, w: Weights, cfg: ModelConfig, layer: int, q: torch.Tensor, k: torch.Tensor,
    row_offset: int = 0,
) -> torch.Tensor | None:  # fmt: skip
    """What `layer` adds to its scores before the mask: the stack's bias, shared by its layers (T5's table,
    ALiBi's slopes: `stack_bias`), the layer's own table where each has one (umT5), or this layer's disentangled
    position terms of its own q and k (DeBERTa)."""
    if cfg.position_bias == "disentangled":
        return disentangled_bias(w, cfg, layer, q, k, row_offset)
    if cfg.rel_bias_per_layer and layer > 0:  # layer 0's table is the stack's (blocks.REL_BIAS)
        table = w[f"blocks.{layer}.attn.rel_bias"]  # (n_buckets, n_heads)
        n_q, n_k = q.shape[-2], k.shape[-2]
        return position_bias(table, n_q, n_k, not cfg.causal, cfg.rel_max_distance, row_offset).to(stack_bias.dtype)
    return stack_bias
