"""The token mixers that are not attention, in one table: the other layers of a hybrid model (ModelConfig.mixers).

Each kind has its maths in a module of its own: LFM2's short convolution (short_conv.py), the gated delta rule of
Qwen3.5, Qwen3-Next, OLMo Hybrid and Kimi Linear (delta_net.py), Mamba-2's state-space scan (mamba.py), Mamba's
selective scan (selective_scan.py) and Griffin's RG-LRU (RecurrentGemma: rg_lru.py). `KINDS` says what each gives the
rest of the engine:

    run           the pass, Trace.attn_out and the sweep's reruns: output (..., n, d_model) from the normalised input
    step          generation: the output of the next tokens and what the layer carries after them, from what it
                  carried before (recurrence.CarriedState)
    source_terms  the contribution graph: what each earlier token sends to one query's output, and the part no
                  token sends; they add up to that output
    output        the last part of the dotted name of its output, blocks.{l}.<output>
    edge          the kind of its edges in the contribution graph (flow.EdgeKind)

A new kind is its module, a row here and its words in config.MIXER_WORDS and MIXER_PHRASES. "none" (Nemotron-H's
MLP-only layers) mixes nothing and has no row. Falcon-H1 runs Mamba-2's scan beside the heads rather than in their
place: `beside_attention`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import torch

from . import blocks, delta_net, mamba, rg_lru, selective_scan, short_conv
from .config import ModelConfig
from .recurrence import CarriedState

Weights = Mapping[str, torch.Tensor]
Run = Callable[[torch.Tensor, Weights, int, ModelConfig], torch.Tensor]
Step = Callable[[torch.Tensor, Weights, int, ModelConfig, CarriedState | None], tuple[torch.Tensor, CarriedState]]
# (sources (m,) positions, terms (m, d_model) float32, the part no token sends (d_model,) float32)
SourceTerms = Callable[
    [torch.Tensor, Weights, int, ModelConfig, int], tuple[torch.Tensor, torch.Tensor, torch.Tensor]
]


@dataclass(frozen=True)
class MixerKind:
    """What the engine calls for one kind of token mixer (module docstring)."""

    run: Run
    step: Step
    source_terms: SourceTerms
    output: str
    edge: Literal["convolution", "delta", "ssm", "recurrence"]


KINDS: dict[str, MixerKind] = {
    "short_conv": MixerKind(
        short_conv.short_conv, short_conv.conv_step, short_conv.source_terms, "conv_out", "convolution"
    ),
    "gated_delta": MixerKind(delta_net.delta_net, delta_net.delta_step, delta_net.source_terms, "delta_out", "delta"),
    "ssm": MixerKind(mamba.ssm, mamba.ssm_step, mamba.source_terms, "ssm_out", "ssm"),
    "selective_scan": MixerKind(
        selective_scan.selective_scan, selective_scan.selective_step, selective_scan.source_terms, "ssm_out", "ssm"
    ),
    "rg_lru": MixerKind(rg_lru.rg_lru, rg_lru.lru_step, rg_lru.source_terms, "lru_out", "recurrence"),
}


def kind(cfg: ModelConfig, layer: int) -> MixerKind:
    """The row of KINDS for `layer`, a layer that mixes tokens without attention (cfg.mixes(layer))."""
    return KINDS[cfg.mixers[layer]]


def mix(x_in: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig) -> torch.Tensor:
    """What a layer without attention mixes in (..., n, d_model) from its normalised input x_in: its kind's output;
    nothing (zeros) where it mixes no tokens."""
    if not cfg.mixes(layer):  # Nemotron-H's MLP-only layers
        return torch.zeros_like(x_in)
    return kind(cfg, layer).run(x_in, w, layer, cfg)


def beside_attention(
    attn_out: torch.Tensor, resid: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig,
    x_in: torch.Tensor | None = None,
) -> torch.Tensor:
    """What an attention layer mixes in (..., n, d_model): its attention output `attn_out`, plus, where the model runs
    a Mamba-2 scan beside the heads, that scan's output (`scan_beside`)."""
    scan = scan_beside(resid, w, layer, cfg, x_in)
    return attn_out if scan is None else attn_out + scan


def scan_beside(
    resid: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig, x_in: torch.Tensor | None = None
) -> torch.Tensor | None:
    """(..., n, d_model) the output of the Mamba-2 scan beside `layer`'s heads (Falcon-H1:
    ModelConfig.ssm_beside_attention) on the heads' normalised input (x_in, computed from the block's input `resid`
    when not given); None where the model runs no such scan."""
    if not cfg.ssm_beside_attention:
        return None
    x_in = blocks.attention_input(resid, w, layer, cfg) if x_in is None else x_in
    return mamba.ssm(x_in, w, layer, cfg)
