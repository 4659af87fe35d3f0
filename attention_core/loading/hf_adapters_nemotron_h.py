"""Hugging Face adapter for NVIDIA's Nemotron-H hybrids (nemotron_h: Nemotron-H 4B–56B, Nemotron Nano 2, Nemotron 3
Nano and Super).

Each layer of a Nemotron-H is one pre-norm sublayer, x + mixer(RMSNorm(x)), and its `layers_block_type` (or the older
`hybrid_override_pattern`, one letter a layer) says which: a Mamba-2 scan ("linear_attention", "mamba"; M), attention
("full_attention", "attention"; *), an MLP ("mlp"; -) or a mixture of experts ("moe"; E). The engine's blocks have a
token mixer and an MLP, so each layer keeps its own number and the other half is absent: a Mamba or attention layer
has no MLP (ModelConfig.mlp_layers), an MLP or MoE layer mixes no tokens (mixer "none"); its norm is then ln_mlp.

- Mamba-2 (mamba.py): heads of mamba_head_dim channels, n_groups groups, ssm_state_size, a kernel of conv_kernel; its
  gated RMSNorm normalises each group on its own; Δ is clamped below at time_step_min (transformers' prompt pass:
  `time_step_limit = (time_step_min, inf)`; its one-token step, which generation also takes, clamps nothing).
- Attention: grouped-query, no position encoding at all (no RoPE), scale 1/√head_dim.
- MLP: up_proj, ReLU², down_proj (no gate). MoE: DeepSeek-V3's router (sigmoid scores, e_score_correction_bias in the
  choice, n_group / topk_group, norm_topk_prob, routed_scaling_factor), experts that are such MLPs (one by one or
  stacked: experts.up_proj, experts.down_proj), a shared expert for every token, and where moe_latent_size is set
  (Nemotron 3 Super) the experts read and write a latent (fc1_latent_proj, fc2_latent_proj).
- Weights under backbone. (NVIDIA's checkpoints) or model. (a transformers save); embeddings, norm_f, lm_head.
"""

from __future__ import annotations

from ..config import ModelConfig
from ..errors import ModelLoadError
from .hf_adapters import StateDict, _Reader
from .hf_adapters_hybrid import _some_attention, mamba_weights
from .hf_adapters_modern import _decoder, _unembed
from .hf_adapters_moe import deepseek_moe

# each layer's kind, as the Hub's configs and transformers 5 spell it → (the engine's mixer, whether it has an MLP)
KINDS = {
    "mamba": ("ssm", False), "linear_attention": ("ssm", False), "M": ("ssm", False),
    "attention": ("attention", False), "full_attention": ("attention", False), "*": ("attention", False),
    "mlp": ("none", True), "-": ("none", True), "moe": ("none", True), "E": ("none", True),
}  # fmt: skip


def _layer_kinds(hf: dict) -> list[str]:
    """Each layer's kind: layers_block_type (layer_types), or hybrid_override_pattern's letters."""
    kinds = hf.get("layers_block_type") or hf.get("layer_types") or list(hf.get("hybrid_override_pattern") or "")
    unknown = sorted(set(kinds) - set(KINDS))
    if not kinds or unknown:
        raise ModelLoadError(f"Nemotron-H: layer kinds {unknown or kinds!r} are not Mamba (M), attention (*), MLP (-) "
                             "or MoE (E).")  # fmt: skip
    return kinds


def nemotron_h_config(hf: dict, name: str) -> ModelConfig:
    kinds = _layer_kinds(hf)
    n, d_model = len(kinds), int(hf["hidden_size"])
    heads, head = int(hf.get("mamba_num_heads", 128)), int(hf.get("mamba_head_dim", 64))
    groups, state = int(hf.get("n_groups", hf.get("mamba_n_groups", 8))), int(hf.get("ssm_state_size", 128))
    if heads % groups:
        raise ModelLoadError(f"Nemotron-H: {heads} Mamba heads do not split into its {groups} groups.")
    plain = {**hf, "num_hidden_layers": n, "rms_norm_eps": hf.get("layer_norm_epsilon", 1e-5),
             "intermediate_size": hf.get("intermediate_size") or hf.get("moe_intermediate_size") or 4 * d_model}
    moe = deepseek_moe(hf, sigmoid=True) if any(k in ("moe", "E") for k in kinds) else {}
    return _decoder(plain, name, "nemotron_h", act="relu2", gated_mlp=False, rope_layers=(False,) * n,
                   attn_bias=bool(hf.get("attention_bias")), mlp_bias=bool(hf.get("mlp_bias")),
                   mixers=_some_attention(tuple(KINDS[k][0] for k in kinds), "Nemotron-H"),
                   mlp_layers=tuple(KINDS[k][1] for k in kinds), ssm_shape=(heads, head, state, groups),
                   conv_kernel=int(hf.get("conv_kernel", 4)),
                   ssm_dt_limit=(float(hf.get("time_step_min", 0.001)), float("inf")), **moe)  # fmt: skip


def nemotron_h_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    r = _Reader(sd, ("backbone.", "model."))
    w: StateDict = {"embed.W_E": r.get("embeddings.weight"), "ln_final.w": r.get("norm_f.weight")}
    for layer in range(cfg.n_layers):
        src, dst = f"layers.{layer}.", f"blocks.{layer}."
        norm = r.get(src + "norm.weight")
        if cfg.has_mlp(layer):
            w[dst + "ln_mlp.w"] = norm
            _mlp(w, r, src + "mixer.", dst + "mlp.", cfg)
            continue
        w[dst + "ln_attn.w"] = norm
        if cfg.attends(layer):
            for part in "qkvo":
                w[f"{dst}attn.W_{part.upper()}"] = r.linear(f"{src}mixer.{part}_proj.weight")
                if r.has(f"{src}mixer.{part}_proj.bias"):
                    w[f"{dst}attn.b_{part.upper()}"] = r.get(f"{src}mixer.{part}_proj.bias")
        else:
            mamba_weights(w, r, src + "mixer.", dst + "ssm.")
    _unembed(w, sd, cfg)
    return w


def _plain_mlp(w: StateDict, r: _Reader, src: str, dst: str) -> None:
    """up_proj, down_proj (ReLU² between, no gate), biases where the checkpoint has them."""
    for ours, theirs in (("in", "up_proj"), ("out", "down_proj")):
        w[f"{dst}W_{ours}"] = r.linear(f"{src}{theirs}.weight")
        if r.has(f"{src}{theirs}.bias"):
            w[f"{dst}b_{ours}"] = r.get(f"{src}{theirs}.bias")


def _mlp(w: StateDict, r: _Reader, src: str, dst: str, cfg: ModelConfig) -> None:
    """An MLP layer's MLP, or a MoE layer's router, experts, shared expert and latent projections."""
    if not r.has(src + "gate.weight"):
        _plain_mlp(w, r, src, dst)
        return
    w[dst + "router.W"] = r.linear(src + "gate.weight")  # [d_model, n_experts]
    w[dst + "router.b_choice"] = r.get(src + "gate.e_score_correction_bias")
    if r.has(src + "experts.up_proj"):  # a transformers save: stacked [n, out, in]
        up, down = r.get(src + "experts.up_proj"), r.get(src + "experts.down_proj")
        if up.shape[0] != cfg.n_experts:
            raise ModelLoadError(f"{src}experts holds {up.shape[0]} experts; config.json says {cfg.n_experts}.")
        for e in range(cfg.n_experts):
            w[f"{dst}experts.{e}.W_in"], w[f"{dst}experts.{e}.W_out"] = up[e].T.contiguous(), down[e].T.contiguous()
    else:
        for e in range(cfg.n_experts):
            _plain_mlp(w, r, f"{src}experts.{e}.", f"{dst}experts.{e}.")
    _plain_mlp(w, r, src + "shared_experts.", dst + "shared.")
    for ours, theirs in (("latent_in", "fc1_latent_proj"), ("latent_out", "fc2_latent_proj")):
        if r.has(f"{src}{theirs}.weight"):
            w[f"{dst}{ours}.W"] = r.linear(f"{src}{theirs}.weight")
            if r.has(f"{src}{theirs}.bias"):
                w[f"{dst}{ours}.b"] = r.get(f"{src}{theirs}.bias")


ADAPTERS = {"nemotron_h": (nemotron_h_config, nemotron_h_weights)}
