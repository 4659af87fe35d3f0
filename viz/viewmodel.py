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

from viz.labels import plotly_tokens, readable_tokens


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
    def pooled_patterns(self, size: int = 64) -> Any: ...


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


def overview(trace: TraceLike, size: int = 16) -> np.ndarray:
    """[n_layers, n_heads, s, s] block-mean-pooled patterns for the layer × head thumbnails.

    16 cells per side is plenty for a ~35 px thumbnail and keeps the figure small for long texts.
    """
    return to_numpy(trace.pooled_patterns(size=size))


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


def export_basename(model_name: str, layer: int, head: int, causal: bool) -> str:
    return f"attention_{model_name}_L{layer}_H{head}_{'causal' if causal else 'bidirectional'}"
