"""FP8 checkpoints (config.json's quantization_config with quant_method "fp8": DeepSeek-V3's layout, which
transformers' FineGrainedFP8 reads and Qwen3, MiniMax-M2, GLM and others ship) → float32.

A quantised linear's `<name>.weight` (float8 [..., out, in]) comes with `<name>.weight_scale_inv` (float32
[..., ⌈out/b0⌉, ⌈in/b1⌉] for blocks of b0 × b1 = weight_block_size, or one number for the whole matrix): each weight
is its stored value times its block's scale (the scale multiplies, whatever its name says: transformers'
Fp8Dequantize and DeepSeek's weight_dequant do the same). A block at the edge may be partial (DeepSeek-V3's kv_a_proj:
576 rows, 4.5 blocks of 128). Scales stored as E8M0 bytes (uint8) are powers of two, 2^(byte − 127). Static
activation scales (input_scale) are for a GPU kernel that rounds activations to FP8; the engine computes in float32
and drops them, and says so (NOTE).
"""

from __future__ import annotations

import torch

from ..errors import ModelLoadError
from .mxfp4 import SCALE_BIAS

SCALES = ("weight_scale_inv",)
DROPPED = ("input_scale", "activation_scale")  # a static activation scale: no weight, nothing the engine rounds by
NOTE = ("FP8 weights decoded with their block scales and run in float32; an FP8 kernel also rounds the activations "
        "to FP8, so its numbers differ from these by that rounding.")  # fmt: skip


def dequantize(weight: torch.Tensor, scale: torch.Tensor, block: tuple[int, int] | None, name: str) -> torch.Tensor:
    """float32 weight [..., out, in] from FP8 `weight` and its `scale` (per block of `block`, or one number)."""
    if scale.dtype == torch.uint8:  # E8M0: a power of two a byte
        scale = torch.ldexp(torch.ones_like(scale, dtype=torch.float32), scale.to(torch.int32) - SCALE_BIAS)
    scale = scale.float()
    if scale.numel() == 1:
        return weight.float() * scale.reshape(())
    rows, cols = weight.shape[-2:]
    if block is None:  # no weight_block_size: the block that the scale grid gives, which must divide the matrix
        block = (rows // max(1, scale.shape[-2]), cols // max(1, scale.shape[-1]))
    if min(block) < 1:
        raise ModelLoadError(f"{name}: FP8 scales {tuple(scale.shape)} outnumber the rows and columns of weights "
                             f"{tuple(weight.shape)}.")  # fmt: skip
    grid = (-(-rows // block[0]), -(-cols // block[1]))  # ⌈rows / b0⌉, ⌈cols / b1⌉
    if tuple(scale.shape[-2:]) != grid or scale.shape[:-2] != weight.shape[:-2]:
        raise ModelLoadError(f"{name}: FP8 scales {tuple(scale.shape)} do not fit weights {tuple(weight.shape)} in "
                             f"blocks of {block[0]} × {block[1]}.")  # fmt: skip
    per_weight = scale.repeat_interleave(block[0], dim=-2).repeat_interleave(block[1], dim=-1)[..., :rows, :cols]
    return weight.float() * per_weight


def dequantize_checkpoint(
    state: dict[str, torch.Tensor], block: tuple[int, int] | None, file_name: str
) -> dict[str, torch.Tensor]:
    """`state` with each FP8 weight and its scale replaced by the float32 weight, and activation scales dropped."""
    for key in [k for k in state if k.endswith(SCALES)]:
        base = key.rsplit(".", 1)[0] + ".weight"
        if base not in state:
            raise ModelLoadError(f"{file_name}: {key} has no {base} beside it; an FP8 scale needs its weights.")
        state[base] = dequantize(state[base], state.pop(key), block, base)
    for key in [k for k in state if k.endswith(DROPPED)]:
        del state[key]
    return state


def block_size(quant: dict) -> tuple[int, int] | None:
    """quantization_config's weight_block_size as (rows, columns), or None where it gives none."""
    size = quant.get("weight_block_size")
    if size is None:
        return None
    if len(size) != 2 or not all(isinstance(n, int) and n > 0 for n in size):
        raise ModelLoadError(f"quantization_config's weight_block_size {size!r} is not two positive whole numbers.")
    return int(size[0]), int(size[1])
