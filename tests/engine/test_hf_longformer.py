"""Longformer against `transformers` on a tiny random checkpoint: RoBERTa's layers, each query reading the keys within
attention_window / 2 of it either way (LongformerModel given no global_attention_mask). transformers returns each
layer's pattern as a band (query × the window's w + 1 offsets, −w/2 … +w/2); here it is the full query × key matrix,
zero outside the band. Tolerances (max absolute difference, float32 CPU): patterns 1e-4, hidden states 1e-3.
"""

from __future__ import annotations

import pytest
import torch

from attention_core import ModelLoadError, load_model
from attention_core.loading.hf_adapters import longformer_config
from tests.tiny_models import _peaked_and_saved, wordpiece

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, HIDDEN_TOL = 1e-4, 1e-3
TEXT = "the quick brown fox jumps over the lazy dog and a fluffy blue creature roamed the verdant forest"
WINDOW = 8  # attention_window: 4 keys either side of each query, itself included


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache-longformer")))
    folder = tmp_path_factory.mktemp("tiny-longformer")
    torch.manual_seed(2)
    cfg = transformers.LongformerConfig(
        vocab_size=300, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=96,
        max_position_embeddings=130, attention_window=WINDOW, pad_token_id=1,
    )  # fmt: skip
    hf = _peaked_and_saved(transformers.LongformerModel(cfg, add_pooling_layer=False), folder, wordpiece(300), True)
    yield hf, load_model(str(folder), device="cpu")
    mp.undo()


def test_patterns_are_transformers_bands_and_the_hidden_states_match(pair):
    hf, ours = pair
    trace = ours.trace(TEXT)
    n, half = trace.n_tokens, WINDOW // 2
    assert n > 2 * WINDOW  # most keys lie outside each query's window
    with torch.inference_mode():
        out = hf(torch.tensor([trace.token_ids]), output_attentions=True, output_hidden_states=True)
    for layer in range(2):
        band = out.attentions[layer][0]  # (heads, n, WINDOW + 1): offsets −half … +half
        full = torch.zeros(4, n, n)
        for i in range(n):
            for b in range(WINDOW + 1):
                if 0 <= i - half + b < n:
                    full[:, i, i - half + b] = band[:, i, b]
        assert (trace.layer_patterns(layer) - full).abs().max().item() <= PATTERN_TOL, layer
        assert (trace.resid(layer) - out.hidden_states[layer][0]).abs().max().item() <= HIDDEN_TOL, layer
        assert band.max() > 0.5, "random weights too small to make a peaked pattern"
    assert (trace.resid(2) - out.hidden_states[2][0]).abs().max().item() <= HIDDEN_TOL
    distance = (torch.arange(n)[:, None] - torch.arange(n)[None, :]).abs()
    assert torch.equal(trace.mask(0), distance <= half) and ours.config.window(1) == half + 1


def test_windows_that_differ_between_layers_are_refused():
    hf = dict(model_type="longformer", hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
              intermediate_size=96, vocab_size=300, max_position_embeddings=130, pad_token_id=1)  # fmt: skip
    assert longformer_config({**hf, "attention_window": [8, 8]}, "x").sliding_window == 5
    with pytest.raises(ModelLoadError, match=r"attention_window \[8, 16\] is not supported"):
        longformer_config({**hf, "attention_window": [8, 16]}, "x")
