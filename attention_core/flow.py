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
    convolution     pre(l, j) → mid(l, i)   a hybrid's convolution layer in place of attention: what source j
                                            (i itself or one of the few tokens before it) sent (short_conv.py)
    delta           pre(l, j) → mid(l, i)   a hybrid's gated delta rule (linear attention): what any earlier source
                                            j sent through the layer's state (delta_net.py)
    ssm             pre(l, j) → mid(l, i)   a hybrid's Mamba-2 scan: what any earlier source j sent (mamba.py), in
                                            place of attention or beside its heads (Falcon-H1); or Mamba's
                                            selective scan (Jamba: selective_scan.py)
    recurrence      pre(l, j) → mid(l, i)   a hybrid's RG-LRU (RecurrentGemma: rg_lru.py): what any earlier source j
                                            left in the layer's per-channel state
    mlp             mid(l, i) → pre(l+1, i) the MLP's output (a self-edge: the MLP reads only position i;
                                            parallel blocks (GPT-NeoX) read pre(l, i))
    residual_mlp    mid(l, i) → pre(l+1, i) the stream passing the MLP

Post-norm models (BERT) normalise after the add, so the parts are those of the sum before the norm.
Models that normalise a sublayer's output before adding it (Gemma 2, OLMo 2) have that norm linearised at
the sublayer's whole output (its scale is fixed per position), so the parts still add up exactly. Ablations
apply as in `Trace.contributions`. The output bias b_O is a part of the sum with no edge. A model that gates its
heads' outputs (AFMoE) sends c_j = Σ_h A_h[i, j] · (g_i ⊙ v_j) · W_O^h, the query's gate g_i in each part.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch

from . import blocks, lens, mamba, mixers, recompute
from . import interventions as iv
from . import model as fwd
from .device import host_float, to_host

if TYPE_CHECKING:
    from .trace import Trace

EdgeKind = Literal[
    "attention", "convolution", "delta", "ssm", "recurrence", "residual_attn", "mlp", "residual_mlp"
]
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
    return _shares((total.abs().sum(-1) - (total - parts).abs().sum(-1)).clamp_min(0))  # (..., p)


def _shares(proximity: torch.Tensor) -> torch.Tensor:
    """Proximities [..., p] → each one's share of their sum (all 0 where the sum is 0, not NaN)."""
    return proximity / proximity.sum(-1, keepdim=True).clamp_min(torch.finfo(proximity.dtype).tiny)


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
            if not reached:  # a high threshold can keep no part of some sum: nothing below is on a path
                break
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
    if not rows:
        return pres
    if not trace.config.attends(layer) or trace.config.ssm_beside_attention:
        return _mixer_step(trace, layer, rows, threshold, edges)
    pieces = _attention_pieces(trace, layer, rows)
    n_k = pieces.values_up.shape[1]
    chunk = max(1, CHUNK_FLOATS // (n_k * trace.config.d_model))
    for at in range(0, len(rows), chunk):
        share = to_host(pieces.shares(slice(at, at + chunk)))  # (m, 1 + n_k + 1)
        for r, i in enumerate(rows[at : at + chunk]):
            if share[r, 0] >= threshold:
                edges.append(FlowEdge(layer, "residual_attn", i, i, float(share[r, 0])))
                pres.add(i)
            for j in torch.nonzero(share[r, 1:-1] >= threshold).flatten().tolist():
                edges.append(FlowEdge(layer, "attention", j, i, float(share[r, 1 + j])))
                pres.add(j)
    return pres


def _mixer_step(trace: Trace, layer: int, rows: list[int], threshold: float, edges: list[FlowEdge]) -> set[int]:
    """The split of the sum behind resid_mid at `rows`, row by row, of a layer without attention (mixer_parts) or with
    a scan beside its heads (beside_parts); returns the positions that carry on."""
    pres: set[int] = set()
    if not trace.config.mixes(layer):  # an MLP-only layer: resid_mid is resid_pre, whole
        edges.extend(FlowEdge(layer, "residual_attn", i, i, 1.0) for i in rows)
        return set(rows)
    for i in rows:
        senders, parts = _senders_and_parts(trace, layer, i)
        share = importances(parts)  # (1 + senders + 1,)
        if share[0] >= threshold:
            edges.append(FlowEdge(layer, "residual_attn", i, i, float(share[0])))
            pres.add(i)
        for s, (kind, j) in enumerate(senders):
            if share[1 + s] >= threshold:
                edges.append(FlowEdge(layer, kind, j, i, float(share[1 + s])))
                pres.add(j)
    return pres


def _senders_and_parts(trace: Trace, layer: int, row: int) -> tuple[list[tuple[EdgeKind, int]], torch.Tensor]:
    """(each sending part's (edge kind, source), the parts) of the sum behind resid_mid at `row`."""
    if trace.config.attends(layer):  # a scan beside the heads (Falcon-H1)
        senders: list[tuple[EdgeKind, int]] = [("attention", j) for j in range(trace.n_tokens)]
        return senders + [("ssm", j) for j in range(row + 1)], beside_parts(trace, layer, row)
    kind: EdgeKind = mixers.kind(trace.config, layer).edge
    sources, parts = mixer_parts(trace, layer, row)
    return [(kind, j) for j in sources.tolist()], parts


def beside_parts(trace: Trace, layer: int, row: int) -> torch.Tensor:
    """[1 + n + (row + 1) + 1, d_model] float32, a layer with a scan beside its heads (Falcon-H1, pre-norm) at `row`:
    resid_pre[row], what each source sent through the heads (attention_parts), what each source 0..row sent through
    the scan (mamba.source_terms), and the part no token sends (b_O and the scan's b_out). They add up to
    resid_mid[row]."""
    w, cfg = trace.context.weights, trace.config
    attn = attention_parts(trace, layer, [row])[0]  # (1 + n + 1, d_model)
    x_in = blocks.attention_input(trace.captured.resid_pre[layer], w, layer, cfg)  # (n, d_model)
    _, terms, constant = mamba.source_terms(x_in, w, layer, cfg, row)  # (row + 1, d_model), (d_model,)
    return torch.cat([attn[:-1], terms.to(attn.device), (attn[-1] + constant.to(attn.device))[None]])


def mixer_parts(trace: Trace, layer: int, row: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(sources [m] positions, parts [1 + m + 1, d_model] float32) of a layer without attention at `row`:
    resid_pre[row], each source's term (its kind's source_terms, mixers.KINDS), the part no token sends (the biases).
    They add up to resid_mid[row]: where the model normalises the output before adding it (LFM3), through that norm
    linearised at the whole output, as for attention."""
    w, cfg = trace.context.weights, trace.config
    resid = trace.captured.resid_pre[layer]  # (n, d_model), the pass's dtype
    x_in = blocks.attention_input(resid, w, layer, cfg)  # (n, d_model)
    sources, terms, constant = mixers.kind(cfg, layer).source_terms(x_in, w, layer, cfg, row)  # (m,), (m, d), (d,)
    if trace.config.norm_at(layer) in ("sandwich", "post_sublayer"):
        out = (terms.sum(0) + constant)[None]  # (1, d_model): the mixer's whole output at the row
        gain, centre, shift = _linearised_norm(out, trace, f"blocks.{layer}.ln_attn_out")  # gain (1, 1, d_model)
        terms = (terms - terms.mean(-1, keepdim=True) if centre else terms) * gain[0]
        constant = (constant - constant.mean() if centre else constant) * gain[0, 0] + shift
    return sources, torch.cat([resid[row, None].float(), terms, constant[None]])


@dataclass(frozen=True)
class _AttentionPieces:
    """What the parts of the attention step at some rows are made of, without forming them all at once."""

    resid: torch.Tensor  # (m, d_model) resid_pre at the rows
    weights: torch.Tensor  # (n_heads, m, n_k) the weights each head used
    values_up: torch.Tensor  # (n_heads, n_k, d_model) v_j·W_O^h
    bias: torch.Tensor  # (m, d_model) the output bias part (zeros where there is none)
    gain: torch.Tensor | None  # (m, 1, d_model) the linearised output norm's factor (sandwich models), or None
    centre: bool  # the output norm is a LayerNorm: parts are centred first
    # a model that gates its heads' outputs: rows → (n_heads, m', n_k, d_head_v) what each key sends before W_O
    # (lens.gated_sent), which the query's gate makes differ per row; None for the others
    gated: Callable[[slice], torch.Tensor] | None = None
    W_O: torch.Tensor | None = None  # (n_heads, d_head_v, d_model), with `gated`

    def sent(self, rows: slice) -> torch.Tensor:
        """(m', n_k, d_model) each source's part c_j at rows[rows]."""
        if self.gated is not None:
            c = torch.einsum("hmkd,hde->mke", self.gated(rows), self.W_O)
        else:
            c = torch.einsum("hmk,hkd->mkd", self.weights[:, rows], self.values_up)
        return self._normed(c, rows)

    def _normed(self, parts: torch.Tensor, rows: slice) -> torch.Tensor:
        if self.gain is None:
            return parts
        if self.centre:
            parts = parts - parts.mean(-1, keepdim=True)
        return parts * self.gain[rows]

    def shares(self, rows: slice) -> torch.Tensor:
        """(m', 1 + n_k + 1) importances of (resid, each source, bias) at rows[rows]: `importances` of the
        parts, computed without joining them into one tensor."""
        sent, resid, bias = self.sent(rows), self.resid[rows], self.bias[rows]  # (m', n_k, d), (m', d), (m', d)
        total = resid + sent.sum(1) + bias  # (m', d)
        size = total.abs().sum(-1, keepdim=True)  # (m', 1)
        near = (total[:, None] - sent).abs_().sum(-1)  # (m', n_k): ‖y − c_j‖₁
        proximity = torch.cat(
            [
                size - (total - resid).abs().sum(-1, keepdim=True),
                size - near,
                size - (total - bias).abs().sum(-1, keepdim=True),
            ],
            1,
        ).clamp_min(0)  # (m', 1 + n_k + 1)
        return _shares(proximity)


def _attention_pieces(trace: Trace, layer: int, rows: list[int], all_keys: bool = False) -> _AttentionPieces:
    """The pieces at `rows`. A causal model's keys after the last row send exactly nothing (weight 0), so they
    are left out unless `all_keys`."""
    cfg, w = trace.config, trace.context.weights
    index = torch.tensor(rows)
    n_k = trace.n_tokens if all_keys or not trace.causal else max(rows) + 1
    a = lens.sent_patterns(trace, layer, index).float()[..., :n_k]  # (n_heads, m, n_k)
    v = recompute.per_query_head(trace.captured.v[layer], cfg).float()[:, :n_k]  # (n_heads, n_k, d_head)
    values_up = torch.bmm(v, trace._W_O_heads(layer).float())  # (n_heads, n_k, d_model)
    zeroed = any(item.kind == "zero_layer" for item in iv.for_layer(trace.interventions, layer))
    b_O = w.get(f"blocks.{layer}.attn.b_O")
    bias = torch.zeros(len(rows), cfg.d_model, device=values_up.device)
    if b_O is not None and not zeroed:
        bias = bias + b_O.float()
    resid = trace.captured.resid_pre[layer][index].float()  # (m, d_model)
    gated, W_O = None, None
    if cfg.attn_output_gate:  # what a key sends depends on the query's gate: formed per chunk of rows
        gate, W_O = lens.output_gate(trace, layer), trace._W_O_heads(layer).float()
        gated = lambda part: lens.gated_sent(trace, layer, index[part], gate=gate)[..., :n_k, :].float()  # noqa: E731
    gain, centre = None, False
    if cfg.norm_at(layer) in ("sandwich", "post_sublayer"):  # the output is normalised before it is added
        update = (torch.einsum("hmd,hde->me", trace._z(layer)[:, index].float(), W_O) if gated is not None
                  else torch.einsum("hmk,hkd->md", a, values_up)) + bias  # (m, d_model): the whole output
        gain, centre, shift = _linearised_norm(update, trace, f"blocks.{layer}.ln_attn_out")
        bias = (bias - bias.mean(-1, keepdim=True) if centre else bias) * gain[:, 0] + shift
    return _AttentionPieces(resid, a, values_up, bias, gain, centre, gated, W_O)


def attention_parts(trace: Trace, layer: int, rows: list[int]) -> torch.Tensor:
    """[m, 1 + n + 1, d_model] float32: for each row i, the parts of the sum the attention sublayer leaves at
    i: resid_pre[i], then each source j's c_j, then the output bias (zeros where there is none). They add up to
    resid_mid[i] (pre-norm, sandwich, parallel) or to what the post-norm normalises (BERT)."""
    p = _attention_pieces(trace, layer, rows, all_keys=True)
    every = slice(None)
    return torch.cat([p.resid[:, None], p.sent(every), p.bias[:, None]], 1)  # (m, 1 + n_k + 1, d_model)


def mlp_parts(trace: Trace, layer: int, rows: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """([m, d_model] resid_mid, [m, d_model] mlp_out) at `rows`, float32: what resid_post adds up from
    (before the norm in post-norm models)."""
    cfg, w = trace.config, trace.context.pass_weights
    index = torch.tensor(rows)
    mid = _mid_at(trace, layer, index)  # (m, d_model), the pass's dtype
    if cfg.norm_at(layer) == "post":  # resid_post = LN(mid + mlp(mid)): the MLP's output is not a difference
        return host_float(mid), host_float(blocks.mlp(mid, w, layer, cfg))
    post = trace.captured.resid_pre[layer + 1][index]  # (m, d_model)
    return host_float(mid), to_host(post.float() - mid.float())


def _mid_at(trace: Trace, layer: int, index: torch.Tensor) -> torch.Tensor:
    """resid_mid at positions `index` alone (Trace.resid_mid computes every position's attention again)."""
    cfg, w = trace.config, trace.context.pass_weights
    if not cfg.attends(layer):  # a layer without attention: its output at every position, then the rows
        return blocks.after_attention(trace.captured.resid_pre[layer], trace._mixer_out(layer), w, layer, cfg)[index]
    v = recompute.per_query_head(trace.captured.v[layer], cfg)  # (n_heads, n, d_head)
    a = lens.sent_patterns(trace, layer, index).to(v.dtype)  # (n_heads, m, n)
    z = trace._z(layer)[:, index] if cfg.attn_output_gate else torch.bmm(a, v)  # (n_heads, m, d_head): gated
    attn = fwd.layer_attn_out(z, w, layer, iv.for_layer(trace.interventions, layer))  # (m, d_model)
    scan = mixers.scan_beside(trace.captured.resid_pre[layer], w, layer, cfg)  # (n, d_model): Falcon-H1's, or None
    if scan is not None:  # its output at the rows, from every token up to them
        attn = attn + scan[index]
    return blocks.after_attention(trace.captured.resid_pre[layer][index], attn, w, layer, cfg)


def _linearised_norm(update: torch.Tensor, trace: Trace, prefix: str) -> tuple[torch.Tensor, bool, torch.Tensor]:
    """The output norm at `prefix` as a map that is linear at this output's own scale: (gain [m, 1, d], whether
    parts are centred first (LayerNorm), the norm's own bias [d] or zeros). Parts mapped so add up to the
    normalised output."""
    cfg, w = trace.config, trace.context.weights
    weight = w[prefix + ".w"].float().to(update.device)  # (d,)
    if cfg.norm == "rms":
        scale = torch.rsqrt(update.pow(2).mean(-1, keepdim=True) + cfg.norm_eps)  # (m, 1)
        return (scale * weight)[:, None], False, torch.zeros_like(weight)
    scale = torch.rsqrt(update.var(-1, unbiased=False, keepdim=True) + cfg.norm_eps)  # (m, 1)
    shift = w.get(prefix + ".b")
    return (scale * weight)[:, None], True, torch.zeros_like(weight) if shift is None else shift.float()
