"""A sequence classifier's verdict on the whole text (loading/classifier_head.py reads its head): the first token's
embedding after a block, through the model's final norm where it has one, the pooler and the classifier,

    logits = act(h_0 · W_pool + b_pool) · W_out + b_out     [n_labels]

after the last block the model's own logits, after an earlier one the same head read early (a logit lens for the
class). Scores: softmax over the labels, a sigmoid each (a multi-label model's), or the raw score (a regression's).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from .activations import activation
from .blocks import normalize
from .device import host_float

if TYPE_CHECKING:
    from .trace import Trace


def has_classifier(trace: Trace) -> bool:
    """Whether the model was loaded with a sequence-classification head."""
    return bool(trace.config.class_labels)


def class_logits_by_layer(trace: Trace) -> torch.Tensor:
    """[n_layers, n_labels] the classifier's logits from the first token's embedding after each block (the last row
    the model's own). Raises ValueError for a model without a classifier."""
    if not has_classifier(trace):
        raise ValueError(f"{trace.model_name} has no sequence-classification head.")
    w, cfg = trace.context.pass_weights, trace.config
    dtype = w["classify.W_pool"].dtype  # the pass's (bfloat16 in half precision): the head runs as the model runs
    first = torch.stack([r[0] for r in trace.captured.resid_pre[1:]]).to(dtype)  # (n_layers, d_model): h_0 per block
    if "ln_final.w" in w or not cfg.norm_weights:  # pre-norm encoders close the stack with a norm, as unembed does
        first = normalize(first, w, "ln_final", cfg)
    with torch.inference_mode():
        pooled = activation(first @ w["classify.W_pool"] + w["classify.b_pool"], cfg.class_pool_act)
        return host_float(pooled @ w["classify.W_out"] + w["classify.b_out"])  # (n_layers, n_labels)


def class_scores(logits: torch.Tensor, problem: str) -> torch.Tensor:
    """The labels' scores from their logits [..., n_labels]: probabilities (softmax, or a sigmoid each) or, for a
    regression, the logits themselves."""
    if problem == "sigmoid":
        return torch.sigmoid(logits)
    return logits if problem == "regression" else torch.softmax(logits, dim=-1)
