"""The *Start here* walk-through: 3Blue1Brown's chapter 6 ("Attention in transformers") step by step, in the
chapter's order and vocabulary, each step told with the loaded model's real sizes and numbers.

Pure data and text: the page (app_pages/start_here.py) draws each step's live view from the trace; the
step names here are what a link's `step=` holds (ui/url.py checks them), and `deeper` names the registry
pages (app_pages/registry.py) that take a step further.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from viz.labels import counted
from viz.views.chapter_notes import kv_sharing, own_matrices
from viz.views.position_words import position_sentence
from viz.views.score_terms import ScoreTerms, score_terms

# The model a learner can load for a real cross-attention (a Marian encoder-decoder, English → French).
# An encoder-decoder whose hub repository has what the loader reads (config.json, tokenizer.json, safetensors), and
# was trained to translate English to French. (Marian's opus-mt repositories ship sentencepiece files and no
# tokenizer.json, which transformers cannot make for them: the loader refuses them.)
ENCODER_DECODER_EXAMPLE = "google-t5/t5-small"


@dataclass(frozen=True)
class Step:
    slug: str  # the `step=` value of a link
    title: str
    deeper: tuple[str, ...]  # registry names of the pages that go deeper


STEPS: tuple[Step, ...] = (
    Step("tokens", "Tokens", ("patterns",)),
    Step("embeddings", "Embeddings", ("inside_head",)),
    Step("query-key", "Query and key", ("inside_head",)),
    Step("dot-products", "Dot products", ("masking",)),
    Step("softmax", "Softmax", ("inside_head",)),
    Step("pattern", "The attention pattern", ("patterns",)),
    Step("masking", "Masking", ("masking",)),
    Step("values", "Values and Δe", ("inside_head", "embedding_shifts")),
    Step("heads", "Many heads", ("patterns", "head_finder")),
    Step("layers", "Many layers", ("patterns", "experiments")),
    Step("moles", "The moles", ("embedding_shifts",)),
    Step("context", "Context size", ("parameters",)),
    Step("parameters", "Parameter count", ("parameters",)),
    Step("cross-attention", "Cross-attention", ("cross_attention", "guide")),
)
SLUGS: tuple[str, ...] = tuple(s.slug for s in STEPS)
FIRST_STEP = SLUGS[0]


def step_slug(raw: str) -> str | None:
    """A link's `step=` value (a step's name, or its number counted from 1) → the step's name; None if neither."""
    value = raw.strip().lower()
    if value in SLUGS:
        return value
    if value.isdigit() and 1 <= int(value) <= len(SLUGS):
        return SLUGS[int(value) - 1]
    return None


def step_index(slug: str | None) -> int:
    """Position of a step in STEPS (0 for an unknown or missing one)."""
    return SLUGS.index(slug) if slug in SLUGS else 0


def step_named(slug: str) -> str:
    """'the Masking step': a step named by its title, which stays right when the steps are renumbered."""
    return f"the {STEPS[step_index(slug)].title} step"


@dataclass(frozen=True)
class Facts:
    """What the prose needs to know about the loaded model and the traced text."""

    model: str  # the model's short name ("SmolLM2-135M-Instruct"; its sizes are in the page's caption)
    n_tokens: int  # the tokens the steps draw (a long text's first ones)
    n_layers: int
    n_heads: int
    n_kv_heads: int
    d_model: int
    d_head: int
    n_ctx: int
    model_causal: bool  # the model's own masking
    causal: bool  # the masking of this pass
    uses_rope: bool
    absolute_positions: bool  # a position embedding is added to the token's (ModelConfig.absolute_positions)
    encoder_decoder: bool
    layer: int
    head: int
    n_text_tokens: int = 0  # the whole text's tokens, before any cut (0: the same as n_tokens)
    n_pass_tokens: int = 0  # the tokens of the pass (the token cap's cut of the text; 0: n_tokens)
    attention_sublayers: int = 0  # ModelConfig.attention_sublayers (0: n_layers)
    terms: ScoreTerms | None = None  # what the scores are (viz.views.score_terms); None: q·k/√d_head
    nope_layers: int = 0  # layers of a RoPE model that rotate nothing (SmolLM3's every 4th)
    bias_kind: str = "none"  # ModelConfig.position_bias: "t5" (a table), "alibi", "disentangled" (DeBERTa), "none"
    # a hybrid: how many of its layers have heads (0: every layer), and what the others mix tokens with
    heads_in_layers: int = 0
    other_mixers: str = ""
    masked_lm: bool = False  # an encoder loaded with its masked-language-model head: it fills in hidden tokens
    classifier: str = ""  # loaded with a classifier's head: "sequence" (one label for the text) or "token" (a tagger)


class PageSetting(Protocol):
    """What `facts_of` reads of a page context (ui.context.PageContext; viz imports no ui, so it names the
    fields it uses instead)."""

    @property
    def config(self) -> Any: ...  # the ModelConfig
    @property
    def model_title(self) -> str: ...
    @property
    def causal(self) -> bool: ...
    @property
    def layer(self) -> int: ...
    @property
    def head(self) -> int: ...


def facts_of(ctx: PageSetting, n_tokens: int, n_text_tokens: int = 0, n_pass_tokens: int = 0) -> Facts:
    """Facts from a page context: the loaded model's sizes and the sidebar's choices; `n_tokens` the steps draw
    of the pass's `n_pass_tokens`, of the text's `n_text_tokens`."""
    cfg = ctx.config
    return Facts(
        model=ctx.model_title,
        n_tokens=n_tokens,
        n_layers=cfg.n_layers,
        n_heads=cfg.n_heads,
        n_kv_heads=cfg.n_kv_heads,
        d_model=cfg.d_model,
        d_head=cfg.d_head,
        n_ctx=cfg.n_ctx,
        model_causal=bool(cfg.causal),
        causal=bool(ctx.causal),
        uses_rope=bool(cfg.uses_rope),
        absolute_positions=bool(cfg.absolute_positions),
        encoder_decoder=bool(cfg.is_encoder_decoder),
        masked_lm=bool(cfg.masked_lm),
        classifier="sequence" if cfg.class_labels else "token" if cfg.tag_labels else "",
        layer=int(ctx.layer),
        head=int(ctx.head),
        n_text_tokens=int(n_text_tokens),
        n_pass_tokens=int(n_pass_tokens),
        attention_sublayers=int(cfg.attention_sublayers),
        terms=score_terms(ctx),  # from its config, as every page names the score
        nope_layers=sum(1 for i in range(cfg.n_layers) if cfg.uses_rope and not cfg.rotates(i)),
        bias_kind=str(cfg.position_bias),
        heads_in_layers=len(cfg.attention_layers) if len(cfg.attention_layers) < cfg.n_layers else 0,
        other_mixers=cfg.other_mixers_words(),
    )


def _context_text(f: Facts) -> str:
    n, blocks = f.n_pass_tokens or f.n_tokens, f.attention_sublayers or f.n_layers
    yours = f"Your {counted(n, 'token')} {'gives' if n == 1 else 'give'}"
    weights = "1 weight" if n == 1 else f"{n**2:,} weights"  # counted() has no thousands separator
    sublayers = (
        " (an encoder-decoder's: its encoder's, and its decoder's self- and cross-attention)"
        if (f.encoder_decoder)
        else ""
    )
    return (
        "The attention pattern has one weight for every query and every key: its size is the **square of the "
        f"context size**. {yours} {n}² = {weights} per head, {blocks * f.n_heads * n**2:,} "
        f"in all {blocks} attention sublayers{sublayers}. That square is why the context size is a bottleneck: "
        "doubling the context quadruples the memory (on the chart's log axes, a line of slope 2). Memory of all "
        f"{blocks} × {f.n_heads} patterns of {f.model}, up to its context of {f.n_ctx:,} tokens:"
    )


def _scores_of(f: Facts, lh: str) -> str:
    """The chart's lead-in: its scores named for what they are (T5 adds its position bias; Gemma 2 soft-caps)."""
    name = f.terms.name if f.terms is not None else "scaled score"
    return f"The scaled scores of {lh}:" if name == "scaled score" else f"The scores ({name}) of {lh}:"


def _scale_words(f: Facts) -> str:
    """How the scores are scaled: the chapter's 1/√d_head, none (T5), or the model's own factor (Gemma)."""
    terms = f.terms
    if terms is None or not (terms.unscaled or terms.own_scale):
        return f"the chapter divides them by √d_head = √{f.d_head} for numerical stability."
    if terms.unscaled:
        return f"the chapter divides them by √d_head for numerical stability; {f.model} does not divide them at all."
    if terms.multiple:  # DeBERTa: q·k and its two position terms, three terms, scaled together
        k = terms.multiple
        return (
            f"the chapter divides them by √d_head for numerical stability; {f.model} divides them by "
            f"√({k}·d_head) = √{k * f.d_head} instead."
        )
    return (
        f"the chapter divides them by √d_head for numerical stability; {f.model} multiplies them by its own factor "
        f"{terms.scale:.4g} instead of 1/√{f.d_head}."
    )


# What the masking step's three panels show, for a model trained with the mask
MASK_PANELS = (
    "The scores of later keys are set to **−∞** before the softmax, so their weights come out 0 and each query's "
    "weights still sum to 1. Left: this head with the mask, middle: the same scores without it, right: the difference "
    "(a masked query renormalises over fewer keys, so its remaining weights grow)."
)


def _masking_text(f: Facts) -> str:
    if f.model_causal and f.classifier:  # a reward model or a tagger: the decoder's mask, labels instead of tokens
        read = ("its verdict is read from the last token, the one that has seen them all" if f.classifier == "sequence"
                else "it labels each token from what that token has seen")  # fmt: skip
        return (f"{f.model} is a classifier built on a decoder: it reads left to right, each token seeing only the "
                f"tokens before it, and {read}. " + MASK_PANELS)  # fmt: skip
    if f.model_causal:
        return (f"{f.model} is trained to predict the next token at every position at once, so a later token must not "
                "influence an earlier one: it would give the answer away. " + MASK_PANELS)  # fmt: skip
    who = (
        f"{f.model} is an **encoder-decoder**, and the sidebar's text goes through its encoder, which was trained "
        "**without** a mask (its decoder has one)"
        if f.encoder_decoder
        else f"{f.model} is an **encoder**: it was trained to fill in hidden tokens from the words on both sides, "
        "**without** a mask"
        if f.masked_lm
        else f"{f.model} is an **encoder**: it was trained **without** a mask"
    )
    return (
        f"{who}, so every token reads the tokens after it "
        "as well as before it (bidirectional). Masking is what a decoder such as SmolLM2 (or GPT-3) needs, "
        "because it predicts the next token. Below is what a causal mask *would* do to this head's scores, "
        + (
            "beside their softmax without it. The mask is switched on in every layer of this pass, so even those "
            "scores come from inputs the model never saw in training."
            if f.causal
            else "beside the model's own unmasked softmax; the model itself never saw the masked version."
        )
    )


def _cross_text(f: Facts) -> str:
    if f.encoder_decoder:
        return (
            f"Everything so far is **self-attention**: queries, keys and values from one text. {f.model} is an "
            "encoder-decoder, so it also has **cross-attention**: queries from the translation being written "
            "(decoder), keys and values from the original (encoder), and no mask, since the whole original is "
            "known. Below: one of its cross-attention heads on an English sentence and its French translation."
        )
    kind = "an encoder only" if not f.model_causal else "a decoder only"
    return (
        "Everything so far is **self-attention**: queries, keys and values come from the same text. "
        "**Cross-attention** takes its queries from one text (say the French translation being written) and "
        f"its keys and values from another (the English original), with no mask. {f.model} is {kind}, so it "
        "has no cross-attention. Below, it reads one prompt holding both texts, and the block where French "
        "queries meet English keys shows what its self-attention does with them. For the real thing, load "
        f"an encoder-decoder under *Another model* in the sidebar, for example `{ENCODER_DECODER_EXAMPLE}`."
    )


def step_text(slug: str, f: Facts) -> str:
    """The step's few sentences, in the chapter's words, with this model's numbers (Markdown)."""
    return (_one_head_texts(f) | _many_heads_texts(f))[slug]


def _one_head_texts(f: Facts) -> dict[str, str]:
    """Tokens to Δe: what one head does."""
    lh = f"layer {f.layer}, head {f.head} (pick them in the sidebar)"
    positions = position_sentence(f.uses_rope, f.absolute_positions, f.bias_kind, f.nope_layers, f.n_layers)
    return {
        "tokens": (
            f"The model never sees words. The text is cut into **tokens** (words, pieces of words, punctuation), "
            f"and everything after works on them. {f.model} cut the sidebar's text into "
            + (
                f"**{f.n_text_tokens} tokens**; the steps below use its first {f.n_tokens}:"
                if f.n_text_tokens > f.n_tokens
                else f"**{counted(f.n_tokens, 'token')}**:"
            )
        ),
        "embeddings": (
            f"Each token starts as its **embedding**: a vector of d_model = **{f.d_model}** numbers looked up for "
            f"that token (GPT-3: 12,288). Directions in this space carry meaning, but this first embedding knows "
            f"nothing of the context. {positions} Below: the embeddings as the first attention "
            "block reads them, one row per token."
        ),
        "query-key": (
            'A noun may ask *"are there adjectives in front of me?"*. The **query** matrix W_Q turns each '
            "embedding into a query vector that encodes such a question; the **key** matrix W_K turns each "
            'embedding into a key, a possible answer (*"I am an adjective, here"*). Both are small: '
            f"d_head = **{f.d_head}** numbers (GPT-3: 128). Queries and keys of {lh}:"
        ),
        "dot-products": (
            "How well a key answers a query is measured by their **dot product**: large when they point the same "
            f"way. Every query against every key gives a grid of scores; {_scale_words(f)} When a key's score for "
            "a query is large, the query "
            "*attends to* that key. (The chapter puts it the other way round: *fluffy* and *blue* attend to "
            "*creature*; this app says, as most papers do, that the query, *creature*, attends to them.) "
            + _scores_of(f, lh)
        ),
        "softmax": (
            "Scores can be any size, positive or negative. The **softmax** turns one query's scores into weights "
            "between 0 and 1 that sum to 1: the largest score gets the largest share. One query's row, "
            "with the model's numbers:"
        ),
        "pattern": (
            f"Do that for every query and you have the **attention pattern**: {f.n_tokens} × {f.n_tokens} weights, "
            "how relevant each token is to updating each other token. The chapter draws queries along the top "
            "(each column sums to 1); the *Orientation* switch in the sidebar draws it that way. "
            f"Hover a cell for its weight and score. {lh[0].upper() + lh[1:]}:"
        ),
        "masking": _masking_text(f),
        "values": (
            "Now the pattern is used. The **value** matrix maps each embedding to a value vector: what to add if "
            "this token is relevant. The chapter factors it in two: *value-down* W_V (d_model → d_head) and "
            "*value-up*, this head's slice of the output matrix W_O (d_head → d_model). A single value map "
            "would be d_model × d_model (GPT-3: 12,288² ≈ 151 million numbers per head); through d_head it costs "
            "as much as the query and key maps. (*The value matrix* often means value-down alone.) Each query "
            "adds up the "
            "value vectors weighted by its weights in the pattern; the sum is **Δe**, the change added to that "
            f"token's embedding. Δe of {lh}, one row per token:"
        ),
    }


def _all_heads(f: Facts) -> str:
    """"all 30 × 9 heads", or a hybrid's: which of its layers have heads at all."""
    if not f.heads_in_layers:
        return f"all {f.n_layers} × {f.n_heads} heads"
    return (f"{f.heads_in_layers} of them attend, with {f.n_heads} heads each (the other "
            f"{f.n_layers - f.heads_in_layers} run {f.other_mixers} instead, without heads: their columns are "
            f"blank below); all {f.heads_in_layers} × {f.n_heads} heads")  # fmt: skip


def _many_heads_texts(f: Facts) -> dict[str, str]:
    """Many heads and layers, the moles, sizes and cross-attention."""
    return {
        "heads": (
            "One head is one kind of contextual update. A **multi-headed** attention block runs many in "
            f"parallel, each with its own {own_matrices(f.n_heads, f.n_kv_heads)}: **{f.n_heads} heads** per "
            f"layer in {f.model} (GPT-3: 96).{kv_sharing(f.model, f.n_heads, f.n_kv_heads)} Every head of layer "
            f"{f.layer} on your text (click one to select it):"
        ),
        "layers": (
            "Data flows through many attention blocks, with multi-layer perceptrons between them. Each block's "
            "heads read embeddings that earlier blocks already changed, so later layers can encode higher-level "
            f"ideas. {f.model} has **{f.n_layers} layers** (GPT-3: 96): {_all_heads(f)} "
            "on your text (click one to select it). Many heads put most of their weight on the first token, a "
            "dark stripe along its line: an *attention sink*, where a head with nothing relevant to find parks "
            "its weight (*Colour by what is sent* on *Attention patterns* shows how little that token sends):"
        ),
        "moles": (
            "*American shrew mole*, *one mole of carbon dioxide*, *take a biopsy of the mole*: the word **mole** "
            "starts with the same embedding in all three"
            + (" (but for its position embedding)" if f.absolute_positions else "")
            + ", and the layers (attention, and the MLPs between them) move it toward the right meaning. "
            "Each line below is one pair of sentences: the cosine similarity of *mole*'s embedding in the two, "
            "layer by layer (1 = the same vector). Where a line falls, the layers have pulled the meanings apart."
        ),
        "context": _context_text(f),
        "parameters": (
            "Counting as the chapter does: per head, a query, a key, a value-down and a value-up map, each of "
            "d_model · d_head numbers. For GPT-3 that is about 1.5 million each, 58 billion for all 96 heads "
            f"of all 96 layers: about a third of its 175 billion. Here embeddings are rows (Q = E·W_Q), so each "
            "matrix is the transpose of the chapter's drawing: query, key and value-down are d_model × d_head "
            "(down to d_head), value-up is d_head × d_model (back up). The same "
            f"count for {f.model}'s shape:"
        ),
        "cross-attention": _cross_text(f),
    }
