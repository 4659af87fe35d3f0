"""Every quantisation `gguf` dequantises, read from a GGUF file by us and by `transformers` alike, and a clear
message for the ones it cannot.

Tolerances (max absolute difference, float32 CPU): patterns 1e-4; logits and hidden states 1e-3 (both readers
dequantise the same blocks, so the numbers must agree as closely as for float32 files). Q8_0, Q4_0, Q4_1, F16
Q5_0, Q5_1 and BF16 are quantised by gguf-py, Q4_K by tests/gguf_writer.py's quantiser (its round trip is checked
here); Q2_K, Q3_K, Q5_K, Q6_K, IQ4_NL and IQ4_XS (the types of Q2_K, Q3_K_M and IQ4_XS files) are random blocks (no
quantiser exists for them in gguf-py).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attention_core import ModelLoadError, load_model
from tests.engine.decoder_parity import assert_matches_reference, reference_run
from tests.gguf_writer import quantize_q4_k, write_gguf
from tests.tiny_models import byte_bpe

transformers = pytest.importorskip("transformers")
gguf = pytest.importorskip("gguf")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL = 1e-4, 1e-3, 1e-3
TEXT = "one mole of carbon dioxide"
V = 300
TYPES = ["F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL",
         "IQ4_XS"]  # fmt: skip
# no quantiser: random blocks, so no original weight they are near
RANDOM_BLOCKS = ("Q2_K", "Q3_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS")


@pytest.fixture(scope="module")
def original():
    """A llama whose every matrix row is a whole number of 256-value K-quant super-blocks."""
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        vocab_size=V, hidden_size=256, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=128, tie_word_embeddings=False,
    )  # fmt: skip
    hf = transformers.LlamaForCausalLM(cfg)
    with torch.no_grad():
        for p in hf.parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.15)  # 0.3 × √(64/256): activations as large as the 64-wide models' (float32 rounding)
    return hf.eval()


@pytest.fixture(scope="module", params=TYPES)
def quantised(request, original, tmp_path_factory):
    qtype = gguf.GGMLQuantizationType[request.param]
    folder = tmp_path_factory.mktemp(request.param)
    path = write_gguf(original, byte_bpe(V), folder / "tiny.gguf", "llama", qtype=qtype)
    stored = {t.name: t.tensor_type for t in gguf.GGUFReader(str(path)).tensors}
    assert stored["blk.0.attn_q.weight"] == stored["token_embd.weight"] == qtype  # the matrices really are quantised
    reference = transformers.AutoModelForCausalLM.from_pretrained(
        str(folder), gguf_file=path.name, dtype=torch.float32, attn_implementation="eager"
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ATTN_CACHE_DIR", str(folder / "cache"))
        ours = load_model(str(path), device="cpu")
    return request.param, reference.eval(), ours


def test_each_quantisation_matches_transformers(quantised):
    name, hf, ours = quantised
    trace = ours.trace(TEXT)
    out = reference_run(hf, trace)
    assert_matches_reference(name, ours, trace, out, (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL), peaked=False, final=False)


@pytest.mark.parametrize("quantised", [t for t in TYPES if t not in RANDOM_BLOCKS], indirect=True)
def test_quantised_weights_stay_near_the_original(quantised, original):
    """Real quantisers (not the random K-quant blocks) keep each weight near the float32 one it encodes."""
    name, _, ours = quantised
    ref = original.model.layers[1].mlp.down_proj.weight.detach().T  # canonical [in, out]
    err = (ours.weights["blocks.1.mlp.W_out"] - ref).abs().max().item()
    assert err <= {"F16": 1e-3, "BF16": 1e-2, "Q8_0": 0.02}.get(name, 0.15), f"{name}: {err}"


def test_q4_k_blocks_round_trip_through_gguf():
    x = np.random.default_rng(1).normal(0.0, 0.3, (8, 512)).astype(np.float32)
    blocks = quantize_q4_k(x)
    assert blocks.shape == (8, 2 * 144) and blocks.dtype == np.uint8
    back = gguf.quants.dequantize(blocks, gguf.GGMLQuantizationType.Q4_K)
    # 4-bit values over each 32-value sub-block's range: the error stays within about half a step.
    step = (x.reshape(-1, 32).max(1) - np.minimum(x.reshape(-1, 32).min(1), 0)) / 15
    assert np.abs(back - x).reshape(-1, 32).max(1).max() <= 0.75 * step.max()
    assert np.corrcoef(back.ravel(), x.ravel())[0, 1] > 0.99


def test_a_type_gguf_cannot_dequantise_is_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "q8_1.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_tensor("token_embd.weight", np.zeros((4, 40), np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q8_1)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    from attention_core.loading.gguf.reader import dequantize_all, read_gguf

    with pytest.raises(ModelLoadError, match=r"token_embd.weight is stored as Q8_1.*Q4_K"):
        dequantize_all(read_gguf(path))
