"""MLX checkpoints (what mlx-lm's `convert -q` writes, as the Hub's many mlx-community models ship: config.json's
`quantization` {group_size, bits, mode}, copied to quantization_config without a quant_method) → float32.

Each quantised linear or embedding keeps, instead of its float `<name>.weight` [..., out, in]:

    weight   uint32 [..., out, in·b/32]  the b-bit codes q of each row as one little-endian bit stream, input i at bit
                                         i·b (with 3, 5 or 6 bits a code spills into the next word)
    scales   [..., out, in/group]        "affine": one scale a group of inputs, in the model's dtype; "mxfp4" and
                                         "mxfp8": uint8 powers of two (E8M0, biased by 127); "nvfp4": uint8 FP8 E4M3
    biases   [..., out, in/group]        "affine" only: each group's offset, in the scales' dtype
    global_scale  float32 [experts]      "nvfp4" on stacked experts (optional): each expert's largest magnitude

and each weight is, as mlx.core.dequantize computes it: "affine" scale × q + bias in the scales' dtype (bfloat16
arithmetic for a bfloat16 model), then widened to float32; "mxfp4" an FP4 e2m1 code × 2^(scale − 127); "mxfp8" an FP8
e4m3 code × 2^(scale − 127); "nvfp4" an FP4 code × (its E4M3 scale × global_scale / (448 · 6)). mlx-lm's mixed
recipes give a module its own settings under its path in `quantization` (false: left in float). MLX's stacked experts
(`switch_mlp`, [experts, out, in]) are decoded as a whole and handed on under transformers' per-expert names.
"""

from __future__ import annotations

import torch

from ..errors import ModelLoadError
from .compressed_tensors import unpack_unsigned
from .mxfp4 import FP4_VALUES, SCALE_BIAS

# mode → (the widths it packs, the group sizes it takes); mlx.core.quantize's table of modes
MODES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "affine": ((1, 2, 3, 4, 5, 6, 8), (32, 64, 128)),
    "mxfp4": ((4,), (32,)),
    "mxfp8": ((8,), (32,)),
    "nvfp4": ((4,), (16,)),
}
_CHUNK = 1 << 22  # codes decoded at once: their int64 temporaries stay small (a 3-bit embedding)
NVFP4_RANGE = 448.0 * 6.0  # E4M3's largest value × FP4's: what a global scale is divided by
PARTS = ("scales", "biases", "global_scale")
NOTE = ("MLX weights decoded as mlx.core.dequantize decodes them (scale × q + bias per group of inputs, or FP4/FP8 "
        "codes × their scales) and run in float32; MLX runs the model in its own dtype (mostly bfloat16) with the "
        "codes inside its kernels, so its numbers differ from these by that rounding.")  # fmt: skip


def is_mlx(hf: dict) -> bool:
    """Whether config.json is an MLX checkpoint's: mlx-lm's `quantization` table, whose copy in quantization_config
    names no quant_method."""
    quant, copy = hf.get("quantization"), hf.get("quantization_config")
    return isinstance(quant, dict) and "bits" in quant and not (isinstance(copy, dict) and "quant_method" in copy)


def _checked(entry: dict, where: str) -> tuple[str, int, int]:
    """(mode, bits, group size) of one `quantization` entry; refused by name where MLX itself would not pack it."""
    mode = str(entry.get("mode", "affine"))
    if mode not in MODES:
        raise ModelLoadError(f"MLX quantisation mode {mode!r} ({where}) is not read yet (the engine decodes "
                             f"{', '.join(MODES)}).")  # fmt: skip
    widths, groups = MODES[mode]
    bits, group = entry.get("bits"), entry.get("group_size")
    if bits not in widths or group not in groups:
        packs = f"MLX packs {'/'.join(map(str, widths))} bits in groups of {'/'.join(map(str, groups))}"
        raise ModelLoadError(f"MLX {mode} weights of {bits!r} bits in groups of {group!r} ({where}): {packs}.")
    return mode, int(bits), int(group)


def settings(quant: dict) -> dict[str, tuple[str, int, int] | None]:
    """Every entry of an MLX `quantization` table checked before a weight is read: {"": the default, module path:
    its own (None: left in float)}."""
    table: dict[str, tuple[str, int, int] | None] = {"": _checked(quant, "the default")}
    for path, entry in quant.items():
        if isinstance(entry, dict):
            table[path] = _checked(entry, path)
        elif entry is False:
            table[path] = None
    return table


def dequantize(parts: dict[str, torch.Tensor], mode: str, bits: int, group: int, name: str) -> torch.Tensor:
    """One module's float32 weight [..., out, in] from its uint32 `weight`, its `scales` and (affine) `biases`."""
    weight, scales = parts["weight"], parts["scales"]
    if weight.dtype not in (torch.uint32, torch.int32) or weight.dim() < 2:
        raise ModelLoadError(f"{name}: MLX weights are uint32 words [..., out, words]; the checkpoint has "
                             f"{weight.dtype} {tuple(weight.shape)}.")  # fmt: skip
    n_in = weight.shape[-1] * 32 // bits
    if scales.shape != (*weight.shape[:-1], n_in // group) or n_in % group:
        raise ModelLoadError(f"{name}: MLX scales {tuple(scales.shape)} do not fit {n_in} inputs in groups of {group} "
                             f"({bits}-bit {mode} words {tuple(weight.shape)}, as config.json says).")  # fmt: skip
    biases = parts.get("biases")
    if mode == "affine" and (biases is None or biases.shape != scales.shape or not scales.dtype.is_floating_point):
        raise ModelLoadError(f"{name}: MLX affine weights need float scales and biases of one shape beside them.")
    if mode != "affine" and scales.dtype != torch.uint8:
        raise ModelLoadError(f"{name}: MLX {mode} scales are bytes (uint8), not {scales.dtype}.")
    scale_of = _scale_of_rows(scales, biases, parts.get("global_scale"), mode)
    words = weight.reshape(-1, weight.shape[-1]).view(torch.int32)  # the bits of uint32 words, as torch can shift them
    out = torch.empty(words.shape[0], n_in, dtype=torch.float32)
    step = max(1, _CHUNK // n_in)  # rows a chunk
    for start in range(0, words.shape[0], step):
        rows = slice(start, start + step)
        out[rows] = _decode(unpack_unsigned(words[rows], bits, n_in), *scale_of(rows), mode, group)
    return out.reshape(*weight.shape[:-1], n_in)


def _scale_of_rows(scales: torch.Tensor, biases: torch.Tensor | None, global_scale: torch.Tensor | None, mode: str):
    """rows → (that slice of the flattened rows' scales, of their biases or None); an NVFP4 global scale (one per
    stacked expert) folded into its expert's E4M3 scales first, as MLX does."""
    flat_biases = None if biases is None else biases.reshape(-1, biases.shape[-1])
    if mode == "nvfp4":
        scales = scales.view(torch.float8_e4m3fn).float()
        if global_scale is not None:
            per_matrix = global_scale.float().reshape(*global_scale.shape, *[1] * (scales.dim() - global_scale.dim()))
            scales = scales * (per_matrix / NVFP4_RANGE)
    flat = scales.reshape(-1, scales.shape[-1])
    return lambda rows: (flat[rows], None if flat_biases is None else flat_biases[rows])


def _decode(codes: torch.Tensor, scales: torch.Tensor, biases: torch.Tensor | None, mode: str, group: int):
    """float32 weights [rows, in] of integer codes [rows, in] with their groups' scales [rows, groups]."""
    if mode == "affine":
        dtype = scales.dtype  # MLX computes in the scales' dtype, rounding after each step
        scale, bias = scales.repeat_interleave(group, -1), biases.to(dtype).repeat_interleave(group, -1)
        return (codes.to(dtype) * scale + bias).float()
    if mode == "mxfp8":
        values = codes.to(torch.uint8).view(torch.float8_e4m3fn).float()
    else:
        values = torch.tensor(FP4_VALUES, dtype=torch.float32)[codes.long()]
    if mode == "nvfp4":
        return values * scales.repeat_interleave(group, -1)
    exponents = scales.to(torch.int32) - SCALE_BIAS  # E8M0: 2^(byte − 127)
    return values * torch.ldexp(torch.ones(exponents.shape), exponents).repeat_interleave(group, -1)


# transformers' names of an expert's maps where they are not MLX's (Mixtral's and PhiMoE's block_sparse_moe)
EXPERT_NAMES = {"block_sparse_moe": {"gate_proj": "w1", "down_proj": "w2", "up_proj": "w3"}}


def _unstack_experts(state: dict[str, torch.Tensor]) -> None:
    """MLX's stacked experts `<layer>.<moe>.switch_mlp.<proj>.weight` [experts, out, in] under transformers'
    per-expert names `<layer>.<moe>.experts.<e>.<proj>.weight`, which every MoE adapter reads."""
    for key in [k for k in state if ".switch_mlp." in k]:
        stacked = state.pop(key)
        before, after = key.split(".switch_mlp.", 1)
        proj, _, rest = after.partition(".")
        proj = EXPERT_NAMES.get(before.rsplit(".", 1)[-1], {}).get(proj, proj)
        for expert, matrix in enumerate(stacked):
            state[f"{before}.experts.{expert}.{proj}.{rest}"] = matrix


def decompress_checkpoint(state: dict[str, torch.Tensor], quant: dict, file_name: str) -> dict[str, torch.Tensor]:
    """`state` with each quantised module's uint32 weight, scales and biases replaced by its float32 weight."""
    table = settings(quant)
    for key in [k for k in state if k.endswith(".scales")]:
        base = key.removesuffix(".scales")
        parts = {part: state.pop(f"{base}.{part}") for part in PARTS if f"{base}.{part}" in state}
        if base + ".weight" not in state:
            raise ModelLoadError(f"{file_name}: {key} has no {base}.weight beside it; MLX scales need their codes.")
        own = table.get(base, table[""])
        if own is None:
            raise ModelLoadError(f"{file_name}: {base} is stored quantised, but config.json's quantization says it "
                                 "is left in float (false).")  # fmt: skip
        parts["weight"] = state.pop(base + ".weight")
        state[base + ".weight"] = dequantize(parts, *own, base)
    _unstack_experts(state)
    return state
