"""FP8 checkpoints (quantization_config quant_method "fp8": float8 weights with a float32 scale per block,
`weight_scale_inv`), decoded to float32 by attention_core/loading/fp8.py. The reference is transformers loading the
same folder with FineGrainedFP8Config(dequantize=True) (its CPU path: each weight decoded, then its own Qwen3).

The tiny checkpoint: tests/tiny_models.py's Qwen3, its attention and MLP maps rounded to float8 (e4m3) in blocks of
16 × 16, each block's scale its largest value over 448 (e4m3's largest), as a real FP8 checkpoint's; embeddings,
norms and the unembedding left as they are. Tolerances (max absolute difference, float32 CPU): decoded weights
exact; patterns 1e-4; logits and hidden states 1e-3.
"""

from __future__ import annotations

import pytest
import torch

from attention_core import ModelLoadError, load_model
from attention_core.loading import fp8
from attention_core.loading.safetensors_hf import safetensors_float32_bytes
from tests.engine.decoder_parity import (
    assert_decoded_weights_equal,
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
BLOCK = 16


def as_fp8(folder, block: int = BLOCK) -> None:
    """The folder's projection matrices stored as FP8 with a scale per block, and config.json saying so."""
    from safetensors.torch import load_file, save_file

    state = load_file(str(folder / "model.safetensors"))
    for key in [k for k in state if k.endswith("_proj.weight")]:
        w = state.pop(key)
        rows, cols = w.shape
        blocks = w.reshape(rows // block, block, cols // block, block)  # (row block, row, column block, column)
        scale = blocks.abs().amax(dim=(1, 3)) / 448.0  # (row blocks, column blocks)
        state[key] = (blocks / scale[:, None, :, None]).reshape(rows, cols).to(torch.float8_e4m3fn)
        state[key + "_scale_inv"] = scale
    save_file(state, str(folder / "model.safetensors"))
    declare_quantisation(folder, {"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic",
                                  "weight_block_size": [block, block]})  # fmt: skip


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """(the FP8 folder, transformers' model of it, ours)."""
    folder = tmp_path_factory.mktemp("qwen3-fp8")
    save_tiny("qwen3", folder)
    as_fp8(folder)
    config = transformers.FineGrainedFP8Config(dequantize=True)
    yield from quantised_checkpoint(folder, tmp_path_factory, transformers.AutoModelForCausalLM, config)


def test_the_decoded_weights_are_transformers_to_the_bit(checkpoint):
    _, reference, ours = checkpoint
    assert_decoded_weights_equal(reference, ours)


def test_an_fp8_checkpoint_matches_transformers_and_says_how_it_was_read(checkpoint):
    _, reference, ours = checkpoint
    trace = ours.trace(TEXT)
    tols = (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL)
    assert_matches_reference("fp8", ours, trace, reference_run(reference, trace), tols)
    assert fp8.NOTE in ours.config.conversion_notes


def test_its_float32_size_leaves_out_the_scales(checkpoint):
    """The memory check (attention_core/memory.py) sizes a checkpoint from its headers before reading it."""
    folder, _, ours = checkpoint
    assert safetensors_float32_bytes([folder / "model.safetensors"]) == 4 * ours.parameter_counts()["total"]


def test_a_partial_edge_block_stacked_experts_e8m0_and_one_scale():
    """DeepSeek-V3's kv_a_proj has 576 rows, 4.5 blocks of 128: the last block's scale covers the rows there are.
    Stacked experts [E, out, in] carry a grid each; E8M0 scales are bytes 2^(byte − 127); a scale of one number
    covers the whole matrix."""
    weight = torch.ones(2, 5, 4).to(torch.float8_e4m3fn)  # two experts, 5 rows in blocks of 2: the third is partial
    scale = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], [[7.0, 8.0], [9.0, 10.0], [11.0, 12.0]]])
    out = fp8.dequantize(weight, scale, (2, 2), "w")
    assert out.shape == (2, 5, 4) and out[0, 4].tolist() == [5.0, 5.0, 6.0, 6.0] and out[1, 1, 3].item() == 8.0
    e8m0 = fp8.dequantize(torch.ones(2, 2).to(torch.float8_e4m3fn), torch.tensor([[126]], dtype=torch.uint8), (2, 2),
                          "w")  # fmt: skip
    assert e8m0.tolist() == [[0.5, 0.5], [0.5, 0.5]]
    assert fp8.dequantize(torch.ones(3, 3).to(torch.float8_e4m3fn), torch.tensor(0.25), None, "w").sum().item() == 2.25


def test_scales_that_do_not_fit_or_stand_alone_are_refused():
    with pytest.raises(ModelLoadError, match=r"FP8 scales \(2, 2\) do not fit weights \(5, 4\)"):
        fp8.dequantize(torch.ones(5, 4).to(torch.float8_e4m3fn), torch.ones(2, 2), (2, 2), "w")
    with pytest.raises(ModelLoadError, match="q_proj.weight_scale_inv has no model.q_proj.weight beside it"):
        fp8.dequantize_checkpoint({"model.q_proj.weight_scale_inv": torch.ones(1, 1)}, (2, 2), "model.safetensors")
    with pytest.raises(ModelLoadError, match="weight_block_size"):
        fp8.block_size({"weight_block_size": [128]})
    with pytest.raises(ModelLoadError, match=r"FP8 scales \(8, 1\) outnumber the rows and columns"):
        fp8.dequantize(torch.ones(4, 4).to(torch.float8_e4m3fn), torch.ones(8, 1), None, "w")


def test_an_fp8_weight_without_its_scale_is_refused(tmp_path, monkeypatch):
    """A float8 tensor with no scale beside it is not its weights: refused by name, not read as numbers."""
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    from safetensors.torch import load_file, save_file

    save_tiny("qwen3", tmp_path / "qwen3")
    as_fp8(tmp_path / "qwen3")
    path = tmp_path / "qwen3" / "model.safetensors"
    state = load_file(str(path))
    del state["model.layers.0.mlp.up_proj.weight_scale_inv"]
    save_file(state, str(path))
    with pytest.raises(ModelLoadError, match="stores model.layers.0.mlp.up_proj.weight as float8_e4m3fn"):
        load_model(str(tmp_path / "qwen3"), device="cpu")
