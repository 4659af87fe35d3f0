"""The *Start here* page's notes beside its live views: sentences that depend on the traced pass (its masking, its
length, the model's head sharing), kept here as pure text so that app_pages/start_here.py stays wiring and each
wording can be tested on its own. The steps' own prose is in viz.views.chapter.
"""

from __future__ import annotations


def prompt_cross_caption(low: float, high: float, causal: bool) -> str:
    """What the French-query × English-key block of a decoder-only prompt holds of each row: the rest of a row goes to
    the prompt's other tokens, and which French tokens those are depends on the pass's masking (a bidirectional pass
    lets a French query read the French tokens after it too)."""
    french = "the other French tokens before it" if causal else "the other French tokens before and after it"
    return (
        f"These rows hold {low:.0%}–{high:.0%} of each French query's weight: the rest goes to the prompt's other "
        f"tokens (its labels, and {french}), so a whole row of the prompt's pattern still sums to 1. In an "
        "encoder-decoder, a cross-attention row sums to 1 over the original alone."
    )


def long_text_notice(n_text: int, n_kept: int, n_steps: int, causal: bool) -> str:
    """Why a long text's steps show its first `n_steps` tokens, and what that does to their numbers. The steps run
    the model again on those tokens alone: under a causal mask no token sees a later one, so their weights are the
    full pass's; a bidirectional pass lets every token read the tokens after it, so without the rest every weight
    changes. `n_text`: the text's tokens; `n_kept`: those the token cap keeps for the full pass."""
    cap = f"; the token cap keeps its first {n_kept}" if n_text > n_kept else ""
    ran = f"So that every cell can be drawn, these steps ran the model on its first {n_steps} tokens alone"
    if causal:
        same = (
            "under the causal mask no token sees a later one, so their weights are the same as in the full text's "
            f"pass. The Attention patterns page shows all {n_kept}."
        )
    else:
        same = (
            "in this pass every token also reads the tokens after it, and here those stop at token "
            f"{n_steps - 1}, so every weight in these steps differs from the full text's. The Attention patterns "
            f"page shows the full text's pass, all {n_kept} tokens."
        )
    return f"Your text has {n_text} tokens{cap}. {ran}: {same}"


def latent_keys_note(q_latent: bool, kv_latent_rank: int, rotary: int) -> str:
    """Multi-head latent attention (DeepSeek): W_Q and W_K are not single maps of the embedding, which the chapter's
    words say they are; how this model makes q and k instead ('' for every other model: kv_latent_rank 0)."""
    if not kv_latent_rank:
        return ""
    query = "a small latent c_Q of the embedding (through W_UQ)" if q_latent else "the embedding (through W_Q)"
    return (
        f"This model makes them in two steps (multi-head latent attention): each head's key is read up from one small "
        f"latent c_KV of {kv_latent_rank} numbers per token, shared by every head (through W_UK), plus {rotary} "
        f"dimensions that RoPE turns, the same for every head (E·W_KR); each query from {query}. Inside one head "
        "draws every step."
    )


def shared_keys_note(head: int, n_heads: int, n_kv_heads: int) -> str:
    """Under grouped-query attention a group of query heads reads one key/value head: their K heatmaps are the
    same picture, which a reader comparing heads should be told ('' when every head has its own)."""
    if n_kv_heads == n_heads:
        return ""
    size = n_heads // n_kv_heads
    kv = head // size
    group = [str(h) for h in range(kv * size, (kv + 1) * size)]
    heads = ", ".join(group[:-1]) + f" and {group[-1]}"
    return (
        f"Grouped-query attention: {n_heads} query heads share {n_kv_heads} key/value heads, so query heads {heads} "
        f"share this K (key/value head {kv}); Q is head {head}'s own."
    )


def own_matrices(n_heads: int, n_kv_heads: int) -> str:
    """What the Many heads step says each head has of its own (a query matrix alone when heads share keys)."""
    return "query matrix" if n_kv_heads != n_heads else "query, key and value matrices"


def kv_sharing(model: str, n_heads: int, n_kv_heads: int) -> str:
    """Grouped-query attention (SmolLM2): query heads share key and value-down matrices, which the chapter's
    "each head has its own" does not cover ('' when every head has its own)."""
    if n_kv_heads == n_heads:
        return ""
    return (
        f" The chapter gives each head its own key and value matrices too; {model} uses *grouped-query "
        f"attention*: each of its {n_kv_heads} key/value heads is shared by {n_heads // n_kv_heads} query "
        "heads, which read the same keys and value-down vectors (value-up stays each head's own)."
    )
