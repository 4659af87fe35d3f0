"""Qwen3-VL-MoE's experts in both layouts a folder may hold (hf_adapters_moe.stacked_experts): the Hub's
[n, d_model, 2·d_mlp] and [n, d_mlp, d_model], which transformers' loader turns, and transformers' own
[n, 2·d_mlp, d_model] and [n, d_model, d_mlp], which a transformers 5 save writes. Both read as transformers reads
them: the same logits (1e-3, as the parity tests).
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from attention_core import load_model
from tests.tiny_models import save_tiny

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

TEXT = "the blue creature took a mole of the forest"


def test_the_hubs_turned_experts_read_as_transformers_reads_them(tmp_path, monkeypatch):
    folder = tmp_path / "qwen3_vl_moe"
    save_tiny("qwen3_vl_moe", folder)
    path = folder / "model.safetensors"
    saved = load_file(str(path))
    turned = {name: t.transpose(1, 2).contiguous() if ".mlp.experts." in name else t for name, t in saved.items()}
    assert turned["model.language_model.layers.1.mlp.experts.gate_up_proj"].shape == (4, 64, 96)  # the Hub's
    save_file(turned, str(path), metadata={"format": "pt"})
    hf = transformers.Qwen3VLMoeForConditionalGeneration.from_pretrained(str(folder)).eval()
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    trace = load_model(str(folder), device="cpu").trace(TEXT)
    with torch.inference_mode():
        logits = hf(torch.tensor([trace.token_ids])).logits[0]
    assert (trace.logits - logits).abs().max().item() <= 1e-3
