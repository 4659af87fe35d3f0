"""AQLM checkpoints (quantization_config quant_method "aqlm": each group of weights the sum of one vector per
codebook, times its output group's scale), decoded to float32 by attention_core/loading/aqlm.py.

The reference is AQLM itself (aqlm 1.1.7, installed without its dependencies: requirements-dev-nodeps.txt): its
QuantizedLinear, put in place of every projection by transformers' own AQLM integration (`replace_with_aqlm_linear`,
so the checkpoint's tensor names and dtypes are those the library writes: int16 codes for 16-bit codebooks, int8 for
8-bit, stored signed), and its decoding (`aqlm.utils._dequantize_weight` of `unpack_int_data`). Its matrix products
need CUDA or numba, so the model-level reference is transformers' float model with each projection's weight set to
what AQLM decodes. The codes, codebooks and scales are drawn at random: any weights are a codebook's. Tolerances (max
absolute difference, float32 CPU): decoded weights exact against the library; patterns 1e-4; logits and hidden states
1e-3.
"""

from __future__ import annotations

import pytest
import torch

from attention_core.loading import aqlm
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
ONE_BY_16 = {"in_group_size": 8, "out_group_size": 1, "num_codebooks": 1, "nbits_per_codebook": 16}  # 2 bits a weight
TWO_BY_8 = {"in_group_size": 8, "out_group_size": 1, "num_codebooks": 2, "nbits_per_codebook": 8}


def library():
    """aqlm.utils: its decoding and its packing of codes (importing aqlm imports its kernels' selectors alone)."""
    try:
        import aqlm.utils as aqlm_utils
    except ImportError:
        pytest.fail("aqlm is not installed: make test installs it from requirements-dev-nodeps.txt")
    return aqlm_utils


def fill(layer, generator: torch.Generator) -> None:
    """Random codes (all 2^b of them possible, so 16-bit ones stored negative), codebooks and scales, in float16."""
    books, size, out_group, in_group = layer.codebooks.shape
    codes = torch.randint(0, size, tuple(layer.codes.shape), generator=generator)
    layer.codes.data = library().pack_int_data(codes, layer.nbits_per_codebook)
    layer.codebooks.data = (torch.randn(books, size, out_group, in_group, generator=generator) * 0.3).half()
    layer.scales.data = (torch.rand(tuple(layer.scales.shape), generator=generator) + 0.5).half()


def decoded(layer) -> torch.Tensor:
    """What AQLM decodes the layer's weight [out, in] to, widened to float32."""
    lib = library()
    return lib._dequantize_weight(lib.unpack_int_data(layer.codes, layer.nbits_per_codebook), layer.codebooks,
                                  layer.scales).float()  # fmt: skip


def quantise(model, settings: dict, seed: int = 0) -> dict[str, torch.Tensor]:
    """`model` with its projections replaced by transformers' AQLM integration and filled at random; returns each
    projection's decoded weight by checkpoint key."""
    from transformers.integrations.aqlm import replace_with_aqlm_linear

    config = transformers.AqlmConfig(**settings, linear_weights_not_to_quantize=["lm_head.weight"])
    replace_with_aqlm_linear(model, modules_to_not_convert=["lm_head"], quantization_config=config)
    generator, out = torch.Generator().manual_seed(seed), {}
    for name, module in model.named_modules():
        if type(module).__name__ == "QuantizedLinear":
            module.to_empty(device="cpu")
            fill(module, generator)
            out[f"{name}.weight"] = decoded(module)
    return out


def _checkpoint(tmp_path_factory, settings: dict):
    """(folder, transformers' float model with AQLM's decoded weights, ours, those weights by key)."""
    import shutil

    from safetensors.torch import load_file, save_file

    folder = tmp_path_factory.mktemp("qwen3-aqlm")
    model = save_tiny("qwen3", folder)
    float_folder = tmp_path_factory.mktemp("qwen3-aqlm-decoded")
    shutil.copytree(folder, float_folder, dirs_exist_ok=True)
    weights = quantise(model, settings)
    state = {key: t.contiguous() for key, t in model.state_dict().items()}
    assert any(key.endswith(".codes") for key in state) and "lm_head.weight" in state
    save_file(state, str(folder / "model.safetensors"))
    declare_quantisation(folder, {"quant_method": "aqlm", **settings,
                                  "linear_weights_not_to_quantize": ["lm_head.weight"]})  # fmt: skip
    float_state = load_file(str(float_folder / "model.safetensors"))
    save_file({**float_state, **weights}, str(float_folder / "model.safetensors"))
    reference = transformers.AutoModelForCausalLM.from_pretrained(str(float_folder), dtype=torch.float32,
                                                                  attn_implementation="eager").eval()  # fmt: skip
    for found in beside_ours(folder, reference, tmp_path_factory):
        yield *found, weights


@pytest.fixture(scope="module", params=["1x16", "2x8"])
def checkpoint(request, tmp_path_factory):
    yield from _checkpoint(tmp_path_factory, ONE_BY_16 if request.param == "1x16" else TWO_BY_8)


def test_an_aqlm_checkpoint_matches_its_decoded_weights_in_transformers(checkpoint):
    folder, reference, ours, weights = checkpoint
    assert torch.equal(ours.weights["blocks.1.attn.W_Q"], weights["model.layers.1.self_attn.q_proj.weight"].T)
    assert torch.equal(ours.weights["blocks.0.mlp.W_out"], weights["model.layers.0.mlp.down_proj.weight"].T)
    trace = ours.trace(TEXT)
    assert_matches_reference("aqlm", ours, trace, reference_run(reference, trace), (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL))
    assert aqlm.NOTE in ours.config.conversion_notes
    # the memory check (attention_core/memory.py) sizes the checkpoint from its headers before reading it
    assert safetensors_float32_bytes([folder / "model.safetensors"]) >= 4 * ours.parameter_counts()["total"]


@pytest.mark.parametrize("settings", [ONE_BY_16, TWO_BY_8, {**ONE_BY_16, "out_group_size": 2, "in_group_size": 4},
                                      {**TWO_BY_8, "num_codebooks": 3, "nbits_per_codebook": 4}])  # fmt: skip
def test_weights_decode_as_aqlm_decodes_them(settings):
    """1x16 and 2x8 (the Hub's layouts), groups of 2 × 4 weights, three 4-bit codebooks: to the bit."""
    from aqlm import QuantizedLinear

    layer = QuantizedLinear(32, 16, bias=False, **settings)
    fill(layer, torch.Generator().manual_seed(settings["num_codebooks"]))
    expected = decoded(layer)
    parts = {"codes": layer.codes.data, "codebooks": layer.codebooks.data, "scales": layer.scales.data}
    ours = aqlm.decompress_checkpoint({f"w.{k}": v for k, v in parts.items()}, settings, "f")["w.weight"]
    assert expected.shape == (16, 32) and expected.abs().max() > 0.1 and torch.equal(ours, expected)


@pytest.mark.parametrize(("settings", "message"), [
    ({**ONE_BY_16, "nbits_per_codebook": 20}, "codebooks of 20 bits"),
    ({**ONE_BY_16, "in_group_size": 0}, "in_group_size 0"),
    ({key: v for key, v in ONE_BY_16.items() if key != "num_codebooks"}, "num_codebooks None"),
])  # fmt: skip
def test_settings_the_engine_cannot_decode_are_refused_before_the_weights_are_read(
    settings, message, tmp_path, monkeypatch
):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    assert_refused_before_reading(tmp_path / "qwen3", {"quant_method": "aqlm", **settings}, message)


def test_mangled_parts_are_refused_by_name():
    from aqlm import QuantizedLinear

    from attention_core import ModelLoadError

    layer = QuantizedLinear(32, 16, bias=False, **ONE_BY_16)
    fill(layer, torch.Generator().manual_seed(0))
    parts = {"w.codes": layer.codes.data, "w.codebooks": layer.codebooks.data, "w.scales": layer.scales.data}
    with pytest.raises(ModelLoadError, match="w.codes has no scales beside it"):
        aqlm.decompress_checkpoint({k: v for k, v in parts.items() if k != "w.scales"}, ONE_BY_16, "f")
    with pytest.raises(ModelLoadError, match=r"w: AQLM parts do not fit 2 codebook\(s\)"):
        aqlm.decompress_checkpoint(dict(parts), TWO_BY_8, "f")
    with pytest.raises(ModelLoadError, match="w: AQLM parts do not fit"):
        aqlm.decompress_checkpoint({**parts, "w.codes": layer.codes.data.float()}, ONE_BY_16, "f")


def test_int16_codes_in_a_checkpoint_that_declares_no_quantisation_are_refused(tmp_path, monkeypatch):
    """AQLM's 16-bit codes stored without config.json saying so: refused by name, like float8 and int8 tensors."""
    from safetensors.torch import load_file, save_file

    from attention_core import ModelLoadError, load_model

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    save_tiny("qwen3", tmp_path / "qwen3")
    path = tmp_path / "qwen3" / "model.safetensors"
    state = load_file(str(path))
    key = "model.layers.0.self_attn.q_proj.weight"
    state[key.replace(".weight", ".codes")] = torch.zeros(state.pop(key).shape[0], 8, 1, dtype=torch.int16)
    save_file(state, str(path))
    with pytest.raises(ModelLoadError, match=r"q_proj\.codes as int16: quantised weights"):
        load_model(str(tmp_path / "qwen3"), device="cpu")
