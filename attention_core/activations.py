"""The MLPs' activation functions, by ModelConfig.act (experts.feed_forward applies them).

xIELU (Apertus) has two learned scalars per layer, kept as weights `blocks.{l}.mlp.act.alpha_p` and `.alpha_n`
(already the values the formula uses: softplus of the checkpoint's parameters, alpha_n plus beta), and two
constants, ModelConfig.xielu = (beta, eps).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F


def activation(x: torch.Tensor, act: str) -> torch.Tensor:
    if act == "silu":
        return F.silu(x)
    if act == "relu":  # T5
        return F.relu(x)
    if act == "relu2":  # Nemotron: squared ReLU
        return F.relu(x).square()
    if act == "tanh":  # a sequence classifier's pooler (BERT's, RoBERTa's)
        return torch.tanh(x)
    return F.gelu(x, approximate="tanh" if act == "gelu_tanh" else "none")


def xielu(x: torch.Tensor, w: Mapping[str, torch.Tensor], p: str, beta: float, eps: float) -> torch.Tensor:
    """xIELU (arXiv 2411.13010): α_p·x² + β·x for x > 0, else α_n·(e^min(x, ε) − 1 − x) + β·x; α_p, α_n are the
    layer's `{p}act.alpha_p` and `{p}act.alpha_n`."""
    alpha_p, alpha_n = w[p + "act.alpha_p"], w[p + "act.alpha_n"]
    negative = (torch.expm1(torch.clamp(x, max=eps)) - x) * alpha_n
    return torch.where(x > 0, alpha_p * x * x, negative) + beta * x


def clamped_swiglu(gate: torch.Tensor, up: torch.Tensor, limit: float, alpha: float) -> torch.Tensor:
    """GPT-OSS's gated unit: gate clamped above at `limit` and up to ±limit, then gate·σ(α·gate)·(up + 1)."""
    gate = gate.clamp(max=limit)
    up = up.clamp(min=-limit, max=limit)
    return gate * torch.sigmoid(gate * alpha) * (up + 1)
