"""Layers that share one block's weights (ALBERT): every layer's names answered, each tensor stored once."""

from __future__ import annotations

import torch

from attention_core.shared_layers import SharedLayerWeights


def test_a_layers_names_read_its_blocks_tensors_and_iterating_gives_the_stored_ones_once() -> None:
    stored = {"embed.W_E": torch.zeros(3, 2), "blocks.0.attn.W_Q": torch.ones(2, 2), "blocks.1.attn.W_Q": torch.eye(2)}
    w = SharedLayerWeights(stored, (0, 0, 1))
    assert w["blocks.1.attn.W_Q"] is stored["blocks.0.attn.W_Q"]
    assert w["blocks.2.attn.W_Q"] is stored["blocks.1.attn.W_Q"]
    assert w["embed.W_E"] is stored["embed.W_E"]
    assert "blocks.2.attn.W_Q" in w and "blocks.2.attn.b_Q" not in w and "blocks.3.attn.W_Q" not in w
    assert w.get("blocks.7.attn.W_Q") is None and 5 not in w  # past the last layer, or not a name: not there
    assert list(w) == list(stored) and len(w) == 3 and sum(t.numel() for t in w.values()) == 6 + 4 + 4
