"""The logit lens: read each layer's residual stream as if it were the last one.

The residual after block l goes through the model's own final norm and unembedding, exactly as the final
residual does (`model.unembed`), giving a distribution over the vocabulary at every layer and position.
The last layer's lens is the model's logits. The grid (`lens_top`) is computed a block of rows at a time,
so no n_layers × n × d_vocab tensor is ever held: only each row's top k survive a block.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from . import interventions as iv
from . import model as fwd
from . import recompute
from .device import host_float, to_host

if TYPE_CHECKING:
    from .trace import Trace

# Rows (layer, position pairs) unembedded at once: 256 × 49152 logits are 50 MB for SmolLM2, and larger
# blocks were no faster on the 2-core machine.
BLOCK_ROWS = 256


@dataclass(frozen=True)
class LensTop:
    """The k most likely next tokens after every block at every position (CPU tensors)."""

    ids: torch.Tensor  # [n_layers, n, k] long: token ids, most likely first
    probs: torch.Tensor  # [n_layers, n, k] float32: their softmax probabilities under that layer's lens


def require_lm_head(trace: Trace) -> None:
    if not trace.config.has_lm_head:
        kind = "the encoder of an encoder-decoder" if trace.config.is_encoder_decoder else "an encoder"
        raise ValueError(f"{trace.model_name}: this trace comes from {kind}, which has no unembedding: no logit lens.")


def lens_logits(trace: Trace, layer: int) -> torch.Tensor:
    """[n, d_vocab]: the residual after block `layer` → final norm → unembedding."""
    require_lm_head(trace)
    trace.check_layer(layer)
    resid = trace.captured.resid_pre[layer + 1]  # (n, d_model): what leaves block `layer`
    with torch.inference_mode():
        return host_float(fwd.unembed(resid, trace.context.pass_weights, trace.config))


def lens_top(
    trace: Trace, k: int = 5, block_rows: int = BLOCK_ROWS, start: int = 0, stop: int | None = None
) -> LensTop:
    """Top-k token ids and probabilities for every layer at positions start..stop-1 (default: every position),
    a block of rows at a time. A window costs only its own rows: each row is one projection onto the vocabulary."""
    require_lm_head(trace)
    if not 1 <= k <= trace.config.d_vocab:
        raise ValueError(f"k must be between 1 and {trace.config.d_vocab}")
    stop = trace.n_tokens if stop is None else stop
    if not 0 <= start < stop <= trace.n_tokens:
        raise IndexError(f"positions {start}..{stop - 1} are not inside 0..{trace.n_tokens - 1}")
    n, L = stop - start, trace.n_layers
    resid = torch.cat([r[start:stop] for r in trace.captured.resid_pre[1:]])  # (L·n, d_model): row l·n + i
    ids = torch.empty(L * n, k, dtype=torch.long)
    probs = torch.empty(L * n, k)
    w, cfg = trace.context.pass_weights, trace.config
    with torch.inference_mode():
        for r0 in range(0, L * n, block_rows):
            r1 = min(L * n, r0 + block_rows)
            logits = fwd.unembed(resid[r0:r1], w, cfg).float()  # (rows, d_vocab), freed after this block
            top = logits.topk(k, dim=-1)  # (rows, k): softmax is monotone, so the top logits are the top probs
            log_z = torch.logsumexp(logits, dim=-1, keepdim=True)  # (rows, 1)
            ids[r0:r1] = to_host(top.indices)
            probs[r0:r1] = to_host((top.values - log_z).exp())
    return LensTop(ids=ids.view(L, n, k), probs=probs.view(L, n, k))


def lens_ranks(trace: Trace, position: int, token_ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """([n_layers, t] probability, [n_layers, t] rank) of each of `token_ids` at `position` under every
    layer's lens; rank 0 is the lens's top-1 (ties counted in the token's favour)."""
    require_lm_head(trace)
    if not -trace.n_tokens <= position < trace.n_tokens:
        raise IndexError(f"position {position} is out of range 0..{trace.n_tokens - 1}")
    if any(not 0 <= t < trace.config.d_vocab for t in token_ids):
        raise IndexError(f"token ids must be in 0..{trace.config.d_vocab - 1}")
    resid = torch.stack([r[position] for r in trace.captured.resid_pre[1:]])  # (n_layers, d_model)
    with torch.inference_mode():
        logits = fwd.unembed(resid, trace.context.pass_weights, trace.config).float()  # (n_layers, d_vocab)
        chosen = logits[:, token_ids]  # (n_layers, t)
        probs = (chosen - torch.logsumexp(logits, dim=-1, keepdim=True)).exp()
        ranks = (logits[:, None, :] > chosen[:, :, None]).sum(-1)  # (n_layers, t): tokens strictly above
    return to_host(probs), to_host(ranks)


def value_weighted(trace: Trace, layer: int, head: int) -> torch.Tensor:
    """[n_q, n_k]: ‖A[i,j]·v_j·W_O^h‖, what key j actually sends to query i through this head (b_O excluded).

    A is the pattern this pass used; the ablations apply as in `Trace.contributions` (a zeroed head sends
    nothing; a mean-ablated head's weights are its pattern's column means). Since A[i,j] ≥ 0, the norm is
    A[i,j]·‖v_j·W_O^h‖: one vector norm per key, scaled by the weight. A model that gates its heads' outputs
    sends ‖A[i,j]·(g_i ⊙ v_j)·W_O^h‖ instead (`_gated_value_weighted`).
    """
    trace.check(layer, head)
    cfg = trace.config
    if cfg.attn_output_gate:
        return _gated_value_weighted(trace, layer, head)
    every_query = torch.arange(trace.n_tokens)
    a = host_float(sent_patterns(trace, layer, every_query, slice(head, head + 1))[0])  # [n_q, n_k]
    v = trace.captured.v[layer][cfg.kv_head(head)]  # (n_k, d_head)
    W_O = trace._W_O_heads(layer)[head]  # (d_head_v, d_model)
    sent = to_host(torch.linalg.vector_norm((v @ W_O).float(), dim=-1))  # (n_k,) ‖v_j·W_O^h‖
    return a * sent[None, :]  # (n_q, n_k)


def sent_patterns(trace: Trace, layer: int, rows: torch.Tensor, heads: slice = slice(None)) -> torch.Tensor:
    """(h, m, n_k) the weights each of heads[heads] really used at query positions `rows` (long, sorted): the
    pattern with this pass's interventions, a zeroed head's or layer's all zero, a mean-ablated head's its
    pattern's column means (its output is its mean over queries)."""
    runs, start = [], 0  # rows in runs of consecutive positions: each run's scores alone, not the span between
    for at in range(1, len(rows) + 1):
        if at == len(rows) or int(rows[at]) != int(rows[at - 1]) + 1:
            runs.append(slice(int(rows[start]), int(rows[at - 1]) + 1))
            start = at
    a = torch.cat([trace._patterns(layer, heads, trace.causal, run) for run in runs], 1)  # (h, m, n_k)
    head_ids = range(trace.n_heads)[heads]
    for item in iv.for_layer(trace.interventions, layer):
        if item.kind == "zero_layer":
            a = torch.zeros_like(a)
        elif item.kind in ("zero_head", "mean_head") and item.head in head_ids:
            at = head_ids.index(item.head)
            if item.kind == "zero_head":
                a[at] = 0.0
            else:
                a[at] = trace._patterns(layer, slice(item.head, item.head + 1), trace.causal)[0].mean(0)
    return a


def contributions(trace: Trace, layer: int, query: int, head: int | None = None) -> torch.Tensor:
    """Per-source contributions A[i,j]·(v_j W_O) to query i's update (see Trace.contributions); in a model that
    gates its heads' outputs, A[i,j]·(g_i ⊙ v_j)·W_O."""
    trace.check(layer, head)
    if not 0 <= query < trace.n_tokens:
        raise IndexError(f"query {query} is out of range 0..{trace.n_tokens - 1}")
    if trace.config.attn_output_gate:
        sent = gated_sent(trace, layer, torch.tensor([query]))[:, 0]  # (n_heads, n_k, d_head_v)
        out = torch.einsum("hkd,hde->hke", sent, trace._W_O_heads(layer).to(sent.dtype))  # (n_heads, n_k, d_model)
        return host_float(out if head is None else out[head])
    a = sent_patterns(trace, layer, torch.tensor([query]))[:, 0]  # (n_heads, n_k)
    v = recompute.per_query_head(trace.captured.v[layer], trace.config)  # (n_heads, n_k, d_head)
    values_up = torch.bmm(v, trace._W_O_heads(layer))  # (n_heads, n_k, d_model)
    out = a[..., None] * values_up  # (n_heads, n_k, d_model)
    return host_float(out if head is None else out[head])


# ── heads whose output is gated (AFMoE): what a source sends depends on the query's gate ──────────────────


def output_gate(trace: Trace, layer: int) -> torch.Tensor | None:
    """(n_heads, n, d_head_v) the layer's output gate σ(E·W_G) at every position (blocks.output_gate), on the
    engine's device; None where the model has none."""
    return fwd.resid_gate(trace.captured.resid_pre[layer], trace.context.pass_weights, layer, trace.config)


def gated_sent(
    trace: Trace, layer: int, rows: torch.Tensor, heads: slice = slice(None), gate: torch.Tensor | None = None
) -> torch.Tensor:
    """(h, m, n_k, d_head_v) what each key sends to each query in `rows` through heads[heads], before W_O, in a
    model that gates its heads' outputs: A[i,k]·(g_i ⊙ v_k), summing over k to the gated z. A zeroed head sends
    nothing; a mean-ablated head, whose output is its gated z's mean over queries, sends every query
    mean_i(A[i,k]·g_i) ⊙ v_k. `gate`: output_gate's, where the caller has it already."""
    cfg = trace.config
    gate = output_gate(trace, layer) if gate is None else gate  # (n_heads, n, d_head_v)
    v = recompute.per_query_head(trace.captured.v[layer], cfg)[heads]  # (h, n_k, d_head_v)
    a = sent_patterns(trace, layer, rows, heads).to(v.dtype)  # (h, m, n_k)
    sent = a[..., None] * gate[heads][:, rows, None, :] * v[:, None]  # (h, m, n_k, d_head_v)
    head_ids = range(trace.n_heads)[heads]
    for item in iv.for_layer(trace.interventions, layer):
        if item.kind == "mean_head" and item.head in head_ids:
            clean = trace._patterns(layer, slice(item.head, item.head + 1), trace.causal)[0].to(v.dtype)  # (n, n_k)
            at = head_ids.index(item.head)
            mean = torch.einsum("ik,id->kd", clean, gate[item.head]) / clean.shape[0]  # (n_k, d_head_v)
            sent[at] = (mean * v[at])[None]
    return sent


GATED_CHUNK = 1 << 22  # floats of (rows × keys × d_head_v) formed at once by _gated_value_weighted


def _gated_value_weighted(trace: Trace, layer: int, head: int) -> torch.Tensor:
    """value_weighted where the gate g_i depends on the query: ‖A[i,j]·(g_i ⊙ v_j)·W_O^h‖ for every pair, rows at a
    time. With W_O^hᵀ = Q·R (Q's columns orthonormal), ‖x·W_O^h‖ = ‖x·Rᵀ‖: d_head_v² per pair, not d_head_v·d_model."""
    W_O = trace._W_O_heads(layer)[head].float()  # (d_head_v, d_model)
    r = torch.linalg.qr(W_O.T).R  # (d_head_v, d_head_v) where d_head_v ≤ d_model
    gate, n = output_gate(trace, layer), trace.n_tokens
    out = torch.empty(n, n)
    step = max(1, GATED_CHUNK // (n * W_O.shape[0]))
    for start in range(0, n, step):
        rows = torch.arange(start, min(n, start + step))
        sent = gated_sent(trace, layer, rows, slice(head, head + 1), gate)[0].float()  # (m, n_k, d_head_v)
        out[start : start + len(rows)] = to_host(torch.linalg.vector_norm(sent @ r.T, dim=-1))  # (m, n_k)
    return out
