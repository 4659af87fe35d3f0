"""Contacts predicted from attention: ESM's contact head (Rao et al., 2020, "Transformer protein language models are
unsupervised structure learners"), as transformers' EsmContactPredictionHead computes it.

Every head's pattern over the residues (the first token, <cls>, and the last, <eos>, dropped; a typed <eos> zeroed
first) is made symmetric, A + Aᵀ, and corrected for the average product (APC: minus rowsum·colsum / total, which
removes what a residue gets from every other alike); one logistic regression then weighs every layer's heads:
P(i, j in contact) = σ(Σ_{layer, head} w[layer, head]·APC(A + Aᵀ)[i, j] + b). One layer's patterns at a time, so a
long protein never holds all of them at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .trace import Trace

EOS_ID = 2  # EsmContactPredictionHead's eos_idx, as transformers builds it for every ESM model


def has_contact_head(weights: Mapping[str, torch.Tensor]) -> bool:
    return "contact.W" in weights


def apc(features: torch.Tensor) -> torch.Tensor:
    """Average product correction over the last two dimensions: x − rowsum·colsum / total."""
    rows, cols = features.sum(-1, keepdim=True), features.sum(-2, keepdim=True)
    return features - rows * cols / features.sum((-1, -2), keepdim=True)


def contact_probabilities(trace: Trace) -> torch.Tensor | None:
    """[n − 2, n − 2] probabilities that residues i and j (tokens i + 1 and j + 1) touch, from `trace`'s patterns and
    the model's contact head; None where the model has none, or the text holds fewer than two residues."""
    w, cfg = trace.context.weights, trace.config
    if not has_contact_head(w) or trace.n_tokens < 4:  # <cls>, <eos> and at least two residues
        return None
    ids = torch.tensor(trace.token_ids)
    keep = (ids != EOS_ID).float()
    pairs = keep[:, None] * keep[None, :]  # (n, n): 0 in an <eos>'s row and column
    per_head = w["contact.W"].reshape(cfg.n_layers, cfg.n_heads)  # the regression's weight of each layer's heads
    logits = torch.zeros(trace.n_tokens - 2, trace.n_tokens - 2)
    with torch.inference_mode():
        for layer in range(cfg.n_layers):
            patterns = (trace.layer_patterns(layer).cpu() * pairs)[:, 1:-1, 1:-1]  # (heads, n − 2, n − 2)
            features = apc(patterns + patterns.transpose(-1, -2))
            logits += torch.einsum("h,hij->ij", per_head[layer].cpu(), features)
        return torch.sigmoid(logits + w["contact.b"].cpu())
