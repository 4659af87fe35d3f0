"""Quantised Hugging Face checkpoints the engine does not decode (HQQ, Quanto; MXFP4 on any model but
GPT-OSS, whose experts are decoded: test_mxfp4_checkpoints.py; config.json's quantization_config) are refused with a
message that says so, never read as if their stored numbers were the weights: an FP8 matrix read with `.float()` and
its scale ignored gave every score wrong, silently. FP8 checkpoints that declare themselves are decoded
(test_fp8_checkpoints.py), and so are GPTQ, AWQ, bitsandbytes and AQLM (test_gptq_awq_checkpoints.py,
test_bnb_checkpoints.py, test_aqlm_checkpoints.py); FP8 tensors in a checkpoint that does not declare them are refused
here."""

from __future__ import annotations

import pytest
import torch

from attention_core import ModelLoadError, load_model
from tests.engine.decoder_parity import declare_quantisation
from tests.tiny_models import save_tiny

pytestmark = pytest.mark.parity  # writes a tiny transformers model


@pytest.fixture
def tiny_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "tiny-qwen3"
    save_tiny("qwen3", folder)
    return folder


def _as_fp8(folder, with_config: bool) -> None:
    """Every q_proj matrix stored as FP8 with a per-tensor scale, as an FP8 checkpoint keeps it."""
    from safetensors.torch import load_file, save_file

    state = load_file(str(folder / "model.safetensors"))
    for key in [k for k in state if k.endswith("q_proj.weight")]:
        scale = state[key].abs().max() / 448.0
        state[key] = (state[key] / scale).to(torch.float8_e4m3fn)
        state[key.replace(".weight", ".weight_scale_inv")] = scale.reshape(1, 1)
    save_file(state, str(folder / "model.safetensors"))
    if with_config:
        declare_quantisation(folder, {"quant_method": "fp8", "activation_scheme": "dynamic"})


@pytest.mark.parametrize("method", ["hqq", "quanto"])
def test_a_checkpoint_that_declares_a_quantisation_it_cannot_decode_is_refused_by_name(tiny_folder, method):
    declare_quantisation(tiny_folder, {"quant_method": method, "bits": 4})
    with pytest.raises(ModelLoadError, match=rf"quantised \(quant_method '{method}'\).*unquantised"):
        load_model(str(tiny_folder), device="cpu")


def test_a_declared_fp8_checkpoint_with_one_scale_a_matrix_loads_near_its_unrounded_weights(tiny_folder):
    from safetensors.torch import load_file

    before = load_file(str(tiny_folder / "model.safetensors"))["model.layers.0.self_attn.q_proj.weight"]
    _as_fp8(tiny_folder, with_config=True)
    W_Q = load_model(str(tiny_folder), device="cpu").weights["blocks.0.attn.W_Q"]  # [d_model, n_heads·d_head]
    # e4m3 keeps 3 bits of mantissa: each weight within 1/16 of itself, or of the scale's smallest step near 0
    assert W_Q.dtype == torch.float32 and ((W_Q - before.T).abs() <= before.T.abs() / 16 + 1e-3).all()


def test_fp8_weights_without_a_declaration_are_refused_too(tiny_folder):
    _as_fp8(tiny_folder, with_config=False)
    with pytest.raises(ModelLoadError, match=r"model\.layers\.0\.self_attn\.q_proj\.weight as float8_e4m3fn"):
        load_model(str(tiny_folder), device="cpu")


def test_a_plain_checkpoint_still_loads(tiny_folder):
    assert load_model(str(tiny_folder), device="cpu").config.arch == "qwen3"
