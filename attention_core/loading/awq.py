"""AWQ checkpoints (config.json's quantization_config with quant_method "awq": AutoAWQ's GEMM layout, which Qwen's
-AWQ models and most AWQ models on the Hub ship) → float32.

Each quantised linear keeps, instead of `<name>.weight` [out, in]:

    qweight  int32 [in, out/8]      the 4-bit integers q, packed along each row, eight a word, nibble k (bits 4k to
                                    4k + 3) holding output 8c + ORDER[k] of word c: AWQ's interleaved order
    qzeros   int32 [groups, out/8]  the zero points z, packed the same way (stored as they are)
    scales   float16 [groups, out]  one scale per group of group_size inputs and output

and each weight is W[o, i] = scales[i // group_size, o] × (q[i, o] − z[i // group_size, o]), computed in the scales'
dtype as AutoAWQ's dequantize_gemm does, then widened to float32. Other layouts (GEMV, Marlin), widths other than 4
bits and checkpoints without zero points are refused by name.
"""

from __future__ import annotations

import torch

from ..errors import ModelLoadError
from .gptq import packed_words
from .packed_parts import quantised_linears

BITS = 4
ORDER = (0, 2, 4, 6, 1, 3, 5, 7)  # ORDER[k]: the output (of a word's eight) that nibble k holds
VERSIONS = ("gemm",)
PARTS = ("qweight", "qzeros", "scales")
NOTE = ("AWQ weights decoded (scale × (q − zero point), per group of inputs) and run in float32; an AWQ kernel "
        "computes in float16, so its numbers differ from these by that rounding.")  # fmt: skip


def group_size(quant: dict) -> int:
    """An AWQ quantization_config's group size; refused by name where the engine cannot decode the checkpoint."""
    version = str(quant.get("version", "gemm")).lower()
    if version not in VERSIONS:
        raise ModelLoadError(f"AWQ version {version!r} is not read yet (the engine decodes {', '.join(VERSIONS)}).")
    bits = quant.get("bits", quant.get("w_bit", BITS))
    if bits != BITS:
        raise ModelLoadError(f"AWQ weights of {bits!r} bits: the engine decodes AWQ's {BITS}-bit GEMM layout.")
    if quant.get("zero_point", True) is not True:
        raise ModelLoadError("AWQ weights without zero points (zero_point false) are not read yet.")
    group = quant.get("group_size", quant.get("q_group_size", 128))
    if not isinstance(group, int) or group < 1:
        raise ModelLoadError(f"AWQ group_size {group!r} is not a positive whole number.")
    return group


def unpack(words: torch.Tensor) -> torch.Tensor:
    """int32 [rows, 8·words]: each row's nibbles in output order (output j of a word from nibble ORDER.index(j))."""
    shifts = torch.tensor([4 * ORDER.index(j) for j in range(8)], dtype=torch.int32)
    return ((words[..., None] >> shifts) & 0xF).flatten(-2)  # the mask drops an arithmetic shift's sign bits


def dequantize(parts: dict[str, torch.Tensor], group: int, name: str) -> torch.Tensor:
    """One linear's float32 weight [out, in] from its qweight, qzeros and scales."""
    qweight, qzeros, scales = packed_words(parts, "AWQ", name)
    n_in, n_out = qweight.shape[0], qweight.shape[1] * 8
    n_groups = -(-n_in // group)
    if qzeros.shape != (n_groups, qweight.shape[1]) or scales.shape != (n_groups, n_out):
        raise ModelLoadError(f"{name}: AWQ zero points {tuple(qzeros.shape)} and scales {tuple(scales.shape)} do not "
                             f"fit {n_in} inputs in groups of {group} and {n_out} outputs.")  # fmt: skip
    q, zero = unpack(qweight), unpack(qzeros)  # [in, out], [groups, out]
    g = torch.arange(n_in) // group
    dtype = scales.dtype if scales.dtype.is_floating_point else torch.float32
    return (scales[g].to(dtype) * (q - zero[g]).to(dtype)).T.float()


def decompress_checkpoint(state: dict[str, torch.Tensor], quant: dict, file_name: str) -> dict[str, torch.Tensor]:
    """`state` with each quantised linear's qweight, qzeros and scales replaced by its float32 `<name>.weight` (a
    bias stays as it is)."""
    group = group_size(quant)
    needs = "AWQ weights need their zero points and scales."
    for base, parts in quantised_linears(state, "qweight", PARTS, PARTS, needs, file_name):
        state[base + ".weight"] = dequantize(parts, group, base)
    return state
