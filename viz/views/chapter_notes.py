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
