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
