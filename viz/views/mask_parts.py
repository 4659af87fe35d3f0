"""What a layer adds to plain causal softmax attention, told apart for the masking page: the causal mask
and a sliding window as separate masks, soft-capped scores beside the scores before the cap, and a relative
position bias (T5) beside the q·k it is added to.

All numbers come from the engine's Trace (`mask`, `window_mask`, `scores(..., capped=False, with_bias=False)`,
`position_bias`); the causal mask alone is the rule "key j ≤ query i", drawn from the positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from viz.views.common import to_numpy
from viz.views.trace import TraceLike


@dataclass(frozen=True)
class MaskParts:
    """[rows, cols] arrays for a block of queries × keys (rows = queries, from row_start; keys from col_start)."""

    used: np.ndarray  # bool: the mask the pass used (causal and/or window)
    # bool: the mask of the page's "with mask" softmax (Trace.pattern(masked=True)): key j ≤ query i, and the
    # sliding window where the layer has one, whatever mask this pass used
    with_mask: np.ndarray
    causal: np.ndarray | None  # bool: the causal mask alone (None: this pass had none)
    window: np.ndarray | None  # bool: the sliding window alone, |i − j| < window (None: no window in this layer)
    window_size: int | None
    scores: np.ndarray  # the softmax's input before the mask (after the soft-cap, with the position bias)
    uncapped: np.ndarray  # q·k times the scale, before any soft-cap and bias (== scores without them)
    softcap: float | None
    bias: np.ndarray | None = None  # the position bias this head adds before the mask (T5); None without one

    @property
    def has_window(self) -> bool:
        return self.window is not None

    @property
    def has_softcap(self) -> bool:
        return self.softcap is not None

    @property
    def has_bias(self) -> bool:
        return self.bias is not None


def mask_parts(trace: TraceLike, layer: int, head: int, rows: slice, cols: slice) -> MaskParts:
    """The masks and the scores before / after the soft-cap of one head, for queries[rows] × keys[cols]."""
    q = np.arange(trace.n_tokens)[rows][:, None]  # (rows, 1) query positions
    k = np.arange(trace.n_tokens)[cols][None, :]  # (1, cols) key positions
    window_size = trace.window(layer) if hasattr(trace, "window") else None
    window = None
    if window_size is not None:
        window = to_numpy(trace.window_mask(layer), dtype=None)[rows, cols].astype(bool, copy=True)
    scores = to_numpy(trace.scores(layer, head), dtype=None)[rows, cols].astype(np.float32, copy=True)
    softcap = getattr(getattr(trace, "config", None), "attn_softcap", None)
    bias = trace.position_bias(layer, head) if hasattr(trace, "position_bias") else None
    if bias is not None:
        bias = to_numpy(bias, dtype=None)[rows, cols].astype(np.float32, copy=True)
    uncapped = scores
    if softcap is not None or bias is not None:
        plain = trace.scores(layer, head, capped=False, with_bias=False)  # q·k × scale alone
        uncapped = to_numpy(plain, dtype=None)[rows, cols].astype(np.float32)
    return MaskParts(
        used=to_numpy(trace.mask(layer), dtype=None)[rows, cols].astype(bool, copy=True),
        with_mask=(k <= q) & (window if window is not None else True),
        causal=(k <= q) if trace.causal else None,
        window=window,
        window_size=window_size,
        scores=scores,
        uncapped=uncapped,
        softcap=softcap,
        bias=bias,
    )


def window_caption(window_size: int, causal: bool) -> str:
    """The masking page's words for a sliding window: a causal one looks back, a bidirectional one (ModernBERT's
    local layers) both ways (attention_core.model.allowed_keys)."""
    if causal:
        return (
            f"In this layer a query sees at most {window_size} keys, itself included: keys further back than "
            f"{window_size - 1} positions are masked too, even where the causal mask would allow them. The softmax "
            "uses both masks together (right). Blue: the query may see that key; light grey: masked. Layers without "
            "a window use the causal mask alone."
        )
    return (
        f"In this layer a query sees only keys up to {window_size - 1} positions away, before or after it (itself "
        "included): keys further away are masked, and nothing else is, since this pass uses no causal mask. Blue: "
        "the query may see that key; light grey: masked. Layers without a window see every key."
    )


SINK_WORDS = (
    "This head has an attention sink (GPT-OSS): a learned logit that joins every row's softmax as a key without a "
    "value, so it takes a share of the weight and the row's weights sum to less than 1. "
)


def softmax_share_lines(cell: dict, softmax_in: float, i: int, j: int, causal: bool, window: int | None) -> str:
    """Inside one head's code lines for entry (i, j)'s softmax share, or why it is masked: after the query (causal),
    further back than a causal window, or further than a bidirectional window reaches (ModernBERT's local layers).
    Each line fits a code block in the main column at 1024 px (65 characters); longer ones would scroll out of sight.
    """
    if cell["allowed"] and cell.get("sink") is not None:  # GPT-OSS: the head's sink is one more term in the sum
        m = f"{cell['row_max']:.6g}"
        return (
            f"softmax share  = exp({softmax_in:.6g} − {m})\n"
            f"                 / (Σ_k exp(s_ik − {m}) + sink term)\n"
            f"sink term      = exp({cell['sink']:.6g} − {m}) = {cell['sink_term']:.6g}\n"
            f"               = {cell['numerator']:.6g} / {cell['denominator']:.6g} = {cell['weight']:.6g}"
        )
    if cell["allowed"]:
        return (
            f"softmax share  = exp({softmax_in:.6g} − {cell['row_max']:.6g})\n"
            f"                 / Σ_k exp(s_ik − {cell['row_max']:.6g})\n"
            f"               = {cell['numerator']:.6g} / {cell['denominator']:.6g} = {cell['weight']:.6g}"
        )
    if causal and j > i:
        return (
            "masked         key j comes after query i: its score is replaced\n"
            "               by −∞, and exp(−∞) = 0 → weight 0"
        )
    if causal:
        return (
            f"masked         key j is further back than this layer's sliding\n"
            f"               window of {window} keys: its score is replaced by −∞,\n"
            "               and exp(−∞) = 0 → weight 0"
        )
    return (
        f"masked         key j is more than {(window or 1) - 1} positions from query i,\n"
        "               outside this layer's local window: its score is\n"
        "               replaced by −∞, and exp(−∞) = 0 → weight 0"
    )
