"""The text view's model: the text as running tokens, and one head's pattern (or the mean of a layer's heads)
packed small enough to send to the browser for 4,096 tokens.

Packing (what `encode` does):
* **Quantisation.** Every weight becomes one byte on a log scale: code 0 means "below LOG_FLOOR" (10⁻⁶, drawn
  as 0), codes 1…255 cover LOG_FLOOR…1 in 254 equal steps of ln-weight. A decoded weight ŵ is within
  REL_ERROR (2.76 %) of the true weight w, plus LOG_FLOOR for weights under the floor:
  |ŵ − w| ≤ REL_ERROR · w + LOG_FLOOR (tests/viz/test_text_view.py holds it). One log scale serves rows and
  columns alike: a column's small weights are not lost to a large weight elsewhere in their rows, which a
  per-row linear scale would do.
* **Full matrix** up to FULL_MAX_TOKENS tokens: row-major, only the lower triangle (i + 1 codes for row i)
  when the pattern is causal. Rows and columns are both read from it.
* **Top k** beyond that: for each token, its TOP_K largest weights in the chosen direction (a query's keys, or a
  key's queries) with their positions (uint16). `coverage` is the mean share of a token's weight those k
  entries hold (for a key: of the attention it receives), measured on the exact weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from viz.labels import readable_text, readable_token
from viz.views.common import display_tokens, to_numpy
from viz.views.trace import TraceLike

Direction = Literal["query", "key"]

FULL_MAX_TOKENS = 1024
TOP_K = 48
STRONGEST = 3  # the hover names each token's strongest weights, sent exact beside the codes
LOG_FLOOR = 1e-6
LOG_STEP = -math.log(LOG_FLOOR) / 254  # codes 1…255 span ln(LOG_FLOOR)…0
REL_ERROR = math.exp(LOG_STEP / 2) - 1  # ≈ 0.0276: half a step of ln-weight


def quantise(weights: np.ndarray) -> np.ndarray:
    """Weights in [0, 1] → uint8 log-scale codes (0: below LOG_FLOOR)."""
    w = np.asarray(weights, dtype=np.float64)
    with np.errstate(divide="ignore"):
        steps = np.rint((np.log(np.maximum(w, LOG_FLOOR)) - math.log(LOG_FLOOR)) / LOG_STEP) + 1
    return np.where(w >= LOG_FLOOR, np.clip(steps, 1, 255), 0).astype(np.uint8)


def dequantise(codes: np.ndarray) -> np.ndarray:
    """uint8 codes → weights (the browser decodes with the same table: `code_table`)."""
    return code_table()[np.asarray(codes, dtype=np.intp)]


def code_table() -> np.ndarray:
    """[256] the weight each code stands for (code 0: 0)."""
    table = LOG_FLOOR * np.exp(np.arange(-1, 255) * LOG_STEP)
    table[0] = 0.0
    return table


@dataclass(frozen=True)
class TextPieces:
    """The text as the view draws it: before token i comes gaps[i] (text no token covers: the spaces a WordPiece
    tokenizer drops, a newline), then shown[i]. chip[i]: drawn as a label, not as text (a special token such as
    [CLS], or a byte piece named by its character). labels[i]: the token as the app names it elsewhere."""

    gaps: list[str]
    shown: list[str]
    chip: list[bool]
    labels: list[str]


def text_pieces(trace: TraceLike) -> TextPieces:
    """Cut the trace's text at its tokens' character offsets (byte pieces: viz.labels' names; control characters
    named by viz.labels.readable_text, as the other pages name them)."""
    text, named = trace.text, display_tokens(trace)
    gaps, shown, chip = [], [], []
    cursor = 0
    for raw, name, (start, end) in zip(trace.tokens, named, trace.offsets, strict=True):
        spans_text = 0 <= start < end <= len(text)
        if not spans_text or name != raw:  # special token, or byte pieces that share one character
            gaps.append(readable_text(text[cursor:start]) if spans_text and start > cursor else "")
            shown.append(name if name != raw else readable_token(raw))
            chip.append(True)
            cursor = max(cursor, end) if spans_text else cursor
            continue
        start = max(start, cursor)
        # Control characters named as every other page names them (a raw one is an empty box); the layout stays.
        gaps.append(readable_text(text[cursor:start]))
        piece = readable_text(text[start:end])
        if piece.strip() == "" and "\n" in piece:  # a newline token needs something to hover
            piece = piece.replace("\n", "↵\n")
        shown.append(piece)
        chip.append(False)
        cursor = max(cursor, end)
    return TextPieces(gaps, shown, chip, [f"{i}: {readable_token(t)}" for i, t in enumerate(named)])


def head_matrix(
    trace: TraceLike, layer: int, head: int | None, progress: Callable[[float, str], None] | None = None
) -> np.ndarray:
    """[n_q, n_k] float32: one head's pattern (rows = queries), or with head=None the mean over the layer's
    heads, summed one head at a time (a 4,096-token layer's patterns at once would be 600 MB)."""
    if head is not None:
        return to_numpy(trace.pattern(layer, head), dtype=np.float32)
    total = np.zeros((trace.n_tokens, trace.n_tokens), dtype=np.float64)
    for h in range(trace.n_heads):
        if progress is not None:
            progress(h / trace.n_heads, f"Layer {layer}: head {h + 1} of {trace.n_heads}")
        total += to_numpy(trace.pattern(layer, h), dtype=np.float32)
    return (total / trace.n_heads).astype(np.float32)


@dataclass(frozen=True)
class Encoded:
    """One direction of a pattern, packed. layout: "tri" (causal lower triangle), "square" or "topk"."""

    n: int
    direction: Direction
    layout: str
    k: int  # entries per token in "topk"; n otherwise
    codes: np.ndarray  # uint8
    index: np.ndarray  # uint16 positions for "topk" ([n · k]); empty otherwise
    coverage: float  # mean share of a token's weight the packed entries hold (1.0 when nothing is left out)
    # Each token's STRONGEST largest weights in this direction, exact (float32) and in order, with their positions
    # ([n · STRONGEST]; weight 0 pads a token with fewer): one-byte codes cannot rank 0.1711 against 0.1719.
    top_index: np.ndarray  # uint16
    top_weight: np.ndarray  # float32

    def strongest(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Token i's strongest positions and their exact weights, largest first (ties: the earlier position)."""
        sl = slice(i * STRONGEST, (i + 1) * STRONGEST)
        index, weight = self.top_index[sl], self.top_weight[sl]
        return index[weight > 0], weight[weight > 0]

    def weights(self, i: int) -> np.ndarray:
        """[n] token i's decoded weights in this direction (its row as a query, its column as a key): what the
        browser shades, for tests."""
        n, out = self.n, np.zeros(self.n)
        if self.layout == "topk":
            sl = slice(i * self.k, (i + 1) * self.k)
            out[self.index[sl]] = dequantise(self.codes[sl])
            return out
        if self.direction == "query":
            row = dequantise(self._row_codes(i))
            return np.pad(row, (0, n - len(row)))  # "tri": keys after i are masked, weight 0
        rows = np.arange(i if self.layout == "tri" else 0, n)
        flat = rows * (rows + 1) // 2 + i if self.layout == "tri" else rows * n + i
        out[rows] = dequantise(self.codes[flat])
        return out

    def _row_codes(self, i: int) -> np.ndarray:
        if self.layout == "tri":
            return self.codes[i * (i + 1) // 2 : (i + 1) * (i + 2) // 2]
        return self.codes[i * self.n : (i + 1) * self.n]


def strongest_entries(vectors: np.ndarray, positions: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each row's STRONGEST largest entries, largest first (ties: the earlier position), as ([n · STRONGEST] uint16
    positions, float32 weights); rows shorter than STRONGEST are padded with weight 0. `positions` ([n, width],
    ascending in each row) names the columns of `vectors` when they are a subset of each row (the top-k path)."""
    n, width = vectors.shape
    kk = min(STRONGEST, width)
    kth = -np.partition(-vectors, kk - 1, axis=1)[:, kk - 1 : kk]  # [n, 1] the kk-th largest value
    above = vectors > kth
    tied = vectors == kth  # argpartition would pick any of these: take the earliest that still fit
    chosen = above | (tied & (np.cumsum(tied, axis=1) <= kk - above.sum(axis=1, keepdims=True)))
    cols = np.nonzero(chosen)[1].reshape(n, kk)  # kk per row, in position order
    vals = np.take_along_axis(vectors, cols, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")  # by weight, descending; ties keep position order
    index = np.zeros((n, STRONGEST), dtype=np.uint16)
    weight = np.zeros((n, STRONGEST), dtype=np.float32)
    cols = np.take_along_axis(cols, order, axis=1)
    index[:, :kk] = cols if positions is None else np.take_along_axis(positions, cols, axis=1)
    weight[:, :kk] = np.take_along_axis(vals, order, axis=1)
    return index.ravel(), weight.ravel()


def encode(matrix: np.ndarray, direction: Direction, full_max: int = FULL_MAX_TOKENS, k: int = TOP_K) -> Encoded:
    """Pack a [n, n] pattern (rows = queries) for the browser: the whole matrix up to `full_max` tokens (the
    lower triangle when nothing above the diagonal has weight), else each token's top k in `direction`; and
    each token's strongest weights in `direction`, exact."""
    m = np.asarray(matrix, dtype=np.float32)
    n = m.shape[0]
    empty = np.zeros(0, dtype=np.uint16)
    vectors = m if direction == "query" else np.ascontiguousarray(m.T)
    if n <= full_max:
        exact = strongest_entries(vectors)
        if not np.triu(m, 1).any():
            codes = quantise(m[np.tril_indices(n)])  # row-major: row i holds keys 0…i
            return Encoded(n, direction, "tri", n, codes, empty, 1.0, *exact)
        return Encoded(n, direction, "square", n, quantise(m.ravel()), empty, 1.0, *exact)
    kk = min(k, n)
    top = np.sort(np.argpartition(-vectors, kk - 1, axis=1)[:, :kk], axis=1)  # each row's top k, by position
    kept = np.take_along_axis(vectors, top, axis=1)  # [n, k] float32
    # The strongest three lie among the top k (a tie across the cut at k = 48 would need 46 equal weights).
    exact = strongest_entries(kept, top)
    vals = kept.astype(np.float64)
    totals = vectors.sum(axis=1, dtype=np.float64)
    share = np.divide(vals.sum(axis=1), totals, out=np.ones(n), where=totals > 0)
    coverage = float(np.minimum(share, 1.0).mean())
    return Encoded(n, direction, "topk", kk, quantise(vals).ravel(), top.astype(np.uint16).ravel(), coverage, *exact)


def encode_both(matrix: np.ndarray, full_max: int = FULL_MAX_TOKENS, k: int = TOP_K) -> dict[str, Encoded]:
    """Both directions; one shared packing when the whole matrix fits."""
    query = encode(matrix, "query", full_max, k)
    if query.layout != "topk":
        exact = strongest_entries(np.ascontiguousarray(np.asarray(matrix, dtype=np.float32).T))
        key = Encoded(query.n, "key", query.layout, query.k, query.codes, query.index, 1.0, *exact)
        return {"query": query, "key": key}
    return {"query": query, "key": encode(matrix, "key", full_max, k)}
