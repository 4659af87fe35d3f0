"""Duplicate-token and induction scores of one text's heads (the head finder's), with the head atlas's own
definitions: `attention_core.atlas.statistics` (`earlier_copies`, `induction_targets`), so the head finder and the
atlas cannot disagree on what the two statistics mean; read in the same pass over each layer's patterns as the
head finder's other statistics (`Trace.pattern_row_sums`). numpy out, for the view models.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from attention_core import Trace
from attention_core.atlas.statistics import earlier_copies, induction_targets
from attention_core.recompute import ROW_SUM_NAMES

RepeatStatistics = tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, int]]
ROWS_PER_CHUNK = 64  # query rows of every head at a time (Trace.pattern_row_sums)


def head_finder_statistics(
    trace: Trace, progress: Callable[[float, str], None] | None = None, rows_per_chunk: int = ROWS_PER_CHUNK
) -> tuple[dict[str, np.ndarray], RepeatStatistics]:
    """The head finder's numbers from one pass over each layer's patterns: the engine's row sums
    (`Trace.pattern_row_sums`: entropy, previous, first, distance; [n_layers, n_heads] float64, NaN in a hybrid's
    layers without heads: viz.views.heads.statistics_of_row_sums makes them means) and `text_repeat_statistics`,
    with a text pair's "across" beside them (each query's weight on the other text: `other_text_keys`).
    Computing the patterns once for both halved the time at 1,000 tokens (docs/performance.md)."""
    ids = torch.tensor(trace.token_ids)
    keys = {"duplicate": earlier_copies(ids), "induction": induction_targets(ids)}
    if (other := other_text_keys(trace)) is not None:  # a text pair's: the weight on the other text, same pass
        keys["across"] = other
    in_text = {name: int(marked.any(dim=1).sum()) for name, marked in keys.items()}
    counts = {name: np.zeros(trace.n_layers, dtype=np.int64) for name in keys}
    sums = {name: np.zeros((trace.n_layers, trace.n_heads)) for name in keys}
    totals = {name: np.full((trace.n_layers, trace.n_heads), np.nan) for name in ROW_SUM_NAMES}
    for layer in trace.attention_layers:  # a hybrid's other layers: no heads, NaN
        if progress is not None:
            progress(layer / trace.n_layers, f"Head statistics: layer {layer} of {trace.n_layers}")
        allowed = trace.mask(layer)  # [n, n] the keys each query sees in this layer (causal, sliding window)
        seen = {name: marked & allowed for name, marked in keys.items()}
        for name, marked in seen.items():
            counts[name][layer] = int(marked.any(dim=1).sum())
        row_sums = trace.pattern_row_sums(layer, rows_per_chunk, marked=seen)
        for name, values in row_sums.items():
            (sums if name in keys else totals)[name][layer] = values.numpy()
    means = {name: _means(sums[name], counts[name]) for name in keys}
    return totals, (means, counts, in_text)


def other_text_keys(trace: Trace) -> torch.Tensor | None:
    """[n, n] bool for a text pair, True where key j is in the other text than query i (split where the second
    text starts: the first text's [CLS] and [SEP] count with it, the last [SEP] with the second); None for one
    text, or a pair whose second text the token cap left out."""
    at = None if trace.segments is None else trace.segments.second_start
    if at is None:
        return None
    second = torch.arange(trace.n_tokens) >= at  # [n]
    return second[:, None] != second[None, :]


def text_repeat_statistics(
    trace: Trace, progress: Callable[[float, str], None] | None = None, rows_per_chunk: int = ROWS_PER_CHUNK
) -> RepeatStatistics:
    """Per head, the mean over the qualifying queries of `trace`'s text ([n_layers, n_heads] float64, NaN where
    none qualifies) of "duplicate" (weight on earlier copies of the query's own token, atlas `duplicate_token`) and
    "induction" (weight on the tokens that followed them, atlas `text_induction`); per layer, how many queries
    qualified there ([n_layers] ints; 0 in a hybrid's layers without heads); and how many of the text's queries have
    such a key at all.

    A query qualifies in a layer only if that layer lets it see one of its keys (`Trace.mask`): in a sliding-window
    layer whose window hides every earlier copy (or its follower) the query's weight there is 0 by construction,
    so it is left out of that layer's mean rather than averaged in. Without windows every layer's count is the
    text's (the atlas counts the text's on every layer: docs/atlas.md)."""
    return head_finder_statistics(trace, progress, rows_per_chunk)[1]


def _means(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """[n_layers, n_heads] sums ÷ each layer's count, NaN on a layer where no query qualified."""
    per_layer = counts[:, None].astype(np.float64)
    return np.divide(sums, per_layer, out=np.full_like(sums, np.nan), where=per_layer > 0)
