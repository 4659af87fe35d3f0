"""Checkpoints in llm-compressor's compressed-tensors layout (quant_method "compressed-tensors"), decoded to float32
by attention_core/loading/compressed_tensors.py. The reference is transformers loading the same folder with
CompressedTensorsConfig(dequantize=True), which calls the compressed-tensors library's own decompressors.

The tiny checkpoints: tests/tiny_models.py's Qwen3, its attention and MLP maps quantised as llm-compressor's presets do,
one scheme each: 4-bit groups of 16 (W4A16, bfloat16 scales), the same with zero points (asymmetric), 3-bit groups
(elements that spill across the packed words), 8-bit integers a channel (W8A8), with and without zero points, FP8 a
channel with a static activation scale, FP8 in blocks of 16 × 16, NVFP4 (FP4 values, an FP8 scale per 16, a global
scale), and MXFP4 and MXFP8 (FP4 or FP8 values, a power of two per 32); packed with the library's own pack_to_int32 and
pack_fp4_to_uint8. Tolerances (max absolute difference, float32 CPU): decoded weights exact, but NVFP4's, which the
library rounds to bfloat16 on its CPU path and the engine keeps in float32 (within 2^-8 of each weight; the MX formats'
values times powers of two are exact in bfloat16); patterns 1e-4; logits and hidden states 1e-3.
"""

from __future__ import annotations

import copy

import pytest
import torch

from attention_core import ModelLoadError
from attention_core.loading import compressed_tensors as ct
from attention_core.loading.safetensors_hf import safetensors_float32_bytes
from tests.engine.decoder_parity import (
    assert_matches_reference,
    declare_quantisation,
    quantised_checkpoint,
    reference_run,
)
from tests.tiny_models import save_tiny

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL = 1e-4, 1e-3, 1e-3
TEXT = "the blue creature took a mole of the forest"
GROUP = 16
# scheme → (format, the weights' quantisation args)
SCHEMES = {
    "w4a16": ("pack-quantized", {"num_bits": 4, "type": "int", "strategy": "group", "group_size": GROUP,
                                 "symmetric": True}),
    "w4a16_asym": ("pack-quantized", {"num_bits": 4, "type": "int", "strategy": "group", "group_size": GROUP,
                                      "symmetric": False}),
    "w3_groups": ("pack-quantized", {"num_bits": 3, "type": "int", "strategy": "group", "group_size": GROUP,
                                     "symmetric": True}),
    "w8a8_int": ("int-quantized", {"num_bits": 8, "type": "int", "strategy": "channel", "symmetric": True}),
    "w8_asym": ("int-quantized", {"num_bits": 8, "type": "int", "strategy": "channel", "symmetric": False}),
    "fp8_channel": ("float-quantized", {"num_bits": 8, "type": "float", "strategy": "channel", "symmetric": True}),
    "fp8_block": ("float-quantized", {"num_bits": 8, "type": "float", "strategy": "block", "block_structure": [16, 16],
                                      "symmetric": True}),
    "nvfp4": ("nvfp4-pack-quantized", {"num_bits": 4, "type": "float", "strategy": "tensor_group", "group_size": 16,
                                       "symmetric": True}),
    "mxfp4": ("mxfp4-pack-quantized", {"num_bits": 4, "type": "float", "strategy": "group", "group_size": 32,
                                       "symmetric": True, "scale_dtype": "torch.uint8"}),
    "mxfp8": ("mxfp8-quantized", {"num_bits": 8, "type": "float", "strategy": "group", "group_size": 32,
                                  "symmetric": True, "scale_dtype": "torch.uint8"}),
}  # fmt: skip
FP4_GRID = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])  # e2m1's magnitudes
FP4_MAX, E4M3_MAX = 6.0, 448.0


def _quantised(w: torch.Tensor, args: dict) -> dict[str, torch.Tensor]:
    """One [out, in] matrix as its format stores it (the integers or floats, the scale, the zero point)."""
    # imported here, not on top: the library takes ~2 s to import, which the quick tier collects without running
    packing = pytest.importorskip("compressed_tensors.compressors.pack_quantized.helpers")
    rows, cols = w.shape
    if args["strategy"] == "block":  # FP8 in blocks of 16 × 16, DeepSeek's way: a scale a block
        blocks = w.reshape(rows // 16, 16, cols // 16, 16)
        scale = blocks.abs().amax(dim=(1, 3)) / 448.0  # (row blocks, column blocks)
        return {"weight": (blocks / scale[:, None, :, None]).reshape(rows, cols).to(torch.float8_e4m3fn),
                "weight_scale": scale}  # fmt: skip
    if args.get("scale_dtype") == "torch.uint8":  # MXFP4, MXFP8: a power of two (E8M0) per 32 columns
        return _microscaled(w, args["num_bits"])
    groups = w.reshape(rows, -1, GROUP) if "group" in args["strategy"] else w.reshape(rows, 1, cols)
    if args["strategy"] == "tensor_group":  # NVFP4: FP4 values, an FP8 scale a group, one float32 scale above them
        nvfp4 = pytest.importorskip("compressed_tensors.compressors.nvfp4.helpers")
        global_scale = FP4_MAX * E4M3_MAX / w.abs().max()
        scale = (groups.abs().amax(-1) / FP4_MAX * global_scale).to(torch.float8_e4m3fn)  # (rows, groups)
        ratio = groups / (scale.float() / global_scale)[..., None]
        nearest = _nearest_fp4(ratio)
        return {"weight_packed": nvfp4.pack_fp4_to_uint8(nearest.reshape(rows, cols)), "weight_scale": scale,
                "weight_global_scale": global_scale.reshape(1)}  # fmt: skip
    if args["type"] == "float":
        scale = groups.abs().amax(-1) / 448.0  # (rows, 1)
        return {"weight": (groups / scale[..., None]).reshape(rows, cols).to(torch.float8_e4m3fn),
                "weight_scale": scale, "input_scale": torch.tensor([0.02])}  # fmt: skip
    top = (1 << (args["num_bits"] - 1)) - 1  # 7 for 4 bits: integers −8..7
    if args["symmetric"]:
        scale, zero = groups.abs().amax(-1) / top, None
    else:
        low, high = groups.amin(-1), groups.amax(-1)
        scale = (high - low) / (2 * top + 1)
        zero = torch.round(-top - 1 - low / scale).clamp(-top - 1, top).to(torch.int8)  # (rows, groups)
    q = torch.round(groups / scale[..., None]) + (0 if zero is None else zero[..., None])
    q = q.clamp(-top - 1, top).reshape(rows, cols).to(torch.int8)
    out = {"weight_scale": scale.to(torch.bfloat16)}
    if args["num_bits"] == 8:
        return {**out, "weight": q, **({} if zero is None else {"weight_zero_point": zero})}
    out.update(weight_packed=packing.pack_to_int32(q, args["num_bits"]), weight_shape=torch.tensor([rows, cols]))
    if zero is not None:
        out["weight_zero_point"] = packing.pack_to_int32(zero, args["num_bits"], packed_dim=0)
    return out


def _nearest_fp4(ratio: torch.Tensor) -> torch.Tensor:
    return FP4_GRID[(ratio.abs()[..., None] - FP4_GRID).abs().argmin(-1)] * ratio.sign()


def _microscaled(w: torch.Tensor, bits: int) -> dict[str, torch.Tensor]:
    """MXFP4 or MXFP8 parts of `w`: a group's scale 2^(⌊log2 of its largest magnitude⌋ − the element format's largest
    exponent: 2 for FP4, 8 for FP8 e4m3), stored as that exponent + 127."""
    nvfp4 = pytest.importorskip("compressed_tensors.compressors.nvfp4.helpers")
    rows, cols = w.shape
    groups = w.reshape(rows, -1, 32)
    exponent = torch.floor(torch.log2(groups.abs().amax(-1))) - (2 if bits == 4 else 8)  # (rows, groups)
    ratio = (groups / torch.exp2(exponent)[..., None]).reshape(rows, cols)
    scale = (exponent + 127).to(torch.uint8)
    if bits == 4:
        return {"weight_packed": nvfp4.pack_fp4_to_uint8(_nearest_fp4(ratio)), "weight_scale": scale}
    return {"weight": ratio.clamp(-448.0, 448.0).to(torch.float8_e4m3fn), "weight_scale": scale}


def as_compressed(folder, scheme: str) -> None:
    """The folder's projection matrices stored as `scheme` has them, and config.json saying so."""
    from safetensors.torch import load_file, save_file

    fmt, args = SCHEMES[scheme]
    state = load_file(str(folder / "model.safetensors"))
    for key in [k for k in state if k.endswith("_proj.weight")]:
        base = key.removesuffix(".weight")
        state.update({f"{base}.{part}": t for part, t in _quantised(state.pop(key), args).items()})
    save_file(state, str(folder / "model.safetensors"))
    declare_quantisation(folder, {
        "quant_method": "compressed-tensors", "format": fmt, "quantization_status": "compressed", "ignore": ["lm_head"],
        "config_groups": {"group_0": {"targets": ["Linear"], "weights": {**args, "dynamic": False}}},
    })  # fmt: skip


@pytest.fixture(scope="module", params=sorted(SCHEMES))
def checkpoint(request, tmp_path_factory):
    """(the scheme, the folder, transformers' model of it, ours)."""
    folder = tmp_path_factory.mktemp(f"qwen3-{request.param}")
    save_tiny("qwen3", folder)
    as_compressed(folder, request.param)
    config = transformers.CompressedTensorsConfig(dequantize=True)
    for found in quantised_checkpoint(folder, tmp_path_factory, transformers.AutoModelForCausalLM, config):
        yield request.param, *found


def test_the_decoded_weights_are_the_librarys_to_the_bit(checkpoint):
    scheme, _, reference, ours = checkpoint
    for layer, block in enumerate(reference.model.layers):
        pairs = [("attn.W_Q", block.self_attn.q_proj), ("attn.W_V", block.self_attn.v_proj),
                 ("mlp.W_in", block.mlp.up_proj), ("mlp.W_out", block.mlp.down_proj)]  # fmt: skip
        for ours_name, theirs in pairs:
            assert theirs.weight.abs().max() > 0.1  # decoded, not left at an initialiser's size
            mine = ours.weights[f"blocks.{layer}.{ours_name}"]
            if scheme == "nvfp4":  # the library's CPU decoding ends in bfloat16 (module docstring)
                assert torch.equal(mine.bfloat16().float(), theirs.weight.T), (layer, ours_name)
                assert not torch.equal(mine, theirs.weight.T)  # ours are not rounded to bfloat16
            else:
                assert torch.equal(mine, theirs.weight.T), (layer, ours_name)


def test_the_model_matches_transformers_and_says_how_it_was_read(checkpoint):
    scheme, _, reference, ours = checkpoint
    if scheme == "nvfp4":  # the same weights on both sides: the reference's are rounded to bfloat16 (module docstring)
        reference = copy.deepcopy(reference)  # the fixture's stays as transformers decoded it
        with torch.no_grad():
            for layer, block in enumerate(reference.model.layers):
                for theirs, name in ((block.self_attn.q_proj, "attn.W_Q"), (block.self_attn.k_proj, "attn.W_K"),
                                     (block.self_attn.v_proj, "attn.W_V"), (block.self_attn.o_proj, "attn.W_O"),
                                     (block.mlp.gate_proj, "mlp.W_gate"), (block.mlp.up_proj, "mlp.W_in"),
                                     (block.mlp.down_proj, "mlp.W_out")):  # fmt: skip
                    theirs.weight.copy_(ours.weights[f"blocks.{layer}.{name}"].T)
    trace = ours.trace(TEXT)
    tols = (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL)
    assert_matches_reference("compressed-tensors", ours, trace, reference_run(reference, trace), tols)
    assert ct.NOTE in ours.config.conversion_notes


def test_the_memory_check_counts_each_packed_word_as_its_values(checkpoint):
    """The memory check sizes a checkpoint from its headers (and config.json's width of the packed integers) before
    reading it: never under the weights' float32 size, and over it only by the scales it counts too."""
    _, folder, _, ours = checkpoint
    weights = 4 * ours.parameter_counts()["total"]
    assert weights <= safetensors_float32_bytes([folder / "model.safetensors"]) <= 1.25 * weights


def test_activation_order_puts_each_column_in_its_own_group():
    """weight_g_idx (GPTQ's activation order): column j takes the scale of group g_idx[j], not of j // group_size."""
    q = torch.ones(2, 4, dtype=torch.int8)
    parts = {"weight": q, "weight_scale": torch.tensor([[1.0, 10.0], [2.0, 20.0]]),
             "weight_g_idx": torch.tensor([1, 0, 1, 0], dtype=torch.int32)}  # fmt: skip
    out = ct.dequantize_module(parts, "int-quantized", {"num_bits": 8, "strategy": "group", "group_size": 2}, "w")
    assert out.tolist() == [[10.0, 1.0, 10.0, 1.0], [20.0, 2.0, 20.0, 2.0]]


def test_formats_and_mixtures_it_cannot_read_are_refused_by_name():
    group = {"targets": ["Linear"], "weights": {"num_bits": 4}}
    with pytest.raises(ModelLoadError, match=r"format \['marlin-24'\] is not read yet"):
        ct.weight_settings({"format": "marlin-24", "config_groups": {"group_0": group}})
    mixed = {"g0": group, "g1": {"targets": ["Linear"], "weights": {"num_bits": 8}}}
    with pytest.raises(ModelLoadError, match=r"mix \[4, 8\]-bit weights"):
        ct.weight_settings({"format": "pack-quantized", "config_groups": mixed})
    with pytest.raises(ModelLoadError, match="has no weights beside it"):
        ct.decompress_checkpoint({"m.q_proj.weight_scale": torch.ones(1)},
                                 {"format": "pack-quantized", "config_groups": {"group_0": group}}, "model.safetensors")


def test_mangled_parts_are_refused_by_name_not_with_a_traceback():
    """A hostile or truncated checkpoint: a width outside 1..8, a shape the packed words cannot hold, NVFP4 scales
    that do not divide the row."""
    group = {"targets": ["Linear"], "weights": {"num_bits": 40}}
    with pytest.raises(ModelLoadError, match="num_bits 40"):
        ct.weight_settings({"format": "pack-quantized", "config_groups": {"group_0": group}})
    args = {"num_bits": 4, "strategy": "group", "group_size": 16}
    parts = {"weight_packed": torch.zeros(4, 2, dtype=torch.int32), "weight_shape": torch.tensor([4, 64]),
             "weight_scale": torch.ones(4, 4)}  # fmt: skip
    with pytest.raises(ModelLoadError, match=r"m\.q_proj: 2 packed words a row cannot hold 64 4-bit values"):
        ct.dequantize_module(parts, "pack-quantized", args, "m.q_proj")
    nv = {"weight_packed": torch.zeros(4, 8, dtype=torch.uint8), "weight_scale": torch.ones(4, 3),
          "weight_global_scale": torch.ones(1)}  # fmt: skip
    with pytest.raises(ModelLoadError, match=r"m\.k_proj: NVFP4 scales \(4, 3\) do not fit"):
        ct.dequantize_module(nv, "nvfp4-pack-quantized", {}, "m.k_proj")
    order = {"weight": torch.ones(2, 4, dtype=torch.int8), "weight_scale": torch.ones(2, 2),
             "weight_g_idx": torch.tensor([0, 1, 5, 0])}  # fmt: skip
    # column 2 in group 5, of 2
    with pytest.raises(ModelLoadError, match=r"m\.v_proj: compressed-tensors scales \(2, 2\) or zero points do not"):
        ct.dequantize_module(order, "int-quantized", {"num_bits": 8, "strategy": "group", "group_size": 2}, "m.v_proj")


@pytest.mark.parametrize(("fmt", "parts", "found"), [
    ("mxfp4-pack-quantized", {"weight_packed": torch.zeros(4, 16, dtype=torch.uint8),
                              "weight_scale": torch.ones(4, 2, dtype=torch.uint8)}, r"torch.uint8 \(4, 16\)"),
    ("mxfp4-pack-quantized", {"weight_packed": torch.zeros(4, 16, dtype=torch.uint8),
                              "weight_scale": torch.ones(4, 1)}, r"scales torch.float32"),
    ("mxfp8-quantized", {"weight": torch.zeros(4, 32), "weight_scale": torch.ones(4, 1, dtype=torch.uint8)},
     r"torch.float32 \(4, 32\)"),
    ("mxfp8-quantized", {"weight_scale": torch.ones(4, 1, dtype=torch.uint8)}, "has nothing"),
])  # fmt: skip
def test_mangled_microscaled_parts_are_refused_by_name(fmt, parts, found):
    """Scales that do not cover the row in groups of 32, values of another dtype, or none at all."""
    with pytest.raises(ModelLoadError, match=rf"m\.o_proj: {fmt} weights are .*{found}"):
        ct.dequantize_module(parts, fmt, {}, "m.o_proj")
