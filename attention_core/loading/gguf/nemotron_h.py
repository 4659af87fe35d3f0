"""GGUF nemotron_h and nemotron_h_moe: NVIDIA's Nemotron-H, Nemotron Nano 2 and Nemotron 3 as llama.cpp's converter
writes them (its NemotronHModel), read with llama.cpp's rules (its llm_build_nemotron_h).

Each layer is one pre-norm sublayer (attn_norm, whatever the sublayer), and two per-layer lists say which: a layer
with key/value heads (attention.head_count_kv) attends, one with a feed_forward_length is an MLP, one with neither
runs Mamba-2 (llama.cpp's is_recurrent). As from Hugging Face (hf_adapters_nemotron_h.py), each layer keeps its
number: a mixer's layer has no MLP, an MLP's mixes no tokens.

- Mamba-2: gguf/hybrid.py's `mamba_layer` and `ssm_fields` (Granite 4's tensors and keys). Δ is not clamped at
  time_step_min, as llama.cpp's scan runs it (transformers' prompt pass clamps it): a conversion note says so.
- Attention: no RoPE; q and k rows permuted as a llama file's (the converter's Granite path), read back; the scale
  attention.scale or 1/√key_length.
- MLP: ffn_up, ReLU², ffn_down. MoE (nemotron_h_moe): the router ffn_gate_inp scored by sigmoid whatever the file
  says (llama.cpp's graph fixes it), exp_probs_b in the choice, renormalised where expert_weights_norm, ×
  expert_weights_scale; the experts ffn_up_exps, ffn_down_exps (ReLU², no gate), the shared expert *_shexp, and
  where the file has them ffn_latent_down / ffn_latent_up around the experts (Nemotron 3 Super's latent). Groups of
  experts need expert_group_used_count: without it a file with groups is refused rather than guessed.
- The last nextn_predict_layers blocks (Nemotron 3's multi-token prediction head, folded by the converter into one
  block with both attention and experts) are in the file but not run: the model's own layers are the ones before.
"""

from __future__ import annotations

from ...config import ModelConfig
from ...errors import ModelLoadError
from .deepseek import experts
from .hybrid import mamba_layer, permuted_attention, ssm_fields
from .llama import Weights, ends, rope_config
from .reader import Meta, Tensors, layers_run, matrix

UNCLAMPED = ("Δ (each Mamba-2 step) is not clamped at time_step_min here, as llama.cpp runs this file; "
             "transformers clamps it, so a head whose step is that small differs a little from it there.")


def _layer_kinds(meta: Meta, n_layers: int) -> tuple[tuple[str, ...], tuple[bool, ...]]:
    """(each layer's mixer, whether it has an MLP) from the per-layer head_count_kv and feed_forward_length (which
    also list the prediction blocks after the `n_layers` the model runs)."""
    kv, ff, blocks = meta.get("attention.head_count_kv"), meta.get("feed_forward_length"), meta.count("block_count")
    if not (isinstance(kv, list) and isinstance(ff, list) and len(kv) == len(ff) == blocks):
        raise ModelLoadError(f"{meta.arch}.attention.head_count_kv and feed_forward_length must each list the "
                             f"{blocks} blocks (0 where a layer has no heads, or no MLP).")  # fmt: skip
    kv, ff = kv[:n_layers], ff[:n_layers]
    if any(k and f for k, f in zip(kv, ff, strict=True)) or not any(kv):
        raise ModelLoadError("Each Nemotron-H layer has heads or an MLP, not both, and at least one has heads.")
    mixers = tuple("attention" if k else ("none" if f else "ssm") for k, f in zip(kv, ff, strict=True))
    return mixers, tuple(bool(f) for f in ff)


def nemotron_h_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    n_layers = layers_run(meta)
    mixers, mlps = _layer_kinds(meta, n_layers)
    routed = experts(meta, tensor_names, n_layers, gating_default=2)
    if routed and routed["moe_groups"][0] > 1 and not meta.has("expert_group_used_count"):
        raise ModelLoadError(f"{meta.arch}: {routed['moe_groups'][0]} groups of experts, and no "
                             "expert_group_used_count to say how many a token chooses within.")  # fmt: skip
    if routed:
        routed["moe_router"] = "sigmoid"  # llama.cpp's graph: sigmoid, whatever expert_gating_func says
    return rope_config(
        meta, name, tensor_names, hybrid=True, experts=routed, arch="nemotron_h", act="relu2", gated_mlp=False,
        n_layers=n_layers, d_mlp=max(meta.get("feed_forward_length")), rope_layers=(False,) * n_layers,
        mixers=mixers, mlp_layers=mlps,
        attn_scale=meta.unless_zero("attention.scale", meta.number), conversion_notes=(UNCLAMPED,),
        **ssm_fields(meta),
    )  # fmt: skip


def nemotron_h_weights(t: Tensors, cfg: ModelConfig) -> Weights:
    t.skip_blocks_from(cfg.n_layers)  # the prediction blocks: in the file, not run
    w = ends(t, cfg)
    for layer in range(cfg.n_layers):
        src, dst = f"blk.{layer}.", f"blocks.{layer}."
        norm = t.vector(src + "attn_norm.weight")  # every layer's one norm, before whichever sublayer
        if cfg.has_mlp(layer):
            w[dst + "ln_mlp.w"] = norm
            _mlp(t, w, src, dst + "mlp.")
            continue
        w[dst + "ln_attn.w"] = norm
        if not cfg.attends(layer):
            mamba_layer(t, w, src, dst + "ssm.", cfg)
            continue
        permuted_attention(t, w, src, dst, cfg)
    return w


def _mlp(t: Tensors, w: Weights, src: str, dst: str) -> None:
    """An MLP layer's up and down, or a MoE layer's router, experts, shared expert and latent (under `dst` mlp.)."""
    if not t.has(src + "ffn_gate_inp.weight"):
        w[dst + "W_in"], w[dst + "W_out"] = t.linear(src + "ffn_up.weight"), t.linear(src + "ffn_down.weight")
        return
    w[dst + "router.W"] = t.linear(src + "ffn_gate_inp.weight")  # [d_model, n_experts]
    w[dst + "router.b_choice"] = t.vector(src + "exp_probs_b.bias")
    up, down = t.raw(src + "ffn_up_exps.weight"), t.raw(src + "ffn_down_exps.weight")  # (n_experts, out, in)
    for e in range(up.shape[0]):
        w[f"{dst}experts.{e}.W_in"], w[f"{dst}experts.{e}.W_out"] = matrix(up[e]), matrix(down[e])
    w[dst + "shared.W_in"] = t.linear(src + "ffn_up_shexp.weight")
    w[dst + "shared.W_out"] = t.linear(src + "ffn_down_shexp.weight")
    if t.has(src + "ffn_latent_down.weight"):  # the experts read and write a latent (experts.py)
        w[dst + "latent_in.W"] = t.linear(src + "ffn_latent_down.weight")
        w[dst + "latent_out.W"] = t.linear(src + "ffn_latent_up.weight")
