"""GPTQ and AWQ checkpoints (quantization_config quant_method "gptq" / "awq": packed integers with a scale and zero
point per group of inputs), decoded to float32 by attention_core/loading/gptq.py and awq.py.

The references are the formats' own libraries: AutoGPTQ's QuantLinear (its `pack`, which writes the checkpoint's
qweight, qzeros and scales, and its torch forward, which decodes them; 2, 3, 4 and 8 bits, activation order by g_idx)
and AutoAWQ's WQLinear_GEMM (`from_linear` packs; `dequantize_gemm` decodes). transformers reads both formats only
through GPTQModel, which ships as source that builds native kernels; so the model-level reference is transformers'
own float model with each quantised linear's weight set to what the library decodes. Both libraries are installed
without their dependencies (requirements-dev-nodeps.txt) and their modules read without running their packages'
`__init__` (which import training stacks).

The tiny checkpoints: tests/tiny_models.py's Qwen3 (and a Qwen2-MoE: q/k/v biases, experts), every projection
quantised with a scale and zero point per group of 32 inputs and output taken from the group's range (scales in
float16, as real checkpoints store them), embeddings, norms and the unembedding left as they are. Tolerances (max
absolute difference, float32 CPU): decoded weights exact against the library; patterns 1e-4; logits and hidden states
1e-3.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

import pytest
import torch

from attention_core import ModelLoadError
from attention_core.loading import awq, gptq
from attention_core.loading.safetensors_hf import safetensors_float32_bytes
from tests.engine.decoder_parity import (
    assert_matches_reference,
    assert_refused_before_reading,
    beside_ours,
    declare_quantisation,
    reference_run,
)
from tests.tiny_models import save_tiny

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL = 1e-4, 1e-3, 1e-3
TEXT = "the blue creature took a mole of the forest"
GROUP = 32


def library_module(dotted: str):
    """A module of an installed library, its parent packages stood in by empty ones so their `__init__` (which
    imports the library's whole training stack) does not run."""
    top = dotted.split(".")[0]
    spec = sys.modules[top].__spec__ if top in sys.modules else importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(f"{top} is not installed: make test installs it from requirements-dev-nodeps.txt")
    root = spec.submodule_search_locations[0]
    parts = dotted.split(".")
    for i in range(1, len(parts)):
        name = ".".join(parts[:i])
        if name not in sys.modules:
            path = "/".join([root, *parts[1:i]])
            package = types.ModuleType(name)
            package.__path__ = [path]
            package.__spec__ = importlib.util.spec_from_loader(name, None, is_package=True)
            package.__spec__.submodule_search_locations = [path]
            sys.modules[name] = package
    return importlib.import_module(dotted)


def group_range(weight: torch.Tensor, groups: torch.Tensor, bits: int, n_groups: int):
    """(scale, zero point, weight on the grid) per output and group: the group's range over 2^bits − 1 steps,
    scales rounded to float16, zero points kept within 1 … 2^bits − 1 (GPTQ's format stores z − 1, so 0 cannot be
    stored), each weight moved onto its grid so that packing recovers its integer exactly."""
    top = 2**bits - 1
    scale, zero = torch.empty(weight.shape[0], n_groups), torch.empty(weight.shape[0], n_groups)
    for g in range(n_groups):
        cols = weight[:, groups == g]
        low, high = cols.min(1).values.clamp(max=0), cols.max(1).values.clamp(min=0)
        scale[:, g] = ((high - low) / top).clamp(min=1e-4).half().float()
        zero[:, g] = torch.round(-low / scale[:, g]).clamp(1, top)
    q = torch.round(weight / scale[:, groups] + zero[:, groups]).clamp(0, top)
    return scale, zero, (q - zero[:, groups]) * scale[:, groups]


def gptq_linear(weight: torch.Tensor, bits: int, act_order: bool, seed: int = 0):
    """(AutoGPTQ's QuantLinear packed from `weight` [out, in] (float16 scales), its decoded float32 weight)."""
    qlinear = library_module("auto_gptq.nn_modules.qlinear.qlinear_cuda")
    n_out, n_in = weight.shape
    groups = torch.arange(n_in) // GROUP
    if act_order:  # the quantiser's activation order: each input's group, permuted
        groups = groups[torch.randperm(n_in, generator=torch.Generator().manual_seed(seed))]
    scale, zero, grid = group_range(weight, groups, bits, n_in // GROUP)
    linear = torch.nn.Linear(n_in, n_out, bias=False)
    linear.weight.data = grid
    layer = qlinear.QuantLinear(bits, GROUP, n_in, n_out, False, weight_dtype=torch.float32)
    layer.pack(linear, scale, zero, groups.to(torch.int32))
    layer.scales = layer.scales.half()
    with torch.inference_mode():
        decoded = layer(torch.eye(n_in, dtype=torch.float16)).float().T  # [out, in]: row o is output o's weights
    return layer, decoded


def awq_linear(weight: torch.Tensor):
    """(AutoAWQ's WQLinear_GEMM packed from `weight` [out, in], the float32 weight its dequantize_gemm decodes)."""
    gemm = library_module("awq.modules.linear.gemm")
    packing = library_module("awq.utils.packing_utils")
    n_out, n_in = weight.shape
    scale, zero, grid = group_range(weight, torch.arange(n_in) // GROUP, awq.BITS, n_in // GROUP)
    linear = torch.nn.Linear(n_in, n_out, bias=False)
    linear.weight.data = grid
    layer = gemm.WQLinear_GEMM.from_linear(linear, awq.BITS, GROUP, scales=scale.T.contiguous(),
                                           zeros=zero.T.contiguous())  # fmt: skip
    decoded = packing.dequantize_gemm(layer.qweight, layer.qzeros, layer.scales, awq.BITS, GROUP)  # [in, out]
    return layer, decoded.float().T


def _quantisable(weight: torch.Tensor) -> bool:
    """Inputs in whole groups, outputs in whole words: what the quantisers pack (an MoE's 48-wide experts' down
    projections stay in float, as a real checkpoint keeps what its quantiser skipped)."""
    return weight.shape[1] % GROUP == 0 and weight.shape[0] % 32 == 0


def _quantise_folder(folder, method: str, quant_config: dict, **kind) -> dict[str, torch.Tensor]:
    """The folder's projections stored by `method` and config.json saying so; returns what the library decodes
    each projection's weight to (the reference model's weights)."""
    from safetensors.torch import load_file, save_file

    state, decoded = load_file(str(folder / "model.safetensors")), {}
    for key in [k for k in state if k.endswith("_proj.weight") and _quantisable(state[k])]:
        base = key.removesuffix(".weight")
        if method == "gptq":
            layer, decoded[key] = gptq_linear(state.pop(key), seed=len(decoded), **kind)
            parts = {"qweight": layer.qweight, "qzeros": layer.qzeros, "scales": layer.scales, "g_idx": layer.g_idx}
        else:
            layer, decoded[key] = awq_linear(state.pop(key))
            parts = {"qweight": layer.qweight, "qzeros": layer.qzeros, "scales": layer.scales}
        state.update({f"{base}.{name}": t.contiguous() for name, t in parts.items()})
    save_file(state, str(folder / "model.safetensors"))
    declare_quantisation(folder, {"quant_method": method, **quant_config})
    return decoded


def _checkpoint(tmp_path_factory, kind: str, method: str, quant_config: dict, **options):
    """(folder, transformers' float model with the library's decoded weights, ours, those weights by key)."""
    import shutil

    from safetensors.torch import load_file, save_file

    folder = tmp_path_factory.mktemp(f"{kind}-{method}")
    save_tiny(kind, folder)
    float_folder = tmp_path_factory.mktemp(f"{kind}-{method}-decoded")
    shutil.copytree(folder, float_folder, dirs_exist_ok=True)
    decoded = _quantise_folder(folder, method, quant_config, **options)
    state = load_file(str(float_folder / "model.safetensors"))
    assert decoded.keys() <= state.keys()
    decoded_state = {**state, **{key: w.contiguous() for key, w in decoded.items()}}
    save_file(decoded_state, str(float_folder / "model.safetensors"))  # transformers maps each key to its model
    reference = transformers.AutoModelForCausalLM.from_pretrained(str(float_folder), dtype=torch.float32,
                                                                  attn_implementation="eager").eval()  # fmt: skip
    for found in beside_ours(folder, reference, tmp_path_factory):
        yield *found, decoded


GPTQ_CONFIG = {"bits": 4, "group_size": GROUP, "desc_act": True, "sym": False, "checkpoint_format": "gptq"}
AWQ_CONFIG = {"bits": 4, "group_size": GROUP, "version": "gemm", "zero_point": True}


@pytest.fixture(scope="module")
def gptq_checkpoint(tmp_path_factory):
    yield from _checkpoint(tmp_path_factory, "qwen3", "gptq", GPTQ_CONFIG, bits=4, act_order=True)


@pytest.fixture(scope="module")
def awq_checkpoint(tmp_path_factory):
    yield from _checkpoint(tmp_path_factory, "qwen3", "awq", AWQ_CONFIG)


@pytest.mark.parametrize("bits", gptq.BITS)
@pytest.mark.parametrize("act_order", [False, True])
def test_gptq_weights_decode_as_autogptq_decodes_them(bits, act_order):
    """Every width AutoGPTQ writes (3 bits spill across words), grouped in order and in activation order (g_idx)."""
    weight = torch.randn(64, 96, generator=torch.Generator().manual_seed(bits)) * 0.3
    layer, expected = gptq_linear(weight, bits, act_order)
    parts = {"qweight": layer.qweight, "qzeros": layer.qzeros, "scales": layer.scales, "g_idx": layer.g_idx}
    ours = gptq.dequantize(parts, bits, GROUP, gptq.ZERO_OFFSET["gptq"], "w")
    assert expected.abs().max() > 0.1 and torch.equal(ours, expected)
    if not act_order:  # without g_idx, the groups follow group_size
        del parts["g_idx"]
        assert torch.equal(gptq.dequantize(parts, bits, GROUP, 1, "w"), expected)


def test_awq_weights_decode_as_autoawq_decodes_them():
    weight = torch.randn(64, 96, generator=torch.Generator().manual_seed(4)) * 0.3
    layer, expected = awq_linear(weight)
    ours = awq.dequantize({"qweight": layer.qweight, "qzeros": layer.qzeros, "scales": layer.scales}, GROUP, "w")
    assert expected.abs().max() > 0.1 and torch.equal(ours, expected)


@pytest.mark.parametrize("fixture", ["gptq_checkpoint", "awq_checkpoint"])
def test_a_quantised_checkpoint_matches_its_decoded_weights_in_transformers(fixture, request):
    folder, reference, ours, decoded = request.getfixturevalue(fixture)
    assert torch.equal(ours.weights["blocks.1.attn.W_Q"], decoded["model.layers.1.self_attn.q_proj.weight"].T)
    trace = ours.trace(TEXT)
    tols = (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL)
    assert_matches_reference(fixture, ours, trace, reference_run(reference, trace), tols)
    assert (gptq.NOTE if fixture.startswith("gptq") else awq.NOTE) in ours.config.conversion_notes
    # the memory check (attention_core/memory.py) sizes the checkpoint from its headers before reading it
    assert safetensors_float32_bytes([folder / "model.safetensors"]) >= 4 * ours.parameter_counts()["total"]


@pytest.mark.parametrize(("kind", "quantised"), [("qwen2_moe", "shared_expert."), ("olmoe", ".experts.")])
def test_gptq_biases_and_experts(kind, quantised, tmp_path_factory):
    """Qwen2-MoE's q/k/v biases beside the packed weights and its shared expert, OLMoE's experts each quantised on
    their own; 8 bits, grouped in order (no activation order)."""
    config = {**GPTQ_CONFIG, "bits": 8, "desc_act": False}
    for _, reference, ours, decoded in _checkpoint(tmp_path_factory, kind, "gptq", config, bits=8, act_order=False):
        assert any(quantised in key for key in decoded), sorted(decoded)
        trace = ours.trace(TEXT)
        assert_matches_reference(f"{kind} gptq", ours, trace, reference_run(reference, trace),
                                 (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL))  # fmt: skip


def test_gptq_v2_stores_zero_points_as_they_are():
    """GPTQModel's "gptq_v2" format drops v1's − 1 (its v1 → v2 conversion adds 1 to every packed zero point): the
    zero points v1 would store for z + 1 are v2's for z."""
    weight = torch.randn(64, 96, generator=torch.Generator().manual_seed(5)) * 0.3
    layer, expected = gptq_linear(weight, 4, act_order=False)
    qlinear = library_module("auto_gptq.nn_modules.qlinear.qlinear_cuda")
    shifted = qlinear.QuantLinear(4, GROUP, 96, 64, False, weight_dtype=torch.float32)
    scale, zero, grid = group_range(weight, torch.arange(96) // GROUP, 4, 96 // GROUP)
    shifted.pack(torch.nn.Linear(96, 64, bias=False).requires_grad_(False), scale, zero + 1)
    parts = {"qweight": layer.qweight, "qzeros": shifted.qzeros, "scales": layer.scales}
    offset = gptq.settings({"checkpoint_format": "gptq_v2"})[2]
    assert torch.equal(gptq.dequantize(parts, 4, GROUP, offset, "w"), expected)


@pytest.mark.parametrize(("method", "settings", "message"), [
    ("gptq", {"bits": 5}, "GPTQ weights of 5 bits"),
    ("gptq", {"checkpoint_format": "marlin"}, "GPTQ checkpoint format 'marlin' is not read yet"),
    ("gptq", {"group_size": 0}, "GPTQ group_size 0"),
    ("gptq", {"pack_dtype": "int16"}, "packed in int16 words"),
    ("awq", {"version": "gemv"}, "AWQ version 'gemv' is not read yet"),
    ("awq", {"bits": 3}, "AWQ weights of 3 bits"),
    ("awq", {"zero_point": False}, "without zero points"),
    ("awq", {"group_size": "128"}, "AWQ group_size '128'"),
])  # fmt: skip
def test_settings_the_engine_cannot_decode_are_refused_before_the_weights_are_read(
    method, settings, message, tmp_path, monkeypatch
):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    assert_refused_before_reading(tmp_path / "qwen3", {"quant_method": method, **settings}, message)


def _gptq_parts(bits: int = 4) -> dict[str, torch.Tensor]:
    layer, _ = gptq_linear(torch.randn(64, 96, generator=torch.Generator().manual_seed(6)) * 0.3, bits, True)
    return {"qweight": layer.qweight, "qzeros": layer.qzeros, "scales": layer.scales, "g_idx": layer.g_idx}


def test_mangled_gptq_parts_are_refused_by_name():
    parts = _gptq_parts()
    mangled = [
        ({**parts, "scales": parts["scales"][:2]}, r"GPTQ scales \(2, 64\) do not fit 3 groups"),
        ({**parts, "g_idx": parts["g_idx"] + 1}, "does not give each of 96 inputs one of 3 groups"),
        ({**parts, "g_idx": parts["g_idx"][:64]}, r"cannot hold 64 × 64 4-bit values"),
        ({**parts, "qweight": parts["qweight"].float()}, "matrices of int32 words"),
        ({**parts, "qzeros": parts["qzeros"][:, :4]}, "cannot hold"),
    ]
    for broken, message in mangled:
        with pytest.raises(ModelLoadError, match=message):
            gptq.dequantize(broken, 4, GROUP, 1, "model.layers.0.mlp.up_proj")
    with pytest.raises(ModelLoadError, match="up_proj.qweight has no scales beside it"):
        gptq.decompress_checkpoint({f"model.up_proj.{k}": v for k, v in parts.items() if k != "scales"},
                                   {"bits": 4}, "model.safetensors")  # fmt: skip


def test_gptq_words_of_another_width_than_the_config_says_are_refused():
    """8-bit words read as 4-bit ones would give twice the inputs: the groups no longer fit the scales."""
    parts = _gptq_parts(bits=8)
    del parts["g_idx"]
    with pytest.raises(ModelLoadError, match="does not give each of 192 inputs one of 3 groups"):
        gptq.dequantize(parts, 4, GROUP, 1, "w")


def test_mangled_awq_parts_are_refused_by_name():
    layer, _ = awq_linear(torch.randn(64, 96, generator=torch.Generator().manual_seed(7)) * 0.3)
    parts = {"qweight": layer.qweight, "qzeros": layer.qzeros, "scales": layer.scales}
    with pytest.raises(ModelLoadError, match=r"AWQ zero points \(3, 8\) and scales \(2, 64\) do not fit 96 inputs"):
        awq.dequantize({**parts, "scales": parts["scales"][:2]}, GROUP, "w")
    with pytest.raises(ModelLoadError, match="do not fit 96 inputs in groups of 16"):
        awq.dequantize(parts, 16, "w")
    with pytest.raises(ModelLoadError, match="matrices of int32 words"):
        awq.dequantize({**parts, "qzeros": parts["qzeros"].to(torch.int64)}, GROUP, "w")
    with pytest.raises(ModelLoadError, match="proj.qweight has no qzeros beside it"):
        awq.decompress_checkpoint({"m.proj.qweight": parts["qweight"], "m.proj.scales": parts["scales"]}, {},
                                  "model.safetensors")  # fmt: skip
