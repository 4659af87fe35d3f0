"""Rank heads by how much knocking each out changes one prediction, batched per layer.

Ablating head h of layer l leaves layers < l untouched, so every variant of layer l starts from the
clean trace's residual there; the n_heads variants then run through the remaining layers as one batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

import torch

from . import blocks, mixers
from . import model as fwd
from .config import ModelConfig
from .device import to_host
from .disentangled import layer_position_bias

if TYPE_CHECKING:
    from .trace import Trace


Readout = Callable[[torch.Tensor], torch.Tensor]  # final residuals (..., d_model) → log scores (..., n_out), float32


def _unembedding_readout(w: blocks.Weights, cfg: ModelConfig) -> Readout:
    """The unembedding's log softmax: a decoder's next-token log p, or a masked LM's at a position."""
    return lambda h: torch.log_softmax(fwd.unembed(h, w, cfg).float(), -1)


def head_ablation_sweep(
    trace: Trace, target_id: int, position: int | slice = -1, mode: Literal["zero", "mean"] = "zero",
    readout: Readout | None = None,
) -> torch.Tensor:
    """[n_layers, n_heads]: change in log p(target_id) at `position` when each head alone is ablated (NaN in a
    hybrid's other layers, which have no heads). `readout`: what the final residual at `position` is read through
    (default: the unembedding's log softmax); a classifier's (classify.py) passes `slice(None)` and pools itself.

    Negative values mean the head helped the prediction. Equals running `model.trace(text,
    interventions=[ablate_head(l, h, mode)])` for each head in turn. `trace.ablation_sweep` calls this.
    """
    cfg = trace.config
    w = trace.context.pass_weights  # what the clean pass read: fused (and, on the CPU, packed) weights
    if readout is None and not cfg.has_lm_head:
        raise ValueError("The ablation sweep needs logits: a decoder's, or an encoder's masked-language-model head's.")
    readout = readout or _unembedding_readout(w, cfg)
    if trace.interventions:
        raise ValueError("Run the sweep on a trace without interventions.")
    if cfg.is_encoder_decoder and readout is None:  # its decoder reads the encoder: only a readout that runs it
        raise ValueError("The ablation sweep reruns a decoder-only model, not an encoder-decoder's decoder.")
    cap = trace.captured
    n, H = trace.n_tokens, cfg.n_heads
    ropes = blocks.layer_ropes(n, cfg, trace.context.device)
    bias = blocks.stack_position_bias(w, cfg, n, n)  # (H, n, n) or None: every layer's position bias
    clean = readout(cap.resid_pre[-1][position])[target_id]  # float32
    out = torch.empty(cfg.n_layers, H)
    heads = torch.arange(H)
    with torch.inference_mode():
        for layer in range(cfg.n_layers):
            if not cfg.attends(layer):  # a hybrid's layer without attention: no head to ablate
                out[layer] = float("nan")
                continue
            layer_bias = layer_position_bias(bias, w, cfg, layer, cap.q[layer], cap.k[layer])  # DeBERTa's: its q, k
            opts = fwd.AttnOptions.of(cfg, layer, layer_bias, fwd.layer_sinks(w, layer))
            z = fwd.attend(cap.q[layer], cap.k[layer], cap.v[layer], trace.causal, opts)  # (H, n, d_head)
            gate = fwd.resid_gate(cap.resid_pre[layer], w, layer, cfg)  # (H, n, d_head) or None
            z = z if gate is None else z * gate
            zb = z.expand(H, *z.shape).clone()  # (variant, H, n, d_head): variant b ablates head b
            zb[heads, heads] = 0.0 if mode == "zero" else z.mean(1, keepdim=True)
            x = cap.resid_pre[layer].expand(H, n, cfg.d_model)  # (variant, n, d_model)
            attn = mixers.beside_attention(fwd.attn_output(zb, w, layer), cap.resid_pre[layer], w, layer, cfg)
            mid = blocks.after_attention(x, attn, w, layer, cfg)  # (variant, n, d_model); a scan beside: unchanged
            x = blocks.after_mlp(mid, w, layer, cfg, x)
            for later in range(layer + 1, cfg.n_layers):
                x_in = blocks.attention_input(x, w, later, cfg)
                if not cfg.attends(later):
                    mixed = mixers.mix(x_in, w, later, cfg)  # (variant, n, d_model)
                    x = blocks.after_mlp(blocks.after_attention(x, mixed, w, later, cfg), w, later, cfg, x)
                    continue
                q, k, v = blocks.qkv(x_in, w, later, cfg, ropes[later])  # (variant, heads, n, d_head)
                later_bias = layer_position_bias(bias, w, cfg, later, q, k)  # DeBERTa's: of each variant's q and k
                later_opts = fwd.AttnOptions.of(cfg, later, later_bias, fwd.layer_sinks(w, later))
                z = fwd.attend(q, k, v, trace.causal, later_opts)
                gate = blocks.output_gate(x_in, w, later, cfg)  # (variant, H, n, d_head) or None
                z = z if gate is None else z * gate
                attn = mixers.beside_attention(fwd.attn_output(z, w, later), x, w, later, cfg, x_in)  # (variant, n, d)
                x = blocks.after_mlp(blocks.after_attention(x, attn, w, later, cfg), w, later, cfg, x)
            logp = readout(x[:, position])[:, target_id]  # (variant,)
            out[layer] = to_host(logp - clean)
    return out
