"""GTE as Alibaba's own code ships it (config.json model_type "new", NewConfig's field names, auto_map to its remote
code: gte-base-en-v1.5, gte-large-en-v1.5, gte-multilingual-base): the same layers and tensor names as transformers'
gte port, so the reference is transformers' GteModel holding the same weights. gte-large-en-v1.5's fixed NTK scaling,
which the port lacks, is checked against the port with its RoPE frequencies set as the remote code sets them (its
NTKScalingRotaryEmbedding, written out here apart from the engine's divisors). Tolerances (max absolute, float32
CPU): patterns 1e-4, hidden states 1e-3."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
import torch

from attention_core import ModelLoadError, load_model
from attention_core.loading.hf_adapters_encoders import gte_remote_config
from tests.tiny_models import save_tiny

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, HIDDEN_TOL = 1e-4, 1e-3
TEXT = "the blue creature took a mole of the forest"


def _as_remote(config: dict) -> dict:
    """transformers' gte config.json as NewConfig writes the same model."""
    shape = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act",
             "max_position_embeddings", "type_vocab_size", "layer_norm_eps", "pad_token_id")  # fmt: skip
    return {
        **{key: config[key] for key in shape}, "model_type": "new", "architectures": ["NewModel"],
        "auto_map": {"AutoConfig": "Alibaba-NLP/new-impl--configuration.NewConfig",
                     "AutoModel": "Alibaba-NLP/new-impl--modeling.NewModel"},
        "rope_theta": config["rope_parameters"]["rope_theta"], "rope_scaling": None, "position_embedding_type": "rope",
        "layer_norm_type": "layer_norm", "logn_attention_scale": False, "pack_qkv": True, "unpad_inputs": False,
    }  # fmt: skip


def _remote_folder(tmp_path, **changes):
    """(transformers' tiny GteModel, the folder of its port, the same weights as a remote-code folder)."""
    hf = save_tiny("gte", tmp_path / "port").eval()
    shutil.copytree(tmp_path / "port", tmp_path / "remote")
    port_config = json.loads((tmp_path / "port" / "config.json").read_text())
    (tmp_path / "remote" / "config.json").write_text(json.dumps({**_as_remote(port_config), **changes}))
    return hf, tmp_path / "port", tmp_path / "remote"


def _assert_runs_as(ours, hf) -> None:
    trace = ours.trace(TEXT)
    with torch.inference_mode():
        out = hf(torch.tensor([trace.token_ids]), output_attentions=True, output_hidden_states=True)
    for layer in range(hf.config.num_hidden_layers):
        assert (trace.layer_patterns(layer) - out.attentions[layer][0]).abs().max().item() <= PATTERN_TOL, layer
        assert (trace.resid(layer + 1) - out.hidden_states[layer + 1][0]).abs().max().item() <= HIDDEN_TOL, layer


def test_a_remote_code_gte_folder_runs_as_transformers_gte_port(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    hf, port_folder, remote = _remote_folder(tmp_path)
    ours, port = load_model(str(remote), device="cpu"), load_model(str(port_folder), device="cpu")
    _assert_runs_as(ours, hf)
    differs = {f.name for f in dataclasses.fields(ours.config)
               if getattr(ours.config, f.name) != getattr(port.config, f.name)}  # fmt: skip
    assert differs <= {"name", "display_name"}, differs


def test_gte_large_en_v1_5s_fixed_ntk_scaling(tmp_path, monkeypatch):
    """NewModel's NTKScalingRotaryEmbedding builds its frequencies once, for every position: base θ·s, every
    frequency then divided by s^(2/r). Without the scaling the patterns differ (checked below)."""
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    s = 4.0
    hf, _, remote = _remote_folder(tmp_path, rope_scaling={"type": "ntk", "factor": s})
    ours = load_model(str(remote), device="cpu")
    rotary = hf.rotary_emb
    r = rotary.inv_freq.shape[0] * 2
    theta = json.loads((remote / "config.json").read_text())["rope_theta"]
    ntk = 1.0 / ((theta * s) ** (torch.arange(0, r, 2, dtype=torch.float) / r)) / s ** (2 / r)
    plain = hf(torch.tensor([ours.trace(TEXT).token_ids]), output_attentions=True).attentions[0][0]
    rotary.inv_freq.copy_(ntk)
    _assert_runs_as(ours, hf)
    assert (ours.trace(TEXT).layer_patterns(0) - plain).abs().max().item() > 10 * PATTERN_TOL  # the scaling bites
    assert ours.config.rope_scaling == "fixed NTK, factor 4"


def test_newconfigs_defaults_and_what_the_port_leaves_out(tmp_path):
    save_tiny("gte", tmp_path)
    remote = _as_remote(json.loads((tmp_path / "config.json").read_text()))
    bare = {k: v for k, v in remote.items() if k not in ("rope_theta", "max_position_embeddings")}
    assert (gte_remote_config(bare, "x").rope_theta, gte_remote_config(bare, "x").n_ctx) == (10000.0, 2048)
    refused = [({"logn_attention_scale": True}, "logn_attention_scale True"),
               ({"layer_norm_type": "rms_norm"}, "layer_norm_type 'rms_norm'"),
               ({"rope_scaling": {"type": "ntk", "factor": 2.0, "mixed_b": 0.5}}, "RoPE scaling"),
               ({"rope_scaling": {"type": "linear", "factor": 2.0}}, "only its fixed NTK")]  # fmt: skip
    for change, said in refused:
        with pytest.raises(ModelLoadError, match=said):
            gte_remote_config({**remote, **change}, "x")
