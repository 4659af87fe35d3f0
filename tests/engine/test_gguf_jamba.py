"""Jamba as llama.cpp writes it ('jamba'): per-layer head_count_kv with 0 on the Mamba layers, ssm.* keys and
tensors (the kernel squeezed, A as −exp(A_log) [channels, state], Δ's map and bias as ssm_dt, the dt/B/C norms),
attention's rows unpermuted (no RoPE), the experts stacked (ffn_*_exps) under a softmax router that llama.cpp does not
renormalise. transformers does not read such a file, so the reference is the transformers model written
(tests.tiny_models_hybrid). Tolerances (max absolute, float32 CPU): patterns 1e-4, logits and hidden states 1e-3.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attention_core import ModelLoadError, load_model
from tests.engine.decoder_parity import assert_matches_reference, layer_output, reference_run
from tests.gguf_writer import _tokenizer, finish, stacked_experts_as_llama_cpp
from tests.tiny_models import byte_bpe
from tests.tiny_models_hybrid import save_tiny_jamba

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL = 1e-4, 1e-3, 1e-3
TEXT = "the blue creature took a mole of the forest and the sea"


def _keys(hf, path, kv_heads=None):
    """A GGUFWriter with the keys llama.cpp's JambaModel writes, and the byte-level tokenizer."""
    import gguf

    cfg = hf.config
    w = gguf.GGUFWriter(str(path), "jamba")
    w.add_name("tiny-jamba")
    w.add_block_count(cfg.num_hidden_layers)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(kv_heads or [cfg.num_key_value_heads if t == "attention" else 0
                                     for t in cfg.layers_block_type])  # fmt: skip
    w.add_ssm_conv_kernel(cfg.mamba_d_conv)
    w.add_ssm_inner_size(cfg.mamba_expand * cfg.hidden_size)
    w.add_ssm_state_size(cfg.mamba_d_state)
    w.add_ssm_time_step_rank(cfg.mamba_dt_rank)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_expert_count(cfg.num_experts)
    w.add_expert_used_count(cfg.num_experts_per_tok)
    _tokenizer(w, byte_bpe(300))
    return w


def _tensors(hf) -> dict[str, np.ndarray]:
    """hf's tensors as llama.cpp's converter renames and reshapes them."""
    import gguf

    cfg = hf.config
    names, out = gguf.get_tensor_name_map(gguf.MODEL_ARCH.JAMBA, cfg.num_hidden_layers), {}
    for hf_name, tensor in hf.state_dict().items():
        data = tensor.float()
        if stacked_experts_as_llama_cpp(hf_name, data, out):
            continue
        base, suffix = (hf_name, "") if hf_name.endswith((".A_log", ".D")) else hf_name.rsplit(".", 1)
        if "conv1d" in hf_name and suffix == "weight":
            data = data[:, 0, :]
        if hf_name.endswith(".A_log"):
            data = -torch.exp(data)
        mapped = names.get_name(base)
        assert mapped is not None, hf_name
        out[f"{mapped}.{suffix}" if suffix else mapped] = data
    return {name: np.ascontiguousarray(data.numpy(), dtype=np.float32) for name, data in out.items()}


@pytest.fixture(scope="module", params=["experts", "dense"])
def hf(request, tmp_path_factory):
    return save_tiny_jamba(tmp_path_factory.mktemp("jamba-hf"), experts=4 if request.param == "experts" else 0).eval()


def test_a_jamba_file_matches_the_model_written(hf, tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    ours = load_model(str(finish(_keys(hf, tmp_path / "j.gguf"), tmp_path / "j.gguf", _tensors(hf))), device="cpu")
    cfg = ours.config
    assert cfg.mixers == ("selective_scan", "attention", "selective_scan", "selective_scan")
    assert cfg.selective_shape == (128, 8, 4) and not any(map(cfg.rotates, range(4)))
    assert cfg.n_experts == (4 if hf.config.num_experts > 1 else 0) and not (cfg.n_experts and cfg.moe_renormalize)
    trace = ours.trace(TEXT)
    assert_matches_reference("jamba gguf", ours, trace, reference_run(hf, trace),
                             (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL))  # fmt: skip
    theirs = layer_output(hf, hf.model.layers[2].mamba, trace.token_ids)  # the scan's own output
    assert (trace["blocks.2.ssm_out"] - theirs).abs().max() <= HIDDEN_TOL
    gen = ours.generate("the blue creature", max_new_tokens=4)
    with torch.inference_mode():
        expected = hf.generate(torch.tensor([ours.trace("the blue creature").token_ids]), max_new_tokens=4,
                               do_sample=False)  # fmt: skip
    assert gen.trace.token_ids == expected[0].tolist()


def test_hostile_jamba_files_are_refused_by_name(hf, tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    tensors = _tensors(hf)
    cases = {
        "every head_count_kv is 0": (dict(kv_heads=[0, 0, 0, 0]), tensors),
        r"ssm_a must hold negative numbers": ({}, {**tensors, "blk.0.ssm_a": -tensors["blk.0.ssm_a"]}),
        r"ssm_x.* is \(128, 19\), not \(128, 20\)": ({}, {**tensors, "blk.2.ssm_x.weight":
                                                        tensors["blk.2.ssm_x.weight"][1:].copy()}),
    }  # fmt: skip
    for i, (message, (keys, data)) in enumerate(cases.items()):
        path = tmp_path / f"bad{i}.gguf"
        with pytest.raises(ModelLoadError, match=message):
            load_model(str(finish(_keys(hf, path, **keys), path, data)), device="cpu")
