"""What a head reads, in words that hold for each norm placement (pre, post, sandwich, post-sublayer) and each
way a model makes its first residual (embeddings.embed): Start here's step 2 and Inside a head's step 1."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class HeadInputFacts(Protocol):
    """What the words need of a head's input: attention_core.steps.HeadSteps has these fields."""

    layer: int
    norm_position: str  # "pre", "post", "sandwich", "post_sublayer", "pre_mlp_out" (attention's input as "pre")
    norm: str  # "rms" or "layer"
    embedding_terms: tuple[str, ...]  # what embeddings.embed sums: "token", then "position", "segment", "task type"
    embedding_norm: bool  # a LayerNorm on the embeddings (BERT)
    embed_scale: float  # the factor on the token embedding (Marian: √d_model)
    embedding_projection: str  # "": none; "before" / "after" the embedding norm (DeBERTa / ELECTRA-small)
    d_model: int
    norm_weights: bool  # False: the model's norms learn no weight or bias (OLMo 1)


@dataclass(frozen=True)
class HeadInput:
    """HeadInputFacts without a trace (tests, docs)."""

    norm_position: str
    norm: str
    embedding_terms: tuple[str, ...] = ("token",)
    embedding_norm: bool = False
    embed_scale: float = 1.0
    d_model: int = 0
    layer: int = 0
    norm_weights: bool = True
    embedding_projection: str = ""


def summed_embeddings(terms: Sequence[str], embed_scale: float = 1.0, d_model: int = 0) -> str:
    """Layer 0's residual in words (HeadSteps.embedding_terms): 'token + position embeddings', with Marian's
    factor on the token embedding ('√d_model·token + position embeddings')."""
    token = terms[0]
    if embed_scale != 1.0:
        token = "√d_model·" if math.isclose(embed_scale, math.sqrt(d_model), rel_tol=1e-6) else f"{embed_scale:.4g}·"
        token += terms[0]
    return " + ".join([token, *terms[1:]]) + (" embeddings" if len(terms) > 1 else " embedding")


def first_block_input(s: HeadInputFacts) -> tuple[str, str]:
    """(chart-title words, caption) for what layer 0's attention reads (attention_core.blocks.attention_input):
    the normalised residual for pre-norm and sandwich models, the residual itself for post-norm ones."""
    norm_position, norm, terms = s.norm_position, s.norm, s.embedding_terms
    summed = summed_embeddings(terms, s.embed_scale, s.d_model)
    if norm_position in ("pre", "sandwich", "pre_mlp_out"):
        if norm == "rms":
            scaled = " and scaled by a learned weight per dimension" if s.norm_weights else " (no learned weight)"
            return "RMS-normalised", (
                f"RMS-normalised: the looked-up embedding divided by its root-mean-square{scaled}, which is what the "
                "first attention block reads."
            )
        learned = (", then scaled and shifted per dimension by learned weights" if s.norm_weights
                   else " (this model's norms have no learned scale or shift)")  # fmt: skip
        return f"LayerNorm({summed})", (
            "LayerNorm: the looked-up embedding"
            + (" plus its position embedding" if "position" in terms else "")
            + f", minus its mean, divided by its standard deviation{learned}: what the first attention block reads."
        )
    if norm_position == "post":
        if s.embedding_norm:  # BERT normalises the embeddings before the first block
            if s.embedding_projection:  # narrower embeddings projected up to the layers' width
                normed = f"LayerNorm({summed})·W_proj" if s.embedding_projection == "after" else (
                    f"LayerNorm(({summed})·W_proj)")
                return normed, (
                    f"The embeddings are narrower than the layers: W_proj maps them up to d_model = {s.d_model}, "
                    + ("after" if s.embedding_projection == "after" else "before") + " their LayerNorm."
                )
            return f"LayerNorm({summed})", ""
        return summed, (
            "This post-norm model reads the embeddings as they are, not normalised: its first LayerNorm comes after "
            "the first attention's residual add."
        )
    return "the token embedding itself", (
        "This model reads the embedding as it is and normalises each sublayer's output instead (a norm after "
        "attention and after the MLP)."
    )


def head_input_caption(s: HeadInputFacts) -> str:
    """Inside a head's caption for E, what the head reads: blocks.attention_input of the residual entering
    `s.layer`, in words that hold for each norm placement."""
    layer, norm_position, norm = s.layer, s.norm_position, s.norm
    name = "RMSNorm" if norm == "rms" else "LayerNorm"
    summed = summed_embeddings(s.embedding_terms, s.embed_scale, s.d_model)
    rows = " One row per token, one column per dimension."
    if norm_position in ("pre", "sandwich", "pre_mlp_out"):
        weights = (("·w + b" if norm == "layer" else "·w") if s.norm_weights else ", without learned weights")
        return (
            f"E is what this head reads: the residual stream entering layer {layer}, normalised ({name}(x){weights}). "
            f"At layer 0 that is {name}({summed}); later the residual also carries what earlier layers added." + rows
        )
    if norm_position == "post":
        first = f"LayerNorm({summed})" if s.embedding_norm else f"{summed}, not normalised"
        return (
            f"E is the residual stream entering layer {layer}: this post-norm model normalised it at the end of the "
            f"previous block; at layer 0 it is {first}." + rows
        )
    return (
        f"E is the residual stream entering layer {layer}, as it is: this model normalises each sublayer's output "
        f"before adding it, not the sublayer's input. At layer 0 it is {summed}." + rows
    )


def projection_title(
    name: str, has_bias: bool, qk_norm: str, rows: int, d_head: int, rope: str = "", norm_after_rope: bool = False,
    weighted: bool = True, clip: float | None = None, norm_name: str = "RMSNorm",
) -> str:  # fmt: skip
    """Inside a head's (and Start here's) chart title for q (name "Q") or k ("K"): the product the chart draws, with
    the model's q/k norm where it has one (Qwen3, Gemma 3: per head; OLMo 2: over every head's projection;
    Hunyuan, Llama 4: per head, after RoPE), times its learned weight where it has one (`weighted`; Llama 4's has
    none). `rope`: "before" (the chart before the rotation), "after" (after it), or "" (a layer without RoPE).
    `clip`: OLMo's clip_qkv, the clamp after the map (and OLMoE's norm). `norm_name`: the q/k norm's kind
    (qk_norm_name's: a LayerNorm in Phi, StableLM, Command R+, Persimmon, ESM C)."""
    product = f"E·W_{name}" + (f" + b_{name}" if has_bias else "")
    weight = f"·w_{name.lower()}" if weighted else ""
    # short enough for a half-width chart at 1280 px (~55 characters); the section's caption says which norm
    if rope == "after" and norm_after_rope:
        return f"{name} = {norm_name}(RoPE({product})){weight}  [{rows} × {d_head}]"
    if qk_norm == "head" and not (rope == "before" and norm_after_rope):
        product = f"{norm_name}({product}){weight}"
    elif qk_norm == "full":  # over every head's projection at once; the chart shows this head's part
        product = f"{norm_name}({product}, all heads){weight}"
    if clip is not None:
        product = f"clip({product}, ±{clip:g})"
    return f"{name} = {product}  [{rows} × {d_head}]" + (f" {rope} RoPE" if rope else "")


def qk_norm_name(norm: str) -> str:
    """The kind of a model's norm on queries and keys, that of its other norms (HeadSteps.norm): RMSNorm (Qwen3,
    OLMo 2) or LayerNorm (Phi, StableLM, Command R+, Persimmon; ESM C over all heads)."""
    return "LayerNorm" if norm == "layer" else "RMSNorm"


def qk_norm_caption(qk_norm: str, rope: bool, after_rope: bool = False, weighted: bool = True,
                    norm_name: str = "RMSNorm", per_head: bool = False, shifted: bool = False) -> str:  # fmt: skip
    """Inside a head's words for the model's norm on queries and keys (`weighted`: with learned weights, `per_head`:
    each head its own (StableLM, Command R+), `shifted`: and learned biases (Phi, Persimmon); `norm_name`:
    qk_norm_name's); '' where it has none."""
    if qk_norm == "none":
        return ""
    over = ("each head's q and k (d_head numbers)" if qk_norm == "head"
            else "the queries (keys) of all heads at once (one vector of n_heads·d_head numbers)")  # fmt: skip
    when = (" after RoPE" if after_rope else " before RoPE") if rope else ""
    charts = ("the charts after RoPE show them normalised" if after_rope and rope
              else "the Q and K charts show them after that norm")  # fmt: skip
    scaled = "with no learned weight, so each has a root-mean-square of 1"
    if weighted:
        own = ", each head its own" if per_head else ""
        scaled = f"and scaled per dimension by learned weights (q_norm, k_norm{own})"
        scaled += ", then shifted by learned biases" if shifted else ""
    how = ("centred on their mean, divided by their standard deviation" if norm_name == "LayerNorm"
           else "divided by their root-mean-square")  # fmt: skip
    return f" This model then normalises {over}{when}: {how} {scaled}; {charts}."
