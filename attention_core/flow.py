"""The contribution graph: through which layers, and from which earlier tokens, one token's final embedding
was built.

Every sublayer adds to the residual stream, and what it adds splits into parts. After block l's attention,
position i holds (pre-norm models)

    resid_mid[i] = resid_pre[i] + Σ_j c_j + b_O,   c_j = Σ_h A_h[i, j] · v_j · W_O^h   (what source j sent)

and after its MLP, resid_post[i] = resid_mid[i] + mlp_out[i]. A part c of a sum y matters as much as it
brings y closer to where it ends up: its *proximity* max(0, ‖y‖₁ − ‖y − c‖₁), divided by the proximities of
all the sum's parts, is its importance (between 0 and 1; the parts' importances add up to 1). This is the
measure of Ferrando & Voita (2024), "Information flow routes", which the LLM Transparency Tool draws.

The graph is traced backwards from the chosen token's final residual: a part whose importance is at least
the threshold becomes an edge, and the residual it came from is traced in turn. Nodes are residuals: `pre`
(entering block l), `mid` (after its attention) and, for the top, the final residual; edges are

    attention       pre(l, j) → mid(l, i)   what source j sent to i through block l's attention (all heads)
    residual_attn   pre(l, i) → mid(l, i)   the stream passing the attention sublayer unchanged
    mlp             mid(l, i) → pre(l+1, i) the MLP's output (a self-edge: the MLP reads only position i;
                                            parallel blocks (GPT-NeoX) read pre(l, i))
    residual_mlp    mid(l, i) → pre(l+1, i) the stream passing the MLP

Post-norm models (BERT) normalise after the add, so the parts are those of the sum before the norm.
Models that normalise a sublayer's output before adding it (Gemma 2, OLMo 2) have that norm linearised at
the sublayer's whole output (its scale is fixed per position), so the parts still add up exactly. Ablations
apply as in `Trace.contributions`. The output bias b_O is a part of the sum with no edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch

from . import interventions as iv
from . import lens, recompute
from . import model as fwd

if TYPE_CHECKING:
    from .trace import Trace

EdgeKind = Literal["attention", "residual_attn", "mlp", "residual_mlp"]
# Parts formed at once in the attention step: rows × sources × d_model floats (64 MB), so a long text's
# step runs in chunks of rows instead of one rows × n × d_model tensor.
CHUNK_FLOATS = 1 << 24


@dataclass(frozen=True)
class FlowEdge:
    """One kept part: `layer`'s sublayer moved it from `source` (a position) into `target`'s residual."""

    layer: int
    kind: EdgeKind
    source: int
    target: int
    importance: float  # its share of the sum's proximity, 0..1


@dataclass(frozen=True)
class ContributionGraph:
    """The edges of one token's contribution graph, from the top layer down (see the module docstring)."""

    target: int  # the position whose final residual is explained
    threshold: float
    n_layers: int
    edges: tuple[FlowEdge, ...]

    def sources(self) -> list[int]:
        """Positions that reach the target along some path, in text order (the target included)."""
        return sorted({e.source for e in self.edges} | {self.target})


def importances(parts: torch.Tensor) -> torch.Tensor:
    """[..., p] each part's proximity to the parts' sum, normalised: parts [..., p, d] → importance [..., p]."""
    total = parts.sum(-2, keepdim=True)  # (..., 1, d)
    proximity = (total.abs().sum(-1) - (total - parts).abs().sum(-1)).clamp_min(0)  # (..., p)
    return proximity / proximity.sum(-1, keepdim=True).clamp_min(torch.finfo(parts.dtype).tiny)


def contribution_graph(trace: Trace, target: int, threshold: float = 0.04) -> ContributionGraph:
    """Trace back from `target`'s final residual, keeping every part with importance ≥ threshold."""
    if not 0 <= target < trace.n_tokens:
        raise IndexError(f"token {target} is out of range 0..{trace.n_tokens - 1}")
    if not 0 < threshold <= 1:
        raise ValueError(f"the threshold is a share of a sum: between 0 (excluded) and 1, not {threshold}")
    edges: list[FlowEdge] = []
    reached = [target]  # positions whose residual leaving the current block is on a path to the target
    with torch.inference_mode():
        for layer in reversed(range(trace.n_layers)):
            mids, pres = _mlp_step(trace, layer, reached, threshold, edges)
            pres |= _attention_step(trace, layer, sorted(mids), threshold, edges)
            reached = sorted(pres)
    return ContributionGraph(target, float(threshold), trace.n_layers, tuple(edges))


def _mlp_step(
    trace: Trace, layer: int, rows: list[int], threshold: float, edges: list[FlowEdge]
) -> tuple[set[int], set[int]]:
    """The MLP's split of resid_post at `rows` into (resid_mid, mlp_out); returns the mid and pre positions
    that carry on."""
    mid, mlp_out = mlp_parts(trace, layer, rows)  # (m, d_model) each
    share = importances(torch.stack([mid, mlp_out], 1))  # (m, 2)
    mids, pres = set(), set()
    mlp_reads = pres if trace.config.parallel_blocks else mids
    for r, i in enumerate(rows):
        if share[r, 0] >= threshold:
            edges.append(FlowEdge(layer, "residual_mlp", i, i, float(share[r, 0])))
            mids.add(i)
        if share[r, 1] >= threshold:
            edges.append(FlowEdge(layer, "mlp", i, i, float(share[r, 1])))
            mlp_reads.add(i)
    return mids, pres


def _attention_step(trace: Trace, layer: int, rows: list[int], threshold: float, edges: list[FlowEdge]) -> set[int]:
    """The attention's split of the sum behind resid_mid at `rows`; returns the positions that carry on."""
    pres: set[int] = set()
    chunk = max(1, CHUNK_FLOATS // (trace.n_tokens * trace.config.d_model))
    for at in range(0, len(rows), chunk):
        part_rows = rows[at : at + chunk]
        share = importances(attention_parts(trace, layer, part_rows)).cpu()  # (m, 1 + n + 1)
        for r, i in enumerate(part_rows):
            if share[r, 0] >= threshold:
                edges.append(FlowEdge(layer, "residual_attn", i, i, float(share[r, 0])))
                pres.add(i)
            for j in torch.nonzero(share[r, 1:-1] >= threshold).flatten().tolist():
                edges.append(FlowEdge(layer, "attention", j, i, float(share[r, 1 + j])))
                pres.add(j)
    return pres


def attention_parts(trace: Trace, layer: int, rows: list[int]) -> torch.Tensor:
    """[m, 1 + n + 1, d_model] float32: for each row i, the parts of the sum the attention sublayer leaves at
    i: resid_pre[i], then each source j's c_j, then the output bias (zeros where there is none). They add up to
    resid_mid[i] (pre-norm, sandwich, parallel) or to what the post-norm normalises (BERT)."""
    cfg, w = trace.config, trace.context.weights
    index = torch.tensor(rows)
    a = lens.sent_patterns(trace, layer, index).float()  # (n_heads, m, n_k)
    v = recompute.per_query_head(trace.captured.v[layer], cfg).float()  # (n_heads, n_k, d_head)
    values_up = torch.bmm(v, trace._W_O_heads(layer).float())  # (n_heads, n_k, d_model)
    sent = torch.einsum("hmk,hkd->mkd", a, values_up)  # (m, n_k, d_model): c_j for each row
    zeroed = any(item.kind == "zero_layer" for item in iv.for_layer(trace.interventions, layer))
    b_O = w.get(f"blocks.{layer}.attn.b_O")
    bias = torch.zeros(len(rows), 1, cfg.d_model) if b_O is None or zeroed else b_O.float().expand(len(rows), 1, -1)
    update = torch.cat([sent, bias.to(sent.device)], 1)  # (m, n_k + 1, d_model)
    if cfg.norm_position in ("sandwich", "post_sublayer"):  # the output is normalised before it is added
        update = _linear_norm_parts(update, trace, f"blocks.{layer}.ln_attn_out")
    resid = trace.captured.resid_pre[layer][index].float()[:, None]  # (m, 1, d_model)
    return torch.cat([resid, update], 1)  # (m, 1 + n_k + 1, d_model)


def mlp_parts(trace: Trace, layer: int, rows: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """([m, d_model] resid_mid, [m, d_model] mlp_out) at `rows`, float32: what resid_post adds up from
    (before the norm in post-norm models)."""
    cfg, w = trace.config, trace.context.pass_weights
    index = torch.tensor(rows)
    mid = trace.resid_mid(layer)[index]  # (m, d_model)
    if cfg.norm_position == "post":  # resid_post = LN(mid + mlp(mid)): the MLP's output is not a difference
        return mid, fwd.mlp(mid.to(trace.device, trace.dtype), w, layer, cfg).float().cpu()
    post = trace.resid(layer + 1)[index]  # (m, d_model)
    return mid, post - mid


def _linear_norm_parts(parts: torch.Tensor, trace: Trace, prefix: str) -> torch.Tensor:
    """parts [m, p, d] of a sublayer's output, mapped through the output norm at their sum's scale, so that
    they add up to the normalised output (the norm's own bias goes to the last part, the output bias's)."""
    cfg, w = trace.config, trace.context.weights
    total = parts.sum(1, keepdim=True)  # (m, 1, d)
    gain = w[prefix + ".w"].float().to(parts.device)  # (d,)
    if cfg.norm == "rms":
        scale = torch.rsqrt(total.pow(2).mean(-1, keepdim=True) + cfg.norm_eps)  # (m, 1, 1)
        return parts * scale * gain
    scale = torch.rsqrt(total.var(-1, unbiased=False, keepdim=True) + cfg.norm_eps)  # (m, 1, 1)
    out = (parts - parts.mean(-1, keepdim=True)) * scale * gain
    if w.get(prefix + ".b") is not None:
        out[:, -1] += w[prefix + ".b"].float().to(parts.device)
    return out
