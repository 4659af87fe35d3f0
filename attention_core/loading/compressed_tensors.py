"""Checkpoints saved by llm-compressor in the compressed-tensors layout (config.json's quantization_config with
quant_method "compressed-tensors": vLLM's W4A16, W8A8 and FP8 checkpoints) → float32.

Each quantised linear keeps, instead of `<name>.weight`, what its format stores:

    pack-quantized    weight_packed (int32 [..., out, ⌈in·b/32⌉]: b-bit integers packed densely, element i at bit
                      i·b of its row, stored as value + 2^(b−1)), weight_shape, weight_scale and, where the
                      quantisation is asymmetric, weight_zero_point (packed the same way down the rows)
    int-quantized     weight (int8), weight_scale, weight_zero_point where asymmetric     (also "naive-quantized")
    float-quantized   weight (float8), weight_scale
    nvfp4-pack-quantized  weight_packed (uint8 [..., out, in/2]: two FP4 e2m1 values a byte, the low nibble first),
                      weight_scale (float8, one per 16 columns) and weight_global_scale: each weight is its FP4 value
                      × weight_scale / weight_global_scale, in float32
    mxfp4-pack-quantized  weight_packed as NVFP4's, weight_scale (uint8 E8M0, one per 32 columns): FP4 value × 2^(scale
                      − 127), exact in float32
    mxfp8-quantized   weight (float8 e4m3), weight_scale (uint8 E8M0, one per 32 columns): value × 2^(scale − 127)

and each weight is (q − zero point) × scale, computed in the scale's dtype as compressed-tensors' `dequantize` does,
then widened to float32. The scale is one number (tensor), one a row (channel), one per row and group of group_size
columns (group; with weight_g_idx, the group each column belongs to: activation order) or one per block
(block_structure). Activation scales (input_scale, input_global_scale, ...) are for kernels that round
activations; the engine computes in float32, drops them and says so (NOTE). Other formats (MXFP6, 2:4 sparse) are
refused by name.
"""

from __future__ import annotations

import math

import torch

from ..errors import ModelLoadError
from . import mxfp4
from .mxfp4 import FP4_VALUES

FORMATS = ("pack-quantized", "int-quantized", "naive-quantized", "float-quantized", "nvfp4-pack-quantized",
           "mxfp4-pack-quantized", "mxfp8-quantized", "dense")  # fmt: skip
MX_GROUP = 32  # the MX formats' columns a power-of-two scale (E8M0)
DROPPED = ("input_scale", "input_global_scale", "input_zero_point", "output_scale", "output_zero_point", "k_scale",
           "v_scale")  # fmt: skip
NOTE = ("Quantised weights decoded ((q − zero point) × scale, compressed-tensors) and run in float32; a quantised "
        "kernel also rounds the activations, so its numbers differ from these by that rounding.")  # fmt: skip


def weight_settings(quant: dict) -> tuple[str, dict]:
    """(the format, the weights' quantisation args) of a compressed-tensors quantization_config; one scheme for every
    quantised layer, as llm-compressor's presets write them."""
    schemes = [group.get("weights") or {} for group in (quant.get("config_groups") or {}).values()]
    formats = {quant.get("format")} | {group.get("format") for group in (quant.get("config_groups") or {}).values()}
    formats.discard(None)
    if len(formats) != 1 or next(iter(formats)) not in FORMATS:
        raise ModelLoadError(f"compressed-tensors format {sorted(formats) or 'none'} is not read yet (the engine "
                             f"decodes {', '.join(FORMATS[:-1])}).")  # fmt: skip
    if formats == {"nvfp4-pack-quantized"}:
        return formats.pop(), (schemes[0] if schemes else {})
    bits = {int(s.get("num_bits", 8)) for s in schemes}
    if len(bits) > 1:
        raise ModelLoadError(f"compressed-tensors config_groups mix {sorted(bits)}-bit weights; one scheme is read.")
    if bits and not 1 <= min(bits) <= max(bits) <= 8:
        raise ModelLoadError(f"compressed-tensors weights of num_bits {bits.pop()}: the formats hold 1 to 8 bits.")
    return formats.pop(), (schemes[0] if schemes else {})


def unpack(packed: torch.Tensor, bits: int, count: int) -> torch.Tensor:
    """[..., rows, count] integers: the `bits`-bit integers packed densely in each row of `packed` (int32 [..., rows,
    words]), each stored as value + 2^(bits − 1)."""
    return unpack_unsigned(packed, bits, count) - (1 << (bits - 1))


def unpack_unsigned(packed: torch.Tensor, bits: int, count: int, dim: int = -1) -> torch.Tensor:
    """[..., rows, count] integers (int32 or int64): the `bits`-bit unsigned integers packed densely in each row of
    `packed` (int32 [..., rows, words]), element i at bit i·bits of the row's words read as one little-endian stream
    (so with 3 or 5 bits an element spills into the next word). `dim` 0: packed down each column of a matrix
    instead ([words, columns] → [count, columns]), as GPTQ packs (gptq.py)."""
    if 32 % bits == 0:  # 1, 2, 4, 8 bits: whole elements a word, unpacked by shifts alone, in int32
        shifts = torch.arange(0, 32, bits, dtype=torch.int32)
        words = packed.to(torch.int32)
        # an arithmetic shift fills the top with sign bits; the mask keeps the element's own
        if dim == 0:
            values = (words[:, None, :] >> shifts[None, :, None]) & ((1 << bits) - 1)  # [words, 32 / bits, columns]
            return values.flatten(0, 1)[:count]
        values = (words[..., None] >> shifts) & ((1 << bits) - 1)  # [..., rows, words, 32 / bits]
        return values.flatten(-2)[..., :count]
    if dim == 0:
        return unpack_unsigned(packed.T, bits, count).T
    # 3, 5, 6, 7 bits: the stream repeats every lcm(bits, 8) bits, `per` elements in `width` bytes (3 bits: 8 in 3)
    per, width = math.lcm(bits, 8) // bits, math.lcm(bits, 8) // 8
    chunks = -(-count // per)
    raw = packed.to(torch.int32).contiguous().view(torch.uint8)  # the words' bytes, little-endian as torch stores them
    raw = torch.nn.functional.pad(raw, (0, max(0, chunks * width - raw.shape[-1])))[..., : chunks * width]
    raw = raw.reshape(*raw.shape[:-1], chunks, width).to(torch.int64)
    stream = raw[..., 0]
    for byte in range(1, width):  # each chunk's bytes as one integer (at most 56 bits)
        stream |= raw[..., byte] << (8 * byte)
    values = (stream[..., None] >> (bits * torch.arange(per))) & ((1 << bits) - 1)  # [..., chunks, per]
    return values.flatten(-2)[..., :count]


def _per_weight(t: torch.Tensor, shape: torch.Size, args: dict, g_idx: torch.Tensor | None) -> torch.Tensor:
    """A scale or zero point (one number, one a row, one a row and group, or one a block) spread over `shape`."""
    rows, cols = shape[-2:]
    if t.numel() == 1:
        return t.reshape(())
    if args.get("strategy") == "block" or (t.shape[-2] != rows and t.dim() >= 2):
        b0, b1 = args.get("block_structure") or (-(-rows // t.shape[-2]), -(-cols // t.shape[-1]))
        return t.repeat_interleave(b0, dim=-2).repeat_interleave(b1, dim=-1)[..., :rows, :cols]
    if t.shape[-1] == 1:  # channel: one a row
        return t
    if g_idx is not None:  # activation order: column j belongs to group g_idx[j]
        return t[..., g_idx.long()]
    size = int(args.get("group_size") or -(-cols // t.shape[-1]))
    return t.repeat_interleave(size, dim=-1)[..., :cols]


def nvfp4(parts: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    """An NVFP4 linear's float32 weight: each FP4 value × its group's scale / the global scale."""
    packed, scale = parts["weight_packed"], parts["weight_scale"].float()
    if packed.dtype != torch.uint8 or "weight_global_scale" not in parts:
        raise ModelLoadError(f"{name}: NVFP4 weights are bytes (uint8) with a weight_global_scale beside them.")
    if scale.dim() < 1 or (2 * packed.shape[-1]) % scale.shape[-1] or scale.shape[:-1] != packed.shape[:-1]:
        raise ModelLoadError(f"{name}: NVFP4 scales {tuple(scale.shape)} do not fit weights {tuple(packed.shape[:-1])} "
                             f"× {2 * packed.shape[-1]}.")  # fmt: skip
    lut = torch.tensor(FP4_VALUES, dtype=torch.float32)
    values = torch.stack([lut[(packed & 0x0F).long()], lut[(packed >> 4).long()]], dim=-1).flatten(-2)  # [.., out, in]
    per_value = scale.repeat_interleave(values.shape[-1] // scale.shape[-1], dim=-1)
    return values * (per_value / parts["weight_global_scale"].float())


def microscaled(parts: dict[str, torch.Tensor], fmt: str, name: str) -> torch.Tensor:
    """An MXFP4 or MXFP8 linear's float32 weight: each FP4 (two a byte, as NVFP4's) or FP8 e4m3 value × its group of
    32 columns' power of two, 2^(weight_scale − 127)."""
    scale = parts["weight_scale"]
    stored = parts.get("weight_packed" if fmt == "mxfp4-pack-quantized" else "weight")
    per_scale = MX_GROUP // 2 if fmt == "mxfp4-pack-quantized" else MX_GROUP  # stored elements a scale covers
    wanted = torch.uint8 if fmt == "mxfp4-pack-quantized" else torch.float8_e4m3fn
    if stored is None or stored.dtype != wanted or scale.dtype != torch.uint8 or stored.dim() < 1 or (
            stored.shape[:-1] != scale.shape[:-1] or stored.shape[-1] != scale.shape[-1] * per_scale):  # fmt: skip
        found = "nothing" if stored is None else f"{stored.dtype} {tuple(stored.shape)}"
        raise ModelLoadError(f"{name}: {fmt} weights are {wanted} with a uint8 scale per {MX_GROUP} columns; the "
                             f"checkpoint has {found} and scales {scale.dtype} {tuple(scale.shape)}.")  # fmt: skip
    if fmt == "mxfp4-pack-quantized":  # GPT-OSS's MXFP4 blocks, laid out as 16 bytes a scale
        return mxfp4.dequantize(stored.reshape(*scale.shape, per_scale), scale, name)
    exponents = scale.to(torch.int32) - mxfp4.SCALE_BIAS
    return torch.ldexp(stored.float(), exponents.repeat_interleave(MX_GROUP, dim=-1))


def dequantize_module(parts: dict[str, torch.Tensor], fmt: str, args: dict, name: str) -> torch.Tensor:
    """One linear's float32 weight from its stored parts (weight_packed or weight, weight_scale, ...)."""
    if fmt == "nvfp4-pack-quantized":
        return nvfp4(parts, name)
    if fmt in ("mxfp4-pack-quantized", "mxfp8-quantized"):
        return microscaled(parts, fmt, name)
    scale = parts["weight_scale"]
    if fmt == "pack-quantized":
        shape, bits = torch.Size(parts["weight_shape"].tolist()), int(args.get("num_bits", 4))
        words = parts["weight_packed"].shape[-1]
        if words != -(-shape[-1] * bits // 32):
            raise ModelLoadError(f"{name}: {words} packed words a row cannot hold {shape[-1]} {bits}-bit values.")
        q = unpack(parts["weight_packed"], bits, shape[-1])
    else:
        q, shape = parts["weight"], parts["weight"].shape
    zero = parts.get("weight_zero_point")
    if zero is not None and fmt == "pack-quantized":  # packed down the rows: unpack along dim 0
        zero = unpack(zero.transpose(-1, -2), int(args.get("num_bits", 4)), shape[-2]).transpose(-1, -2)
    g_idx = parts.get("weight_g_idx")
    dtype = scale.dtype if scale.dtype.is_floating_point else torch.float32
    try:
        out = q.to(dtype) if zero is None else q.to(dtype) - _per_weight(zero, shape, args, g_idx).to(dtype)
        return (out * _per_weight(scale, shape, args, g_idx).to(dtype)).float()
    except (RuntimeError, IndexError) as exc:  # shapes that do not fit: a mangled or truncated checkpoint
        raise ModelLoadError(f"{name}: compressed-tensors scales {tuple(scale.shape)} or zero points do not fit "
                             f"weights {tuple(shape)}: {exc}") from exc  # fmt: skip


PARTS = ("weight_packed", "weight_shape", "weight_scale", "weight_zero_point", "weight_g_idx", "weight_global_scale")


def decompress_checkpoint(state: dict[str, torch.Tensor], quant: dict, file_name: str) -> dict[str, torch.Tensor]:
    """`state` with each quantised linear's stored parts replaced by its float32 `<name>.weight`, activation scales
    dropped."""
    fmt, args = weight_settings(quant)
    if fmt != "dense":
        for key in [k for k in state if k.endswith(".weight_scale")]:
            base = key.removesuffix(".weight_scale")
            parts = {part: state.pop(f"{base}.{part}") for part in PARTS if f"{base}.{part}" in state}
            if "weight_packed" not in parts and base + ".weight" in state:
                parts["weight"] = state.pop(base + ".weight")
            if "weight_packed" not in parts and "weight" not in parts:
                raise ModelLoadError(f"{file_name}: {key} has no weights beside it (weight_packed or weight).")
            state[base + ".weight"] = dequantize_module(parts, fmt, args, base)
    for key in [k for k in state if k.endswith(DROPPED)]:
        del state[key]
    return state
