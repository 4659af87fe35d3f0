"""`trace["blocks.3.attn.pattern"]`: each dotted name of a Trace's tensors and the method that computes it. Every
tensor comes out float32 on the CPU.

Dotted names (TransformerLens style) for `trace[name]`, layer l, head h:

    blocks.l.resid_pre        [n, d_model]             residual stream entering block l
    blocks.l.attn.q           [n_heads, n, d_head]     queries (after RoPE where used)
    blocks.l.attn.k           [n_kv_heads, n, d_head]  keys (after RoPE where used)
    blocks.l.attn.v           [n_kv_heads, n, d_head]  values
    blocks.l.attn.scores      [n_heads, n_q, n_k]      q·k·scale (1/√d_head unless the model sets one), soft-capped
                                                       where the model caps (Gemma 2), plus the position bias where
                                                       the model has one (T5), before the mask
    blocks.l.attn.uncapped_scores [n_heads, n_q, n_k]  q·k·scale alone: no soft-cap, no position bias
    blocks.l.attn.position_bias [n_heads, n_q, n_k]    T5's relative position bias (every layer of a stack shares
                                                       it), DeBERTa's position terms; KeyError without one
    blocks.l.attn.mask        [n_q, n_k]               bool, True where a query may attend (causal and window)
    blocks.l.attn.masked_scores [n_heads, n_q, n_k]    scores with -inf where masked
    blocks.l.attn.pattern     [n_heads, n_q, n_k]      softmax of masked scores; rows sum to 1
    blocks.l.attn.z           [n_heads, n, d_head]     pattern · v (× the gate where the model gates: what W_O reads)
    blocks.l.attn.gate        [n_heads, n, d_head]     σ(E·W_G), the output gate (AFMoE); KeyError without one
    blocks.l.attn.head_out    [n_heads, n, d_model]    z · W_O (each head's slice), without b_O
    blocks.l.attn_out         [n, d_model]             Σ heads' outputs + b_O
    blocks.l.conv_out         [n, d_model]             a hybrid's convolution layer (which has no attn.* names):
                                                       the convolution's output (short_conv.py; each kind's
                                                       name: mixers.KINDS)
    blocks.l.delta_out        [n, d_model]             a hybrid's gated delta rule layer: its output (delta_net.py)
    blocks.l.ssm_out          [n, d_model]             a hybrid's Mamba-2 or Mamba layer: its output (mamba.py,
                                                       selective_scan.py); beside the heads (Falcon-H1): the
                                                       scan's, which resid_mid adds too
    blocks.l.lru_out          [n, d_model]             a hybrid's RG-LRU layer (RecurrentGemma): its output (rg_lru.py)
                                                       (a layer that is an MLP alone, Nemotron-H's: residuals only)
    blocks.l.resid_mid        [n, d_model]             residual after the attention sublayer
    blocks.l.resid_post       [n, d_model]             residual leaving block l
    logits                    [n, d_vocab]             decoders only
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from . import lens, mixers
from .device import host_float

if TYPE_CHECKING:
    from .trace import Trace


def lookup(trace: Trace, name: str) -> torch.Tensor:
    """The tensor named `name` ("logits" or "blocks.{layer}.{what}"); KeyError for a name a trace does not have."""
    if name == "logits":
        logits = trace.logits
        if logits is None:
            raise KeyError("logits: encoders have no next-token logits")
        return logits
    parts = name.split(".")
    try:
        assert parts[0] == "blocks"
        layer, rest = int(parts[1]), ".".join(parts[2:])
    except (AssertionError, IndexError, ValueError):
        raise KeyError(name) from None
    trace.check_layer(layer)
    getters = _layer_getters(trace, layer) if trace.config.attends(layer) else _mixer_getters(trace, layer)
    if rest not in getters:
        raise KeyError(name)
    return getters[rest]()


def _mixer_getters(trace: Trace, layer: int) -> dict[str, Callable[[], torch.Tensor]]:
    """A hybrid's layer without attention: its residuals and what it mixes in (conv_out: a convolution's, delta_out: a
    gated delta rule's, ssm_out: a state-space scan's; nothing where the layer is an MLP alone), no heads."""
    getters = {
        "resid_pre": lambda: trace.resid(layer),
        "resid_post": lambda: trace.resid(layer + 1),
        "resid_mid": lambda: trace.resid_mid(layer),
    }
    if trace.config.mixes(layer):
        getters[mixers.kind(trace.config, layer).output] = lambda: trace.attn_out(layer)
    return getters


def _layer_getters(trace: Trace, layer: int) -> dict[str, Callable[[], torch.Tensor]]:
    t, cap = trace, trace.captured
    getters: dict[str, Callable[[], torch.Tensor]] = {
        "resid_pre": lambda: t.resid(layer),
        "resid_post": lambda: t.resid(layer + 1),
        "resid_mid": lambda: t.resid_mid(layer),
        "attn.q": lambda: host_float(cap.q[layer]),
        "attn.k": lambda: host_float(cap.k[layer]),
        "attn.v": lambda: host_float(cap.v[layer]),
        "attn.scores": lambda: host_float(t._scores(layer, slice(None))),
        "attn.uncapped_scores": lambda: host_float(t._scores(layer, slice(None), capped=False, with_bias=False)),
        "attn.mask": lambda: t.mask(layer),
        "attn.masked_scores": lambda: (
            host_float(t._scores(layer, slice(None))).masked_fill(~t.mask(layer), float("-inf"))
        ),
        "attn.pattern": lambda: t.layer_patterns(layer),
        "attn.z": lambda: t.z(layer),
        "attn.head_out": lambda: t.head_out(layer),
        "attn_out": lambda: t.attn_out(layer),
    }
    if t.config.position_bias != "none":
        getters["attn.position_bias"] = lambda: host_float(t._bias(layer))
    if t.config.attn_output_gate:
        getters["attn.gate"] = lambda: host_float(lens.output_gate(t, layer))
    if t.config.ssm_beside_attention:  # resid_mid = resid_pre + attn_out + ssm_out
        getters["ssm_out"] = lambda: host_float(
            mixers.scan_beside(cap.resid_pre[layer], t.context.pass_weights, layer, t.config))
    return getters
