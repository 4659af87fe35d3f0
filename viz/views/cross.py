"""Cross-attention, as far as the embedded models allow: one decoder reading "English: … French: …".

In that prompt the French tokens come after every English token, so under the causal mask each French
query still sees every English key: the target-query × source-key block of the (self-)attention
pattern is unmasked, like a cross-attention pattern. It is not the real thing: the keys and values
come from the same weights and the same stream as the queries, and each row also spends weight on the
prompt labels and on the French tokens before it. An encoder-decoder (e.g. Marian) has a separate
cross-attention sublayer whose keys/values come from the encoder's final output.

Seam for that later issue: a page draws any `CrossView` (the Protocol below). `PromptCross`
implements it for a decoder prompt; an encoder-decoder engine gets its own implementation whose
`block()` returns the real cross-attention pattern, with `kind = "encoder-decoder"`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from viz.labels import plotly_escape, readable_tokens
from viz.views.common import display_tokens, to_numpy
from viz.views.shifts import word_positions
from viz.views.trace import TraceLike

# What an encoder-decoder's cross-attention block shows (the page's caption, the notebook view's note).
ENCODER_DECODER_NOTE = (
    "No entry is masked: the whole source is known before decoding, so every target position reads every source "
    "position, and each row sums to 1 over the source alone. The decoder's own self-attention stays causal."
)
DEFAULT_SOURCE = "The cat sleeps on the mat."
DEFAULT_TARGET = "Le chat dort sur le tapis."


@dataclass(frozen=True)
class CrossBlock:
    kind: str  # "decoder prompt" now; "encoder-decoder" once such a model exists
    layer: int
    head: int
    queries: list[str]  # target tokens
    keys: list[str]  # source tokens
    pattern: np.ndarray  # [n_target, n_source] attention weights (rows: target queries)
    mask: np.ndarray  # [n_target, n_source] bool, True where the query may attend
    row_share: np.ndarray  # [n_target] Σ over source keys: the part of each query's weight that goes to the source


class CrossView(Protocol):
    """What a cross-attention page draws: any source of target-query × source-key blocks."""

    kind: str
    n_layers: int
    n_heads: int
    target: list[int]  # the queries' positions in their sequence (the prompt; the decoder's input)
    source: list[int]  # the keys' positions (the prompt; the encoder's input)

    def block(self, layer: int, head: int) -> CrossBlock: ...


def block_axis_labels(cross: CrossView, block: CrossBlock) -> tuple[list[str], list[str]]:
    """Plotly-safe "position: token" labels of a block's queries and keys, each at its position in its sequence
    (a prompt's French tokens from where they start in it), the same on every page that draws the block."""
    rows = [f"{i}: {plotly_escape(t)}" for i, t in zip(cross.target, readable_tokens(block.queries), strict=True)]
    cols = [f"{j}: {plotly_escape(t)}" for j, t in zip(cross.source, readable_tokens(block.keys), strict=True)]
    return rows, cols


def build_prompt(
    source: str, target: str, source_label: str = "English", target_label: str = "French"
) -> tuple[str, tuple[int, int], tuple[int, int]]:
    """The prompt and the character spans of the source and target texts inside it."""
    head = f"{source_label}: "
    middle = f" {target_label}: "
    prompt = head + source + middle + target
    s0 = len(head)
    t0 = s0 + len(source) + len(middle)
    return prompt, (s0, s0 + len(source)), (t0, t0 + len(target))


class PromptCross:
    """The target-query × source-key block of a decoder's self-attention over "English: … French: …"."""

    kind = "decoder prompt"

    def __init__(self, trace: TraceLike, source_span: tuple[int, int], target_span: tuple[int, int]):
        self.trace = trace
        self.n_layers = trace.n_layers
        self.n_heads = trace.n_heads
        self.source = word_positions(trace.offsets, source_span)
        self.target = word_positions(trace.offsets, target_span)
        # A token straddling the boundary (e.g. " Le" carries the space before the target) belongs to
        # the side where it starts; never count one position as both source and target.
        self.source = [i for i in self.source if i not in self.target]

    def block(self, layer: int, head: int) -> CrossBlock:
        pat = to_numpy(self.trace.pattern(layer, head))
        mask = to_numpy(self.trace.mask(layer), dtype=bool)
        rows, cols = np.ix_(self.target, self.source)
        sub = pat[rows, cols]
        tokens = display_tokens(self.trace)  # byte pieces named by their character
        return CrossBlock(
            kind=self.kind,
            layer=layer,
            head=head,
            queries=[tokens[i] for i in self.target],
            keys=[tokens[j] for j in self.source],
            pattern=sub,
            mask=mask[rows, cols],
            row_share=sub.sum(axis=1),
        )

    def source_share(self, patterns: np.ndarray) -> np.ndarray:
        """[n_layers, n_heads] mean over target queries of the weight they put on source keys."""
        rows, cols = np.ix_(self.target, self.source)
        return patterns[:, :, rows, cols].sum(axis=-1).mean(axis=-1)

    def spread(self, patterns: np.ndarray) -> np.ndarray:
        """[n_layers, n_heads] alignment spread: mean peak × (distinct most-attended source keys / target tokens).

        Peak is a target row's largest weight on one source key. A head that sends every target token to
        the same source token (often "the" or "."; a sink) scores low, and so does a diffuse head; one whose
        target tokens each pick their own source token sharply, as an alignment would, scores high. A
        heuristic for ordering heads, not a measure of translation quality.
        """
        rows, cols = np.ix_(self.target, self.source)
        block = patterns[:, :, rows, cols]  # (L, H, n_target, n_source)
        peak = block.max(axis=-1).mean(axis=-1)  # (L, H)
        top = block.argmax(axis=-1)  # (L, H, n_target)
        n_layers, n_heads = top.shape[:2]
        distinct = np.array([[len(set(top[layer, head])) for head in range(n_heads)] for layer in range(n_layers)])
        return peak * distinct / len(self.target)


class EncoderDecoderCross:
    """The real thing: an encoder-decoder's cross-attention (decoder queries over encoder keys, no mask)."""

    kind = "encoder-decoder"

    def __init__(self, pair: Any):
        self.pair = pair
        self.n_layers = pair.cross.n_layers
        self.n_heads = pair.decoder.n_heads
        self.target = list(range(pair.decoder.n_tokens))
        self.source = list(range(pair.encoder.n_tokens))

    def block(self, layer: int, head: int) -> CrossBlock:
        pat = to_numpy(self.pair.cross.pattern(layer, head))  # [n_target, n_source]
        return CrossBlock(
            kind=self.kind,
            layer=layer,
            head=head,
            queries=display_tokens(self.pair.decoder),
            keys=display_tokens(self.pair.encoder),
            pattern=pat,
            mask=np.ones(pat.shape, dtype=bool),  # cross-attention has no mask
            row_share=pat.sum(axis=1),
        )

    def patterns(self) -> np.ndarray:
        """[n_layers, n_heads, n_target, n_source] every decoder layer's cross-attention."""
        return np.stack([to_numpy(self.pair.cross.layer_patterns(layer)) for layer in range(self.n_layers)])

    def spread(self, patterns: np.ndarray) -> np.ndarray:
        """Alignment spread (see PromptCross.spread) over the whole target × source pattern."""
        peak = patterns.max(axis=-1).mean(axis=-1)  # (L, H)
        top = patterns.argmax(axis=-1)  # (L, H, n_target)
        distinct = np.array([[len(set(row)) for row in per_layer] for per_layer in top])
        return peak * distinct / patterns.shape[2]
