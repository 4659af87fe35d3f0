"""The plain words the sidebar shows for each declared feature of a model's layers (attention, norms, MLP):
`ModelConfig.features()`, kept apart from the config's fields and the rules that read them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .config import MIXER_PHRASES, REPLACED_LABELS

if TYPE_CHECKING:
    from .config import ModelConfig


def _scale_features(cfg: ModelConfig) -> list[str]:
    """The factor on q·k, where it is not 1/√d_head (Gemma's query_pre_attn_scalar is often head_dim: then it
    is, and goes unsaid)."""
    if cfg.attn_scale == 1.0:
        return ["q·k not scaled (no 1/√d_head)"]
    if not cfg.has_own_scale:
        return []
    by = f"1/√({cfg.scale_multiple}·d_head) = {cfg.scale:.4g}" if cfg.scale_multiple else f"{cfg.scale:.4g}"
    return [f"scores scaled by {by} (not 1/√d_head = {cfg.d_head**-0.5:.4g})"]


def features(cfg: ModelConfig) -> list[str]:
    """Plain words for each declared feature of its layers (attention, norms, MLP) this model uses (the sidebar
    shows them)."""
    out = _hybrid_features(cfg)
    if cfg.kv_latent_rank:
        queries = f"queries from one of {cfg.q_latent_rank}" if cfg.q_latent_rank else "queries from the residual"
        out.append(f"multi-head latent attention: keys and values from one shared latent of {cfg.kv_latent_rank} "
                   f"numbers per token, {queries}; values {cfg.d_value} wide")
    if cfg.sliding_window is not None:
        n = sum(cfg.window(i) is not None for i in range(cfg.n_layers))
        stack = "encoder " if cfg.is_encoder_decoder else ""  # LED: its decoder reads every earlier key
        where = f"every {stack}layer" if n == cfg.n_layers else f"{n} of {cfg.n_layers} {stack}layers"
        if cfg.causal:
            out.append(f"sliding window of {cfg.sliding_window} tokens ({where})")
        else:  # a bidirectional window reaches both ways: |query − key| < sliding_window
            out.append(f"local attention: keys up to {cfg.sliding_window - 1} tokens either side ({where})")
    if cfg.decoder_sliding_window is not None:  # T5Gemma: the decoder's local layers are the encoder's, causal
        out.append(f"the decoder's sliding window of {cfg.decoder_sliding_window} tokens (on the same layers)")
    if cfg.attn_softcap is not None:
        out.append(f"attention scores soft-capped at ±{cfg.attn_softcap:g}")
    if cfg.final_softcap is not None:
        out.append(f"logits soft-capped at ±{cfg.final_softcap:g}")
    if cfg.attn_sinks:
        out.append("attention sinks: a learned logit per head takes a share of every row's weight")
    if cfg.attn_output_gate:
        per = "one number per head and query" if cfg.attn_gate_per_head else "per query and dimension"
        out.append(f"each head's output gated: z × σ(E·W_G), {per}, before W_O")
    if cfg.token_dropout_id is not None:
        out.append("token dropout: a <mask> token's embedding zeroed, the others × 0.88 / (1 − the text's share of "
                   "<mask>), as ESM was trained")
    if cfg.qkv_clip is not None:
        out.append(f"q, k and v clamped to ±{cfg.qkv_clip:g} after their maps (clip_qkv)")
    out += _scale_features(cfg)
    out += _qk_norm_features(cfg)
    out += _rope_features(cfg)
    out += _position_bias_features(cfg)
    if cfg.residual_scale != 1.0:
        folded = ("the weights of the norms on the sublayers' outputs"
                  if cfg.norm_position in ("sandwich", "post_sublayer") else "W_O and the MLP's W_out")
        out.append(f"each sublayer's output × {cfg.residual_scale:g} before it is added (in {folded})")
    if cfg.unembed_scale != 1.0:
        out.append(f"logits × {cfg.unembed_scale:.4g}")
    out += _head_features(cfg)
    if cfg.n_experts:  # the MLP's, not attention's: said so the sidebar names every way the model differs
        out.append(f"a mixture of {cfg.n_experts} experts in the MLP, {cfg.experts_per_token} per token"
                   + _router_words(cfg))
    if cfg.parallel_blocks:
        out.append("attention and MLP in parallel" + (", from one norm" if cfg.shared_block_norm else ""))
    if cfg.norm_position in ("sandwich", "post_sublayer"):
        out.append("a norm on each sublayer's output")
    if not cfg.norm_weights:
        out.append(f"{'LayerNorm' if cfg.norm == 'layer' else 'RMSNorm'} without learned weights or biases"
                   + (", on the embeddings too, before the first block" if cfg.embed_norm else ""))
    if cfg.layer_weights:  # ALBERT: one block's weights run in every layer (or a few blocks, each in a run of them)
        blocks = "one block's weights" if cfg.stored_layers == 1 else f"{cfg.stored_layers} blocks' weights in turn"
        out.append(f"weights shared across layers: its {cfg.n_layers} layers run {blocks}")
    return out + _grouping_features(cfg)


def _head_features(cfg: ModelConfig) -> list[str]:
    """The model's prediction head: a sequence classifier's, a token classifier's, a masked-language model's (an
    encoder with the head it was trained with, whose logits fill in masked tokens) or ModernBERT decoder's before its
    unembedding."""
    if cfg.class_labels:  # the labels are the checkpoint's own words: the pages quote them, the sidebar counts them
        read = {"first": f"{cfg.class_pool_act} pooler on the first token", "last": "one linear map on the last token",
                "mean": f"{cfg.class_pool_act} pooler on the mean of every token",
                "decoder_eos": f"{cfg.class_pool_act} pooler on the decoder's last </s>, the decoder reading the text "
                               "shifted right"}[cfg.class_pool]  # fmt: skip
        return [f"a sequence-classification head ({read}, {len(cfg.class_labels)} labels)"]
    if cfg.answer_head:
        return ["a question-answering head (each token's final embedding to a start and an end logit: the answer's "
                "span in the second text)"]
    if cfg.tag_labels == REPLACED_LABELS:
        return ["a replaced-token-detection head (ELECTRA's discriminator: is each token the text's own or replaced?)"]
    if cfg.tag_labels:  # a tagger's (named entities, parts of speech): a label for every token
        return [f"a token-classification head (each token's final embedding to one of {len(cfg.tag_labels)} labels)"]
    if cfg.masked_lm:
        return [f"a masked-language-model head (dense, {cfg.head_act}, LayerNorm, unembedding): its logits at a "
                "position guess the token there"]  # fmt: skip
    if cfg.head_act is None:
        return []
    return [f"a prediction head (dense, {cfg.head_act}, LayerNorm) before the unembedding"]


def _grouping_features(cfg: ModelConfig) -> list[str]:
    """Grouped-query attention's words: how many query heads share each key/value head (by layer, where layers keep
    their own key/value heads: MiMo-V2-Flash)."""
    if cfg.kv_heads_layers:
        groups = sorted({cfg.n_heads // n for n in cfg.kv_heads_layers}, reverse=True)
        return [f"grouped-query attention ({' or '.join(map(str, groups))} query heads per key/value head, by layer)"]
    if cfg.n_kv_heads < cfg.n_heads:
        return [f"grouped-query attention ({cfg.group_size} query heads per key/value head)"]
    return []


def _hybrid_features(cfg: ModelConfig) -> list[str]:
    """`features` of a hybrid's layers without attention: which mix tokens how (mixers.KINDS)."""
    out = []
    details = {"short_conv": f" over {cfg.conv_kernel} tokens", "gated_delta": " (linear attention)"}
    for mixer, words in MIXER_PHRASES.items():
        others = [i for i in range(cfg.n_layers) if cfg.mixers and cfg.mixers[i] == mixer and mixer != "none"]
        if others:
            out.append(f"{words}{details.get(mixer, '')} instead of attention in {len(others)} of {cfg.n_layers} "
                       f"layers ({_listed(others)}): no heads there")  # fmt: skip
    if cfg.delta_gate == "sigmoid":
        out.append("the delta rule as Kimi Delta Attention: a decay for every key channel, its output gated by σ")
    if cfg.ssm_beside_attention:
        out.append("a Mamba-2 state-space scan beside attention in every layer, both outputs added")
    if cfg.folded_multipliers:
        factors = ", ".join(f"{_factor_words(key)} {value:g}" for key, value in cfg.folded_multipliers if value != 1)
        out.append(f"multipliers folded into the weights ({factors or 'all 1'})")
    mlp_only = [i for i in range(cfg.n_layers) if not cfg.mixes(i)]
    if mlp_only:
        out.append(f"{len(mlp_only)} of {cfg.n_layers} layers an MLP alone ({_listed(mlp_only)}): no token mixing, "
                   "no heads there")  # fmt: skip
    on_outputs = [i for i in range(cfg.n_layers) if cfg.norm_positions and cfg.norm_at(i) == "post_sublayer"]
    if on_outputs:
        out.append(f"a norm on each sublayer's output, not its input, in {len(on_outputs)} of {cfg.n_layers} layers "
                   f"({_listed(on_outputs)})")  # fmt: skip
    mlp_out = [i for i in range(cfg.n_layers) if cfg.norm_positions and cfg.norm_at(i) == "pre_mlp_out"]
    if mlp_out:
        out.append(f"a norm on the MLP's output before it is added in {len(mlp_out)} of {cfg.n_layers} layers "
                   f"({_listed(mlp_out)})")  # fmt: skip
    if cfg.delta_beta_scale != 1.0:
        out.append(f"the delta rule's β up to {cfg.delta_beta_scale:g} (negative eigenvalues allowed)")
    mixer_only = [i for i in range(cfg.n_layers) if not cfg.has_mlp(i)]
    if mixer_only:
        out.append(f"{len(mixer_only)} of {cfg.n_layers} layers a token mixer alone, without an MLP "
                   f"({_listed(mixer_only)})")  # fmt: skip
    return out


def _position_bias_features(cfg: ModelConfig) -> list[str]:
    """`features` of a bias on the scores standing for position: ALiBi's slopes, T5's buckets, DeBERTa's terms."""
    if cfg.position_bias == "alibi" and cfg.alibi_bias_max is not None:
        return ["ALiBi: each head adds its own slope × (the key's position − the last key's) to every score, no "
                "position embedding"]  # fmt: skip
    if cfg.position_bias == "alibi":
        scaled = "; the slopes ÷ √d_head, as the model adds them to q·k before its scale" if cfg.alibi_scaled else ""
        return ["ALiBi: each head adds its own slope × the key's position to every score, no position embedding"
                + scaled]
    if cfg.position_bias == "t5":
        kind = "causal" if cfg.causal else "bidirectional"
        if cfg.is_encoder_decoder:
            kind = "bidirectional in the encoder, causal in the decoder"
        own = ", each layer its own" if cfg.rel_bias_per_layer else ""
        return [f"relative position bias, beside q·k ({cfg.rel_buckets} buckets to {cfg.rel_max_distance} "
                f"tokens; {kind}{own})"]
    if cfg.position_bias == "disentangled":
        reach = (f"offsets exact to ±{cfg.rel_buckets // 2}, then log buckets to {cfg.rel_max_distance}"
                 if cfg.rel_max_distance else f"offsets exact, clamped at ±{cfg.rel_buckets}")
        return [f"disentangled attention: content→position and position→content terms beside q·k ({reach})"]
    return []


def _layer_bases(cfg: ModelConfig) -> list[str]:
    """`features` of per-layer RoPE bases (Granite SWA): the distinct ones, in words."""
    bases = sorted({b for i, b in enumerate(cfg.rope_thetas) if cfg.rotates(i)})
    return [f"RoPE base per layer ({', '.join(f'{b:g}' for b in bases)})"] if len(bases) > 1 else []


def _qk_norm_features(cfg: ModelConfig) -> list[str]:
    """`features` of the norm on queries and keys: over what, where, with or without a weight, in which layers."""
    if cfg.qk_norm == "none":
        return []
    kind = "RMSNorm" if cfg.qk_norm_weights else "RMS normalisation (no learned weight)"
    kind = "LayerNorm" if cfg.norm == "layer" else kind  # as its other norms: ESM C, Phi, StableLM, Command R+
    words = (f"{kind} on queries and keys" + (" per head" if cfg.qk_norm == "head" else "")
             + (", after RoPE" if cfg.qk_norm_after_rope else ""))  # fmt: skip
    normed = [i for i in range(cfg.n_layers) if cfg.qk_norm_in(i) != "none"]
    if len(normed) < cfg.n_layers:
        words += f" in {len(normed)} of {cfg.n_layers} layers ({_listed(normed)})"
    return [words]


def _rope_features(cfg: ModelConfig) -> list[str]:
    """`features` of the rotation: per-layer bases, scaling, layers without it, pair order, partial rotary."""
    out = []
    own_base = cfg.rope_theta_local is not None  # sliding layers keep their own, unscaled RoPE
    every = all(cfg.window(i) is not None for i in range(cfg.n_layers))
    out += _layer_bases(cfg)
    if own_base and every:
        out.append(f"RoPE base {cfg.rope_theta_local:g} (every layer slides)")
    elif own_base and cfg.rope_theta_local != cfg.rope_theta:
        out.append(f"RoPE base {cfg.rope_theta_local:g} on sliding layers, {cfg.rope_theta:g} elsewhere")
    if cfg.rope_scaling is not None:
        some = own_base and not every and any(cfg.window(i) is not None for i in range(cfg.n_layers))
        out.append(f"RoPE scaling: {cfg.rope_scaling}" + (" (full-attention layers only)" if some else ""))
    layers = cfg.attention_layers  # a hybrid's other layers have no scores to rotate
    plain = [i for i in layers if cfg.uses_rope and not cfg.rotates(i)]
    if plain:
        out.append(f"no RoPE in {len(plain)} of {len(layers)} {'attention ' if cfg.mixers else ''}layers "
                   f"({_listed(plain)}): their scores see no position")  # fmt: skip
    if cfg.rope_pairs_reordered:
        out.append("RoPE on neighbouring pairs of dimensions (q and k listed even dimensions first)")
    if cfg.rope_reversed:
        out.append("RoPE turning each pair the other way (by −position·θ)")
    if cfg.rotary_dim is not None and cfg.rotary_dim != cfg.d_head and any(map(cfg.rotates, layers)):
        which = "the last " if cfg.kv_latent_rank else ""  # MLA: a head's rotated part follows its unrotated one
        shared = ", the key's shared by every head" if cfg.kv_latent_rank else ""
        out.append(f"RoPE on {which}{cfg.rotary_dim} of {cfg.d_head} dimensions per head{shared}")
    elif cfg.kv_latent_rank and cfg.rotary_dim:  # Kimi Linear: the shared part kept, never rotated
        out.append(f"the last {cfg.rotary_dim} of {cfg.d_head} dimensions of every head's key shared by every head, "
                   "unrotated")  # fmt: skip
    return out


def _router_words(cfg: ModelConfig) -> str:
    """How DeepSeek's routers differ from a softmax over every expert, for `features`."""
    words = {"sigmoid": " (sigmoid router)", "sigmoid_logits": " (sigmoid router, choosing by its logits)"}.get(
        cfg.moe_router, "")
    if cfg.moe_router == "sparsemixer":  # experts.sparse_mixer
        words = " (SparseMixer: each of the two weighted by a softmax over the logits within 2ε of it)"
    if cfg.moe_scales_input:  # Llama 4: the weight goes in before the expert's SwiGLU, not on its output
        words += ", each chosen expert's weight multiplying its input"
    groups, kept = cfg.moe_groups
    if groups > 1:
        words += f", chosen within the best {kept} of {groups} groups"
    return words


def _listed(layers: list[int], most: int = 4) -> str:
    """The layers in words, the first `most` of them: "layers 3, 7, 11, 15, …"."""
    shown = ", ".join(str(i) for i in layers[:most])
    return ("layer " if len(layers) == 1 else "layers ") + shown + (", …" if len(layers) > most else "")


def _factor_words(name: str) -> str:
    """A folded multiplier's config.json name, short: "attention_in_multiplier" → "attention in", "ssm_multipliers.z"
    → "scan z"."""
    words = name.replace("_multipliers.", " ").removesuffix("_multiplier").replace("_", " ")
    return words.replace("ssm", "scan").replace("dt", "Δ")
