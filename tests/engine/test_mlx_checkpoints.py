"""MLX checkpoints (mlx-lm's `convert -q`: config.json's `quantization` table; uint32 codes with scales and biases per
group of inputs), decoded to float32 by attention_core/loading/mlx_quantised.py.

The references are MLX's own: mlx.core.quantize writes the codes and mlx.core.dequantize decodes them (every mode,
width and group size MLX packs; scales in float32, bfloat16 and float16), and mlx-lm's `convert` writes the whole
checkpoints, as the Hub's mlx-community models are made (its own weight names: a Mixture of Experts' experts stacked
in `switch_mlp`; its mixed recipes: a table entry per module). MLX cannot run these models in transformers, so the
model-level reference is transformers' float model carrying what mlx.core.dequantize decodes, with the checkpoint's
other tensors (norms in bfloat16 where the conversion cast them) as mlx-lm saved them. Both libraries install from
requirements-dev (mlx[cpu]) and requirements-dev-nodeps.txt (mlx-lm, whose dependencies are its chat server's).

Tolerances (max absolute difference, float32 CPU): decoded weights exact against MLX; patterns 1e-4; logits and
hidden states 1e-3.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from attention_core import ModelLoadError, load_model
from attention_core.loading import mlx_quantised
from attention_core.loading.safetensors_hf import safetensors_float32_bytes
from tests.engine.decoder_parity import assert_matches_reference, beside_ours, reference_run
from tests.tiny_models import save_tiny

transformers = pytest.importorskip("transformers")
mx = pytest.importorskip("mlx.core")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL = 1e-4, 1e-3, 1e-3
TEXT = "the blue creature took a mole of the forest"
MIXTRAL_EXPERTS = {"w1": "gate_proj", "w2": "down_proj", "w3": "up_proj"}  # mlx-lm's mixtral renames them so


def _torch(array) -> torch.Tensor:
    """An mx.array as a torch tensor of the same dtype (numpy has no bfloat16: through float32, exactly)."""
    if array.dtype == mx.bfloat16:
        return torch.from_numpy(np.array(array.astype(mx.float32))).bfloat16()
    return torch.from_numpy(np.array(array))


def _mlx_decoded(quant: dict, path: str, parts: dict) -> torch.Tensor:
    """What mlx.core.dequantize makes of one stored module (affine: in the scales' dtype, as MLX returns it)."""
    own = quant.get(path, quant)
    mode = own.get("mode", "affine")
    kwargs = {"group_size": own["group_size"], "bits": own["bits"], "mode": mode}
    if "global_scale" in parts:
        kwargs["global_scale"] = parts["global_scale"]
    decoded = mx.dequantize(parts["weight"], parts["scales"], parts.get("biases"), **kwargs,
                            dtype=None if mode == "affine" else mx.float32)  # fmt: skip
    return _torch(decoded.astype(mx.float32))


def _reference_state(mlx_folder, float_state: dict) -> dict[str, torch.Tensor]:
    """The float checkpoint's keys, each holding what MLX decodes of the MLX checkpoint (or its float tensor)."""
    stored = mx.load(str(mlx_folder / "model.safetensors"))
    quant = json.loads((mlx_folder / "config.json").read_text())["quantization"]
    decoded = {}
    for key in [k for k in stored if k.endswith(".scales")]:
        path = key.removesuffix(".scales")
        parts = {part: stored.pop(f"{path}.{part}") for part in mlx_quantised.PARTS if f"{path}.{part}" in stored}
        decoded[path + ".weight"] = _mlx_decoded(quant, path, {**parts, "weight": stored.pop(path + ".weight")})
    decoded.update({key: _torch(t).float() for key, t in stored.items()})
    state = {}
    for key in float_state:
        if ".experts." in key and key not in decoded:  # mlx-lm stacked the experts: expert e is row e of switch_mlp
            before, after = key.split(".experts.", 1)
            expert, proj, rest = after.split(".", 2)
            state[key] = decoded[f"{before}.switch_mlp.{MIXTRAL_EXPERTS.get(proj, proj)}.{rest}"][int(expert)]
        else:
            state[key] = decoded[key]
    return state


CHECKPOINTS = {  # name: (tiny kind, mlx_lm.convert's options)
    "qwen3-affine-4bit-bf16": ("qwen3", {"q_bits": 4, "q_group_size": 32, "dtype": "bfloat16"}),
    "qwen3-mixed-3-6": ("qwen3", {"q_group_size": 32, "quant_predicate": "mixed_3_6"}),
    "qwen2_moe-mxfp4": ("qwen2_moe", {"q_mode": "mxfp4"}),
    "mixtral-affine-8bit": ("mixtral", {"q_bits": 8, "q_group_size": 32}),
    "phi3-nvfp4": ("phi3", {"q_mode": "nvfp4"}),
}


@pytest.fixture(scope="module", params=list(CHECKPOINTS))
def mlx_checkpoint(request, tmp_path_factory):
    """(folder as mlx-lm wrote it, transformers' float model carrying MLX's decoded weights, ours)."""
    from mlx_lm import convert
    from safetensors.torch import load_file, save_file

    kind, options = CHECKPOINTS[request.param]
    float_folder = tmp_path_factory.mktemp(f"{request.param}-float")
    save_tiny(kind, float_folder)
    folder = tmp_path_factory.mktemp(request.param) / "mlx"
    convert(str(float_folder), mlx_path=str(folder), quantize=True, **options)
    state = _reference_state(folder, load_file(str(float_folder / "model.safetensors")))
    save_file({key: t.contiguous() for key, t in state.items()}, str(float_folder / "model.safetensors"))
    reference = transformers.AutoModelForCausalLM.from_pretrained(str(float_folder), dtype=torch.float32,
                                                                  attn_implementation="eager").eval()  # fmt: skip
    yield from beside_ours(folder, reference, tmp_path_factory)


def test_an_mlx_checkpoint_matches_its_decoded_weights_in_transformers(mlx_checkpoint):
    folder, reference, ours = mlx_checkpoint
    quant = json.loads((folder / "config.json").read_text())["quantization"]
    assert mlx_quantised.settings(quant)  # the table as mlx-lm wrote it is read
    embed = reference.model.embed_tokens.weight
    assert torch.equal(ours.weights["embed.W_E"], embed) and embed.abs().max() > 0.1  # a quantised embedding too
    first = reference.model.layers[0].self_attn
    q_proj = first.q_proj.weight if hasattr(first, "q_proj") else first.qkv_proj.weight[: first.o_proj.in_features]
    assert torch.equal(ours.weights["blocks.0.attn.W_Q"], q_proj.T)
    trace = ours.trace(TEXT)
    assert_matches_reference(folder.parent.name, ours, trace, reference_run(reference, trace),
                             (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL))  # fmt: skip
    assert mlx_quantised.NOTE in ours.config.conversion_notes
    # the memory check (attention_core/memory.py) sizes the checkpoint from its headers before reading it
    assert safetensors_float32_bytes([folder / "model.safetensors"]) >= 4 * ours.parameter_counts()["total"]


def _quantised(mode: str, bits: int, group: int, dtype, experts: int = 0):
    """(what mlx.core.quantize stores of a random matrix [experts?, 16, 256], what mlx.core.dequantize decodes)."""
    shape = (experts, 16, 256) if experts else (16, 256)
    weight = mx.array(np.random.default_rng(bits + group).standard_normal(shape).astype(np.float32)).astype(dtype)
    stored = mx.quantize(weight, group_size=group, bits=bits, mode=mode)
    parts = {"weight": _torch(stored[0]), "scales": _torch(stored[1])}
    if mode == "affine":
        parts["biases"] = _torch(stored[2])
    reference = mx.dequantize(*stored, group_size=group, bits=bits, mode=mode,
                              dtype=None if mode == "affine" else mx.float32)  # fmt: skip
    return parts, _torch(reference.astype(mx.float32))


MODES = [(mode, bits, group) for mode, (widths, groups) in mlx_quantised.MODES.items() for bits in widths
         for group in groups]  # fmt: skip


@pytest.mark.parametrize(("mode", "bits", "group"), MODES)
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_every_mode_width_and_group_decodes_as_mlx_decodes_it(mode, bits, group, dtype):
    """3, 5 and 6 bits spill across words; affine computes in the scales' dtype, rounding after each step."""
    parts, expected = _quantised(mode, bits, group, getattr(mx, dtype))
    ours = mlx_quantised.dequantize(parts, mode, bits, group, "w")
    assert expected.abs().max() > 0.5 and torch.equal(ours, expected)


def test_stacked_experts_decode_in_row_chunks_and_nvfp4_takes_each_experts_global_scale(monkeypatch):
    """A switch_mlp matrix [experts, out, in], decoded a few rows at a time (as a large embedding is), and NVFP4
    experts each with its own global scale (mlx-lm's --q-mode nvfp4 on stacked experts)."""
    parts, expected = _quantised("affine", 3, 64, mx.bfloat16, experts=3)
    monkeypatch.setattr(mlx_quantised, "_CHUNK", 256 * 5)  # 5 rows a chunk: chunks that straddle two experts
    assert torch.equal(mlx_quantised.dequantize(parts, "affine", 3, 64, "w"), expected)
    weights = mx.array(np.random.default_rng(1).standard_normal((3, 16, 256)).astype(np.float32)) * mx.array(
        [[[1.0]], [[4.0]], [[0.25]]])  # fmt: skip
    global_scales = mx.max(mx.abs(weights), axis=(-2, -1))
    stored = [mx.quantize(w, 16, 4, mode="nvfp4", global_scale=g) for w, g in zip(weights, global_scales, strict=True)]
    expected = torch.stack([
        _torch(mx.dequantize(q, s, group_size=16, bits=4, mode="nvfp4", global_scale=g, dtype=mx.float32))
        for (q, s), g in zip(stored, global_scales, strict=True)
    ])  # fmt: skip
    parts = {"weight": torch.stack([_torch(q) for q, _ in stored]),
             "scales": torch.stack([_torch(s) for _, s in stored]), "global_scale": _torch(global_scales)}  # fmt: skip
    assert torch.equal(mlx_quantised.dequantize(parts, "nvfp4", 4, 16, "w"), expected)


def _declared(folder, quantization: dict) -> None:
    """The folder's config.json naming `quantization` as mlx-lm writes it (and its copy in quantization_config)."""
    config = json.loads((folder / "config.json").read_text())
    config["quantization"] = config["quantization_config"] = quantization
    (folder / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize(("quantization", "message"), [
    ({"group_size": 64, "bits": 4, "mode": "turbo"}, "MLX quantisation mode 'turbo'"),
    ({"group_size": 64, "bits": 7}, "MLX affine weights of 7 bits in groups of 64"),
    ({"group_size": 32, "bits": 4, "mode": "nvfp4"}, "groups of 32"),
    ({"group_size": 64, "bits": 4, "model.layers.0.mlp.down_proj": {"group_size": 48, "bits": 4}},
     r"model.layers.0.mlp.down_proj"),
])  # fmt: skip
def test_settings_mlx_does_not_pack_are_refused_before_the_weights_are_read(quantization, message, tmp_path):
    save_tiny("qwen3", tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not read")
    _declared(tmp_path, quantization)
    with pytest.raises(ModelLoadError, match=message):
        load_model(str(tmp_path), device="cpu")


def _parts() -> dict[str, torch.Tensor]:
    return _quantised("affine", 4, 64, mx.float32)[0]


@pytest.mark.parametrize(("mangle", "message"), [
    (lambda p: p.pop("biases"), "need float scales and biases"),
    (lambda p: p.update(scales=p["scales"][:, :1]), r"scales \(16, 1\) do not fit 256 inputs"),
    (lambda p: p.update(weight=p["weight"].float()), "MLX weights are uint32 words"),
    (lambda p: p.update(scales=p["scales"].to(torch.uint8)), "need float scales"),
])  # fmt: skip
def test_mangled_mlx_parts_are_refused_by_name(mangle, message):
    parts = _parts()
    mangle(parts)
    with pytest.raises(ModelLoadError, match=f"layer.q_proj: .*{message}"):
        mlx_quantised.dequantize(parts, "affine", 4, 64, "layer.q_proj")
    fp4 = _quantised("mxfp4", 4, 32, mx.float32)[0]
    with pytest.raises(ModelLoadError, match="mxfp4 scales are bytes"):
        mlx_quantised.dequantize({**fp4, "scales": fp4["scales"].float()}, "mxfp4", 4, 32, "w")


def test_scales_without_codes_and_a_module_the_table_leaves_in_float_are_refused():
    parts = _parts()
    state = {"m.scales": parts["scales"], "m.biases": parts["biases"]}
    with pytest.raises(ModelLoadError, match="m.scales has no m.weight beside it"):
        mlx_quantised.decompress_checkpoint(state, {"group_size": 64, "bits": 4}, "model.safetensors")
    state = {"m.weight": parts["weight"], "m.scales": parts["scales"], "m.biases": parts["biases"]}
    with pytest.raises(ModelLoadError, match="m is stored quantised, but config.json's quantization says"):
        mlx_quantised.decompress_checkpoint(state, {"group_size": 64, "bits": 4, "m": False}, "model.safetensors")


def test_uint32_words_in_a_checkpoint_that_declares_no_quantisation_are_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    save_tiny("qwen3", tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    state["model.layers.0.mlp.up_proj.weight"] = _parts()["weight"]
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(ModelLoadError, match="stores model.layers.0.mlp.up_proj.weight as uint32"):
        load_model(str(tmp_path), device="cpu")


def test_an_mlx_folder_is_told_from_a_quant_method_and_from_a_float_one():
    table = {"group_size": 64, "bits": 4}
    assert mlx_quantised.is_mlx({"quantization": table, "quantization_config": table})
    assert not mlx_quantised.is_mlx({"quantization_config": {**table, "quant_method": "awq"}})
    assert not mlx_quantised.is_mlx({"quantization": table, "quantization_config": {"quant_method": "gptq"}})
    assert not mlx_quantised.is_mlx({"model_type": "qwen3"})


def test_the_memory_check_never_undercounts_a_mixed_recipes_narrowest_width(tmp_path):
    """A module at 2 bits in a table whose default is 4: its words hold 16 weights each, and the size read from the
    headers before loading counts them so (counted at the default, they were half their float32 size)."""
    from safetensors.torch import save_file

    words = torch.zeros(64, 4, dtype=torch.int32).view(torch.uint32)  # 64 rows of 4 words: 64 × 64 2-bit codes
    save_file({"m.weight": words, "m.scales": torch.ones(64, 2), "m.biases": torch.ones(64, 2)},
              str(tmp_path / "model.safetensors"))  # fmt: skip
    table = {"group_size": 32, "bits": 4, "m": {"group_size": 32, "bits": 2}}
    (tmp_path / "config.json").write_text(json.dumps({"quantization": table, "quantization_config": table}))
    assert safetensors_float32_bytes([tmp_path / "model.safetensors"]) >= 4 * 64 * 64
