"""The weights a hybrid's scan or delta rule gives each earlier token: its layer's pattern-like matrix, per head.

Mamba-2's scan (mamba.py) and the gated delta rule (delta_net.py) are linear in what each earlier token sends once
their gates are fixed: a head's output at query t is Σ_{s≤t} weight[t, s] · (x_s or v_s) (+ D x_t for the scan). That
weight is one number per query and source, as attention's pattern is, but it comes from no softmax: it may be
negative, and a row need not sum to 1. Drawn as a matrix it shows where such a head reads from (Mamba-2's
"state-space duality"). A short convolution has no such number per head (each channel has its own taps), and an
MLP-only layer reads no other token, so only those two mixers have one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from . import blocks, delta_net, mamba
from .device import host_float

if TYPE_CHECKING:
    from .trace import Trace

# the mixers (ModelConfig.mixers) whose layers have a weight per head, query and source
WEIGHTED_MIXERS = ("ssm", "gated_delta")


def weighted_layers(trace: Trace) -> tuple[int, ...]:
    """The layers of `trace`'s model whose mixer has implicit weights (a scan or a delta rule), in order."""
    mixers = trace.config.mixers
    return tuple(layer for layer in range(trace.n_layers) if mixers and mixers[layer] in WEIGHTED_MIXERS)


def implicit_weights(trace: Trace, layer: int, n_max: int | None = None) -> torch.Tensor:
    """[heads, m, m] float32 weight[t, s] of `layer`'s scan or delta rule over the first m = min(n, n_max) tokens, 0
    where s > t. The first m tokens' weights are exact: neither mixer lets a token read a later one."""
    if layer not in weighted_layers(trace):
        raise ValueError(f"layer {layer} of {trace.model_name} runs {trace.config.mixer_phrase(layer)}: it has no "
                         f"weight per head and source (those layers: {list(weighted_layers(trace))})")  # fmt: skip
    w, cfg = trace.context.weights, trace.config
    m = trace.n_tokens if n_max is None else min(trace.n_tokens, int(n_max))
    with torch.inference_mode():
        x_in = blocks.attention_input(trace.captured.resid_pre[layer][:m], w, layer, cfg)  # (m, d_model)
        if cfg.mixers[layer] == "ssm":
            return host_float(mamba.weight_matrix(mamba.inputs(x_in, w, layer, cfg)))
        return host_float(delta_net.weight_matrix(delta_net.inputs(x_in, w, layer, cfg)))
