"""A config that misstates its weights is refused when the model loads, never at the first trace.

A config.json edited (or mismatched with its safetensors) used to load: the weights were read by name, and the first
trace tripped on a matrix of the wrong width inside the pass (a RuntimeError, a traceback in the app) or ran on a
hidden size the weights do not have. Each case edits one number of a tiny model's config.json (or a GGUF file's
metadata) and expects a ModelLoadError naming the weight that does not fit (attention_core/loading/shape_check.py).
"""

from __future__ import annotations

import json
import shutil

import pytest

from attention_core import ModelLoadError, load_model
from tests.tiny_folders import tiny_folder

pytest.importorskip("transformers")

EDITS = {  # config.json's field: (its new value from the old, the weight named in the refusal)
    "num_attention_heads": (lambda n: 2 * n, "W_Q"),
    "num_key_value_heads": (lambda n: 1 if n > 1 else 2, "W_K"),  # still dividing the heads (3 of 4: mangled_config)
    "hidden_size": (lambda n: n + 8, "W_Q"),
    "head_dim": (lambda n: 2 * n, "W_Q"),
    "vocab_size": (lambda n: n + 5, "(unembed.W_U|embed.W_E)"),
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("private")
    return {kind: tiny_folder(root, kind) for kind in ("qwen3", "gemma2")}


@pytest.mark.parametrize("kind", ["qwen3", "gemma2"])
@pytest.mark.parametrize("field", list(EDITS))
def test_an_edited_config_is_refused_at_load_naming_the_weight(kind, field, folders, tmp_path, monkeypatch):
    edit, weight = EDITS[field]
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / f"{kind}-{field}"
    shutil.copytree(folders[kind], folder)
    config = json.loads((folder / "config.json").read_text())
    config[field] = edit(config[field])
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match=rf"{folder.name}: .*{weight} is \d+ × \d+, but its config .* needs"):
        load_model(str(folder), device="cpu")


def test_a_gguf_file_whose_metadata_misstates_its_width_is_refused_at_load(tmp_path, monkeypatch):
    """A GGUF reader checks each attention matrix's rows against the heads and their width as it reads it, not its
    columns against embedding_length (d_model): a file saying 72 where its matrices take 64 is refused by the check
    after reading, not at the first trace."""
    import gguf

    from tests.gguf_writer import rewrite_gguf, save_tiny_gguf

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    written = save_tiny_gguf(tmp_path / "tiny.gguf")
    u32 = gguf.GGUFValueType.UINT32
    fields = {"llama.embedding_length": (72, u32), "llama.attention.key_length": (16, u32),
              "llama.attention.value_length": (16, u32)}  # fmt: skip
    path = rewrite_gguf(written, tmp_path / "wide.gguf", fields)
    with pytest.raises(ModelLoadError, match=r"wide\.gguf: blocks\.0\.attn\.W_Q is 64 × 64, but its config"):
        load_model(str(path), device="cpu")


def test_a_head_count_its_relative_position_table_does_not_have_is_refused_at_load(tmp_path, monkeypatch):
    """MPNet's heads share d_model either way (4 of 16 or 8 of 8), but its relative position table holds one column
    per head: a config.json saying 8 heads over a 4-column table loaded, and the first trace failed adding it."""
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    folder = tiny_folder(tmp_path / "private", "mpnet")
    config = json.loads((folder / "config.json").read_text())
    config["num_attention_heads"] *= 2
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match=r"blocks\.0\.attn\.rel_bias is \d+ × 4, but its config \(8 heads"):
        load_model(str(folder), device="cpu")
