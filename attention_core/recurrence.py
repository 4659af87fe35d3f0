"""What a hybrid's layers without attention share (short_conv.py, delta_net.py, mamba.py, selective_scan.py): the
causal depthwise convolution that feeds each of them, the state a generation carries for them between chunks of
tokens, and running a batch of sequences (the ablation sweep's variants) one sequence at a time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class CarriedState:
    """What a layer that scans the text carries from one chunk of a generation to the next."""

    conv_inputs: torch.Tensor  # (≤ L − 1, width): what its convolution read of the latest tokens
    state: torch.Tensor  # the scan's state after them (the delta rule's S, Mamba-2's h), float32


def causal_conv(u: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None, n_out: int) -> torch.Tensor:
    """(..., n_out, width) for the last n_out rows of u (..., m, width): each row the kernel (width, L) over itself
    and the L − 1 rows before it (zeros before the first), one channel at a time; u may start with earlier tokens'
    rows (a generation's)."""
    L, width = kernel.shape[-1], kernel.shape[0]
    rows = u.reshape(-1, *u.shape[-2:]).transpose(-1, -2)  # (b, width, m)
    padded = F.pad(rows, (L - 1, 0))  # (b, width, L − 1 + m)
    y = F.conv1d(padded, kernel.unsqueeze(1).to(u.dtype), None if bias is None else bias.to(u.dtype), groups=width)
    return y.transpose(-1, -2)[..., -n_out:, :].reshape(*u.shape[:-2], n_out, width)


def carried(before: CarriedState | None, inputs: torch.Tensor, kernel: torch.Tensor, state: torch.Tensor):
    """The CarriedState after tokens whose convolution inputs are `inputs` (n, width) and whose scan ended at
    `state`: the last L − 1 rows of every input so far."""
    recent = inputs if before is None else torch.cat([before.conv_inputs, inputs])
    return CarriedState(recent[len(recent) - (kernel.shape[-1] - 1) :], state)


def each_sequence(layer_fn: Callable[[torch.Tensor], torch.Tensor], x_in: torch.Tensor) -> torch.Tensor:
    """layer_fn over x_in (..., n, d_model), each leading index its own sequence (the scan reads one at a time)."""
    return layer_fn(x_in) if x_in.dim() == 2 else torch.stack([each_sequence(layer_fn, x) for x in x_in])
