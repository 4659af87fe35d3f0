"""The head finder's matrix: one head's weights, scaled scores and mask for the queries and keys around a
chosen query, at most FOCUS_SIZE × FOCUS_SIZE so every cell stays readable."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from viz.views.common import to_numpy
from viz.views.trace import TraceLike

FOCUS_SIZE = 24  # at most this many queries × keys: every cell stays readable in the page's column


@dataclass(frozen=True)
class FocusView:
    """One head's weights for the queries and keys start..stop−1 (rows = queries), with the scaled scores
    and the mask, for a heatmap around a chosen query."""

    layer: int
    head: int
    start: int
    stop: int
    pattern: np.ndarray  # [m, m] the weights the pass used (each row normalised over all its keys)
    scores: np.ndarray  # [m, m] the softmax's input before the mask (Trace.scores; viz.views.score_terms)
    mask: np.ndarray  # [m, m] True where the query may attend

    @property
    def positions(self) -> range:
        return range(self.start, self.stop)


def focus_span(n: int, query: int, keys: Sequence[int], size: int = FOCUS_SIZE) -> tuple[int, int]:
    """(start, stop): at most `size` positions holding the query and, when they fit, every key; otherwise
    the `size` positions ending at the query (the ranking still counts every key)."""
    lo, hi = min([query, *keys]), max([query, *keys]) + 1
    if hi - lo > size:
        lo, hi = max(0, query + 1 - size), query + 1
    pad = size - (hi - lo)
    start = max(0, lo - pad)  # widen backwards first: under a causal mask the keys a query sees lie before it
    stop = min(n, start + size)
    return max(0, stop - size), stop


def focus_view(trace: TraceLike, layer: int, head: int, start: int, stop: int) -> FocusView:
    """The weights, scaled scores and mask of (layer, head) for queries × keys start..stop−1."""
    span = slice(start, stop)
    return FocusView(
        layer=layer,
        head=head,
        start=start,
        stop=stop,
        pattern=to_numpy(trace.pattern_window(layer, head, span, span), dtype=np.float32),
        scores=to_numpy(trace.scores(layer, head), dtype=np.float32)[span, span],
        mask=to_numpy(trace.mask(layer), dtype=bool)[span, span],
    )
