"""A hybrid's token mixers (ModelConfig.mixers) in words: a label for each, and a phrase for a sentence."""

MIXER_WORDS = {
    "attention": "attention", "short_conv": "short convolution", "gated_delta": "gated delta rule",
    "ssm": "Mamba-2 state-space scan", "selective_scan": "Mamba selective scan", "rg_lru": "RG-LRU recurrence",
    "none": "MLP alone",
}
# ... and in a sentence, where they run instead of attention
MIXER_PHRASES = {
    "short_conv": "a short convolution", "gated_delta": "a gated delta rule", "ssm": "a Mamba-2 state-space scan",
    "selective_scan": "a Mamba selective state-space scan", "rg_lru": "Griffin's gated linear recurrence (RG-LRU)",
    "none": "an MLP alone (mixing no tokens)",
}  # fmt: skip
