"""Pattern view models: one head, one layer, every layer pooled, and windows of long texts.

Every function takes an engine Trace (duck-typed: `viz.views.trace.TraceLike`, so tests can pass a
fake) and returns plain numpy arrays. Rows are queries and columns are keys in every array here, as in
the engine; orientation is a display concern handled by the figure builders. Arrays keep the dtype the
engine gave them (the exports hand them on unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from viz.labels import plotly_tokens, readable_token, readable_tokens
from viz.views.common import display_tokens, to_numpy
from viz.views.trace import TraceLike


@dataclass(frozen=True)
class Tokens:
    raw: list[str]  # as the engine gave them (real spaces), byte pieces named by their character
    readable: list[str]  # ␣ for spaces, escapes for control characters: for plain-text widgets
    plotly: list[str]  # readable + HTML-escaped: for Plotly tick and hover text
    ids: list[int]
    added: list[str]  # the distinct tokens the tokenizer added around the text (BERT's [CLS], [SEP]), in order

    def __len__(self) -> int:
        return len(self.raw)


def tokens_of(trace: TraceLike) -> Tokens:
    raw = display_tokens(trace)  # the engine's tokens, byte pieces named by their character
    # An added token covers no character of the text (its offsets are empty); one the user typed covers some.
    added = [tok for tok, (start, end) in zip(raw, trace.offsets, strict=True) if start == end]
    return Tokens(
        raw=raw,
        readable=readable_tokens(raw),
        plotly=plotly_tokens(raw),
        ids=list(trace.token_ids),
        added=list(dict.fromkeys(added)),
    )


@dataclass(frozen=True)
class HeadView:
    """Everything shown about one head. All arrays are [n_q, n_k], rows = queries."""

    layer: int
    head: int
    tokens: Tokens
    causal: bool  # the masking the forward pass used
    scores: np.ndarray  # the softmax's input before the mask (Trace.scores; viz.views.score_terms names it)
    mask: np.ndarray  # bool, True where the query may attend (the forward pass's mask)
    pattern: np.ndarray  # softmax the forward pass used
    pattern_masked: np.ndarray  # softmax of the same scores with a causal mask
    pattern_unmasked: np.ndarray  # ... and without one
    second_text_at: int | None = None  # a text pair's: the second text's first position (None: one text)

    @property
    def masked_scores(self) -> np.ndarray:
        """Scores with −∞ where the forward pass masked them (what the softmax actually saw)."""
        return np.where(self.mask, self.scores, -np.inf)


def head_view(trace: TraceLike, layer: int, head: int) -> HeadView:
    return HeadView(
        layer=layer,
        head=head,
        tokens=tokens_of(trace),
        causal=bool(trace.causal),
        scores=to_numpy(trace.scores(layer, head), dtype=np.float32),
        mask=to_numpy(trace.mask(layer), dtype=bool),
        pattern=to_numpy(trace.pattern(layer, head), dtype=None),
        pattern_masked=to_numpy(trace.pattern(layer, head, masked=True), dtype=None),
        pattern_unmasked=to_numpy(trace.pattern(layer, head, masked=False), dtype=None),
        second_text_at=second_text_at(trace),
    )


def second_text_at(trace: TraceLike) -> int | None:
    """Where a text pair's second text starts (its first token's position); None for one text, or when the token
    cap left none of it."""
    return None if trace.segments is None else trace.segments.second_start


def layer_patterns(trace: TraceLike, layer: int) -> np.ndarray:
    """[n_heads, n_q, n_k]: the used pattern of every head in `layer`."""
    return to_numpy(trace.layer_patterns(layer), dtype=None)


OVERVIEW_SIZE = 16  # cells per side of a layer × head thumbnail: plenty for ~35 px


def overview(trace: TraceLike, size: int = OVERVIEW_SIZE, progress: Any = None, per_layer: bool = True) -> np.ndarray:
    """[n_layers, n_heads, s, s] block-mean-pooled patterns for the layer × head thumbnails; NaN in a hybrid's
    layers without heads.

    Built one layer at a time (the engine pools blockwise inside a layer, so no full layer of n×n
    patterns is held), calling `progress(fraction, message)` after each: ~15 s at 4096 tokens on 2 cores.
    per_layer=False asks the engine for all layers in one call (less overhead for short texts).
    """
    layers = list(trace.attention_layers)
    if not per_layer:
        pooled = to_numpy(trace.pooled_patterns(size=size, layers=layers), dtype=None)  # (attention layers, ...)
        out = np.full((trace.n_layers, *pooled.shape[1:]), np.nan, dtype=pooled.dtype)
        out[layers] = pooled
        return out
    rows: dict[int, np.ndarray] = {}
    for done, layer in enumerate(layers, 1):
        rows[layer] = to_numpy(trace.pooled_patterns(size=size, layers=[layer]), dtype=None)[0]
        if progress is not None:
            progress(done / len(layers), f"Pooling layer {layer + 1} of {trace.n_layers}")
    blank = np.full_like(rows[layers[0]], np.nan)
    return np.stack([rows.get(layer, blank) for layer in range(trace.n_layers)])


# ---------------------------------------------------------------------------------------------
# Long inputs. Up to FULL_RES_MAX_TOKENS every cell is drawn with its own hover. Past that, a head is
# shown as (a) its pattern mean-pooled to at most POOLED_VIEW_SIZE² blocks, computed blockwise by the
# engine, and (b) an exact window of at most WINDOW_MAX queries × WINDOW_MAX keys.

FULL_RES_MAX_TOKENS = 256
POOLED_VIEW_SIZE = 128
SMALL_MULTIPLE_SIZE = 48  # cells per side of a small-multiple thumbnail for long texts
WINDOW_DEFAULT = 128
WINDOW_MAX = 256


def is_long(n_tokens: int) -> bool:
    return n_tokens > FULL_RES_MAX_TOKENS


@dataclass(frozen=True)
class PooledView:
    """One head's used pattern as block means: pooled[a, b] = mean of the block of queries a × keys b."""

    layer: int
    head: int
    pooled: np.ndarray  # [s, s]
    block: int  # tokens per block (the last block may be narrower)
    n: int

    @property
    def size(self) -> int:
        return self.pooled.shape[0]


def pooled_view(trace: TraceLike, layer: int, head: int, size: int = POOLED_VIEW_SIZE) -> PooledView:
    n = len(trace.tokens)
    pooled = to_numpy(trace.pooled_pattern(layer, head, size=size), dtype=None)
    block = max(1, -(-n // size))  # the engine's pool_edges: block = ceil(n / size), s = ceil(n / block)
    if pooled.shape != (-(-n // block),) * 2:
        raise ValueError(f"pooled pattern {pooled.shape} does not match {n} tokens in blocks of {block}")
    return PooledView(layer, head, pooled, block, n)


def layer_thumbnails(trace: TraceLike, layer: int, size: int = SMALL_MULTIPLE_SIZE) -> np.ndarray:
    """[n_heads, s, s]: every head of `layer`, pooled (long texts) — what the small multiples draw."""
    return to_numpy(trace.pooled_patterns(size=size, layers=[layer]), dtype=None)[0]


@dataclass(frozen=True)
class Window:
    """Queries q0..q1-1 × keys k0..k1-1 (half-open), in token positions."""

    q0: int
    q1: int
    k0: int
    k1: int

    @property
    def rows(self) -> slice:
        return slice(self.q0, self.q1)

    @property
    def cols(self) -> slice:
        return slice(self.k0, self.k1)

    def as_tuple(self) -> tuple[int, int, int, int]:
        return self.q0, self.q1, self.k0, self.k1


def default_window(n: int, size: int = WINDOW_DEFAULT) -> Window:
    """The last `size` queries × the same keys: the end of the text, where a reader usually looks."""
    start = max(0, n - size)
    return Window(start, n, start, n)


def clamp_span(lo: int, hi: int, n: int, max_span: int = WINDOW_MAX) -> tuple[int, int]:
    """An inclusive range [lo, hi] from a slider → a half-open (start, stop) inside 0..n, at most max_span long.

    A span longer than max_span keeps its start (the user moved the upper handle past the limit).
    """
    lo, hi = sorted((int(lo), int(hi)))
    lo = min(max(lo, 0), n - 1)
    hi = min(max(hi, lo), n - 1)
    return lo, min(hi + 1, lo + max_span)


@dataclass(frozen=True)
class WindowView:
    """Exact numbers of one head for a window. Arrays are [rows, cols], rows = queries."""

    layer: int
    head: int
    window: Window
    tokens: Tokens  # every token of the text (window labels are slices of these)
    causal: bool
    pattern: np.ndarray  # the used weights, each row normalised over ALL keys (not a renormalised crop)
    scores: np.ndarray
    mask: np.ndarray
    row_share: np.ndarray  # [rows]: part of each query's weight that falls inside the window's keys

    def labels(self, kind: str = "plotly") -> tuple[list[str], list[str]]:
        toks = getattr(self.tokens, kind)
        return toks[self.window.rows], toks[self.window.cols]


def window_view(trace: TraceLike, layer: int, head: int, window: Window, tokens: Tokens | None = None) -> WindowView:
    w = window
    pattern = to_numpy(trace.pattern_window(layer, head, rows=w.rows, cols=w.cols), dtype=None)
    scores = to_numpy(trace.scores(layer, head), dtype=None)[w.rows, w.cols].astype(np.float32, copy=True)
    mask = to_numpy(trace.mask(layer), dtype=None)[w.rows, w.cols].astype(bool, copy=True)
    return WindowView(
        layer=layer,
        head=head,
        window=w,
        tokens=tokens if tokens is not None else tokens_of(trace),
        causal=bool(trace.causal),
        pattern=pattern,
        scores=scores,
        mask=mask,
        row_share=pattern.sum(axis=1),
    )


def window_mask_patterns(
    trace: TraceLike, layer: int, head: int, window: Window
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(with causal mask, without, kept) for a window: softmax of the same scores cut to the window (rows
    normalised over all keys), and kept[r] = the unmasked weight query q0+r puts on keys 0..q0+r (those of
    them inside a sliding window, where the layer has one)."""
    w = window
    masked = to_numpy(trace.pattern(layer, head, masked=True), dtype=None)[w.rows, w.cols].copy()
    full = to_numpy(trace.pattern(layer, head, masked=False), dtype=None)[w.rows]
    size = trace.window(layer) if hasattr(trace, "window") else None  # a sliding window: keys i − size + 1 .. i
    first = [0 if size is None else max(0, w.q0 + r - size + 1) for r in range(full.shape[0])]
    kept = np.array([full[r, first[r] : w.q0 + r + 1].sum() for r in range(full.shape[0])], dtype=np.float64)
    return masked, full[:, w.cols].copy(), kept


def cut_position(trace: TraceLike) -> int:
    """Character position in the text where the trace's last token ends (special tokens have (0, 0))."""
    return max((end for _start, end in trace.offsets), default=0)


@dataclass(frozen=True)
class PairCut:
    """What the token cap left of each text of a pair (cut longest first, as transformers' truncation cuts)."""

    first_read: int  # characters of the first text the trace read
    first_chars: int  # of its length
    second_read: int
    second_chars: int


def pair_cut(trace: TraceLike) -> PairCut | None:
    """How much of each text a cut text pair's trace read; None for one text or a pair read whole."""
    seg = trace.segments
    if seg is None or not trace.truncated:
        return None
    first, second = seg.texts(trace.text)
    spans = [(i, end) for i, (start, end) in enumerate(trace.offsets) if end > start]  # not the special tokens
    first_read = max((end for i, end in spans if i < seg.second_token), default=0)
    second_read = max((end - seg.second_char for i, end in spans if i >= seg.second_token), default=0)
    return PairCut(first_read, len(first), second_read, len(second))


def cut_excerpt(text: str, cut: int, context: int = 40) -> str:
    """'…before ⟂ after…' around the cut; newlines and control characters drawn as escapes (plain text)."""

    def plain(part: str) -> str:
        return "".join(ch if ch == " " else readable_token(ch) for ch in part)

    before = ("…" if cut > context else "") + plain(text[max(0, cut - context) : cut])
    after = plain(text[cut : cut + context]) + ("…" if cut + context < len(text) else "")
    return f"{before} ⟂ {after}"


def sink_shares(pattern: np.ndarray) -> np.ndarray:
    """[n_q] the weight each query gives its head's attention sink (GPT-OSS): 1 − its row's sum, as the model's
    softmax left it (rows are queries)."""
    return np.clip(1.0 - pattern.sum(axis=1), 0.0, 1.0)
