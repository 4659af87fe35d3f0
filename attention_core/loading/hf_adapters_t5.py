"""Hugging Face T5 (T5ForConditionalGeneration, T5Model) → the canonical encoder-decoder layout.

A (config, weights) pair like those in hf_adapters.py. T5 is an encoder-decoder like Marian, loaded and traced
through the same path (`Model.trace_pair`, attention_core/seq2seq.py), with what it adds declared in its
ModelConfig:

- `position_bias="t5"`: a learned relative position bias (rel_buckets × n_heads) added to the scores before
  the mask. T5 stores one table per stack, in the first layer's self-attention, and every layer of the stack
  reads it; the canonical layout keeps it there: `blocks.0.attn.rel_bias` (the encoder's) and
  `dec.blocks.0.attn.rel_bias` (the decoder's), each (n_buckets, n_heads). umT5 has one in every layer
  (`blocks.{l}.attn.rel_bias`, `rel_bias_per_layer`). Cross-attention has none.
- `attn_scale=1.0`: T5 does not scale q·k (its initialisation folds 1/√d_head into W_Q).
- RMSNorm without mean or bias, before each sublayer (`norm_position="pre"`), and a final norm closing each
  stack (`ln_final`, `dec.ln_final`); the decoder's cross-attention reads the encoder's normalised output.
- the MLP: ReLU (t5-small, `feed_forward_proj="relu"`) or gated (T5 v1.1, Flan-T5: "gated-gelu" is GeGLU
  with the tanh GELU, wi_0 the gate, wi_1 the linear half).
- one embedding shared by both stacks; with tied embeddings the decoder's output is multiplied by
  d_model^-0.5 before the unembedding (`unembed_scale`); untied checkpoints (v1.1) keep their lm_head, unscaled.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from ..config import ModelConfig
from ..errors import ModelLoadError
from .hf_adapters import StateDict, _act, _Reader


def _mlp_kind(hf: dict) -> tuple[str, bool]:
    """(activation, gated) from feed_forward_proj, as transformers' T5Config reads it: "ACT" or "gated-ACT";
    "gated-gelu" means the tanh GELU (gelu_new)."""
    proj = str(hf.get("feed_forward_proj", "relu"))
    parts = proj.split("-")
    if len(parts) > 2 or (len(parts) == 2 and parts[0] != "gated"):
        raise ModelLoadError(f"feed_forward_proj {proj!r} is not of the form 'ACT' or 'gated-ACT' (e.g. 'relu').")
    act = "gelu_new" if proj == "gated-gelu" else parts[-1]
    return _act(act), len(parts) == 2


ENCODER_ONLY = ("T5EncoderModel", "MT5EncoderModel", "UMT5EncoderModel")  # sentence-T5, GTR, image models' encoders


def t5_config(hf: dict, name: str) -> ModelConfig:
    """T5's encoder-decoder, or its encoder alone where config.json's architectures name a T5EncoderModel (no
    decoder, no language-model head: arch "t5_encoder")."""
    d_model, n_heads, n_layers = int(hf["d_model"]), int(hf["num_heads"]), int(hf["num_layers"])
    encoder_only = any(kind in ENCODER_ONLY for kind in hf.get("architectures") or ())
    act, gated = _mlp_kind(hf)
    # Original T5 ties its embeddings and rescales the decoder's output; v1.1 and Flan-T5 say
    # tie_word_embeddings: false and do not. transformers 5 saves that choice as scale_decoder_outputs.
    tied = hf.get("tie_word_embeddings", True) is not False
    scaled = hf.get("scale_decoder_outputs", tied)
    return ModelConfig(
        name=name, arch="t5_encoder" if encoder_only else "t5", n_layers=n_layers, n_heads=n_heads,
        n_kv_heads=n_heads, d_model=d_model, d_head=int(hf["d_kv"]), d_mlp=int(hf["d_ff"]),
        d_vocab=int(hf["vocab_size"]), n_ctx=int(hf.get("n_positions") or 512), causal=False, norm="rms",
        norm_eps=float(hf.get("layer_norm_epsilon", 1e-6)), norm_position="pre", act=act, gated_mlp=gated,
        uses_rope=False, attn_scale=1.0, position_bias="t5", rel_bias_per_layer=hf.get("model_type") == "umt5",
        rel_buckets=int(hf.get("relative_attention_num_buckets", 32)),
        rel_max_distance=int(hf.get("relative_attention_max_distance", 128)),
        unembed_scale=d_model**-0.5 if scaled else 1.0, tie_embeddings=tied,
        n_decoder_layers=0 if encoder_only else int(hf.get("num_decoder_layers") or n_layers),
        decoder_start_token_id=int(hf.get("decoder_start_token_id") or 0), eos_token_id=hf.get("eos_token_id"),
        display_name=str(hf.get("_name_or_path") or name),
    )  # fmt: skip


def t5_weights(sd: StateDict, cfg: ModelConfig, mlp: str = "DenseReluDense") -> StateDict:
    """T5's tensors, each layer's MLP under `mlp` (Switch's: "mlp")."""
    r = _Reader(sd, ())
    embed = r.get("shared.weight") if r.has("shared.weight") else r.get("encoder.embed_tokens.weight")
    w: StateDict = {"embed.W_E": embed}
    if r.has("lm_head.weight") and not cfg.tie_embeddings and cfg.is_encoder_decoder:
        w["unembed.W_U"] = r.linear("lm_head.weight")  # (d_model, d_vocab)

    def attention(dst: str, src: str) -> None:
        for ours, theirs in (("Q", "q"), ("K", "k"), ("V", "v"), ("O", "o")):
            w[f"{dst}.W_{ours}"] = r.linear(f"{src}.{theirs}.weight")  # no biases in T5

    stacks = (("encoder", "", cfg.n_layers), ("decoder", "dec.", cfg.n_decoder_layers))
    for stack, prefix, n_layers in stacks[: 2 if cfg.is_encoder_decoder else 1]:
        for layer in range(n_layers if cfg.rel_bias_per_layer else 1):  # umT5: a table in every layer
            table = r.get(f"{stack}.block.{layer}.layer.0.SelfAttention.relative_attention_bias.weight")
            if tuple(table.shape) != (cfg.rel_buckets, cfg.n_heads):
                raise ModelLoadError(
                    f"The {stack}'s relative attention bias is {tuple(table.shape)}, not "
                    f"(relative_attention_num_buckets, num_heads) = ({cfg.rel_buckets}, {cfg.n_heads})."
                )
            w[f"{prefix}blocks.{layer}.attn.rel_bias"] = table  # (n_buckets, n_heads); T5: layer 0's, for all
        for layer in range(n_layers):
            src, dst = f"{stack}.block.{layer}.layer.", f"{prefix}blocks.{layer}."
            attention(dst + "attn", src + "0.SelfAttention")
            w[dst + "ln_attn.w"] = r.get(src + "0.layer_norm.weight")
            ff = src + "1." if stack == "encoder" else src + "2."
            if stack == "decoder":
                attention(dst + "cross", src + "1.EncDecAttention")
                w[dst + "ln_cross.w"] = r.get(src + "1.layer_norm.weight")
            w[dst + "ln_mlp.w"] = r.get(ff + "layer_norm.weight")
            _feed_forward(w, r, f"{ff}{mlp}.", dst + "mlp.", cfg)
        w[prefix + "ln_final.w"] = r.get(f"{stack}.final_layer_norm.weight")
    return w


def _feed_forward(w: StateDict, r: _Reader, src: str, dst: str, cfg: ModelConfig) -> None:
    """One layer's MLP: wi (or wi_0, the gate, and wi_1) and wo; or, where it has a router (a sparse layer of
    Switch's), the router (router.classifier) and each expert's wi and wo (experts.expert_{e})."""
    if r.has(src + "router.classifier.weight"):
        w[dst + "router.W"] = r.linear(src + "router.classifier.weight")  # (d_model, n_experts)
        for e in range(cfg.n_experts):
            w[f"{dst}experts.{e}.W_in"] = r.linear(f"{src}experts.expert_{e}.wi.weight")
            w[f"{dst}experts.{e}.W_out"] = r.linear(f"{src}experts.expert_{e}.wo.weight")
        return
    if cfg.gated_mlp:
        w[dst + "W_gate"] = r.linear(src + "wi_0.weight")  # act(x·W_gate) * (x·W_in)
        w[dst + "W_in"] = r.linear(src + "wi_1.weight")
    else:
        w[dst + "W_in"] = r.linear(src + "wi.weight")
    w[dst + "W_out"] = r.linear(src + "wo.weight")


def switch_config(hf: dict, name: str) -> ModelConfig:
    """Switch Transformers: T5 (ReLU, tied embeddings, dense_act_fn naming its activation) with, in every
    sparse_step-th layer, experts behind a top-1 softmax router whose probability weighs the expert's output. An expert
    takes at most expert_capacity tokens of a text, in order, and drops the rest (zero MLP output), which the engine
    does not run: texts are capped there, where nothing is dropped."""
    if hf.get("router_type", "tokens_masked") != "tokens_masked" or hf.get("router_bias"):
        raise ModelLoadError("Switch Transformers with another router than top-1 tokens_masked without a bias are not "
                             "supported.")  # fmt: skip
    cfg = t5_config({**hf, "feed_forward_proj": hf.get("dense_act_fn") or "relu"}, name)
    capacity = int(hf.get("expert_capacity", 64))
    note = (f"Texts are capped at {capacity} tokens: past them Switch's experts drop the tokens beyond their "
            "capacity, which this engine does not run.")  # fmt: skip
    return replace(
        cfg, n_experts=int(hf["num_experts"]), experts_per_token=1, moe_router="softmax", moe_renormalize=False,
        n_ctx=min(cfg.n_ctx, capacity), conversion_notes=(*cfg.conversion_notes, note),
    )  # fmt: skip


# mT5: T5 v1.1's layout, multilingual; umT5: the same with a relative position table in every layer
ADAPTERS = {
    "t5": (t5_config, t5_weights), "mt5": (t5_config, t5_weights), "umt5": (t5_config, t5_weights),
    "switch_transformers": (switch_config, partial(t5_weights, mlp="mlp")),  # its sparse layers' experts: _feed_forward
}  # fmt: skip
