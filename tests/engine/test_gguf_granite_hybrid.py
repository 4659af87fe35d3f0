"""Granite 4's H models as llama.cpp writes them ('granitehybrid'): per-layer head_count_kv with 0 on the Mamba-2
layers, ssm.* keys and tensors (the kernel squeezed, A as −exp(A_log), the group norm's weight [groups, width /
groups]), attention's q and k rows permuted as a llama file's, no RoPE (rope.scaling.finetuned false), Granite's
scales; the shared MLP as ffn_gate/up/down, or the experts stacked beside it as *_shexp. transformers does not read
such a file, so the reference is the transformers model written (tests.tiny_models_hybrid). Tolerances (max
absolute, float32 CPU): patterns 1e-4, logits and hidden states 1e-3 (transformers scans in chunks, this engine one
token at a time).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attention_core import ModelLoadError, load_model
from tests.engine.decoder_parity import assert_matches_reference, layer_output, reference_run
from tests.gguf_writer import _tokenizer, finish, mamba2_hybrid_tensor
from tests.tiny_models import byte_bpe
from tests.tiny_models_hybrid import save_tiny_granite_hybrid

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL = 1e-4, 1e-3, 1e-3
TEXT = "the blue creature took a mole of the forest and the sea"


def _keys(hf, path, kv_heads=None, rope_finetuned=False):
    """A GGUFWriter with the keys llama.cpp's GraniteHybridModel writes, and the byte-level tokenizer."""
    import gguf

    cfg = hf.config
    attends = [t in ("attention", "full_attention") for t in cfg.layer_types]  # the Hub's names, transformers 5's
    w = gguf.GGUFWriter(str(path), "granitehybrid")
    w.add_name("tiny-granitehybrid")
    w.add_context_length(2**20)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(kv_heads or [cfg.num_key_value_heads if a else 0 for a in attends])
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_freq_base(10000.0)
    w.add_rope_scaling_finetuned(rope_finetuned)
    w.add_attention_scale(cfg.attention_multiplier)
    w.add_embedding_scale(cfg.embedding_multiplier)
    w.add_residual_scale(cfg.residual_multiplier)
    w.add_logit_scale(cfg.logits_scaling)
    w.add_ssm_conv_kernel(cfg.mamba_d_conv)
    w.add_ssm_state_size(cfg.mamba_d_state)
    w.add_ssm_group_count(cfg.mamba_n_groups)
    w.add_ssm_inner_size(cfg.mamba_expand * cfg.hidden_size)
    w.add_ssm_time_step_rank(cfg.mamba_n_heads)
    if cfg.num_local_experts:
        w.add_expert_count(cfg.num_local_experts)
        w.add_expert_used_count(cfg.num_experts_per_tok)
    _tokenizer(w, byte_bpe(300))
    return w


def _tensors(hf) -> dict[str, np.ndarray]:
    """hf's tensors as llama.cpp's converter renames and reshapes them."""
    import gguf

    cfg = hf.config
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GRANITE_HYBRID, cfg.num_hidden_layers)
    moe, out = bool(cfg.num_local_experts), {}
    for hf_name, tensor in hf.state_dict().items():
        data = tensor.float().numpy()
        layer = hf_name.split(".")[2] if hf_name.startswith("model.layers.") else ""
        if ".shared_mlp." in hf_name or ".block_sparse_moe." in hf_name:  # the converter's GraniteMoeModel rules
            kind = "_shexp" if ".shared_mlp." in hf_name and moe else ("_exps" if "block_sparse" in hf_name else "")
            if hf_name.endswith("router.weight"):  # transformers 5's name of the Hub's router.layer
                out[f"blk.{layer}.ffn_gate_inp.weight"] = data
            elif hf_name.endswith(("output_linear.weight", "experts.down_proj")):
                out[f"blk.{layer}.ffn_down{kind}.weight"] = data
            else:  # input_linear, experts.gate_up_proj: rows gate | up, split
                gate, up = np.split(data, 2, axis=-2)
                out[f"blk.{layer}.ffn_gate{kind}.weight"], out[f"blk.{layer}.ffn_up{kind}.weight"] = gate, up
            continue
        base, suffix = (hf_name, "") if hf_name.endswith((".A_log", ".D")) else hf_name.rsplit(".", 1)
        if hf_name.endswith(".dt_bias"):
            base, suffix = hf_name.replace(".dt_bias", ".dt_proj"), "bias"
        heads = (cfg.num_attention_heads, cfg.num_key_value_heads)
        out.update([mamba2_hybrid_tensor(names, base, suffix, data, cfg.mamba_n_groups, heads)])
    return out


@pytest.fixture(scope="module", params=["dense", "moe"])
def hf(request, tmp_path_factory):
    experts = 4 if request.param == "moe" else 0
    return save_tiny_granite_hybrid(tmp_path_factory.mktemp("granite-hf"), experts=experts).eval()


def test_a_granitehybrid_file_matches_the_model_written(hf, tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    ours = load_model(str(finish(_keys(hf, tmp_path / "g.gguf"), tmp_path / "g.gguf", _tensors(hf))), device="cpu")
    cfg = ours.config
    assert cfg.mixers == ("ssm", "attention", "ssm", "attention") and cfg.ssm_shape == (4, 32, 8, 2)
    assert not any(map(cfg.rotates, range(4))) and cfg.n_experts == hf.config.num_local_experts
    trace = ours.trace(TEXT)
    assert_matches_reference("granitehybrid gguf", ours, trace, reference_run(hf, trace),
                             (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL))  # fmt: skip
    q = layer_output(hf, hf.model.layers[1].self_attn.q_proj, trace.token_ids)  # (n, heads · d_head), no RoPE
    assert (trace["blocks.1.attn.q"] - q.unflatten(-1, (4, 16)).transpose(0, 1)).abs().max() <= HIDDEN_TOL  # rows
    gen = ours.generate("the blue creature", max_new_tokens=4)
    with torch.inference_mode():
        theirs = hf.generate(torch.tensor([ours.trace("the blue creature").token_ids]), max_new_tokens=4,
                             do_sample=False)  # fmt: skip
    assert gen.trace.token_ids == theirs[0].tolist()


def test_hostile_granitehybrid_files_are_refused_by_name(hf, tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    tensors = _tensors(hf)
    cases = {
        "every head_count_kv is 0": (dict(kv_heads=[0, 0, 0, 0]), tensors),
        "RoPE on part of each head": (dict(rope_finetuned=True), tensors),
        r"ssm_a must hold 4 negative numbers": ({}, {**tensors, "blk.0.ssm_a": -tensors["blk.0.ssm_a"]}),
        r"ssm_conv1d.weight is \(160, 3\), not \(160, 4\)": ({}, {**tensors, "blk.2.ssm_conv1d.weight":
                                                 tensors["blk.2.ssm_conv1d.weight"][:, 1:].copy()}),
    }  # fmt: skip
    for i, (message, (keys, data)) in enumerate(cases.items()):
        path = tmp_path / f"bad{i}.gguf"
        if "part of each head" in message:  # Bamba's half-head RoPE
            writer = _keys(hf, path, **keys)
            writer.add_rope_dimension_count(8)
        else:
            writer = _keys(hf, path, **keys)
        with pytest.raises(ModelLoadError, match=message):
            load_model(str(finish(writer, path, data)), device="cpu")
