"""Duplicate-token and induction scores of one text's heads (the head finder's), with the head atlas's own
definitions: `attention_core.atlas.statistics` (`earlier_copies`, `induction_targets`, `weight_on`), so the head
finder and the atlas cannot disagree on what the two statistics mean. numpy out, for the view models.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from attention_core import Trace
from attention_core.atlas.statistics import earlier_copies, induction_targets, weight_on

WEIGHTS_PER_CALL = 1 << 24  # at most this many weights (64 MB) asked of the engine at once


def text_repeat_statistics(
    trace: Trace, progress: Callable[[float, str], None] | None = None
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, int]]:
    """Per head, the mean over the qualifying queries of `trace`'s text ([n_layers, n_heads] float64, NaN where
    none qualifies) of "duplicate" (weight on earlier copies of the query's own token, atlas `duplicate_token`) and
    "induction" (weight on the tokens that followed them, atlas `text_induction`); per layer, how many queries
    qualified there ([n_layers] ints; 0 in a hybrid's layers without heads); and how many of the text's queries have
    such a key at all.

    A query qualifies in a layer only if that layer lets it see one of its keys (`Trace.mask`): in a sliding-window
    layer whose window hides every earlier copy (or its follower) the query's weight there is 0 by construction,
    so it is left out of that layer's mean rather than averaged in. Without windows every layer's count is the
    text's (the atlas counts the text's on every layer: docs/atlas.md). Only the rows from the first qualifying
    query on are read."""
    ids = torch.tensor(trace.token_ids)
    keys = {"duplicate": earlier_copies(ids), "induction": induction_targets(ids)}
    in_text = {name: int(marked.any(dim=1).sum()) for name, marked in keys.items()}
    counts = {name: np.zeros(trace.n_layers, dtype=np.int64) for name in keys}
    sums = {name: np.zeros((trace.n_layers, trace.n_heads)) for name in keys}
    qualifying = torch.nonzero(keys["duplicate"].any(dim=1) | keys["induction"].any(dim=1)).flatten()
    for layer in trace.attention_layers if len(qualifying) else ():  # a hybrid's other layers: no heads, NaN
        if progress is not None:
            progress(layer / trace.n_layers, f"Duplicate-token and induction scores: layer {layer} of {trace.n_layers}")
        allowed = trace.mask(layer)  # [n, n] the keys each query sees in this layer (causal, sliding window)
        seen = {name: marked & allowed for name, marked in keys.items()}
        for name, marked in seen.items():
            counts[name][layer] = int(marked.any(dim=1).sum())
        for rows, heads, patterns in _blocks(trace, layer, int(qualifying[0])):
            for name, marked in seen.items():
                sums[name][layer, heads] += weight_on(patterns, marked[rows]).sums.numpy()
    means = {name: _means(sums[name], counts[name]) for name in keys}
    return means, counts, in_text


def _means(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """[n_layers, n_heads] sums ÷ each layer's count, NaN on a layer where no query qualified."""
    per_layer = counts[:, None].astype(np.float64)
    return np.divide(sums, per_layer, out=np.full_like(sums, np.nan), where=per_layer > 0)


def _blocks(trace: Trace, layer: int, first: int) -> Iterator[tuple[slice, slice, torch.Tensor]]:
    """(query rows, heads, their patterns [heads, rows, n]) covering the queries first … n − 1 of every head of
    `layer`: the whole layer at once (`Trace.layer_patterns`, as the atlas reads it) when it holds at most
    WEIGHTS_PER_CALL weights, else one head and a block of rows at a time (`Trace.pattern_window`), so a long
    text never holds a layer's n × n patterns."""
    n, n_heads = trace.n_tokens, trace.n_heads
    if n_heads * n * n <= WEIGHTS_PER_CALL:
        yield slice(first, n), slice(None), trace.layer_patterns(layer)[:, first:]
        return
    per_block = max(1, WEIGHTS_PER_CALL // n)
    for head in range(n_heads):
        for start in range(first, n, per_block):
            rows = slice(start, min(n, start + per_block))
            yield rows, slice(head, head + 1), trace.pattern_window(layer, head, rows, slice(None))[None]
