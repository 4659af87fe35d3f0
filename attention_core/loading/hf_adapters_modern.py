"""Hugging Face adapters for today's open decoders: Qwen3, Gemma (1, 2, 3 text), Phi-3, OLMo 2, GPT-NeoX.

Each is a (config, weights) pair like those in hf_adapters.py. What an architecture adds to attention is
declared in the ModelConfig (qk_norm, attn_scale, attn_softcap, sliding_window + sliding_layers, ...);
the forward pass branches on those features only, never on the architecture's name.

Conventions folded in here, so the forward pass stays one:
- Gemma's RMSNorm multiplies by (1 + w): the canonical weight is w + 1 (every Gemma norm, q/k norms too).
- Phi-3's fused qkv_proj rows are [q; k; v], its gate_up_proj rows [gate; up]: split into W_Q/W_K/W_V and
  W_gate/W_in.
- GPT-NeoX's query_key_value rows are per head interleaved: head h's q, k, v are rows
  (3h + 0, 1, 2)·d_head ..: regrouped into W_Q/W_K/W_V.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..config import ModelConfig
from ..errors import ModelLoadError
from .hf_adapters import StateDict, _act, _Reader
from .rope_scaling import RopeRule, rope_rule, scaling_kind

# ── config ─────────────────────────────────────────────────────────────────────────────────────────


def _rope(hf: dict, layer_type: str | None = None) -> dict:
    """The RoPE parameters (of one layer type, where they are given per type, as Gemma 3's are), whichever
    spelling the config uses (rope_parameters, or the older rope_scaling)."""
    params = {**(hf.get("rope_scaling") or {}), **(hf.get("rope_parameters") or {})}
    if layer_type is not None and isinstance(params.get(layer_type), dict):
        params = dict(params[layer_type])
    return params


def _scaling(hf: dict, theta: float, rotary_dim: int) -> RopeRule:
    """The global layers' RoPE scaling rule (rope_scaling.SUPPORTED; others refused). Scaling declared on sliding
    layers that keep their own base (Gemma 3's local layers) is refused."""
    if scaling_kind(_rope(hf, "sliding_attention")) != "default" and "sliding_attention" in (
        hf.get("rope_parameters") or {}
    ):
        raise ModelLoadError("RoPE scaling on sliding-window layers is not supported yet.")
    params = _rope(hf, "full_attention")
    params.setdefault("original_max_position_embeddings", hf.get("original_max_position_embeddings"))  # Phi-3's
    return rope_rule(params, theta, rotary_dim, int(hf.get("max_position_embeddings", 2048)))


def _theta(hf: dict, layer_type: str | None = None, default: float = 10000.0) -> float:
    params = _rope(hf, layer_type)
    return float(params.get("rope_theta") or hf.get("rope_theta") or default)


def _windows(hf: dict, n_layers: int) -> tuple[int | None, tuple[bool, ...]]:
    """(sliding_window, sliding_layers) from layer_types where the config lists them, else every layer."""
    window = hf.get("sliding_window")
    types = hf.get("layer_types")
    if types:
        sliding = tuple(t == "sliding_attention" for t in types)
        if len(sliding) != n_layers:
            raise ModelLoadError(f"config.json lists {len(sliding)} layer types for {n_layers} layers.")
        if not any(sliding) or window is None:
            return None, ()
        return int(window), sliding
    if window is None or hf.get("use_sliding_window") is False:
        return None, ()
    return int(window), ()


def _decoder(hf: dict, name: str, arch: str, **features) -> ModelConfig:
    """A pre-norm RoPE decoder's config from the usual Hugging Face fields, plus the declared features."""
    d_model, n_heads, n_layers = int(hf["hidden_size"]), int(hf["num_attention_heads"]), int(hf["num_hidden_layers"])
    d_head = int(hf.get("head_dim") or d_model // n_heads)
    window, sliding = _windows(hf, n_layers)
    fields = dict(
        name=name, arch=arch, n_layers=n_layers, n_heads=n_heads,
        n_kv_heads=int(hf.get("num_key_value_heads") or n_heads), d_model=d_model, d_head=d_head,
        d_mlp=int(hf["intermediate_size"]), d_vocab=int(hf["vocab_size"]),
        n_ctx=int(hf.get("max_position_embeddings", 2048)), causal=True, norm="rms",
        norm_eps=float(hf.get("rms_norm_eps", 1e-6)), norm_position="pre",
        act=_act(hf.get("hidden_activation") or hf.get("hidden_act", "silu")), gated_mlp=True, uses_rope=True,
        rope_theta=_theta(hf), tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
        sliding_window=window, sliding_layers=sliding, bos_token_id=hf.get("bos_token_id"),
        eos_token_id=_eos(hf), display_name=str(hf.get("_name_or_path") or name),
    )  # fmt: skip
    partial = float(_rope(hf).get("partial_rotary_factor") or hf.get("partial_rotary_factor") or 1.0)
    if partial != 1.0:
        fields["rotary_dim"] = int(d_head * partial)
    fields.update(features)
    rule = _scaling(hf, fields["rope_theta"], fields.get("rotary_dim") or d_head)
    fields.update(rule.fields(), n_ctx=rule.cap(fields["n_ctx"]))
    return ModelConfig(**fields)


def _eos(hf: dict) -> int | None:
    eos = hf.get("eos_token_id")
    return eos[0] if isinstance(eos, list) and eos else eos  # Gemma and Qwen list several: the first stops


def qwen3_config(hf: dict, name: str) -> ModelConfig:
    if hf.get("attention_bias"):
        raise ModelLoadError("Qwen3 checkpoints with attention biases are not supported yet.")
    return _decoder(hf, name, "qwen3", qk_norm="head")


def gemma1_config(hf: dict, name: str) -> ModelConfig:
    """Gemma (1): a pre-norm Llama with (1 + w) norms, a √d_model embedding scale and GeGLU; scale 1/√d_head."""
    act = hf.get("hidden_activation") or hf.get("hidden_act") or "gelu_pytorch_tanh"
    return _decoder(
        hf, name, "gemma", embed_scale=math.sqrt(int(hf["hidden_size"])),
        act=_act("gelu_pytorch_tanh" if act == "gelu" else act),  # "gelu" in the releases meant the tanh form
        tie_embeddings=bool(hf.get("tie_word_embeddings", True)),
    )  # fmt: skip


# What transformers' Gemma3TextConfig assumes for a field the checkpoint leaves out: Gemma 3 4B's own config.json
# names only its sizes and RoPE scaling (its heads, head size and vocabulary are these).
GEMMA3_TEXT_DEFAULTS = dict(
    vocab_size=262_208, num_attention_heads=8, num_key_value_heads=4, head_dim=256, query_pre_attn_scalar=256,
    hidden_activation="gelu_pytorch_tanh", max_position_embeddings=131_072, rms_norm_eps=1e-6, sliding_window=4096,
)  # fmt: skip


def gemma_config(hf: dict, name: str) -> ModelConfig:
    """Gemma 2 and Gemma 3 (text): sandwich norms, √d_model embedding scale, query_pre_attn_scalar, and
    Gemma 2's soft-caps (Gemma 3 replaces them with q/k norms and a separate RoPE base on sliding layers)."""
    gemma3 = hf.get("model_type") in ("gemma3_text", "gemma3")
    if gemma3:
        hf = {**hf, **{key: value for key, value in GEMMA3_TEXT_DEFAULTS.items() if hf.get(key) is None}}
    if not hf.get("layer_types"):  # configs saved before transformers listed layer types: the models' own rule
        period = int(hf.get("sliding_window_pattern") or 6) if gemma3 else 2
        n_layers = int(hf["num_hidden_layers"])
        types = ["sliding_attention" if (i + 1) % period else "full_attention" for i in range(n_layers)]
        hf = {**hf, "layer_types": types}
    features: dict = dict(
        norm_position="sandwich", embed_scale=math.sqrt(int(hf["hidden_size"])),
        attn_scale=float(hf.get("query_pre_attn_scalar") or 256) ** -0.5,
        attn_softcap=hf.get("attn_logit_softcapping"), final_softcap=hf.get("final_logit_softcapping"),
        tie_embeddings=bool(hf.get("tie_word_embeddings", True)),
    )  # fmt: skip
    if gemma3:
        features.update(
            qk_norm="head", rope_theta=_theta(hf, "full_attention", 1_000_000.0),
            rope_theta_local=_theta(hf, "sliding_attention", 10000.0) if hf.get("rope_parameters")
            else float(hf.get("rope_local_base_freq", 10000.0)),
        )  # fmt: skip
    if gemma3 and hf.get("use_bidirectional_attention"):  # EmbeddingGemma: every key both ways, its windows halved
        halved = {**hf, "sliding_window": int(hf["sliding_window"]) // 2 + 1}  # as transformers: |query − key| < it
        return _decoder(halved, name, "gemma3_embedding", causal=False, **features)
    return _decoder(hf, name, "gemma3" if gemma3 else "gemma2", **features)


def gemma3_multimodal_config(hf: dict, name: str) -> ModelConfig:
    """Gemma 3 4B, 12B, 27B (Gemma3ForConditionalGeneration): the language model, from text_config; the vision
    tower and its projector are not read (a text has no image tokens)."""
    text = {**(hf.get("text_config") or {}), "model_type": "gemma3_text"}
    for key in ("eos_token_id", "tie_word_embeddings", "_name_or_path"):  # said at the top level, if anywhere
        if text.get(key) is None and hf.get(key) is not None:
            text[key] = hf[key]
    return gemma_config(text, name)


def phi3_config(hf: dict, name: str) -> ModelConfig:
    return _decoder(hf, name, "phi3")


def smollm3_config(hf: dict, name: str) -> ModelConfig:
    """SmolLM3: a Llama whose every no_rope_layer_interval-th layer (4) rotates nothing (NoPE): no_rope_layers
    lists 1 for a layer with RoPE and 0 for one without, made from the interval where a config omits it."""
    n_layers, every = int(hf["num_hidden_layers"]), int(hf.get("no_rope_layer_interval") or 4)
    flags = hf.get("no_rope_layers") or [int((i + 1) % every != 0) for i in range(n_layers)]
    if len(flags) != n_layers:
        raise ModelLoadError(f"config.json lists no_rope_layers for {len(flags)} layers of {n_layers}.")
    return _decoder(hf, name, "smollm3", rope_layers=tuple(bool(f) for f in flags))


def olmo2_config(hf: dict, name: str) -> ModelConfig:
    if hf.get("attention_bias"):
        raise ModelLoadError("OLMo 2 checkpoints with attention biases are not supported yet.")
    return _decoder(hf, name, "olmo2", qk_norm="full", norm_position="post_sublayer")


def olmo3_config(hf: dict, name: str) -> ModelConfig:
    """OLMo 3: OLMo 2's blocks, three sliding-window layers per full one; RoPE scaling (YaRN on the long-context
    models) on the full layers only, the sliding ones keep plain RoPE."""
    if hf.get("attention_bias"):
        raise ModelLoadError("OLMo 3 checkpoints with attention biases are not supported yet.")
    if not hf.get("layer_types"):  # Olmo3Config's defaults: a 4096-token window on 3 of every 4 layers
        types = ["sliding_attention" if (i + 1) % 4 else "full_attention" for i in range(int(hf["num_hidden_layers"]))]
        hf = {**hf, "sliding_window": hf.get("sliding_window", 4096), "layer_types": types}
    full, sliding = _theta(hf, "full_attention"), _theta(hf, "sliding_attention")
    scaled = scaling_kind(_rope(hf, "full_attention")) != "default"
    return _decoder(hf, name, "olmo3", qk_norm="full", norm_position="post_sublayer", rope_theta=full,
                    rope_theta_local=sliding if scaled or sliding != full else None)  # fmt: skip


def neox_config(hf: dict, name: str) -> ModelConfig:
    """GPT-NeoX / Pythia: LayerNorm, partial rotary, parallel attention and MLP, biases everywhere."""
    cfg = _decoder(
        {**hf, "num_key_value_heads": hf["num_attention_heads"]}, name, "neox", norm="layer",
        norm_eps=float(hf.get("layer_norm_eps", 1e-5)), gated_mlp=False,
        parallel_blocks=bool(hf.get("use_parallel_residual", True)), attn_bias=bool(hf.get("attention_bias", True)),
        mlp_bias=True,
    )  # fmt: skip
    return cfg


# ── weights ────────────────────────────────────────────────────────────────────────────────────────


def _unembed(w: StateDict, sd: StateDict, cfg: ModelConfig, key: str = "lm_head.weight") -> None:
    if cfg.tie_embeddings:
        return
    if key not in sd:
        raise ModelLoadError(f"The checkpoint lacks {key!r} and does not tie its embeddings.")
    w["unembed.W_U"] = sd[key].float().T.contiguous()  # [d_model, d_vocab]


def _gated(w: StateDict, r: _Reader, src: str, dst: str) -> None:
    w[dst + "mlp.W_gate"] = r.linear(src + "mlp.gate_proj.weight")
    w[dst + "mlp.W_in"] = r.linear(src + "mlp.up_proj.weight")
    w[dst + "mlp.W_out"] = r.linear(src + "mlp.down_proj.weight")


def _attn(w: StateDict, r: _Reader, src: str, dst: str, plus_one: float = 0.0) -> None:
    for part in "qkvo":
        w[f"{dst}attn.W_{part.upper()}"] = r.linear(f"{src}self_attn.{part}_proj.weight")
    if r.has(src + "self_attn.q_norm.weight"):
        w[dst + "attn.q_norm.w"] = r.get(src + "self_attn.q_norm.weight") + plus_one
        w[dst + "attn.k_norm.w"] = r.get(src + "self_attn.k_norm.weight") + plus_one


LLAMA_NORMS = {"ln_attn": "input_layernorm", "ln_mlp": "post_attention_layernorm"}  # (ours: the checkpoint's)


def llama_layout(
    sd: StateDict, cfg: ModelConfig, mlp: Callable[[StateDict, _Reader, str, str], None],
    prefixes: tuple[str, ...] = ("model.",), lm_head: str = "lm_head.weight", norms: dict[str, str] = LLAMA_NORMS,
    attention: bool = True,
) -> StateDict:  # fmt: skip
    """A Llama's layout under the first of `prefixes` the checkpoint uses: embed_tokens, norm (where the model's norms
    have weights); per layer self_attn (q/k norms where the checkpoint has them; attention=False: left to `mlp`,
    which then reads the whole block), the block's `norms` (ours: the checkpoint's name) and the MLP that
    `mlp(w, r, src, dst)` reads; `lm_head`."""
    r = _Reader(sd, prefixes)
    w: StateDict = {"embed.W_E": r.get("embed_tokens.weight")}
    if cfg.norm_weights:  # OLMo 1's LayerNorms have none
        w["ln_final.w"] = r.get("norm.weight")
    for layer in range(cfg.n_layers):
        src, dst = f"layers.{layer}.", f"blocks.{layer}."
        if attention:
            _attn(w, r, src, dst)
        for ours, theirs in norms.items():
            w[f"{dst}{ours}.w"] = r.get(f"{src}{theirs}.weight")
        mlp(w, r, src, dst)
    _unembed(w, sd, cfg, lm_head)
    return w


def pre_ff_layout(sd: StateDict, cfg: ModelConfig, block: Callable[[StateDict, _Reader, str, str, int], None]):
    """The layout Bamba, Jamba and Falcon-H1 share under model.: embed_tokens, final_layernorm, each layer's
    input_layernorm (ln_attn) and pre_ff_layernorm (ln_mlp), then `block(w, r, src, dst, layer)` the rest; lm_head."""
    r = _Reader(sd, ("model.",))
    w: StateDict = {"embed.W_E": r.get("embed_tokens.weight"), "ln_final.w": r.get("final_layernorm.weight")}
    for layer in range(cfg.n_layers):
        src, dst = f"layers.{layer}.", f"blocks.{layer}."
        w[dst + "ln_attn.w"] = r.get(src + "input_layernorm.weight")
        w[dst + "ln_mlp.w"] = r.get(src + "pre_ff_layernorm.weight")
        block(w, r, src, dst, layer)
    _unembed(w, sd, cfg)
    return w


def attention_maps(w: StateDict, r: _Reader, src: str, dst: str) -> None:
    """self_attn's q, k, v and o maps, without biases, as W_Q, W_K, W_V, W_O."""
    for part in "qkvo":
        w[f"{dst}attn.W_{part.upper()}"] = r.linear(f"{src}self_attn.{part}_proj.weight")


def qwen3_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    return llama_layout(sd, cfg, _gated)


def gemma1_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """Gemma (1): every RMSNorm weight + 1, as for Gemma 2/3, with a Llama's two norms per block."""
    r = _Reader(sd, ("model.",))
    w: StateDict = {"embed.W_E": r.get("embed_tokens.weight"), "ln_final.w": r.get("norm.weight") + 1.0}
    for layer in range(cfg.n_layers):
        src, dst = f"layers.{layer}.", f"blocks.{layer}."
        _attn(w, r, src, dst)
        w[dst + "ln_attn.w"] = r.get(src + "input_layernorm.weight") + 1.0
        w[dst + "ln_mlp.w"] = r.get(src + "post_attention_layernorm.weight") + 1.0
        _gated(w, r, src, dst)
    _unembed(w, sd, cfg)
    return w


GEMMA_NORMS = (
    ("ln_attn", "input_layernorm"), ("ln_attn_out", "post_attention_layernorm"),
    ("ln_mlp", "pre_feedforward_layernorm"), ("ln_mlp_out", "post_feedforward_layernorm"),
)  # fmt: skip


def gemma_weights(sd: StateDict, cfg: ModelConfig, norms: tuple[tuple[str, str], ...] = GEMMA_NORMS) -> StateDict:
    """Gemma 2/3: every RMSNorm weight + 1 (Gemma's norms multiply by 1 + w); `norms`: (ours, the checkpoint's)."""
    r = _Reader(sd, ("language_model.model.", "model.language_model.", "model."))  # a multimodal one's, or not
    w: StateDict = {"embed.W_E": r.get("embed_tokens.weight"), "ln_final.w": r.get("norm.weight") + 1.0}
    for layer in range(cfg.n_layers):
        src, dst = f"layers.{layer}.", f"blocks.{layer}."
        _attn(w, r, src, dst, plus_one=1.0)
        for ours, theirs in norms:
            w[f"{dst}{ours}.w"] = r.get(f"{src}{theirs}.weight") + 1.0
        _gated(w, r, src, dst)
    _unembed(w, sd, cfg, "language_model.lm_head.weight" if "language_model.lm_head.weight" in sd else "lm_head.weight")
    return w


def phi3_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    r = _Reader(sd, ("model.",))
    w: StateDict = {"embed.W_E": r.get("embed_tokens.weight"), "ln_final.w": r.get("norm.weight")}
    for layer in range(cfg.n_layers):
        src, dst = f"layers.{layer}.", f"blocks.{layer}."
        fused_qkv(w, r, src + "self_attn.qkv_proj", dst, cfg)
        w[dst + "attn.W_O"] = r.linear(src + "self_attn.o_proj.weight")
        gate, up = r.get(src + "mlp.gate_up_proj.weight").chunk(2)  # [d_mlp, d_model] each: gate first
        w[dst + "mlp.W_gate"], w[dst + "mlp.W_in"] = gate.T.contiguous(), up.T.contiguous()
        w[dst + "mlp.W_out"] = r.linear(src + "mlp.down_proj.weight")
        w[dst + "ln_attn.w"] = r.get(src + "input_layernorm.weight")
        w[dst + "ln_mlp.w"] = r.get(src + "post_attention_layernorm.weight")
    _unembed(w, sd, cfg)
    return w


def olmo2_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """OLMo 2 (and EXAONE 4): no input norms, a norm on each sublayer's output."""
    norms = {"ln_attn_out": "post_attention_layernorm", "ln_mlp_out": "post_feedforward_layernorm"}
    return llama_layout(sd, cfg, _gated, norms=norms)


def fused_qkv(w: StateDict, r: _Reader, fused: str, dst: str, cfg: ModelConfig, biases: bool = False) -> None:
    """W_Q, W_K, W_V (and, with `biases`, their biases) from a fused projection whose rows are q | k | v, the key and
    value blocks n_kv_heads wide (Phi-3's qkv_proj, GPT-BigCode's c_attn with one key/value head)."""
    sizes = [cfg.n_heads * cfg.d_head, cfg.n_kv_heads * cfg.d_head, cfg.n_kv_heads * cfg.d_head]
    rows = r.get(fused + ".weight").split(sizes)  # [out, d_model] each
    bias = r.get(fused + ".bias").split(sizes) if biases else (None,) * 3
    for part, W, b in zip("QKV", rows, bias, strict=True):
        w[f"{dst}attn.W_{part}"] = W.T.contiguous()
        if b is not None:
            w[f"{dst}attn.b_{part}"] = b.contiguous()


def interleaved_qkv(w: StateDict, r: _Reader, fused: str, dst: str, cfg: ModelConfig) -> None:
    """W_Q, W_K, W_V (and their biases, with attn_bias) from a fused projection whose rows run head by head, q, k
    and v of each head in turn (GPT-NeoX's and BLOOM's query_key_value)."""
    H, d = cfg.n_heads, cfg.d_head
    rows = r.get(fused + ".weight").view(H, 3, d, cfg.d_model)  # rows: head, part, dim
    bias = r.get(fused + ".bias").view(H, 3, d) if cfg.attn_bias else None
    for i, part in enumerate("QKV"):
        w[f"{dst}attn.W_{part}"] = rows[:, i].reshape(H * d, cfg.d_model).T.contiguous()  # [d_model, H·d]
        if bias is not None:
            w[f"{dst}attn.b_{part}"] = bias[:, i].reshape(H * d).contiguous()


def neox_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    r = _Reader(sd, ("gpt_neox.",))
    w: StateDict = {"embed.W_E": r.get("embed_in.weight")}
    for layer in range(cfg.n_layers):
        src, dst = f"layers.{layer}.", f"blocks.{layer}."
        interleaved_qkv(w, r, src + "attention.query_key_value", dst, cfg)
        w[dst + "attn.W_O"] = r.linear(src + "attention.dense.weight")
        if cfg.attn_bias:
            w[dst + "attn.b_O"] = r.get(src + "attention.dense.bias")
        for ours, theirs in (("ln_attn", "input_layernorm"), ("ln_mlp", "post_attention_layernorm")):
            w[f"{dst}{ours}.w"], w[f"{dst}{ours}.b"] = r.get(f"{src}{theirs}.weight"), r.get(f"{src}{theirs}.bias")
        w[dst + "mlp.W_in"], w[dst + "mlp.b_in"] = r.linear(src + "mlp.dense_h_to_4h.weight"), r.get(
            src + "mlp.dense_h_to_4h.bias"
        )
        w[dst + "mlp.W_out"], w[dst + "mlp.b_out"] = r.linear(src + "mlp.dense_4h_to_h.weight"), r.get(
            src + "mlp.dense_4h_to_h.bias"
        )
    w["ln_final.w"], w["ln_final.b"] = r.get("final_layer_norm.weight"), r.get("final_layer_norm.bias")
    _unembed(w, sd, cfg, "embed_out.weight")
    return w


ADAPTERS = {
    "qwen3": (qwen3_config, qwen3_weights),
    "gemma": (gemma1_config, gemma1_weights),
    "gemma2": (gemma_config, gemma_weights),
    "gemma3_text": (gemma_config, gemma_weights),
    "gemma3": (gemma3_multimodal_config, gemma_weights),  # the language model of Gemma3ForConditionalGeneration
    "phi3": (phi3_config, phi3_weights),
    "olmo2": (olmo2_config, olmo2_weights),
    "olmo3": (olmo3_config, olmo2_weights),  # OLMo 3 (7B, 32B; Think, Instruct): the same tensors
    "smollm3": (smollm3_config, qwen3_weights),  # Llama's layout (q/k norms only where a checkpoint has them)
    "gpt_neox": (neox_config, neox_weights),
}
