"""Nemotron-H as llama.cpp writes it ('nemotron_h', 'nemotron_h_moe'): per-layer head_count_kv and
feed_forward_length saying which layer attends, which is an MLP and which runs Mamba-2 (neither), every layer's norm
as attn_norm, Granite 4's ssm tensors and keys, q and k rows permuted as a llama file's; the MoE's router, stacked
experts, shared expert and latent. transformers does not read such a file, so the reference is the transformers model
written (tests.tiny_models_hybrid). llama.cpp does not clamp Δ at time_step_min, so the tiny model's one clamped head
is lifted above it here (the clamp is HF's alone: test_hybrid_nemotron_h.py). Tolerances (max absolute, float32
CPU): patterns 1e-4, logits and hidden states 1e-3.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attention_core import ModelLoadError, load_model
from tests.engine.decoder_parity import assert_matches_reference, layer_output, reference_run
from tests.gguf_writer import _tokenizer, finish, mamba2_hybrid_tensor
from tests.tiny_models import byte_bpe
from tests.tiny_models_hybrid import NEMOTRON_H_LAYERS, save_tiny_nemotron_h

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL = 1e-4, 1e-3, 1e-3
TEXT = "the blue creature took a mole of the forest and the sea"


def _keys(hf, path, moe: bool, ff=None, group_used: bool = False, mtp: bool = False):
    """A GGUFWriter with the keys llama.cpp's NemotronHModel writes (`ff` replaces the per-layer MLP widths; `mtp`:
    one more block, the multi-token prediction head the converter folds in, with both heads and experts)."""
    import gguf

    cfg = hf.config
    kinds = ["moe" if moe and k == "mlp" else k for k in NEMOTRON_H_LAYERS] + (["mtp"] if mtp else [])
    w = gguf.GGUFWriter(str(path), "nemotron_h_moe" if moe else "nemotron_h")
    w.add_name("tiny-nemotron-h")
    w.add_context_length(2**20)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(len(kinds))
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv([cfg.num_key_value_heads if k in ("full_attention", "mtp") else 0 for k in kinds])
    width = cfg.moe_intermediate_size if moe else cfg.intermediate_size
    w.add_feed_forward_length(ff or [width if k in ("mlp", "moe", "mtp") else 0 for k in kinds])
    if mtp:
        w.add_nextn_predict_layers(1)
    w.add_key_length(cfg.head_dim)
    w.add_value_length(cfg.head_dim)
    w.add_layer_norm_rms_eps(cfg.layer_norm_epsilon)
    w.add_rope_scaling_finetuned(False)
    w.add_ssm_conv_kernel(cfg.conv_kernel)
    w.add_ssm_state_size(cfg.ssm_state_size)
    w.add_ssm_group_count(cfg.n_groups)
    w.add_ssm_inner_size(cfg.mamba_num_heads * cfg.mamba_head_dim)
    w.add_ssm_time_step_rank(cfg.mamba_num_heads)
    if moe:
        w.add_expert_used_count(cfg.num_experts_per_tok)
        w.add_expert_count(cfg.n_routed_experts)
        w.add_expert_shared_count(cfg.n_shared_experts)
        w.add_expert_weights_norm(cfg.norm_topk_prob)
        w.add_expert_weights_scale(cfg.routed_scaling_factor)
        w.add_expert_group_count(cfg.n_group)
        if group_used:
            w.add_expert_group_used_count(cfg.topk_group)
        if cfg.moe_latent_size:
            w.add_moe_latent_size(cfg.moe_latent_size)
    _tokenizer(w, byte_bpe(300))
    return w


def _tensors(hf) -> dict[str, np.ndarray]:
    """hf's tensors as llama.cpp's converter renames and reshapes them (NVIDIA's backbone. names first)."""
    import gguf

    cfg = hf.config
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.NEMOTRON_H_MOE, len(NEMOTRON_H_LAYERS))
    out = {}
    for hf_name, tensor in hf.state_dict().items():
        data, name = tensor.float().numpy(), hf_name.replace("model.", "backbone.", 1)
        if name.endswith(("mixer.experts.up_proj", "mixer.experts.down_proj")):  # already stacked (n, out, in)
            layer, part = name.split(".")[2], name.rsplit(".", 1)[1].split("_")[0]
            out[f"blk.{layer}.ffn_{part}_exps.weight"] = data
            continue
        base, suffix = (name, "") if name.endswith((".A_log", ".D")) else name.rsplit(".", 1)
        if name.endswith(".dt_bias"):
            base, suffix = name.replace(".dt_bias", ".dt"), "bias"
        elif name.endswith("gate.e_score_correction_bias"):
            base, suffix = name.replace("e_score_correction_bias", "e_score_correction"), "bias"
        heads = (cfg.num_attention_heads, cfg.num_key_value_heads)
        out.update([mamba2_hybrid_tensor(names, base, suffix, data, cfg.n_groups, heads)])
    return out


def _unclamped(hf):
    """hf with its one clamped head's Δ lifted above time_step_min: llama.cpp's scan does not clamp."""
    with torch.no_grad():
        hf.model.layers[0].mixer.dt_bias[1] = 0.5
    return hf


@pytest.fixture(scope="module", params=["dense", "moe", "latent"])
def hf(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("nemotron-hf")
    moe, latent = request.param != "dense", request.param == "latent"
    return request.param, _unclamped(save_tiny_nemotron_h(folder, moe=moe, latent=latent, groups=1).eval())


def test_a_nemotron_h_file_matches_the_model_written(hf, tmp_path, monkeypatch):
    kind, model = hf
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    path = finish(_keys(model, tmp_path / "n.gguf", kind != "dense"), tmp_path / "n.gguf", _tensors(model))
    ours = load_model(str(path), device="cpu")
    cfg = ours.config
    assert cfg.mixers == ("ssm", "none", "attention", "none", "ssm", "attention")
    assert cfg.mlp_layers == (False, True, False, True, False, False) and "not clamped" in cfg.conversion_notes[0]
    trace = ours.trace(TEXT)
    assert_matches_reference("nemotron_h gguf", ours, trace, reference_run(model, trace),
                             (PATTERN_TOL, HIDDEN_TOL, LOGIT_TOL))  # fmt: skip
    q = layer_output(model, model.model.layers[2].mixer.q_proj, trace.token_ids)  # (n, heads · d_head), no RoPE
    assert (trace["blocks.2.attn.q"] - q.unflatten(-1, (4, 16)).transpose(0, 1)).abs().max() <= HIDDEN_TOL


def test_hostile_nemotron_h_files_are_refused_by_name(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    model = save_tiny_nemotron_h(tmp_path / "moe", moe=True, groups=1)
    grouped = save_tiny_nemotron_h(tmp_path / "grouped", moe=True, groups=2)
    cases = [  # (message, the model written, _keys' changes)
        ("heads or an MLP, not both", model, dict(ff=[0, 48, 48, 48, 0, 0])),  # layer 2 attends and has an MLP
        ("2 groups of experts, and no expert_group_used_count", grouped, {}),
    ]
    for i, (message, written, changes) in enumerate(cases):
        path = tmp_path / f"bad{i}.gguf"
        with pytest.raises(ModelLoadError, match=message):
            load_model(str(finish(_keys(written, path, True, **changes), path, _tensors(written))), device="cpu")
    path = tmp_path / "grouped.gguf"  # the same groups with the count of them a token chooses within: read
    ours = load_model(str(finish(_keys(grouped, path, True, group_used=True), path, _tensors(grouped))), device="cpu")
    assert ours.config.moe_groups == (2, 1)


def test_a_multi_token_prediction_block_is_in_the_file_and_not_run(tmp_path, monkeypatch):
    """Nemotron 3's MTP head, folded by the converter into one more block (attention and experts both): skipped."""
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    model = save_tiny_nemotron_h(tmp_path / "hf", moe=True, groups=1)
    tensors = _tensors(model)
    plain = load_model(str(finish(_keys(model, tmp_path / "a.gguf", True), tmp_path / "a.gguf", tensors)), device="cpu")
    extra = {name.replace("blk.2.", "blk.6.", 1): data for name, data in tensors.items() if name.startswith("blk.2.")}
    extra |= {name.replace("blk.1.", "blk.6.", 1): data for name, data in tensors.items() if name.startswith("blk.1.")}
    extra["blk.6.nextn.eh_proj.weight"] = np.zeros((64, 128), dtype=np.float32)
    path = tmp_path / "mtp.gguf"
    ours = load_model(str(finish(_keys(model, path, True, mtp=True), path, {**tensors, **extra})), device="cpu")
    assert ours.config.n_layers == 6 and ours.config.mixers == plain.config.mixers
    assert (ours.trace(TEXT).logits - plain.trace(TEXT).logits).abs().max() == 0
