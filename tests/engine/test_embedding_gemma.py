"""EmbeddingGemma (google/embeddinggemma-300m): a Gemma 3 text model with use_bidirectional_attention, saved as
transformers' Gemma3TextModel (no language-model head). Every query sees keys on both sides: all of them on the full
layers, those with |query − key| < sliding_window // 2 + 1 on the sliding ones (transformers halves the window the
config names). The reference is transformers' own model on the same weights.

Tolerances (max absolute difference, float32 CPU): patterns 1e-4; hidden states 1e-3.
"""

from __future__ import annotations

import pytest
import torch

from attention_core import blocks, load_model
from tests.tiny_models import save_tiny

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, HIDDEN_TOL = 1e-4, 1e-3
TEXT = "the blue creature took a mole of the forest"
WINDOW = 8  # as config.json names it (tests/tiny_models_recent.py): keys with |query − key| < 8 // 2 + 1 = 5


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(transformers' model, ours) of a tiny EmbeddingGemma (tests/tiny_models_recent.py): two sliding layers,
    then a full one."""
    folder = tmp_path_factory.mktemp("embeddinggemma")
    hf = save_tiny("embedding_gemma", folder)
    mp = pytest.MonkeyPatch()
    mp.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield hf, load_model(str(folder), device="cpu")
    mp.undo()


def test_patterns_and_hidden_states_match_transformers(pair):
    hf, ours = pair
    trace = ours.trace(TEXT)
    with torch.inference_mode():
        out = hf(torch.tensor([trace.token_ids]), output_attentions=True, output_hidden_states=True)
    for layer in range(3):
        ref = out.attentions[layer][0]
        assert (trace.layer_patterns(layer) - ref).abs().max().item() <= PATTERN_TOL, layer
        assert (trace.resid(layer) - out.hidden_states[layer][0]).abs().max().item() <= HIDDEN_TOL, layer
        assert ref.triu(1).max() > 0.01, layer  # later keys take weight: the mask is not causal
    final = blocks.normalize(trace.resid(3), ours.weights, "ln_final", ours.config)
    assert (final - out.hidden_states[3][0]).abs().max().item() <= HIDDEN_TOL


def test_it_is_read_as_a_bidirectional_encoder_with_halved_windows(pair):
    _, ours = pair
    cfg = ours.config
    assert cfg.arch == "gemma3_embedding" and not cfg.causal and not cfg.has_lm_head
    assert cfg.sliding_window == WINDOW // 2 + 1 and cfg.sliding_layers == (True, True, False)
    pattern = ours.trace(TEXT).layer_patterns(0)[0]  # a sliding layer's first head
    far = torch.ones_like(pattern, dtype=torch.bool).triu(cfg.sliding_window) | torch.ones_like(
        pattern, dtype=torch.bool).tril(-cfg.sliding_window)  # fmt: skip
    assert pattern.shape[-1] > cfg.sliding_window and pattern[far].abs().max() == 0  # the window cuts keys off
