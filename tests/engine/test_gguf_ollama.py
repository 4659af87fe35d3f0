"""`ollama:NAME[:TAG]`: a model found through a fake store laid out like Ollama's (manifest → blob), holding a
tiny GGUF, and a clear message for each way the lookup can fail."""

from __future__ import annotations

import json

import pytest
import torch

from attention_core import ModelLoadError, UnknownModelError, load_model
from attention_core.loading.gguf import ollama
from attention_core.policy import check_model_request
from tests.gguf_writer import add_to_ollama_store, save_tiny_gguf

pytest.importorskip("transformers")
TEXT = "one mole of carbon dioxide"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return save_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


@pytest.fixture
def store(tmp_path, monkeypatch, tiny):
    root = tmp_path / "ollama-models"
    add_to_ollama_store(root, tiny, "tiny")
    add_to_ollama_store(root, tiny, "someone/tiny", tag="q8")
    monkeypatch.setenv("OLLAMA_MODELS", str(root))
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    return root


def test_a_model_in_the_store_loads_as_its_gguf_file(store, tiny):
    model = load_model("ollama:tiny", device="cpu")  # tag `latest`, namespace `library`
    direct = load_model(str(tiny), device="cpu")
    assert model.name == "ollama:tiny" and model.config.display_name == "tiny-llama"
    assert model.source.parent == store / "blobs" and model.source.name.startswith("sha256-")
    assert torch.equal(model.trace(TEXT).logits, direct.trace(TEXT).logits)
    tagged = load_model("ollama:someone/tiny:q8", device="cpu")
    assert torch.equal(tagged.trace(TEXT).logits, direct.trace(TEXT).logits)


def test_the_default_store_is_in_the_home_folder(tmp_path, monkeypatch, tiny):
    monkeypatch.delenv("OLLAMA_MODELS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    blob = add_to_ollama_store(tmp_path / ".ollama" / "models", tiny, "tiny", tag="2b")
    assert ollama.find_model_blob("ollama:tiny:2b") == blob


def test_an_unknown_name_or_tag_lists_what_the_store_has(store):
    with pytest.raises(ModelLoadError, match=r"no model nothere:latest .* Installed: someone/tiny:q8, tiny:latest"):
        ollama.find_model_blob("ollama:nothere")
    with pytest.raises(ModelLoadError, match=r"no model tiny:7b"):
        load_model("ollama:tiny:7b")


def test_a_missing_store_blob_or_model_layer_is_a_clear_message(store, tmp_path, monkeypatch):
    for blob in (store / "blobs").glob("sha256-*"):
        if blob.stat().st_size > 1000:
            blob.unlink()  # the weights, as after an interrupted pull
    with pytest.raises(ModelLoadError, match=r"names the weights blob sha256-[0-9a-f]{64}.*does not have it"):
        ollama.find_model_blob("ollama:tiny")
    manifest = store / "manifests" / "registry.ollama.ai" / "library" / "tiny" / "latest"
    data = json.loads(manifest.read_text())
    data["layers"] = data["layers"][1:]  # only the template and params
    manifest.write_text(json.dumps(data))
    with pytest.raises(ModelLoadError, match="has no model layer"):
        ollama.find_model_blob("ollama:tiny")
    manifest.write_text("{not json")
    with pytest.raises(ModelLoadError, match="not readable JSON"):
        ollama.find_model_blob("ollama:tiny")
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "nowhere"))
    with pytest.raises(ModelLoadError, match=r"No Ollama model store at .*nowhere.*OLLAMA_MODELS"):
        load_model("ollama:tiny")


@pytest.mark.parametrize("name", ["ollama:../../etc/passwd", "ollama:a/b/c/d", "ollama:", "ollama:tiny:../x"])
def test_names_cannot_leave_the_store(store, name):
    with pytest.raises(ModelLoadError, match="not an Ollama model name"):
        ollama.find_model_blob(name)


def test_a_served_app_reads_the_store_only_under_an_allowed_folder(store, tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_ALLOWED_MODEL_DIRS", str(tmp_path / "elsewhere"))
    with pytest.raises(UnknownModelError, match="Ollama's store .* outside the folders"):
        check_model_request("ollama:tiny")
    monkeypatch.setenv("ATTN_ALLOWED_MODEL_DIRS", str(tmp_path))
    assert check_model_request("ollama:tiny") == "ollama:tiny"
    monkeypatch.setenv("ATTN_PUBLIC", "1")
    with pytest.raises(UnknownModelError, match="only the embedded models"):
        check_model_request("ollama:tiny")
