"""LFM2 as llama.cpp writes it ('lfm2'): per-layer head_count_kv with 0 on the convolution layers, shortconv.* tensors
(the kernel squeezed to [d_model, L]), the final norm as token_embd_norm. transformers does not read such a file, so
the reference is the transformers model written (tests.tiny_models_hybrid). Tolerances (max absolute, float32 CPU):
patterns 1e-4, logits and hidden states 1e-3.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attention_core import ModelLoadError, load_model
from tests.gguf_writer import _tokenizer, finish
from tests.tiny_models import byte_bpe
from tests.tiny_models_hybrid import LFM2_LAYERS, save_tiny_lfm2

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL = 1e-4, 1e-3, 1e-3
TEXT = "the blue creature took a mole of the forest and the sea"


def _lfm2_keys(hf, path, arch: str, d_mlp: int, kv_heads=None):
    """A GGUFWriter with the keys llama.cpp's converter writes for LFM2 (arch "lfm2" or "lfm2moe") and the byte-level
    tokenizer: the per-layer key/value heads, 0 on a convolution layer (`kv_heads` replaces them)."""
    import gguf

    cfg = hf.config
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name(f"tiny-{arch}")
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(d_mlp)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(kv_heads or [cfg.num_key_value_heads if t != "conv" else 0 for t in cfg.layer_types])
    w.add_layer_norm_rms_eps(cfg.norm_eps)
    w.add_rope_freq_base(cfg.rope_parameters["rope_theta"])
    w.add_shortconv_l_cache(cfg.conv_L_cache)
    _tokenizer(w, byte_bpe(300))
    return w


def _write(hf, path, kv_heads=None, kernel_cut=0):
    """As llama.cpp's converter writes LFM2; `kv_heads` replaces the per-layer list, `kernel_cut` drops taps from
    each kernel (hostile files)."""
    import gguf

    cfg = hf.config
    w = _lfm2_keys(hf, path, "lfm2", hf.model.layers[0].feed_forward.w1.out_features, kv_heads)  # the rounded width
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LFM2, cfg.num_hidden_layers)
    tensors = {}
    for hf_name, tensor in hf.state_dict().items():
        base, suffix = hf_name.rsplit(".", 1)
        data = tensor.float().numpy()
        if base.endswith("conv.conv"):
            data = data[:, 0, kernel_cut:]  # the converter squeezes Conv1d's [d_model, 1, L]
        if hf_name == "lm_head.weight":
            continue  # tied: llama.cpp writes no output tensor
        tensors[f"{names.get_name(base)}.{suffix}"] = np.ascontiguousarray(data, dtype=np.float32)
    return finish(w, path, tensors)


@pytest.fixture(scope="module")
def hf(tmp_path_factory):
    return save_tiny_lfm2(tmp_path_factory.mktemp("lfm2-hf")).eval()


def test_an_lfm2_file_matches_the_model_written(hf, tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    ours = load_model(str(_write(hf, tmp_path / "lfm2.gguf")), device="cpu")
    assert ours.config.mixers == tuple("short_conv" if t == "conv" else "attention" for t in LFM2_LAYERS)
    assert ours.config.n_kv_heads == 2 and ours.config.conv_kernel == 3
    trace = ours.trace(TEXT)
    with torch.inference_mode():
        out = hf(torch.tensor([trace.token_ids]), output_attentions=True, output_hidden_states=True)
    for layer, ref in zip(ours.config.attention_layers, out.attentions, strict=True):
        assert (trace.layer_patterns(layer) - ref[0]).abs().max() <= PATTERN_TOL, layer
    for layer in range(ours.config.n_layers):
        assert (trace.resid(layer) - out.hidden_states[layer][0]).abs().max() <= HIDDEN_TOL, layer
    assert (trace.logits - out.logits[0]).abs().max() <= LOGIT_TOL


def test_a_hostile_lfm2_file_is_refused_with_a_reason(hf, tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(ModelLoadError, match="shortconv.conv.weight is \\(64, 2\\), not \\(64, 3\\)"):
        load_model(str(_write(hf, tmp_path / "cut.gguf", kernel_cut=1)), device="cpu")
    with pytest.raises(ModelLoadError, match="head_count_kv must list each of the 4 layers"):
        load_model(str(_write(hf, tmp_path / "short.gguf", kv_heads=[0, 2, 0])), device="cpu")
    with pytest.raises(ModelLoadError, match="Per-layer key/value head counts"):
        load_model(str(_write(hf, tmp_path / "mixed.gguf", kv_heads=[0, 2, 0, 1])), device="cpu")


def _write_moe(hf, path):
    """LFM2 MoE as llama.cpp's converter writes it ('lfm2moe'): lfm2's keys and tensors, the experts stacked as
    ffn_{gate,up,down}_exps, the router ffn_gate_inp, its bias exp_probs_b; sigmoid gating, the first block dense. The
    converter writes no weights scale (llama.cpp then scales by 1); this file names the tiny model's 1.5."""
    import gguf

    cfg = hf.config
    w = _lfm2_keys(hf, path, "lfm2moe", cfg.intermediate_size)
    w.add_expert_count(cfg.num_experts)
    w.add_expert_used_count(cfg.num_experts_per_tok)
    w.add_expert_feed_forward_length(cfg.moe_intermediate_size)
    w.add_leading_dense_block_count(cfg.num_dense_layers)
    w.add_expert_gating_func(gguf.ExpertGatingFuncType.SIGMOID)
    w.add_expert_weights_scale(cfg.routed_scaling_factor)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LFM2MOE, cfg.num_hidden_layers)
    tensors = {}
    for hf_name, tensor in hf.state_dict().items():
        data = np.ascontiguousarray(tensor.float().numpy(), dtype=np.float32)
        block = hf_name.split(".")[2] if hf_name.startswith("model.layers.") else ""
        if hf_name == "lm_head.weight":
            continue  # tied
        if hf_name.endswith("experts.gate_up_proj"):  # (experts, 2·width, d_model): gate rows, then up rows
            gate, up = np.split(data, 2, axis=1)
            tensors[f"blk.{block}.ffn_gate_exps.weight"] = np.ascontiguousarray(gate)
            tensors[f"blk.{block}.ffn_up_exps.weight"] = np.ascontiguousarray(up)
        elif hf_name.endswith("experts.down_proj"):  # (experts, d_model, width)
            tensors[f"blk.{block}.ffn_down_exps.weight"] = data
        elif hf_name.endswith("expert_bias"):
            tensors[f"blk.{block}.exp_probs_b.bias"] = data
        else:
            base, suffix = hf_name.rsplit(".", 1)
            squeezed = np.ascontiguousarray(data[:, 0]) if base.endswith("conv.conv") else data
            tensors[f"{names.get_name(base)}.{suffix}"] = squeezed
    return finish(w, path, tensors)


def test_an_lfm2_moe_file_matches_the_model_written(tmp_path, monkeypatch):
    from tests.tiny_models_hybrid import save_tiny_lfm2_moe

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    hf = save_tiny_lfm2_moe(tmp_path / "hf").eval()
    ours = load_model(str(_write_moe(hf, tmp_path / "lfm2moe.gguf")), device="cpu")
    assert (ours.config.n_experts, ours.config.moe_router, ours.config.moe_scale) == (4, "sigmoid", 1.5)
    trace = ours.trace(TEXT)
    with torch.inference_mode():
        out = hf(torch.tensor([trace.token_ids]), output_hidden_states=True)
    for layer in range(ours.config.n_layers):
        assert (trace.resid(layer) - out.hidden_states[layer][0]).abs().max() <= HIDDEN_TOL, layer
    assert (trace.logits - out.logits[0]).abs().max() <= LOGIT_TOL
