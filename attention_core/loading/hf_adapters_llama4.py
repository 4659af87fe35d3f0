"""Hugging Face adapter for Llama 4's language model (Llama4ForCausalLM, model_type llama4_text, and the text half
of Llama4ForConditionalGeneration, llama4: Scout, Maverick), read from transformers' modeling_llama4.

What differs from a Llama:
- RoPE turns neighbouring pairs of dimensions (a complex multiplication), so W_Q's and W_K's columns are reordered
  to the engine's halves (conventions.pairs_to_halves); every no_rope_layer_interval-th layer (4) rotates nothing
  (no_rope_layers: 1 = rotates).
- The layers that rotate normalise each head's rotated q and k by their root mean square, with no learned weight
  (Llama4TextL2Norm; use_qk_norm: Scout does, Maverick does not): ModelConfig.qk_norm_layers, qk_norm_weights.
- The MLP of the layers in moe_layers (every layer, or every interleave_moe_layer_step-th) is a mixture of experts:
  a router chooses num_experts_per_tok (1) experts by their logits and weighs each by the sigmoid of its logit; the
  weight multiplies the token *before* the expert reads it (ModelConfig.moe_scales_input); a shared expert adds to
  every token. Experts are stored stacked: gate_up_proj (n_experts, d_model, 2·d_mlp: gate, then up) and
  down_proj (n_experts, d_mlp, d_model), already [in, out]. The other layers have a dense MLP of
  intermediate_size_mlp.
- Past attention_chunk_size tokens (8192) the rotating layers attend only within their chunk, and past floor_scale
  − 1 (8191) the NoPE layers multiply their queries by 1 + attn_scale·ln(1 + ⌊(position + 1) / floor_scale⌋):
  texts are capped below both, where Llama 4 is a plain causal Llama with the features above, and the cap is
  said in the sidebar's conversion notes.
MobileLLM-R1 is a llama4_text without experts (moe_layers []) whose layers all rotate and are full (layer_types), so
nothing caps it. The vision tower and its projector are not read (a text has no image tokens).
"""

from __future__ import annotations

from dataclasses import replace

from ..config import ModelConfig
from ..errors import ModelLoadError
from .conventions import pairs_to_halves
from .hf_adapters import StateDict, _Reader
from .hf_adapters_modern import _decoder, llama_layout
from .hf_adapters_moe import GATED, moe_fields, shared_mlp, stacked_experts
from .hf_adapters_recent import _defaults, _language_config


def _layers(text: dict, n: int) -> tuple[tuple[bool, ...], tuple[bool, ...]]:
    """(which layers rotate, which have a mixture of experts), by Llama4TextConfig's rules where the config is
    silent: a NoPE layer every no_rope_layer_interval layers, experts every interleave_moe_layer_step layers."""
    interval = int(text.get("no_rope_layer_interval") or 4)
    rotates = text.get("no_rope_layers") or [int((i + 1) % interval != 0) for i in range(n)]
    step = int(text.get("interleave_moe_layer_step") or 1)
    moe = text.get("moe_layers")
    moe = set(range(step - 1, n, step)) if moe is None else {int(i) for i in moe}
    if len(rotates) < n:
        raise ModelLoadError(f"config.json's no_rope_layers lists {len(rotates)} layers for {n}.")
    return tuple(bool(r) for r in rotates[:n]), tuple(i in moe for i in range(n))


def text_cap(n_ctx: int, chunk: int | None, floor: int | None) -> tuple[int, tuple[str, ...]]:
    """The longest text Llama 4 reads as a plain causal model, and the note that says so (none where nothing caps):
    below `chunk` (its chunked layers' chunks; None: no layer is chunked) and below `floor` − 1 (its NoPE layers'
    query temperature; None: no NoPE layer, or not tuned). The GGUF converter (gguf/llama4.py) shares it."""
    cap, why = n_ctx, []
    if chunk and chunk < cap:
        cap = chunk
        why.append(f"past {chunk:,} tokens its chunked layers attend only within {chunk:,}-token chunks")
    if floor and floor - 1 < cap:
        cap = floor - 1
        why.append(f"past {floor - 1:,} its NoPE layers scale their queries (attention temperature tuning)")
    if cap == n_ctx:
        return cap, ()
    return cap, (f"Texts are capped at {cap:,} tokens: {'; '.join(why)}, which this engine does not run.",)


def llama4_config(hf: dict, name: str) -> ModelConfig:
    text = _language_config(hf) if hf.get("text_config") else dict(hf)
    text = _defaults(text, head_dim=128, rope_theta=500000.0, rms_norm_eps=1e-5, num_local_experts=16,
                     num_experts_per_tok=1, intermediate_size_mlp=16384)  # Llama4TextConfig's defaults
    n = int(text["num_hidden_layers"])
    rotates, moe = _layers(text, n)
    if text.get("attention_bias"):
        raise ModelLoadError("Llama 4 checkpoints with attention biases are not supported yet.")
    mixture = _mixture(text) if any(moe) else {}  # none in MobileLLM-R1 (moe_layers [])
    d_mlp = int(text["intermediate_size_mlp"]) if not all(moe) else None  # the dense layers' width
    norms = dict(qk_norm="head", qk_norm_after_rope=True, qk_norm_layers=rotates, qk_norm_weights=False)
    cfg = _decoder(
        {**text, "layer_types": None}, name, "llama4", rope_pairs_reordered=True, rope_layers=rotates,
        **(norms if text.get("use_qk_norm", True) else {}), **mixture, **({"d_mlp": d_mlp} if d_mlp else {}),
    )  # fmt: skip
    types = text.get("layer_types") or ["chunked_attention" if r else "full_attention" for r in rotates]
    chunked = "chunked_attention" in types and text.get("attention_chunk_size")  # MobileLLM-R1: every layer full
    tuned = text.get("attn_temperature_tuning", True) and not all(rotates)  # only NoPE layers scale their queries
    floor = int(text.get("floor_scale") or 8192) if tuned else None
    cap, notes = text_cap(cfg.n_ctx, int(chunked) if chunked else None, floor)
    return replace(cfg, n_ctx=cap, conversion_notes=cfg.conversion_notes + notes)


def _mixture(text: dict) -> dict:
    """The mixture of experts' ModelConfig fields: sigmoid weights of the top num_experts_per_tok logits, not
    renormalised, each multiplying its expert's input."""
    return moe_fields(text, moe_router="sigmoid", moe_renormalize=False, moe_scales_input=True)


def _feed_forward(cfg: ModelConfig):
    """llama_layout's per-layer reader of a Llama 4 block's MLP (under feed_forward.): dense, or the router, the
    stacked experts and the shared expert."""

    def read(w: StateDict, r: _Reader, src: str, dst: str) -> None:
        ff = src + "feed_forward."
        if not r.has(ff + "router.weight"):
            for ours, theirs in GATED:
                w[f"{dst}mlp.{ours}"] = r.linear(f"{ff}{theirs}.weight")
            return
        w[dst + "mlp.router.W"] = r.linear(ff + "router.weight")  # [d_model, n_experts]
        stacked_experts(w, r, ff, dst, cfg.n_experts)  # (n_experts, d_model, 2·d_mlp) and (n_experts, d_mlp, d_model)
        if not shared_mlp(w, r, ff + "shared_expert.", dst):
            raise ModelLoadError(f"The checkpoint lacks {ff}shared_expert, which every Llama 4 mixture has.")

    return read


def llama4_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """The language model under whichever prefix it was saved (Llama4ForConditionalGeneration's language_model.,
    Llama4ForCausalLM's model.), its RoPE pairs reordered to halves."""
    lm_head = next((k for k in ("language_model.lm_head.weight", "lm_head.weight") if k in sd), "lm_head.weight")
    prefixes = ("language_model.model.", "model.")
    return pairs_to_halves(llama_layout(sd, cfg, _feed_forward(cfg), prefixes, lm_head), cfg)


ADAPTERS = {
    "llama4_text": (llama4_config, llama4_weights),
    "llama4": (llama4_config, llama4_weights),
}
