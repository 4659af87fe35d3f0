"""View models of the head atlas: ranked heads, one head's profile against every head, and examples as
token rows. Input: the atlas's arrays (services.atlas.AtlasData's values [n_statistics, n_layers, n_heads])."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from viz.labels import markdown_literal, name_byte_pieces, plotly_tokens, readable_tokens

# The atlas's statistics (attention_core.atlas.statistics.STATISTICS, in its order) as the page names them.
STATISTIC_LABELS = {
    "previous_token": "previous token",
    "first_token": "first token (sink)",
    "self": "self",
    "entropy": "entropy (0 focused, 1 spread)",
    "mean_distance": "mean distance (tokens)",
    "duplicate_token": "duplicate token",
    "induction": "induction",
}


@dataclass(frozen=True)
class RankedHead:
    rank: int  # 1 = the highest value
    layer: int
    head: int
    value: float
    n_queries: int


def ranked_heads(values: np.ndarray, n_queries: np.ndarray, top: int | None = None) -> list[RankedHead]:
    """Heads of one statistic ([n_layers, n_heads]) from the highest value down; heads no query qualified for
    (NaN) are left out. Ties: lower layer, then lower head first."""
    layers, heads = np.nonzero(~np.isnan(values))
    order = sorted(zip(layers, heads, strict=True), key=lambda lh: (-values[lh[0], lh[1]], lh[0], lh[1]))
    rows = [
        RankedHead(i + 1, int(layer), int(head), float(values[layer, head]), int(n_queries[layer, head]))
        for i, (layer, head) in enumerate(order)
    ]
    return rows[:top] if top is not None else rows


@dataclass(frozen=True)
class StatisticStanding:
    statistic: str
    value: float
    rank: int  # among every head, 1 = highest
    n_heads: int
    all_values: np.ndarray  # every head's value (NaN left out), for the distribution


def head_profile(values: np.ndarray, statistics: tuple[str, ...], layer: int, head: int) -> list[StatisticStanding]:
    """For each statistic: this head's value, its rank among all heads, and every head's value."""
    out = []
    for s, name in enumerate(statistics):
        every = values[s][~np.isnan(values[s])]
        mine = float(values[s, layer, head])
        rank = int(np.sum(every > mine)) + 1 if not np.isnan(mine) else 0
        out.append(StatisticStanding(name, mine, rank, int(every.size), every))
    return out


@dataclass(frozen=True)
class ExampleRow:
    """One top example as a strip: the window's tokens (readable and Plotly-safe, with positions), the query's
    weight on each, where the query sits in the window, and a one-line caption."""

    readable: list[str]
    plotly: list[str]
    weights: np.ndarray
    query_index: int | None
    caption: str


def example_row(example: dict, document: tuple[list[str], list[tuple[int, int]]] | None = None) -> ExampleRow:
    """An example as a strip. Keys after the query that got no weight at all (a causal model's future) are left
    out, so the strip ends at the query. `document`: its document's tokens and offsets (services.atlas.
    example_document), which name byte pieces by their character; without it they show as stored."""
    start, tokens = int(example["window_start"]), list(example["tokens"])
    key_tokens = list(example["top_key_tokens"])
    if document is not None:
        named = name_byte_pieces(*document, example["text"])
        tokens, key_tokens = named[start : start + len(tokens)], [named[int(k)] for k in example["top_keys"]]
    weights = [float(w) for w in example["weights"]]
    end = int(example["query"]) + 1 - start  # the query's place in the window, plus one
    if 0 < end < len(tokens) and not any(weights[end:]):
        tokens, weights = tokens[:end], weights[:end]
    positions = range(start, start + len(tokens))
    readable = [f"{p}: {t}" for p, t in zip(positions, readable_tokens(tokens), strict=True)]
    plotly = [f"{p}: {t}" for p, t in zip(positions, plotly_tokens(tokens), strict=True)]
    q = int(example["query"])
    where = "a repeated random sequence" if example["kind"] == "induction" else f"document {example['doc_id']}"
    key_bits = ", ".join(
        f"{k}: {markdown_literal(t)} {w:.2f}"  # the page writes the caption as Markdown: tokens stay literal
        for k, t, w in zip(
            example["top_keys"],
            readable_tokens(key_tokens),
            example["top_key_weights"],
            strict=True,
        )
    )
    caption = f"{where}, query {q} — value {float(example['value']):.3f}; strongest keys: {key_bits}"
    inside = q - start if start <= q < start + len(tokens) else None
    return ExampleRow(readable, plotly, np.asarray(weights, dtype=float), inside, caption)
