"""What a Trace needs of the model that made it: names, config, weights and tokenizer, not the Model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from .config import ModelConfig
from .tokenizer import TextTokenizer


# eq=False: two contexts are the same only if they are the same object (comparing weight dicts by value
# would compare tensors), and so it hashes by identity too.
@dataclass(frozen=True, eq=False)
class PassContext:
    """What a Trace needs of the model that made it (not the whole Model)."""

    name: str  # model name, e.g. "smollm2-135m"
    key: str  # cache identity: f"{name}@{source}"
    config: ModelConfig
    weights: Mapping[str, torch.Tensor]  # canonical weights (never written)
    pass_weights: Mapping[str, torch.Tensor]  # what the forward pass read (fused; packed on the CPU)
    tokenizer: TextTokenizer
    device: torch.device
    dtype: torch.dtype = torch.float32  # the weights' and the forward pass's dtype (attention_core/dtypes.py)

    def __repr__(self) -> str:
        return f"PassContext({self.key!r}, {self.config.arch}, device={self.device}, dtype={self.dtype})"
