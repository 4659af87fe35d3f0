"""Falcon-H1 as llama.cpp writes it ('falcon-h1'): every µP multiplier folded into the tensors by the converter (the
embedding's and lm_head's too), the scan's tensors as a Mamba-2 file's (ssm.* keys, the kernel squeezed, A as
−exp(A_log)), q and k rows unpermuted (llama.cpp rotates NeoX-style), the pre-feedforward norm named blk.N.ffn_norm
without ".weight". transformers does not read such a file, so the reference is the transformers model written
(tests.tiny_models_hybrid): without a scan norm (as released), and with one after the gate (llama.cpp's only
placement; the file gets a note). Tolerances (max absolute, float32 CPU): patterns 1e-4, logits and hidden states
1e-3 (transformers scans in chunks, this engine one token at a time).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attention_core import ModelLoadError, load_model
from tests.engine.decoder_parity import assert_matches_reference, reference_run
from tests.gguf_writer import _tokenizer, finish, mamba2_as_llama_cpp
from tests.tiny_models import byte_bpe
from tests.tiny_models_hybrid import save_tiny_falcon_h1

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL = 1e-4, 1e-3, 1e-3
TEXT = "the blue creature took a mole of the forest and the sea"


def _keys(hf, path):
    """A GGUFWriter with the keys llama.cpp's FalconH1Model writes, and the byte-level tokenizer."""
    import gguf

    cfg = hf.config
    w = gguf.GGUFWriter(str(path), "falcon-h1")
    w.add_name("tiny-falcon-h1")
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_key_length(cfg.head_dim)
    w.add_value_length(cfg.head_dim)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_freq_base(cfg.rope_parameters["rope_theta"])
    w.add_ssm_conv_kernel(cfg.mamba_d_conv)
    w.add_ssm_inner_size(cfg.mamba_d_ssm)
    w.add_ssm_state_size(cfg.mamba_d_state)
    w.add_ssm_time_step_rank(cfg.mamba_d_ssm // cfg.mamba_d_head)
    w.add_ssm_group_count(cfg.mamba_n_groups)
    _tokenizer(w, byte_bpe(300))
    return w


def _folded(cfg, hf_name: str, data: np.ndarray) -> np.ndarray:
    """llama.cpp's FalconH1Model.modify_tensors: each µP multiplier multiplied into the tensor it names."""
    d_ssm, gn = cfg.mamba_d_ssm, cfg.mamba_n_groups * cfg.mamba_d_state
    factors = {"down_proj": cfg.mlp_multipliers[1], "gate_proj": cfg.mlp_multipliers[0],
               "k_proj": cfg.key_multiplier * cfg.attention_in_multiplier, "q_proj": cfg.attention_in_multiplier,
               "v_proj": cfg.attention_in_multiplier, "o_proj": cfg.attention_out_multiplier,
               "out_proj": cfg.ssm_out_multiplier, "lm_head": cfg.lm_head_multiplier,
               "embed_tokens": cfg.embedding_multiplier}  # fmt: skip
    factor = next((f for key, f in factors.items() if key in hf_name), 1.0)
    if "in_proj" in hf_name:  # the scan's input projection: ssm_in, then one factor per part (z, x, B, C, Δ)
        sizes = [d_ssm, d_ssm, gn, gn, data.shape[0] - 2 * d_ssm - 2 * gn]
        parts = np.repeat(np.asarray(cfg.ssm_multipliers, dtype=np.float32), sizes)[:, None]
        return data * cfg.ssm_in_multiplier * parts
    return data * factor


def _tensors(hf) -> dict[str, np.ndarray]:
    """hf's tensors as llama.cpp's converter folds, renames and reshapes them."""
    import gguf

    cfg = hf.config
    names, out = gguf.get_tensor_name_map(gguf.MODEL_ARCH.FALCON_H1, cfg.num_hidden_layers), {}
    for hf_name, tensor in hf.state_dict().items():
        if hf_name.endswith("mup_vector"):  # a buffer transformers computes from the config, not saved
            continue
        data = _folded(cfg, hf_name, tensor.float().numpy())
        if hf_name.endswith("pre_ff_layernorm.weight"):  # mapped whole, so the converter adds no ".weight"
            out[names.get_name(hf_name)] = np.ascontiguousarray(data)
            continue
        base, suffix = (hf_name, "") if hf_name.endswith((".A_log", ".D")) else hf_name.rsplit(".", 1)
        if hf_name.endswith(".dt_bias"):
            base, suffix = hf_name.replace(".dt_bias", ".dt_proj"), "bias"
        data = mamba2_as_llama_cpp(base, suffix, data, cfg.mamba_n_groups)
        mapped = names.get_name(base)
        assert mapped is not None, base
        out[f"{mapped}.{suffix}" if suffix else mapped] = np.ascontiguousarray(data, dtype=np.float32)
    return out


@pytest.fixture(scope="module", params=["none", "after_gate"])
def hf(request, tmp_path_factory):
    return save_tiny_falcon_h1(tmp_path_factory.mktemp("falcon-h1-hf"), norm=request.param).eval()


def test_a_falcon_h1_file_matches_the_model_written(hf, tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    tensors = _tensors(hf)
    assert "blk.0.ffn_norm" in tensors and "blk.0.ffn_norm.weight" not in tensors  # as the converter names it
    ours = load_model(str(finish(_keys(hf, tmp_path / "f.gguf"), tmp_path / "f.gguf", tensors)), device="cpu")
    cfg = ours.config
    assert cfg.ssm_beside_attention and cfg.attention_layers == (0, 1, 2) and cfg.ssm_shape == (4, 32, 8, 2)
    assert cfg.ssm_norm == ("after_gate" if hf.config.mamba_rms_norm else "none")
    assert any("after the gate" in note for note in cfg.conversion_notes) == hf.config.mamba_rms_norm
    trace = ours.trace(TEXT)
    assert_matches_reference("falcon-h1 gguf", ours, trace, reference_run(hf, trace),
                             (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL))  # fmt: skip
    gen = ours.generate("the blue creature", max_new_tokens=4)
    with torch.inference_mode():
        theirs = hf.generate(torch.tensor([ours.trace("the blue creature").token_ids]), max_new_tokens=4,
                             do_sample=False)  # fmt: skip
    assert gen.trace.token_ids == theirs[0].tolist()


def test_a_falcon_h1_file_with_a_broken_scan_is_refused_by_name(hf, tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    tensors = _tensors(hf)
    cases = {
        r"ssm_a must hold 4 negative numbers": {**tensors, "blk.1.ssm_a": -tensors["blk.1.ssm_a"]},
        r"ssm_conv1d.weight is \(160, 3\), not \(160, 4\)": {**tensors, "blk.2.ssm_conv1d.weight":
                                                            tensors["blk.2.ssm_conv1d.weight"][:, 1:].copy()},
    }  # fmt: skip
    for i, (message, data) in enumerate(cases.items()):
        path = tmp_path / f"bad{i}.gguf"
        with pytest.raises(ModelLoadError, match=message):
            load_model(str(finish(_keys(hf, path), path, data)), device="cpu")
