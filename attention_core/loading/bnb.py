"""bitsandbytes checkpoints (config.json's quantization_config with quant_method "bitsandbytes": what transformers
saves of a model loaded in 4 or 8 bits, as the Hub's many "-bnb-4bit" models ship) → float32.

4 bits (NF4 or FP4), each quantised linear's `<name>.weight` stores:

    weight               uint8 [n/2, 1]   two 4-bit codes a byte, the high nibble first (n = out × in, row by row)
    weight.quant_map     float32 [16]     each code's value (NF4's normal quantiles or FP4's)
    weight.absmax        float32 [blocks] one scale per block of `blocksize` weights; with double quantisation
                                          (nested) uint8 codes themselves, each nested_quant_map[code] ×
                                          nested_absmax[its block of nested_blocksize] + nested_offset
    weight.quant_state.bitsandbytes__nf4 (or __fp4)   uint8: JSON with the shape, blocksize, dtype and nested_*

and each weight is quant_map[code] × absmax[its block] in float32, rounded to the state's dtype (bfloat16, float16 or
float32) as bitsandbytes' dequantize_4bit does, then widened to float32.

8 bits (LLM.int8()): `<name>.weight` int8 [out, in] and `<name>.SCB` float32 [out], each row's largest magnitude;
each weight is q × SCB[row] × (1/127) in float32, as bitsandbytes' int8_vectorwise_dequant computes it.
"""

from __future__ import annotations

import json

import torch

from ..errors import ModelLoadError

QUANT_TYPES = ("nf4", "fp4")
STATE = ".weight.quant_state.bitsandbytes__"
FOUR_BIT_PARTS = ("absmax", "quant_map", "nested_absmax", "nested_quant_map")
INV_127 = 7.874015718698502e-3  # bitsandbytes multiplies by this reciprocal rather than divide by 127
NOTE = ("bitsandbytes weights decoded (4-bit codes × their block's scale, or int8 × their row's scale / 127) and run "
        "in float32; bitsandbytes' kernels compute in 16-bit floats (LLM.int8() also splits off large activations), "
        "so its numbers differ from these by that rounding.")  # fmt: skip


def check_settings(quant: dict) -> None:
    """Refuses by name a bitsandbytes quantization_config that is neither 4-bit nor 8-bit, or a 4-bit type other
    than NF4 and FP4."""
    four = quant.get("load_in_4bit", quant.get("_load_in_4bit"))
    eight = quant.get("load_in_8bit", quant.get("_load_in_8bit"))
    if bool(four) == bool(eight):
        raise ModelLoadError("A bitsandbytes checkpoint is loaded in 4 bits or in 8 bits; its quantization_config "
                             "says neither (or both) of load_in_4bit and load_in_8bit.")  # fmt: skip
    kind = quant.get("bnb_4bit_quant_type", "nf4")
    if four and kind not in QUANT_TYPES:
        raise ModelLoadError(f"bitsandbytes 4-bit type {kind!r} is not read (the engine decodes NF4 and FP4).")


def _blockwise(values: torch.Tensor, absmax: torch.Tensor, blocksize: int, name: str, table_size: int = 0):
    """float32 values[i] × absmax[i // blocksize] over the flat `values` (each code's value already looked up in a
    table of `table_size`, for the message)."""
    n = values.numel()
    if blocksize < 1 or absmax.numel() != -(-n // blocksize):
        raise ModelLoadError(f"{name}: bitsandbytes scales ({absmax.numel()} for blocks of {blocksize}) or code table "
                             f"({table_size} values) do not fit {n} codes.")  # fmt: skip
    if n % blocksize:  # a partial last block: padded to a whole one, then cut back
        values = torch.nn.functional.pad(values, (0, absmax.numel() * blocksize - n))
    scaled = values.float().view(-1, blocksize) * absmax.float()[:, None]  # [blocks, blocksize] × [blocks, 1]
    return scaled.view(-1)[:n]


def _codes(packed: torch.Tensor, table: torch.Tensor, name: str) -> torch.Tensor:
    """float32 [2·bytes]: each byte's two 4-bit codes' values, the high nibble first, by one lookup a byte."""
    if table.numel() < 16:
        raise ModelLoadError(f"{name}: bitsandbytes code table ({table.numel()} values) is shorter than 4-bit codes.")
    byte = torch.arange(256)
    pairs = torch.stack([table.float()[byte >> 4], table.float()[byte & 0x0F]], dim=-1)  # [256, 2]
    return torch.nn.functional.embedding(packed.int(), pairs).view(-1)


def _state(parts: dict[str, torch.Tensor], name: str) -> dict:
    try:
        return json.loads(bytes(parts["state"].to(torch.uint8).tolist()).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelLoadError(f"{name}: its bitsandbytes quant_state is not readable JSON ({exc}).") from exc


def dequantize_4bit(parts: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    """One linear's float32 weight from its packed codes, quant_map, absmax (nested or not) and quant_state."""
    state = _state(parts, name)
    packed = parts["weight"].contiguous().view(torch.uint8).reshape(-1)  # any storage dtype: its bytes
    try:
        shape, blocksize, dtype = torch.Size(state["shape"]), int(state["blocksize"]), getattr(torch, state["dtype"])
        absmax = parts["absmax"]
        if absmax.dtype == torch.uint8 and "nested_absmax" not in parts:
            raise ModelLoadError(f"{name}: its bitsandbytes scales are double-quantised codes (uint8) with no "
                                 "nested_absmax and nested_quant_map beside them.")  # fmt: skip
        if "nested_absmax" in parts:  # 8-bit codes of the scales, their own scales a block of nested_blocksize
            table = parts["nested_quant_map"]
            if absmax.numel() and table.numel() <= int(absmax.max()):
                raise ModelLoadError(f"{name}: bitsandbytes nested code table ({table.numel()} values) does not "
                                     "cover its scales' codes.")  # fmt: skip
            absmax = _blockwise(table.float()[absmax.long()], parts["nested_absmax"], int(state["nested_blocksize"]),
                                name, table.numel()) + float(state["nested_offset"])  # fmt: skip
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelLoadError(f"{name}: its bitsandbytes quant_state lacks or mangles {exc}.") from exc
    n_codes = 2 * packed.numel()
    if not isinstance(dtype, torch.dtype) or shape.numel() > n_codes or n_codes > shape.numel() + 1:
        raise ModelLoadError(f"{name}: {packed.numel()} bytes of 4-bit codes do not hold a {tuple(shape)} weight.")
    values = _codes(packed, parts["quant_map"], name)[: shape.numel()]
    weight = _blockwise(values, absmax, blocksize, name, parts["quant_map"].numel()).reshape(shape)
    return weight if dtype == torch.float32 else weight.to(dtype).float()  # rounded to the state's dtype


def dequantize_8bit(weight: torch.Tensor, scb: torch.Tensor, name: str) -> torch.Tensor:
    """One LLM.int8() linear's float32 weight: each row's int8 values × its scale / 127."""
    if weight.dtype != torch.int8 or weight.dim() != 2 or scb.shape != (weight.shape[0],):
        raise ModelLoadError(f"{name}: LLM.int8() weights are int8 rows with one SCB scale a row; the checkpoint has "
                             f"{weight.dtype} {tuple(weight.shape)} and SCB {tuple(scb.shape)}.")  # fmt: skip
    return weight * scb.float().view(-1, 1) * INV_127


def decompress_checkpoint(state: dict[str, torch.Tensor], quant: dict, file_name: str) -> dict[str, torch.Tensor]:
    """`state` with each quantised linear's stored parts replaced by its float32 `<name>.weight`."""
    check_settings(quant)
    for key in [k for k in state if STATE in k]:
        base = key.split(STATE)[0] + ".weight"
        parts = {"state": state.pop(key)}
        parts.update({part: state.pop(f"{base}.{part}") for part in FOUR_BIT_PARTS if f"{base}.{part}" in state})
        if base not in state or "absmax" not in parts or "quant_map" not in parts:
            raise ModelLoadError(f"{file_name}: {key} has no {base}, absmax or quant_map beside it; 4-bit "
                                 "bitsandbytes weights need all three.")  # fmt: skip
        parts["weight"] = state.pop(base)
        state[base] = dequantize_4bit(parts, base)
    for key in [k for k in state if k.endswith(".SCB")]:
        base = key.removesuffix(".SCB")
        if base + ".weight" not in state:
            raise ModelLoadError(f"{file_name}: {key} has no {base}.weight beside it; an LLM.int8() scale needs its "
                                 "weights.")  # fmt: skip
        fmt = state.pop(base + ".weight_format", None)
        if fmt is not None and int(fmt.reshape(-1)[0]) != 0:
            raise ModelLoadError(f"{base}: LLM.int8() weights in layout {int(fmt.reshape(-1)[0])}, not row by row "
                                 "(0), which the engine reads.")  # fmt: skip
        state[base + ".weight"] = dequantize_8bit(state.pop(base + ".weight"), state.pop(key), base)
    return state
