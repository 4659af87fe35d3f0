"""View models: what a page needs from a Trace, as numpy arrays and labels.

This is the boundary where torch stops: every function takes an engine Trace (duck-typed, so tests
can pass a fake) and returns plain numpy arrays. Pages and figure builders never see a tensor.
Rows are queries and columns are keys in every array here, as in the engine; orientation is a
display concern handled by the figure builders.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from viz.labels import plotly_tokens, readable_token, readable_tokens


class TraceLike(Protocol):
    """The subset of attention_core's Trace the app reads."""

    tokens: list[str]
    token_ids: list[int]
    causal: bool
    truncated: bool
    n_input_tokens: int
    n_layers: int
    n_heads: int

    def scores(self, layer: int, head: int) -> Any: ...
    def mask(self, layer: int) -> Any: ...
    def pattern(self, layer: int, head: int, masked: bool | None = None) -> Any: ...
    def layer_patterns(self, layer: int) -> Any: ...
    def pooled_patterns(self, size: int = 64, **kwargs: Any) -> Any: ...
    def pooled_pattern(self, layer: int, head: int, size: int = 256) -> Any: ...
    def pattern_window(self, layer: int, head: int, rows: slice, cols: slice) -> Any: ...


def to_numpy(value: Any) -> np.ndarray:
    """Tensor or array → numpy on the CPU. `.detach().cpu()` first, since a CUDA/MPS tensor can't `.numpy()`."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


@dataclass(frozen=True)
class Tokens:
    raw: list[str]  # exactly as the engine gave them (real spaces)
    readable: list[str]  # ␣ for spaces, escapes for control characters: for plain-text widgets
    plotly: list[str]  # readable + HTML-escaped: for Plotly tick and hover text
    ids: list[int]

    def __len__(self) -> int:
        return len(self.raw)


def tokens_of(trace: TraceLike) -> Tokens:
    raw = list(trace.tokens)
    return Tokens(raw=raw, readable=readable_tokens(raw), plotly=plotly_tokens(raw), ids=list(trace.token_ids))


@dataclass(frozen=True)
class HeadView:
    """Everything shown about one head. All arrays are [n_q, n_k], rows = queries."""

    layer: int
    head: int
    tokens: Tokens
    causal: bool  # the masking the forward pass used
    scores: np.ndarray  # scaled q·k/√d_head, before the mask
    mask: np.ndarray  # bool, True where the query may attend (the forward pass's mask)
    pattern: np.ndarray  # softmax the forward pass used
    pattern_masked: np.ndarray  # softmax of the same scores with a causal mask
    pattern_unmasked: np.ndarray  # ... and without one

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
        scores=to_numpy(trace.scores(layer, head)).astype(np.float32, copy=False),
        mask=to_numpy(trace.mask(layer)).astype(bool, copy=False),
        pattern=to_numpy(trace.pattern(layer, head)),
        pattern_masked=to_numpy(trace.pattern(layer, head, masked=True)),
        pattern_unmasked=to_numpy(trace.pattern(layer, head, masked=False)),
    )


def layer_patterns(trace: TraceLike, layer: int) -> np.ndarray:
    """[n_heads, n_q, n_k]: the used pattern of every head in `layer`."""
    return to_numpy(trace.layer_patterns(layer))


OVERVIEW_SIZE = 16  # cells per side of a layer × head thumbnail: plenty for ~35 px


def overview(trace: TraceLike, size: int = OVERVIEW_SIZE, progress: Any = None, per_layer: bool = True) -> np.ndarray:
    """[n_layers, n_heads, s, s] block-mean-pooled patterns for the layer × head thumbnails.

    Built one layer at a time (the engine pools blockwise inside a layer, so no full layer of n×n
    patterns is held), calling `progress(fraction, message)` after each: ~15 s at 4096 tokens on 2 cores.
    per_layer=False asks the engine for all layers in one call (less overhead for short texts).
    """
    if not per_layer:
        return to_numpy(trace.pooled_patterns(size=size))
    n_layers = trace.n_layers
    out = []
    for layer in range(n_layers):
        out.append(to_numpy(trace.pooled_patterns(size=size, layers=[layer]))[0])
        if progress is not None:
            progress((layer + 1) / n_layers, f"Pooling layer {layer + 1} of {n_layers}")
    return np.stack(out)


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
    pooled = to_numpy(trace.pooled_pattern(layer, head, size=size))
    block = max(1, -(-n // size))  # the engine's pool_edges: block = ceil(n / size), s = ceil(n / block)
    if pooled.shape != (-(-n // block),) * 2:
        raise ValueError(f"pooled pattern {pooled.shape} does not match {n} tokens in blocks of {block}")
    return PooledView(layer, head, pooled, block, n)


def layer_thumbnails(trace: TraceLike, layer: int, size: int = SMALL_MULTIPLE_SIZE) -> np.ndarray:
    """[n_heads, s, s]: every head of `layer`, pooled (long texts) — what the small multiples draw."""
    return to_numpy(trace.pooled_patterns(size=size, layers=[layer]))[0]


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
    pattern = to_numpy(trace.pattern_window(layer, head, rows=w.rows, cols=w.cols))
    scores = to_numpy(trace.scores(layer, head))[w.rows, w.cols].astype(np.float32, copy=True)
    mask = to_numpy(trace.mask(layer))[w.rows, w.cols].astype(bool, copy=True)
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
    normalised over all keys), and kept[r] = the unmasked weight query q0+r puts on keys 0..q0+r."""
    w = window
    masked = to_numpy(trace.pattern(layer, head, masked=True))[w.rows, w.cols].copy()
    full = to_numpy(trace.pattern(layer, head, masked=False))[w.rows]
    kept = np.array([full[r, : w.q0 + r + 1].sum() for r in range(full.shape[0])], dtype=np.float64)
    return masked, full[:, w.cols].copy(), kept


def cut_position(trace: Any) -> int:
    """Character position in the text where the trace's last token ends (special tokens have (0, 0))."""
    return max((end for _start, end in trace.offsets), default=0)


def cut_excerpt(text: str, cut: int, context: int = 40) -> str:
    """'…before ⟂ after…' around the cut; newlines and control characters drawn as escapes (plain text)."""

    def plain(part: str) -> str:
        return "".join(ch if ch == " " else readable_token(ch) for ch in part)

    before = ("…" if cut > context else "") + plain(text[max(0, cut - context) : cut])
    after = plain(text[cut : cut + context]) + ("…" if cut + context < len(text) else "")
    return f"{before} ⟂ {after}"


def pooled_npz(view: PooledView, window: WindowView, tokens: Tokens, model_name: str) -> bytes:
    """A long text's export: the block means, the exact window, and the tokens."""
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        pooled=view.pooled,
        block=np.int64(view.block),
        window=np.array(window.window.as_tuple(), dtype=np.int64),
        window_pattern=window.pattern,
        window_scores=window.scores,
        tokens=np.array(tokens.raw, dtype=str),
        token_ids=np.array(tokens.ids, dtype=np.int64),
        layer=np.int64(view.layer),
        head=np.int64(view.head),
        causal=np.bool_(window.causal),
        model=np.array(model_name),
    )
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# Export. Rows are always queries in the files, whatever the on-screen orientation, so a file's
# rows sum to 1 and match the engine's convention; the header says so.


def pattern_csv(view: HeadView) -> bytes:
    """The selected head's used pattern: one row per query, one column per key, with tokens."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["query_pos", "query_token"] + [f"{j}:{tok}" for j, tok in enumerate(view.tokens.raw)])
    for i, tok in enumerate(view.tokens.raw):
        # repr(float) round-trips float32 exactly enough for a sum check; no rounding of real numbers.
        writer.writerow([i, tok] + [repr(float(w)) for w in view.pattern[i]])
    return buf.getvalue().encode("utf-8")


def pattern_npz(view: HeadView, model_name: str) -> bytes:
    """Pattern, pre-mask scores, mask and tokens in one file (np.load(..., allow_pickle=False) works)."""
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        pattern=view.pattern,
        scores=view.scores,
        mask=view.mask,
        pattern_masked=view.pattern_masked,
        pattern_unmasked=view.pattern_unmasked,
        tokens=np.array(view.tokens.raw, dtype=str),
        token_ids=np.array(view.tokens.ids, dtype=np.int64),
        layer=np.int64(view.layer),
        head=np.int64(view.head),
        causal=np.bool_(view.causal),
        model=np.array(model_name),
    )
    return buf.getvalue()


def window_csv(view: WindowView) -> bytes:
    """A long text's exact window: one row per query of the window, one column per key of the window.

    Weights are the true ones (each row normalised over all keys), so a row sums to the share of the
    query's attention inside the window, given in the last column.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    w = view.window
    keys = range(w.k0, w.k1)
    writer.writerow(["query_pos", "query_token"] + [f"{j}:{view.tokens.raw[j]}" for j in keys] + ["row_share"])
    for r, i in enumerate(range(w.q0, w.q1)):
        weights = [repr(float(x)) for x in view.pattern[r]]
        writer.writerow([i, view.tokens.raw[i], *weights, repr(float(view.row_share[r]))])
    return buf.getvalue().encode("utf-8")


def export_basename(model_name: str, layer: int, head: int, causal: bool) -> str:
    return f"attention_{model_name}_L{layer}_H{head}_{'causal' if causal else 'bidirectional'}"
