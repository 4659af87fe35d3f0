"""MXFP4 (the OCP microscaling format) as OpenAI's GPT-OSS checkpoints store their experts → float32.

Each `<name>_blocks` (uint8 [..., rows, groups, 16]: 32 FP4 e2m1 values per group, two to a byte, the low nibble
first) with its `<name>_scales` (uint8 [..., rows, groups]: the group's power of two, biased by 127) is a matrix of
rows [..., rows, groups × 32], one row per output; the checkpoint's unquantised `<name>` (GPT-OSS's stacked experts,
gate_up_proj and down_proj) is [..., in, out], so the matrix is turned. transformers' integrations/mxfp4.py decodes
the same way (tests/engine/test_mxfp4_checkpoints.py compares the two).
"""

from __future__ import annotations

import torch

from ..errors import ModelLoadError

FP4_VALUES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0)  # e2m1 codes
SCALE_BIAS = 127  # an E8M0 scale: 2^(byte - 127)


def dequantize(blocks: torch.Tensor, scales: torch.Tensor, name: str = "an MXFP4 tensor") -> torch.Tensor:
    """The float32 rows [..., rows, groups × 32] that `blocks` and `scales` hold; one leading slice at a time, so
    the byte → value indices (int64, 16 times the blocks' size) never exist for the whole tensor at once."""
    if blocks.dtype != torch.uint8 or scales.dtype != torch.uint8:
        raise ModelLoadError(f"{name}: MXFP4 blocks and scales are bytes (uint8), not {blocks.dtype}, {scales.dtype}.")
    if blocks.shape[:-1] != scales.shape or blocks.shape[-1] != 16:
        raise ModelLoadError(f"{name}: MXFP4 blocks {tuple(blocks.shape)} do not fit scales {tuple(scales.shape)} "
                             "(16 bytes, 32 values, per scale).")  # fmt: skip
    lut = torch.tensor(FP4_VALUES, dtype=torch.float32)
    out = torch.empty(*scales.shape, 32, dtype=torch.float32)  # [..., rows, groups, 32]
    for part, blk, exp in zip(out.reshape(-1, *out.shape[-3:]), blocks.reshape(-1, *blocks.shape[-3:]),
                              scales.reshape(-1, *scales.shape[-2:]), strict=True):  # fmt: skip
        part[..., 0::2] = lut[(blk & 0x0F).long()]  # the low nibble is the first of a byte's two values
        part[..., 1::2] = lut[(blk >> 4).long()]
        torch.ldexp(part, (exp.to(torch.int32) - SCALE_BIAS).unsqueeze(-1), out=part)
    return out.reshape(*scales.shape[:-1], -1)  # [..., rows, groups × 32]


def dequantize_experts(state: dict[str, torch.Tensor], file_name: str) -> dict[str, torch.Tensor]:
    """`state` with every `<name>_blocks` / `<name>_scales` pair replaced by `<name>` as float32 [..., in, out]."""
    for key in [k for k in state if k.endswith("_blocks")]:
        base = key.removesuffix("_blocks")
        if base + "_scales" not in state:
            raise ModelLoadError(f"{file_name}: {key} has no {base}_scales beside it; MXFP4 needs both.")
        rows = dequantize(state.pop(key), state.pop(base + "_scales"), key)
        state[base] = rows.transpose(-1, -2).contiguous()
    if stray := [k for k in state if k.endswith("_scales")]:
        raise ModelLoadError(f"{file_name}: {stray[0]} has no _blocks tensor beside it; MXFP4 needs both.")
    return state
