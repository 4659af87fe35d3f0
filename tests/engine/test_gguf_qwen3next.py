"""Qwen3-Next as llama.cpp writes it ('qwen3next'): the 1 + w norms stored added, A as −exp(A_log), the kernel
squeezed, attention's q rows [query | gate] per head, the value heads grouped by key head as transformers has them;
the delta rule's in_proj_qkvz split by newer converters into attn_qkv ([all q | all k | all v]) and attn_gate, kept
fused as ssm_in by older ones (both written here), in_proj_ba fused as ssm_ba; layer 0's dense MLP, the other
layers' router, stacked experts and gated shared expert. transformers does not read such a file, so the reference is
the transformers model written (tests.tiny_models_hybrid: 2 key heads over 4 value heads, so a fused map split in the
wrong order moves heads). Tolerances (max absolute, float32 CPU): patterns 1e-4, logits and hidden states 1e-3.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attention_core import ModelLoadError, load_model
from tests.engine.decoder_parity import assert_matches_reference, layer_output, reference_run
from tests.gguf_writer import _tokenizer, finish, stacked_experts_as_llama_cpp
from tests.tiny_models import byte_bpe
from tests.tiny_models_hybrid import save_tiny_qwen3_next

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL = 1e-4, 1e-3, 1e-3
TEXT = "the blue creature took a mole of the forest and the sea"


def _keys(hf, path):
    """A GGUFWriter with the keys llama.cpp's Qwen3NextModel (a Qwen2MoeModel) writes, and the tokenizer."""
    import gguf

    cfg = hf.config
    w = gguf.GGUFWriter(str(path), "qwen3next")
    w.add_name("tiny-qwen3next")
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_expert_feed_forward_length(cfg.moe_intermediate_size)
    w.add_expert_shared_feed_forward_length(cfg.shared_expert_intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_key_length(cfg.head_dim)
    w.add_value_length(cfg.head_dim)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_freq_base(cfg.rope_parameters["rope_theta"])
    w.add_rope_dimension_count(int(cfg.head_dim * cfg.rope_parameters.get("partial_rotary_factor", 0.25)))
    w.add_ssm_conv_kernel(cfg.linear_conv_kernel_dim)
    w.add_ssm_state_size(cfg.linear_key_head_dim)
    w.add_ssm_group_count(cfg.linear_num_key_heads)
    w.add_ssm_time_step_rank(cfg.linear_num_value_heads)
    w.add_ssm_inner_size(cfg.linear_value_head_dim * cfg.linear_num_value_heads)
    w.add_full_attention_interval(2)  # layers 1 and 3 attend, as the tiny model's layer_types say
    w.add_expert_count(cfg.num_experts)
    w.add_expert_used_count(cfg.num_experts_per_tok)
    _tokenizer(w, byte_bpe(300))
    return w


def _split_qkvz(data: torch.Tensor, cfg) -> tuple[torch.Tensor, torch.Tensor]:
    """The newer converter's split of in_proj_qkvz: per key head [q, k, v, z] → [all q | all k | all v] and z."""
    n_k, g = cfg.linear_num_key_heads, cfg.linear_num_value_heads // cfg.linear_num_key_heads
    d_k, d_v = cfg.linear_key_head_dim, cfg.linear_value_head_dim
    q, k, v, z = data.view(n_k, -1, cfg.hidden_size).split([d_k, d_k, g * d_v, g * d_v], dim=1)
    return torch.cat([t.reshape(-1, cfg.hidden_size) for t in (q, k, v)]), z.reshape(-1, cfg.hidden_size)


def _tensors(hf, fused: bool) -> dict[str, np.ndarray]:
    """hf's tensors as llama.cpp's converter renames and reshapes them (`fused`: an older converter's ssm_in)."""
    import gguf

    cfg = hf.config
    names, out = gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN3NEXT, cfg.num_hidden_layers), {}
    for hf_name, tensor in hf.state_dict().items():
        data, layer = tensor.float(), hf_name.split(".")[2] if ".layers." in hf_name else ""
        if stacked_experts_as_llama_cpp(hf_name, data, out):
            continue
        if ".mlp." in hf_name and hf_name.endswith(("gate_proj.weight", "up_proj.weight", "down_proj.weight")) and (
                "shared_expert" not in hf_name):  # layer 0's dense MLP (mlp_only_layers): llama.cpp's plain ffn_*
            out[f"blk.{layer}.ffn_{hf_name.split('.')[-2].removesuffix('_proj')}.weight"] = data
            continue
        if "in_proj_qkvz" in hf_name and not fused:
            out[f"blk.{layer}.attn_qkv.weight"], out[f"blk.{layer}.attn_gate.weight"] = _split_qkvz(data, cfg)
            continue
        base, suffix = (hf_name, "") if hf_name.endswith(".A_log") else hf_name.rsplit(".", 1)
        if hf_name.endswith(".dt_bias"):
            base, suffix = hf_name.replace(".dt_bias", ".dt_proj"), "bias"
        if hf_name.endswith("norm.weight") and not hf_name.endswith("linear_attn.norm.weight"):
            data = data + 1
        if "conv1d" in hf_name:
            data = data[:, 0, :]
        if hf_name.endswith(".A_log"):
            data = -torch.exp(data)
        mapped = names.get_name(base)
        assert mapped is not None, hf_name
        out[f"{mapped}.{suffix}" if suffix else mapped] = data
    return {name: np.ascontiguousarray(data.numpy(), dtype=np.float32) for name, data in out.items()}


@pytest.fixture(scope="module")
def hf(tmp_path_factory):
    return save_tiny_qwen3_next(tmp_path_factory.mktemp("qwen3next-hf")).eval()


@pytest.mark.parametrize("fused", [False, True], ids=["split", "fused"])
def test_a_qwen3next_file_matches_the_model_written(hf, fused, tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    tensors = _tensors(hf, fused)
    assert ("blk.0.ssm_in.weight" in tensors) == fused and ("blk.0.attn_gate.weight" in tensors) != fused
    ours = load_model(str(finish(_keys(hf, tmp_path / "q.gguf"), tmp_path / "q.gguf", tensors)), device="cpu")
    cfg = ours.config
    assert cfg.mixers == ("gated_delta", "attention", "gated_delta", "attention") and cfg.delta_heads == (2, 4)
    assert cfg.arch == "qwen3_next" and cfg.n_experts == 4 and cfg.moe_renormalize
    trace = ours.trace(TEXT)
    assert_matches_reference("qwen3next gguf", ours, trace, reference_run(hf, trace),
                             (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL))  # fmt: skip
    theirs = layer_output(hf, hf.model.layers[2].linear_attn, trace.token_ids)  # the delta rule's own output
    assert (trace["blocks.2.delta_out"] - theirs).abs().max() <= HIDDEN_TOL
    gen = ours.generate("the blue creature", max_new_tokens=4)
    with torch.inference_mode():
        expected = hf.generate(torch.tensor([ours.trace("the blue creature").token_ids]), max_new_tokens=4,
                               do_sample=False)  # fmt: skip
    assert gen.trace.token_ids == expected[0].tolist()


def test_a_qwen3next_file_with_a_misshapen_delta_rule_is_refused_by_name(hf, tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    tensors = _tensors(hf, fused=False)
    cases = {
        r"the delta rule's q, k, v map is \(64, 72\)": {**tensors, "blk.0.attn_qkv.weight":
                                                      tensors["blk.0.attn_qkv.weight"][:72].copy()},
        r"ssm_a must hold 4 negative numbers": {**tensors, "blk.2.ssm_a": -tensors["blk.2.ssm_a"]},
    }  # fmt: skip
    for i, (message, data) in enumerate(cases.items()):
        path = tmp_path / f"bad{i}.gguf"
        with pytest.raises(ModelLoadError, match=message):
            load_model(str(finish(_keys(hf, path), path, data)), device="cpu")
