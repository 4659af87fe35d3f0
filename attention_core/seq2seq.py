"""Encoder-decoders: one source text, one target text, and three kinds of attention.

    trace = model.trace_pair("The cat sleeps.", "Le chat dort.")
    trace.encoder            a Trace over the source (bidirectional self-attention)
    trace.decoder            a Trace over the target (causal self-attention); .logits predicts each next token
    trace.cross.pattern(l, h)  [n_target, n_source]: decoder queries over encoder keys, no mask
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from types import SimpleNamespace

import torch

from . import model as fwd
from .trace import Trace


def decoder_view(model) -> SimpleNamespace:
    """The decoder as something a `Trace` can read: its config and its weights under the usual names."""
    cfg = model.config
    dec_cfg = dataclasses.replace(cfg, arch="marian-decoder", n_layers=cfg.n_decoder_layers, causal=True)
    weights = {k[len("dec."):]: v for k, v in model.weights.items() if k.startswith("dec.")}
    weights.update({k: v for k, v in model.weights.items() if k.startswith(("embed.", "unembed."))})
    cross = {}
    for key, value in weights.items():
        if ".cross." in key:
            cross[key.replace(".cross.", ".attn.")] = value  # so the shared attention helpers find it
    return SimpleNamespace(config=dec_cfg, weights=weights, cross_weights=cross, device=model.device, name=model.name)


@dataclass
class CrossAttention:
    """Decoder queries over encoder keys in every decoder layer; nothing is masked."""

    view: SimpleNamespace
    captured: fwd.CapturedDecoder

    @property
    def n_layers(self) -> int:
        return self.view.config.n_layers

    def scores(self, layer: int, head: int) -> torch.Tensor:
        """[n_target, n_source] scaled q·k/√d_head."""
        q, k = self.captured.cross_q[layer][head], self.captured.cross_k[layer][head]
        return (q @ k.T / math.sqrt(q.shape[-1])).cpu()

    def pattern(self, layer: int, head: int) -> torch.Tensor:
        """[n_target, n_source]; each target query's row sums to 1 over the source."""
        return torch.softmax(self.scores(layer, head), dim=-1)

    def layer_patterns(self, layer: int) -> torch.Tensor:
        """[n_heads, n_target, n_source]."""
        q, k = self.captured.cross_q[layer], self.captured.cross_k[layer]
        return torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1).cpu()

    def z(self, layer: int) -> torch.Tensor:
        """[n_heads, n_target, d_head]."""
        c = self.captured
        return fwd.attend(c.cross_q[layer], c.cross_k[layer], c.cross_v[layer], False).cpu()

    def attn_out(self, layer: int) -> torch.Tensor:
        """[n_target, d_model] what cross-attention adds to the decoder's residual stream."""
        c = self.captured
        z = fwd.attend(c.cross_q[layer], c.cross_k[layer], c.cross_v[layer], False)
        return fwd.attn_output(z, self.view.cross_weights, layer).cpu()


@dataclass
class PairTrace:
    source: str
    target: str
    encoder: Trace
    decoder: Trace
    cross: CrossAttention

    @property
    def source_tokens(self) -> list[str]:
        return self.encoder.tokens

    @property
    def target_tokens(self) -> list[str]:
        """The decoder's inputs: the start token, then the target's tokens (query i predicts token i + 1)."""
        return self.decoder.tokens

    @property
    def logits(self) -> torch.Tensor | None:
        return self.decoder.logits
