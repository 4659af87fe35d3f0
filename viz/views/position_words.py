"""How each model gets a token's position, in words: RoPE (in all but its NoPE layers), a position embedding, a
relative position bias (T5's table, ALiBi's slopes), DeBERTa's position terms, or a position embedding and T5's bias
(MPNet). The pages' captions and Start here's sentence come from here, so none says "no position embeddings" of a
model that has them.
"""

from __future__ import annotations


def position_bias_caption(
    kind: str, absolute_positions: bool, causal: bool, max_distance: int, own_projections: bool = False
) -> str:
    """How each head's position bias for a (query, key) pair is made, as a sentence the page goes on from:
    T5's learned table of offset buckets (alone, or beside a position embedding: MPNet), ALiBi's slope × the
    key's position (BLOOM), or DeBERTa's two position terms (the table projected by the layer's W_Q and W_K, or by
    projections of its own in v1: `own_projections`)."""
    if kind == "disentangled":
        if absolute_positions:  # position_biased_input: learned positions added to the tokens as well
            lead = "Besides the position embedding added to each token's embedding, every head of this model (DeBERTa)"
        else:
            lead = "This model (DeBERTa) has no position embeddings and no RoPE. Instead every head"
        projected = "this layer's W_Q and W_K"
        if own_projections:  # DeBERTa v1: pos_q_proj and pos_proj
            projected = "this layer's own position projections (not its W_Q and W_K)"
        return (
            f"{lead} adds two terms to each "
            "score, made from the query and the key themselves: q_i·K_pos[r] (content to position) and k_j·Q_pos[r] "
            f"(position to content), where Q_pos and K_pos are {projected} applied to a learned table "
            "of relative positions, and r is how far the key is from the query ("
            + (f"each near offset its own row, further ones in logarithmically wider buckets up to {max_distance} "
               "tokens" if max_distance else "each offset its own row, the furthest clamped to the table's ends")
            + "); all three terms are divided by √(3·d_head)"
        )
    if kind == "alibi":
        return (
            "This model (ALiBi, as BLOOM) has no position embeddings and no RoPE. Instead every head adds to each "
            "score its own fixed slope (halving from one head to the next) times the key's position, so keys "
            "further back get less, in proportion to their distance (the part that depends on the query is the "
            "same across a row, which the softmax ignores)"
        )
    if absolute_positions:
        lead = "Besides the position embedding added to each token's embedding, every head of this model adds"
    else:
        lead = "This model (T5) has no position embeddings and no RoPE. Instead every head adds"
    return (
        f"{lead} a learned number to each score, chosen by how far the key is from the query: one number per bucket "
        "of offsets (each near offset its own bucket, further ones sharing logarithmically wider buckets, every "
        f"offset past {max_distance} tokens one last bucket"
        + (", with keys before and after the query told apart" if not causal else "")
        + ")"
    )


def bias_words(kind: str, per_layer: bool = False) -> tuple[str, str]:
    """(what the term a model adds before the mask is called in a heading, how its layers share it): T5's and
    ALiBi's bias is the same in every layer of a stack, umT5's table is each layer's own (`per_layer`), and
    DeBERTa's position terms are each layer's own, made from its q and k."""
    if kind == "disentangled":
        return "the position terms", "Each layer makes its own from its own q and k: they differ from layer to layer."
    if per_layer:
        return "the relative position bias", "Each layer of this model has its own table: the bias differs by layer."
    return "the relative position bias", "Every layer of this stack adds the same bias."


def position_sentence(uses_rope: bool, absolute_positions: bool, bias_kind: str, nope: int, n_layers: int) -> str:
    """Where the model gets each token's position: RoPE (in all but `nope` of its layers), a position embedding
    (beside a relative position bias: MPNet), or a bias alone (T5's table, or ALiBi's slopes)."""
    if uses_rope:
        verb = "rotates" if nope == 1 else "rotate"
        skipped = f" ({nope} of its {n_layers} layers {verb} nothing: their scores see no position)"
        return (
            "This model has no position embedding: instead its queries and keys are rotated by an angle that grows "
            f"with the position (RoPE){skipped if nope else ''}, so position enters at the next step."
        )
    if absolute_positions:  # learned (BERT, GPT-2, like GPT-3's) or fixed sinusoids (Marian)
        also = " Each head also adds a relative position bias to its scores (MPNet)." if bias_kind != "none" else ""
        return "This model adds a position embedding to each token's embedding, as GPT-3 does." + also
    if bias_kind == "disentangled":
        return (
            "This model has no position embedding: each head adds to every score two terms that depend on how far "
            "apart the query and the key are and on what they hold (DeBERTa's disentangled attention), so position "
            "enters at the scores."
        )
    if bias_kind == "alibi":
        return (
            "This model has no position embedding: each head adds to every score a penalty that grows in proportion "
            "to how far back the key is (ALiBi), so position enters at the scores."
        )
    return (
        "This model has no position embedding: a bias added to each score, which depends on how far apart the query "
        "and the key are, carries position instead (T5's relative position bias)."
    )


_SCALING_NAMES = {"longrope": "LongRoPE", "yarn": "YaRN"}  # the rules that scale cos and sin


def rope_caption(
    model: str, d_head: int, rotary: int, pairs_reordered: bool = False, attention_factor: float = 1.0,
    scaling: str | None = None, first: int = 0, turned_back: bool = False,
) -> str:  # fmt: skip
    """Inside one head's note on the rotation (partial rotary, GPT-NeoX and Pythia: only the first `rotary` of
    the head's d_head dimensions turn; latent attention (DeepSeek): the last `rotary`, from dimension `first`; GPT-J,
    Cohere and DeepSeek: their neighbouring pairs listed even dimensions first; LongRoPE and YaRN (`scaling`,
    ModelConfig.rope_scaling): the rotated dimensions also scaled by their attention factor; NanoChat
    (`turned_back`, ModelConfig.rope_reversed): each pair turned by −position·θ)."""
    kept, half = d_head - rotary, rotary // 2
    rest = ""
    if kept and first:
        rest = f"; only dimensions {first}–{d_head - 1} rotate, the first {kept} keep their values"
    elif kept:
        rest = f"; only dimensions 0–{rotary - 1} rotate, the other {kept} keep their values"
    pairs = f"i and i + {half} for i < {half}" if not first else f"{first} + i and {first + half} + i for i < {half}"
    order = ""
    if pairs_reordered:
        order = (
            f" {model} itself pairs neighbouring dimensions (0, 1), (2, 3), … of what it rotates: here they are "
            f"listed even ones first, so rotated column i < {half} is its dimension 2i and column {half} + i its "
            "dimension 2i + 1 (the same numbers, the same q·k)."
        )
    if turned_back:
        order += (
            f" {model} turns each pair the other way from most models, by −position × its frequency; q_i·k_j still "
            "depends only on how far apart i and j are."
        )
    if attention_factor != 1.0:
        rule = (scaling or "").split(",")[0]
        order += (
            f" Its RoPE scaling ({_SCALING_NAMES.get(rule, rule)}) also multiplies the rotated dimensions by "
            f"{attention_factor:.4g}, so they "
            "come out that much longer than before the rotation (q·k of those dimensions by its square)."
        )
    return (
        f"RoPE: {model} has no position embedding; instead each query and key is rotated by an angle "
        f"proportional to its position (pairs of dimensions {pairs}, each at its own frequency{rest}). So q_i·k_j "
        f"depends on how far apart i and j are. The scores below use these rotated q and k, exactly as the model "
        f"(and trace.scores) does.{order}"
    )


def nope_caption(model: str, layer: int) -> str:
    """Inside one head's note on a layer that rotates nothing (SmolLM3's every 4th) in a model whose others do."""
    return (
        f"Layer {layer} of {model} rotates nothing (no RoPE), though its other layers do: these q and k are what the "
        "scores below use, so this layer's scores see no position at all, only what earlier layers wrote into the "
        "embeddings (and the causal mask)."
    )


def vectors_order_note(rotates: bool, pairs_reordered: bool) -> str:
    """Inside one head's aside on the picked tokens' q and k: after RoPE in a layer that rotates, and in what order
    their dimensions are listed where the model rotates neighbouring pairs (the converter lists them even ones
    first in every layer, a NoPE layer's too, which q·k does not notice)."""
    if rotates:
        order = ", their rotated dimensions listed even ones first: see RoPE below" if pairs_reordered else ""
        return f" (q and k after RoPE, what the score uses{order})"
    if pairs_reordered:
        return " (no RoPE in this layer; the dimensions other layers rotate are listed even ones first)"
    return ""


def latent_caption(model: str, r_kv: int, r_q: int | None, nope: int, rope: int, head: int) -> str:
    """Inside one head's words for multi-head latent attention (DeepSeek-V2/V3, MiniCPM3: attention_core/latent.py):
    where this head's q and k come from. r_q None: queries straight from E."""
    query = (f"its query from c_Q = RMSNorm(E·W_DQ), {r_q} numbers per token, through W_UQ" if r_q
             else "its query straight from E, through W_Q")  # fmt: skip
    return (
        f"{model} uses multi-head latent attention: every head's keys and values are read up from one latent per "
        f"token, c_KV = RMSNorm(E·W_DKV) of {r_kv} numbers (what its key/value cache stores), and {query}. Head "
        f"{head}'s key is its own c_KV·W_UK ({nope} dimensions) followed by E·W_KR ({rope} dimensions, the same for "
        f"every head), which RoPE turns; its query has the same two parts. q·k adds both parts' products."
    )
