"""Attention recomputed from what a pass captured (q, k per layer): scores, patterns, pooled patterns.

`Trace` calls these for the heads, rows and keys a view asks for; the exact views go through
model.attention_scores / model.attention_pattern, the same written-out softmax attention the forward
pass's fast kernel computes. Everything stays on the engine's device.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch

from . import interventions as iv
from . import model as fwd
from .config import ModelConfig
from .device import to_host
from .dtypes import wide

if TYPE_CHECKING:
    from .trace import Trace


def captured_nbytes(captured: fwd.Captured, *extra: torch.Tensor | None) -> int:
    """Bytes held by every tensor a pass captured (and `extra` ones), each buffer counted once: q and k
    of a model without RoPE are views into one fused projection output, which is what stays in memory."""
    tensors = [t for f in dataclasses.fields(captured) for t in getattr(captured, f.name) if t is not None]
    tensors += [t for t in extra if t is not None]
    buffers = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
    return sum(buffers.values())


def pool_edges(n: int, size: int) -> tuple[int, int]:
    """Block width and block count for pooling n positions to at most `size` blocks (last may be narrower)."""
    width = max(1, math.ceil(n / size))
    return width, math.ceil(n / width)


def per_query_head(t: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """Captured k or v (n_kv_heads, n, d_head) expanded so that index h is query head h's: (n_heads, n, d_head)."""
    group = cfg.group_size
    return t if group == 1 else t.repeat_interleave(group, dim=0)


def scores(
    q: torch.Tensor,
    k: torch.Tensor,
    cfg: ModelConfig,
    heads: slice | int,
    rows: slice = slice(None),
    n_keys: int | None = None,
    scale_q: bool = False,
    capped: bool = True,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """(heads, n_q, n_k) scores of heads[heads] for queries[rows] against the first n_keys keys: q·kᵀ times
    the model's scale, then soft-capped where the model caps (unless capped=False), then plus `bias`, the
    position bias of every head for those queries and keys (n_heads, n_q, n_k), where given.

    q (n_heads, n, d_head) and k (n_kv_heads, n, d_head) are one layer's captures. scale_q multiplies
    the (small) q by the scale instead of the (large) scores: one pass over n_q × n_k fewer, at a
    rounding difference of ~1e-7 relative (pooled views use it; exact views do not)."""
    keys = slice(0, n_keys)
    cap = cfg.attn_softcap if capped else None
    if heads == slice(None) and cfg.group_size > 1:
        # All heads: multiply each key head once by its whole group of queries (no copy of k).
        q_rows = q[:, rows]  # (n_heads, n_q, d_head)
        n_q = q_rows.shape[1]
        q_grouped = q_rows.reshape(cfg.n_kv_heads, cfg.group_size * n_q, cfg.d_head)  # (n_kv_heads, group·n_q, d_head)
        s = _scaled(q_grouped, k[:, keys], cfg, scale_q)  # (n_kv_heads, group·n_q, n_k)
        return fwd.add_position_bias(fwd.soft_cap(s.view(cfg.n_heads, n_q, -1), cap), bias)  # (n_heads, n_q, n_k)
    q_rows = q[heads, rows]  # (heads, n_q, d_head) or (n_q, d_head)
    k_keys = per_query_head(k, cfg)[heads, ..., keys, :]  # (heads, n_k, d_head) or (n_k, d_head)
    return fwd.add_position_bias(fwd.soft_cap(_scaled(q_rows, k_keys, cfg, scale_q), cap), _heads(bias, heads))


def _heads(bias: torch.Tensor | None, heads: slice | int) -> torch.Tensor | None:
    return None if bias is None else bias[heads]


def _scaled(q: torch.Tensor, k: torch.Tensor, cfg: ModelConfig, scale_q: bool) -> torch.Tensor:
    if scale_q:  # half-precision captures are upcast, as in attention_scores: pooled patterns are float32 too
        return (wide(q) * cfg.scale) @ wide(k).transpose(-1, -2)
    return fwd.attention_scores(q, k, cfg.attn_scale)


def patterns(
    s: torch.Tensor,
    causal: bool,
    layer_ivs: tuple[iv.Intervention, ...],
    head_ids: range,
    row_offset: int = 0,
    window: int | None = None,
    sinks: torch.Tensor | None = None,
) -> torch.Tensor:
    """(h, n_q, n_k) patterns from scores s (h, n_q, n_k) of heads head_ids, for queries from row_offset on,
    under the causal mask and/or the layer's sliding window, with this layer's interventions (temperature,
    forced patterns). sinks: every head's sink logit (n_heads,) where the layer has them (GPT-OSS)."""
    overrides = [iv.pattern_override(layer_ivs, h) for h in head_ids]
    own = None if sinks is None else sinks[list(head_ids)]  # (h,) those of head_ids
    if not any(overrides):
        n_q, n_k = s.shape[-2:]
        return fwd.attention_pattern(s, fwd.allowed_keys(n_q, n_k, causal, window, row_offset, s.device), own)
    sink_of = [None if own is None else own[i] for i in range(len(overrides))]  # each head's, or None
    per_head = zip(s, overrides, sink_of, strict=True)
    return torch.stack([iv.modified_pattern(one, causal, o, row_offset, window, sink) for one, o, sink in per_head])


def softmax_block_sums(e: torch.Tensor, causal: bool, r0: int, width: int, s: int) -> torch.Tensor:
    """(h, r, s): softmax of scaled scores e (h, r, n_keys) for query rows r0.., summed over blocks of
    `width` keys. Masks in place (e is a temporary): under a causal mask only the chunk's own square
    has keys after some of its queries, since n_keys ends at the chunk's last row."""
    r = e.shape[1]
    if causal:
        e[:, :, r0 : r0 + r].masked_fill_(~fwd.query_mask(r, r, device=e.device), float("-inf"))
    return block_sums(torch.softmax(e, dim=-1), width, s)


def block_sums(p: torch.Tensor, width: int, s: int) -> torch.Tensor:
    """(h, r, s): each row of p (h, r, n_keys) summed over blocks of `width` keys; the keys past the last
    whole block form one narrower block, and missing blocks (keys never computed) are zero."""
    n_keys = p.shape[-1]
    full = n_keys // width * width  # keys in whole blocks
    cols = p[..., :full].unflatten(-1, (full // width, width)).sum(-1)  # (h, r, full / width)
    if full < n_keys:
        cols = torch.cat([cols, p[..., full:].sum(-1, keepdim=True)], dim=-1)  # (h, r, full / width + 1)
    return torch.nn.functional.pad(cols, (0, s - cols.shape[-1]))  # (h, r, s)


def pooled_patterns(
    trace: Trace, size: int, rows_per_chunk: int, layers: list[int] | None, heads: slice
) -> torch.Tensor:
    """[len(layers), h, s, s] each used pattern mean-pooled over blocks (see Trace.pooled_patterns)."""
    n = trace.n_tokens
    layers = list(range(trace.n_layers)) if layers is None else layers
    for layer in layers:
        trace.check(layer)
    n_heads = len(range(trace.n_heads)[heads])
    width, s = pool_edges(n, size)
    chunk = max(1, rows_per_chunk)
    device = trace.captured.resid_pre[0].device
    widths = torch.full((s,), float(width), device=device)
    widths[-1] = n - width * (s - 1)
    out = torch.zeros(len(layers), n_heads, s, s, device=device)
    for i, layer in enumerate(layers):
        for r0 in range(0, n, chunk):
            r1 = min(n, r0 + chunk)
            cols = pooled_columns(trace, layer, heads, r0, r1, width, s)  # (h, r, s) sums over key blocks
            row_blocks = torch.arange(r0, r1, device=device) // width
            out[i].index_add_(1, row_blocks, cols)  # each row's sums into its row block
    out /= widths[:, None] * widths[None, :]  # block sums → block means
    return to_host(out)


def pooled_columns(trace: Trace, layer: int, heads: slice, r0: int, r1: int, width: int, s: int) -> torch.Tensor:
    """(h, r1 - r0, s): each query row's pattern summed over blocks of `width` keys, for heads[heads].

    The fast path scales q (not the scores) by the model's scale, adds any position bias, and runs one
    fused softmax over the chunk; it never touches keys that a causal mask zeroes (those after r1).
    """
    n_keys = r1 if trace.causal else trace.n_tokens  # under a causal mask, keys after the chunk get zero weight
    cfg = trace.config
    general = cfg.window(layer) is not None or cfg.attn_softcap is not None or cfg.attn_sinks
    if general or iv.for_layer(trace.interventions, layer):
        # pattern overrides, windows, soft-caps, sinks: take the general path
        p = trace._patterns(layer, heads, trace.causal, slice(r0, r1), n_keys)  # (h, r, n_keys)
        p = torch.nn.functional.pad(p, (0, s * width - n_keys))  # (h, r, s · width)
        return p.view(p.shape[0], r1 - r0, s, width).sum(-1)  # (h, r, s)
    c, rows = trace.captured, slice(r0, r1)
    bias = trace._bias(layer, r0, r1 - r0, n_keys)  # (n_heads, r, n_keys) or None
    e = scores(c.q[layer], c.k[layer], cfg, heads, rows, n_keys, scale_q=True, bias=bias)  # (h, r, n_keys)
    return softmax_block_sums(e, trace.causal, r0, width, s)


ROW_SUM_NAMES = ("entropy", "previous", "first", "distance")


def pattern_row_sums(
    trace: Trace, layer: int, rows_per_chunk: int, marked: Mapping[str, torch.Tensor] | None = None
) -> dict[str, torch.Tensor]:
    """Per head of `layer`, sums over every query row of the used pattern A: the row's entropy
    −Σ_j A[i,j]·ln A[i,j] (nats; 0·ln 0 = 0), A[i, i−1] and A[i, 0] (rows i ≥ 1) and Σ_j A[i,j]·|i − j|:
    [n_heads] float64 each, named as in ROW_SUM_NAMES (see Trace.pattern_row_sums); and for each [n, n] bool
    `marked` keys, under its own name, Σ_j A[i,j] over the keys j it marks for query i (the head finder's repeats).

    A chunk of query rows at a time, all heads together: the chunk's patterns stay in the CPU's cache
    while they are summed, and under a causal mask no key after the chunk's last row is computed."""
    trace.check(layer)
    marked = dict(marked or {})
    if set(marked) & set(ROW_SUM_NAMES):
        raise ValueError(f"marked keys may not take a row sum's name ({', '.join(ROW_SUM_NAMES)})")
    n, device = trace.n_tokens, trace.captured.resid_pre[0].device
    names = (*ROW_SUM_NAMES, *marked)
    totals = {name: torch.zeros(trace.n_heads, dtype=torch.float64, device=device) for name in names}
    for r0 in range(0, n, max(1, rows_per_chunk)):
        r1 = min(n, r0 + max(1, rows_per_chunk))
        n_keys = r1 if trace.causal else n  # causal: keys after the chunk's last row weigh 0
        p = trace._patterns(layer, slice(None), trace.causal, slice(r0, r1), n_keys).float()  # (h, r, n_keys)
        queries = torch.arange(r0, r1, device=device, dtype=torch.float32)
        distance = (queries[:, None] - torch.arange(n_keys, device=device, dtype=torch.float32)).abs()  # (r, n_keys)
        previous = p.diagonal(offset=r0 - 1, dim1=1, dim2=2)  # (h, rows ≥ 1): A[i, i−1]
        row_sums = {
            "entropy": -torch.special.xlogy(p, p).sum(-1),  # (h, r)
            "previous": previous.sum(-1, keepdim=True),  # (h, 1)
            "first": p[:, max(0, 1 - r0) :, 0],  # (h, rows ≥ 1): query 0 sees only key 0 under a causal mask
            "distance": (p * distance).sum(-1),  # (h, r)
        }
        for name, keys in marked.items():  # a causal chunk has no weight on the keys after n_keys
            row_sums[name] = (p * keys[r0:r1, :n_keys].to(device)).sum(-1)  # (h, r)
        for name, sums in row_sums.items():
            totals[name] += sums.double().sum(-1)
    return {name: to_host(total) for name, total in totals.items()}
