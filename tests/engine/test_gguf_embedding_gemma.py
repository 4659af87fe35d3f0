"""EmbeddingGemma as llama.cpp writes it ('gemma-embedding': Ollama's embeddinggemma). transformers does not read
such a file, so the reference is the transformers model it was written from (tests/tiny_models_recent.py's tiny
EmbeddingGemma: 3 layers, the first two local with the config's window 8, so keys at most 4 tokens away either side),
and the config must be the one the engine reads from that model's own folder. Tolerances (max absolute, float32 CPU):
patterns 1e-4, hidden states 1e-3.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from attention_core import load_model
from tests.gguf_writer import rewrite_gguf, write_gguf
from tests.tiny_models import byte_bpe, save_tiny

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, HIDDEN_TOL = 1e-4, 1e-3
TEXT = "the blue creature took a mole of the forest and the sea"


def test_an_embedding_gemma_file_matches_the_model_written(tmp_path, monkeypatch):
    import gguf

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "hf"
    save_tiny("embedding_gemma", folder)
    hf = transformers.AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval()
    written = write_gguf(hf, byte_bpe(300), tmp_path / "written.gguf", "gemma-embedding")
    # as llama.cpp's converter: the window of config.json (transformers' config holds it halved), and here the
    # layers' kinds as flags (the tiny model's 3 layers are not llama.cpp's default period of 6)
    fields = {"gemma-embedding.attention.sliding_window": (8, gguf.GGUFValueType.UINT32),
              "gemma-embedding.attention.sliding_window_pattern": (
                  [True, True, False], gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.BOOL)}  # fmt: skip
    path = rewrite_gguf(written, tmp_path / "eg.gguf", fields)
    ours, from_folder = load_model(str(path), device="cpu"), load_model(str(folder), device="cpu")
    trace = ours.trace(TEXT)
    assert trace.token_ids == byte_bpe(300).encode(TEXT).ids and len(trace.token_ids) > 9
    with torch.inference_mode():
        out = hf(torch.tensor([trace.token_ids]), output_attentions=True, output_hidden_states=True)
    for layer in range(3):
        assert (trace.layer_patterns(layer) - out.attentions[layer][0]).abs().max().item() <= PATTERN_TOL, layer
    for layer in range(2):  # the last hidden state is after the final norm
        assert (trace.resid(layer + 1) - out.hidden_states[layer + 1][0]).abs().max().item() <= HIDDEN_TOL, layer
    assert not trace.mask(0)[0, 5:].any() and trace.mask(0)[0, :5].all()  # a local layer: 4 keys ahead, no more
    assert trace.mask(2).all()  # the global layer reads every key both ways
    differs = {f.name for f in dataclasses.fields(ours.config)
               if getattr(ours.config, f.name) != getattr(from_folder.config, f.name)}  # fmt: skip
    assert differs <= {"name", "display_name", "norm_eps"}, differs  # norm_eps: stored as a float32
    assert ours.config.norm_eps == pytest.approx(from_folder.config.norm_eps, rel=1e-6)
