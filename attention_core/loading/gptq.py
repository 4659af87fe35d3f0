"""GPTQ checkpoints (config.json's quantization_config with quant_method "gptq": AutoGPTQ's and GPTQModel's layout,
which Qwen's -GPTQ-Int4/-Int8 models and most GPTQ models on the Hub ship) → float32.

Each quantised linear keeps, instead of `<name>.weight` [out, in]:

    qweight  int32 [in·b/32, out]     the b-bit integers q (b = bits: 2, 3, 4 or 8), packed down each column: the
                                      column's words read as one little-endian bit stream, input i at bit i·b (with
                                      3 bits, 32 values in 3 words, some spilling into the next word)
    qzeros   int32 [groups, out·b/32] the zero points z, packed the same way along each row; in the "gptq"
                                      checkpoint format stored as z − 1 (GPTQModel's "gptq_v2" stores z itself)
    scales   float16 [groups, out]    one scale per group of inputs and output
    g_idx    int32 [in]               each input's group: i // group_size, or a permutation of that where the
                                      quantiser ran in activation order (desc_act); a checkpoint without it
                                      groups by group_size (−1: one group)

and each weight is W[o, i] = scales[g, o] × (q[i, o] − z[g, o]) with g = g_idx[i], computed in the scales' dtype as
AutoGPTQ's torch path does, then widened to float32. Other checkpoint formats (marlin, bitblas, ...), words other
than int32 and widths other than 2, 3, 4 and 8 bits are refused by name.
"""

from __future__ import annotations

import torch

from ..errors import ModelLoadError
from .compressed_tensors import unpack_unsigned
from .packed_parts import quantised_linears

BITS = (2, 3, 4, 8)
ZERO_OFFSET = {"gptq": 1, "gptq_v2": 0}  # what each checkpoint format adds back to a stored zero point
PARTS = ("qweight", "qzeros", "scales", "g_idx")
NOTE = ("GPTQ weights decoded (scale × (q − zero point), per group of inputs) and run in float32; a GPTQ kernel "
        "computes in float16, so its numbers differ from these by that rounding.")  # fmt: skip


def settings(quant: dict) -> tuple[int, int, int]:
    """(bits, group size (−1: one group), zero-point offset) of a GPTQ quantization_config; refused by name where the
    engine cannot decode it."""
    fmt = str(quant.get("checkpoint_format") or quant.get("format") or "gptq").lower()
    if fmt not in ZERO_OFFSET:
        raise ModelLoadError(f"GPTQ checkpoint format {fmt!r} is not read yet (the engine decodes "
                             f"{', '.join(ZERO_OFFSET)}).")  # fmt: skip
    bits, group = quant.get("bits", 4), quant.get("group_size", -1)
    if bits not in BITS:
        raise ModelLoadError(f"GPTQ weights of {bits!r} bits: the engine decodes {', '.join(map(str, BITS))} bits.")
    if not isinstance(group, int) or group == 0 or group < -1:
        raise ModelLoadError(f"GPTQ group_size {group!r} is neither a positive whole number nor −1 (one group).")
    if str(quant.get("pack_dtype", "int32")).removeprefix("torch.") != "int32":
        raise ModelLoadError(f"GPTQ weights packed in {quant['pack_dtype']} words: the engine reads int32 words.")
    return int(bits), int(group), ZERO_OFFSET[fmt]


def packed_words(parts: dict[str, torch.Tensor], method: str, name: str) -> tuple[torch.Tensor, ...]:
    """(qweight, qzeros, scales) of one linear, its words checked to be matrices of int32 (GPTQ's and AWQ's)."""
    qweight, qzeros = parts["qweight"], parts["qzeros"]
    if qweight.dtype != torch.int32 or qzeros.dtype != torch.int32 or qweight.dim() != 2 or qzeros.dim() != 2:
        found = f"{qweight.dtype} {tuple(qweight.shape)} and {qzeros.dtype} {tuple(qzeros.shape)}"
        raise ModelLoadError(f"{name}: {method} qweight and qzeros are matrices of int32 words; the checkpoint has "
                             f"{found}.")  # fmt: skip
    return qweight, qzeros, parts["scales"]


def _groups(parts: dict[str, torch.Tensor], n_in: int, group: int, n_groups: int, name: str) -> torch.Tensor:
    """Each input's group: the stored g_idx, or i // group_size; checked to fall inside the scales' groups."""
    g_idx = parts.get("g_idx")
    if g_idx is None:
        g_idx = torch.arange(n_in) // (n_in if group == -1 else group)
    g_idx = g_idx.long()
    if g_idx.shape != (n_in,) or (n_in and (g_idx.min() < 0 or g_idx.max() >= n_groups)):
        raise ModelLoadError(f"{name}: GPTQ g_idx {tuple(g_idx.shape)} does not give each of {n_in} inputs one of "
                             f"{n_groups} groups.")  # fmt: skip
    return g_idx


def dequantize(parts: dict[str, torch.Tensor], bits: int, group: int, offset: int, name: str) -> torch.Tensor:
    """One linear's float32 weight [out, in] from its qweight, qzeros, scales and (optional) g_idx."""
    qweight, qzeros, scales = packed_words(parts, "GPTQ", name)
    n_out = qweight.shape[1]
    n_in = parts["g_idx"].shape[0] if "g_idx" in parts else qweight.shape[0] * 32 // bits
    if qweight.shape[0] * 32 != n_in * bits or qzeros.shape[1] * 32 < n_out * bits:
        raise ModelLoadError(f"{name}: GPTQ words {tuple(qweight.shape)} and zero points {tuple(qzeros.shape)} cannot "
                             f"hold {n_in} × {n_out} {bits}-bit values.")  # fmt: skip
    if scales.shape != (qzeros.shape[0], n_out):
        raise ModelLoadError(f"{name}: GPTQ scales {tuple(scales.shape)} do not fit {qzeros.shape[0]} groups of "
                             f"{n_out} outputs.")  # fmt: skip
    g_idx = _groups(parts, n_in, group, scales.shape[0], name)
    q = unpack_unsigned(qweight, bits, n_in, dim=0)  # [in, out]: each column's stream is one output's inputs
    zero = unpack_unsigned(qzeros, bits, n_out) + offset  # [groups, out]
    dtype = scales.dtype if scales.dtype.is_floating_point else torch.float32
    return (scales[g_idx].to(dtype) * (q - zero[g_idx]).to(dtype)).float().T  # [out, in]


def decompress_checkpoint(state: dict[str, torch.Tensor], quant: dict, file_name: str) -> dict[str, torch.Tensor]:
    """`state` with each quantised linear's qweight, qzeros, scales and g_idx replaced by its float32 `<name>.weight`
    (a bias stays as it is)."""
    bits, group, offset = settings(quant)
    needs = "GPTQ weights need their zero points and scales."
    for base, parts in quantised_linears(state, "qweight", PARTS, PARTS[:3], needs, file_name):
        state[base + ".weight"] = dequantize(parts, bits, group, offset, base)
    return state
