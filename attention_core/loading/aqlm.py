"""AQLM checkpoints (Additive Quantization of Language Models: config.json's quantization_config with quant_method
"aqlm", as ISTA-DASLab's ...-AQLM-2Bit-1x16 and -2x8 models ship) → float32.

Each quantised linear [out, in] keeps, instead of `<name>.weight`, its weights in groups of out_group_size ×
in_group_size values, each group the sum of one vector from each of num_codebooks codebooks, times its output
group's scale:

    codes      int8/16 [out / out_group_size, in / in_group_size, num_codebooks]   each group's vector per codebook,
                                                                                   stored signed (code − 2^b where
                                                                                   code ≥ 2^(b−1)), b = nbits
    codebooks  float16 [num_codebooks, 2^b, out_group_size, in_group_size]
    scales     float16 [out / out_group_size, 1, 1, 1]

so W[group (o, i)] = scales[o] × Σ_c codebooks[c, codes[o, i, c]], summed and scaled in the codebooks' dtype as AQLM's
own decoding (`aqlm.utils._dequantize_weight`) does, then widened to float32. The modules config.json lists in
linear_weights_not_to_quantize (embeddings, norms, the unembedding) keep float weights and are read as they are.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import ModelLoadError
from .packed_parts import quantised_linears

PARTS = ("codes", "codebooks", "scales")
FIELDS = ("in_group_size", "out_group_size", "num_codebooks", "nbits_per_codebook")
NOTE = ("AQLM weights decoded (each group of weights the sum of one vector per codebook, times its scale) and run in "
        "float32; AQLM's kernels compute in float16, so their numbers differ from these by that rounding.")  # fmt: skip


def settings(quant: dict) -> tuple[int, int, int, int]:
    """(in_group_size, out_group_size, num_codebooks, nbits_per_codebook) of an AQLM quantization_config; refused by
    name where a field is missing or out of range (codes of up to 16 bits: codebooks of 2^16 vectors at most)."""
    values = [quant.get(field) for field in FIELDS]
    if any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in values):
        shown = ", ".join(f"{field} {v!r}" for field, v in zip(FIELDS, values, strict=True))
        raise ModelLoadError(f"AQLM quantization_config needs four positive whole numbers; it has {shown}.")
    if values[3] > 16:
        raise ModelLoadError(f"AQLM codebooks of {values[3]} bits: the engine decodes codes of up to 16 bits.")
    return values[0], values[1], values[2], values[3]


def dequantize(codes: torch.Tensor, codebooks: torch.Tensor, scales: torch.Tensor, nbits: int) -> torch.Tensor:
    """One linear's weight [out, in], in the codebooks' dtype, from its codes [out_groups, in_groups, books],
    codebooks [books, 2^nbits, out_group_size, in_group_size] and scales [out_groups, 1, 1, 1]."""
    n_out, n_in, books = codes.shape
    _, size, out_group, in_group = codebooks.shape
    unsigned = codes.to(torch.int64) % (2**nbits)  # the stored codes are signed: 40000 as −25536
    rows = unsigned.flatten(0, 1) + torch.arange(0, books * size, size)  # (n_out·n_in, books): rows of all codebooks
    vectors = codebooks.flatten(0, 1).flatten(-2, -1)  # (books·size, out_group·in_group)
    summed = F.embedding_bag(rows, vectors, mode="sum")  # (n_out·n_in, out_group·in_group): Σ over codebooks
    groups = summed.view(n_out, n_in, out_group, in_group) * scales  # (n_out, n_in, out_group, in_group)
    return groups.swapaxes(1, 2).reshape(n_out * out_group, n_in * in_group)  # row o·out_group + r, col i·in_group + c


def _checked(parts: dict[str, torch.Tensor], shape: tuple[int, int, int, int], name: str) -> None:
    """The three parts fit one another and the config: integer codes with num_codebooks per group, codebooks of
    2^nbits vectors of out_group_size × in_group_size, one scale per output group."""
    in_group, out_group, books, nbits = shape
    codes, codebooks, scales = (parts[part] for part in PARTS)
    fits = (
        codes.dim() == 3 and not codes.dtype.is_floating_point and codes.shape[2] == books
        and tuple(codebooks.shape) == (books, 2**nbits, out_group, in_group) and codebooks.dtype.is_floating_point
        and tuple(scales.shape) == (codes.shape[0], 1, 1, 1)
    )  # fmt: skip
    if not fits:
        found = ", ".join(f"{part} {parts[part].dtype} {tuple(parts[part].shape)}" for part in PARTS)
        raise ModelLoadError(f"{name}: AQLM parts do not fit {books} codebook(s) of 2^{nbits} vectors of "
                             f"{out_group} × {in_group} weights: {found}.")  # fmt: skip


def decompress_checkpoint(state: dict[str, torch.Tensor], quant: dict, file_name: str) -> dict[str, torch.Tensor]:
    """`state` with each quantised linear's codes, codebooks and scales replaced by its float32 `<name>.weight` (a
    bias stays as it is)."""
    shape = settings(quant)
    needs = "AQLM weights need their codes, codebooks and scales."
    for base, parts in quantised_linears(state, "codes", PARTS, PARTS, needs, file_name):
        _checked(parts, shape, base)
        state[base + ".weight"] = dequantize(parts["codes"], parts["codebooks"], parts["scales"], shape[3]).float()
    return state
