"""The weights a hybrid's scan or delta rule gives each earlier token: its layer's pattern-like matrix, per head.

Mamba-2's scan (mamba.py) and the gated delta rule (delta_net.py) are linear in what each earlier token sends once
their gates are fixed: a head's output at query t is Σ_{s≤t} weight[t, s] · (x_s or v_s) (+ D x_t for the scan). That
weight is one number per query and source, as attention's pattern is, but it comes from no softmax: it may be
negative, and a row need not sum to 1. Drawn as a matrix it shows where such a head reads from (Mamba-2's
"state-space duality"). A short convolution and Mamba's selective scan (Jamba) have no such number per head (each
channel has its own taps or decays), and an MLP-only layer reads no other token, so only those two mixers have one.

A weight depends only on the tokens from its source to its query (the decays and overwrites between them), so a
window of queries and sources [start, stop) is exact from that window's own per-token quantities (computed over the
text up to `stop`, as the layer's convolution reads a few tokens back): a long text is drawn window by window.
"""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING

import torch

from . import blocks, delta_net, mamba
from .device import host_float

if TYPE_CHECKING:
    from .trace import Trace

def weighted_layers(trace: Trace) -> tuple[int, ...]:
    """The layers of `trace`'s model with implicit weights, in order: a scan (in place of attention or, Falcon-H1's,
    beside it) or a delta rule."""
    cfg = trace.config
    delta = [bool(cfg.mixers) and cfg.mixers[layer] == "gated_delta" for layer in range(cfg.n_layers)]
    return tuple(layer for layer in range(cfg.n_layers) if cfg.scans(layer) or delta[layer])


def implicit_weights(trace: Trace, layer: int, start: int = 0, stop: int | None = None) -> torch.Tensor:
    """[heads, m, m] float32 weight[t, s] of `layer`'s scan or delta rule for queries and sources in [start, stop)
    (m = stop − start; default the whole text), 0 where s > t: exact, as module docstring says."""
    if layer not in weighted_layers(trace):
        raise ValueError(f"layer {layer} of {trace.model_name} runs {trace.config.mixer_phrase(layer)}: it has no "
                         f"weight per head and source (those layers: {list(weighted_layers(trace))})")  # fmt: skip
    stop = trace.n_tokens if stop is None else int(stop)
    if not 0 <= start < stop <= trace.n_tokens:
        raise IndexError(f"window [{start}, {stop}) is not inside the text's {trace.n_tokens} tokens")
    w, cfg = trace.context.weights, trace.config
    with torch.inference_mode():
        x_in = blocks.attention_input(trace.captured.resid_pre[layer][:stop], w, layer, cfg)  # (stop, d_model)
        module = mamba if cfg.scans(layer) else delta_net
        d = module.inputs(x_in, w, layer, cfg)
        window = {f.name: _from(getattr(d, f.name), start, f.name == "z") for f in fields(d)}
        return host_float(module.weight_matrix(type(d)(**window)))


def _from(t: torch.Tensor, start: int, tokens_first: bool) -> torch.Tensor:
    """A per-token quantity from token `start` on: its token axis is the first (the scan's gate z) or the second."""
    return t[start:] if tokens_first else t[:, start:]
