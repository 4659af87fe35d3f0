"""Architectures this engine cannot run yet say why, by name, instead of listing every supported model_type: the
hybrids whose other layers this engine does not run (Zamba, Kimi Linear, ...), models with no
attention at all (Mamba, RWKV), Gemma 3n and 4 (per-layer head widths, key/value sharing between layers), and models
that read audio or images (Whisper, ViT). Any other unknown name is refused in one sentence naming the nearest known
one, and docs/models.md, whose lists are held to the engine's adapters here."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from attention_core import ModelLoadError, load_model
from tests.gguf_writer import _tokenizer, finish
from tests.tiny_models import byte_bpe


@pytest.mark.parametrize(
    ("model_type", "said"),
    [
        ("zamba2", "Zamba: some of its layers mix tokens without attention"),
        ("mamba", "Mamba: it has no attention layers"),
        ("gemma3n", "Gemma 3n: its layers differ in head widths"),
        ("whisper", "Whisper: it reads audio (log-mel spectrograms), not text"),
        ("vit", "ViT: it reads images, not text"),
    ],
)
def test_a_folder_of_an_architecture_not_run_yet_says_why(tmp_path, model_type, said):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": model_type}))
    with pytest.raises(ModelLoadError, match=re.escape(f"is not supported yet. {said}")) as caught:
        load_model(str(tmp_path))
    assert "supported:" not in str(caught.value)  # not the list of every model_type


def test_a_gguf_file_of_an_architecture_not_run_yet_says_why(tmp_path):
    import gguf

    path = tmp_path / "mamba2.gguf"
    w = gguf.GGUFWriter(str(path), "mamba2")
    w.add_block_count(2)
    _tokenizer(w, byte_bpe(300))
    finish(w, path, {"token_embd.weight": np.zeros((300, 8), dtype=np.float32)})
    said = r"GGUF architecture 'mamba2' .*not supported yet\. Mamba: it has no attention layers"
    with pytest.raises(ModelLoadError, match=said):
        load_model(str(path))


def test_no_architecture_listed_as_not_yet_run_is_run():
    """A kind added to an adapter later must leave the list, or its message would be wrong (it is never shown then)."""
    from attention_core.loading.gguf import CONVERTERS
    from attention_core.loading.hf_adapters import supported_model_types
    from attention_core.loading.not_yet import _NAMES

    assert not set(_NAMES) & (set(supported_model_types()) | set(CONVERTERS))


def test_a_kimi_linear_gguf_says_why(tmp_path):
    """llama.cpp's kimi-linear file (Kimi Delta Attention beside latent attention) is refused by name, before any
    tensor is read; its Hugging Face folders are read (tests/engine/test_hybrid_kimi_linear.py), as are the hybrids'
    files of tests/engine/test_gguf_qwen35.py, test_gguf_qwen3next.py, test_gguf_granite_hybrid.py,
    test_gguf_nemotron_h.py, test_gguf_falcon_h1.py and test_gguf_jamba.py."""
    import gguf

    path = tmp_path / "kimi-linear.gguf"
    w = gguf.GGUFWriter(str(path), "kimi-linear")
    w.add_block_count(2)
    _tokenizer(w, byte_bpe(300))
    finish(w, path, {"token_embd.weight": np.zeros((300, 8), dtype=np.float32)})
    with pytest.raises(ModelLoadError, match=r"Kimi Linear \(GGUF\): its GGUF file is not read yet"):
        load_model(str(path))


@pytest.mark.parametrize(("model_type", "near"), [("xlm-roberta-xxl", "xlm-roberta-xl"), ("qwen2-moe", "qwen2_moe")])
def test_an_unknown_model_type_is_refused_in_a_sentence_that_names_the_nearest_one(tmp_path, model_type, near):
    """Not the list of every model_type the engine reads (~180 of them, a wall of text in the sidebar): the nearest
    one where there is one, and where the whole list is (docs/models.md, which the next test holds to the engine)."""
    (tmp_path / "config.json").write_text(json.dumps({"model_type": model_type}))
    with pytest.raises(ModelLoadError) as caught:
        load_model(str(tmp_path))
    said = str(caught.value)
    assert f"model_type {model_type!r} is not supported (is it {near!r}?)" in said and "docs/models.md" in said
    assert len(said) < 300, said


def test_docs_models_lists_every_model_type_and_gguf_architecture_read():
    """docs/models.md's two lists are the engine's own: a model_type or GGUF architecture added or removed there
    without the other would leave the refusals above pointing at a wrong list."""
    from pathlib import Path

    from attention_core.loading.gguf import CONVERTERS
    from attention_core.loading.hf_adapters import supported_model_types

    text = (Path(__file__).resolve().parents[2] / "docs" / "models.md").read_text()
    listed = {name: set(re.findall(r"`([^`]+)`", text.split(f"<!-- {name} -->")[1].split("<!-- end -->")[0]))
              for name in ("model_types", "gguf_architectures")}  # fmt: skip
    assert listed["model_types"] == set(supported_model_types())
    assert listed["gguf_architectures"] == set(CONVERTERS)

