"""GPT-OSS checkpoints as OpenAI ships them: the experts in MXFP4 (`*_blocks`, `*_scales`; config.json's
quantization_config says mxfp4), decoded to float32 by attention_core/loading/mxfp4.py. The reference is transformers
loading the same folder with Mxfp4Config(dequantize=True) (its CPU path: the experts decoded, then its own GptOss).

The tiny checkpoint: tests/tiny_models_recent.py's GPT-OSS (sinks, a sliding layer, YaRN, the clamp biting), its
experts replaced by random MXFP4 bytes (every code, both nibbles) with scales 2^-7 to 2^0 (so values from 2^-8 to 6),
as a real checkpoint's blocks. Tolerances (max absolute difference, float32 CPU): decoded weights exact; patterns
1e-4; logits and hidden states 1e-3.
"""

from __future__ import annotations

import pytest
import torch

from attention_core import ModelLoadError, load_model
from attention_core.loading import mxfp4
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
EXPERTS = ("gate_up_proj", "down_proj")
KEEP_UNQUANTISED = ["model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"]


def as_mxfp4(folder, seed: int = 1) -> None:
    """The folder's experts stored as MXFP4 blocks and scales, and config.json saying so, as OpenAI's files do."""
    from safetensors.torch import load_file, save_file

    state, g = load_file(str(folder / "model.safetensors")), torch.Generator().manual_seed(seed)
    for key in [k for k in state if k.endswith(EXPERTS)]:
        n_experts, d_in, d_out = state.pop(key).shape  # [E, in, out]
        groups = (n_experts, d_out, d_in // 32)
        state[key + "_blocks"] = torch.randint(0, 256, (*groups, 16), generator=g, dtype=torch.uint8)
        state[key + "_scales"] = torch.randint(120, 128, groups, generator=g, dtype=torch.uint8)
    save_file(state, str(folder / "model.safetensors"))
    declare_quantisation(folder, {"quant_method": "mxfp4", "modules_to_not_convert": KEEP_UNQUANTISED})


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """(the MXFP4 folder, transformers' model of it, ours)."""
    folder = tmp_path_factory.mktemp("gpt-oss-mxfp4")
    save_tiny("gpt_oss", folder)
    as_mxfp4(folder)
    config = transformers.Mxfp4Config(dequantize=True)
    yield from quantised_checkpoint(folder, tmp_path_factory, transformers.GptOssForCausalLM, config)


def test_the_decoded_experts_are_transformers_to_the_bit(checkpoint):
    _, reference, ours = checkpoint
    for layer, block in enumerate(reference.model.layers):
        gate_up, down = block.mlp.experts.gate_up_proj, block.mlp.experts.down_proj  # [E, in, out], gate/up interleaved
        assert gate_up.abs().max() > 1.0  # decoded, not left at an initialiser's size
        for e in range(gate_up.shape[0]):
            p = f"blocks.{layer}.mlp.experts.{e}."
            assert torch.equal(ours.weights[p + "W_gate"], gate_up[e, :, ::2])
            assert torch.equal(ours.weights[p + "W_in"], gate_up[e, :, 1::2])
            assert torch.equal(ours.weights[p + "W_out"], down[e])


def test_an_mxfp4_checkpoint_matches_transformers(checkpoint):
    _, reference, ours = checkpoint
    trace = ours.trace(TEXT)
    tols = (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL)
    assert_matches_reference("mxfp4", ours, trace, reference_run(reference, trace), tols)


def test_its_float32_size_counts_two_values_a_byte(checkpoint):
    """The memory check (attention_core/memory.py) sizes a checkpoint from its headers before reading it."""
    folder, _, ours = checkpoint
    assert safetensors_float32_bytes([folder / "model.safetensors"]) == 4 * ours.parameter_counts()["total"]


def test_decoding_follows_the_format():
    """Low nibble first; the codes' e2m1 values; the scale a power of two biased by 127."""
    blocks = torch.zeros(1, 1, 16, dtype=torch.uint8)
    blocks[0, 0, 0], blocks[0, 0, 15] = 0x9F, 0x07  # values 0, 1: -6.0 then -0.5; values 30, 31: 6.0 then 0.0
    out = mxfp4.dequantize(blocks, torch.tensor([[129]], dtype=torch.uint8))  # × 2^2
    assert out.shape == (1, 32) and out[0, :2].tolist() == [-24.0, -2.0] and out[0, 30:].tolist() == [24.0, 0.0]


def test_half_a_pair_is_refused(tmp_path):
    state = {"experts.down_proj_blocks": torch.zeros(2, 4, 1, 16, dtype=torch.uint8)}
    with pytest.raises(ModelLoadError, match="down_proj_blocks has no experts.down_proj_scales"):
        mxfp4.dequantize_experts(state, "model.safetensors")
    with pytest.raises(ModelLoadError, match="do not fit scales"):
        mxfp4.dequantize(torch.zeros(2, 4, 1, 16, dtype=torch.uint8), torch.zeros(2, 4, 2, dtype=torch.uint8))


def test_mxfp4_is_refused_on_a_model_that_does_not_store_it(tmp_path, monkeypatch):
    """Only GPT-OSS's experts are MXFP4 in the layout mxfp4.py reads; any other model saying so is refused."""
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    save_tiny("qwen3", tmp_path / "qwen3")
    declare_quantisation(tmp_path / "qwen3", {"quant_method": "mxfp4"})
    with pytest.raises(ModelLoadError, match=r"quantised \(quant_method 'mxfp4'\)"):
        load_model(str(tmp_path / "qwen3"), device="cpu")
