"""View models of the head atlas: ranked heads, one head's profile against every head, and examples as
token rows. Input: the atlas's arrays (services.atlas.AtlasData's values [n_statistics, n_layers, n_heads])."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from viz.labels import counted, markdown_code, name_byte_pieces, plotly_tokens, readable_tokens

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

# What each statistic measures and how to read it, one line under the page's picker (formulas: docs/atlas.md).
STATISTIC_NOTES = {
    "previous_token": "A[i, i−1]: the share of each query's weight on the token just before it (queries from 1 on).",
    "first_token": "A[i, 0]: the share on the first token (queries from 1 on): the model's start token where its "
    "tokenizer adds one ([CLS] for MiniLM), else the document's first word (SmolLM2 adds none). Near 1: an "
    "attention sink.",
    "self": "A[i, i]: the share each query keeps on itself (under the causal mask from query 1 on: query 0 sees "
    "only itself).",
    "entropy": "How evenly each query spreads its weight over the keys it may see: 0 = all on one key, 1 = even "
    "over all of them. Lowest first lists the most focused heads.",
    "mean_distance": "Σ_j A[i,j]·|i − j|: how many tokens away the weight sits. On a causal model an attention "
    "sink scores high too (its weight sits at the first token, i tokens back): read it beside first token.",
    "duplicate_token": "The share on earlier copies of the query's own token, over queries whose token came "
    "before (a copy at the first token is left out: weight there is the sink's).",
    "induction": "On repeated random word sequences (r₀ … r_L−1 r₀ … r_L−1): the share on the token that followed "
    "the current token's earlier copy, which an induction head predicts comes next.",
}


@dataclass(frozen=True)
class RankedHead:
    rank: int  # 1 = the highest value (the lowest when ranked lowest first)
    layer: int
    head: int
    value: float
    n_queries: int


def ranked_heads(
    values: np.ndarray, n_queries: np.ndarray, top: int | None = None, lowest_first: bool = False
) -> list[RankedHead]:
    """Heads of one statistic ([n_layers, n_heads]) from the highest value down (rank 1 = highest), or from the
    lowest up (rank 1 = lowest: the most focused heads by entropy); heads no query qualified for (NaN) are left
    out. Ties: lower layer, then lower head first."""
    sign = 1.0 if lowest_first else -1.0
    layers, heads = np.nonzero(~np.isnan(values))
    order = sorted(zip(layers, heads, strict=True), key=lambda lh: (sign * values[lh[0], lh[1]], lh[0], lh[1]))
    rows = [
        RankedHead(i + 1, int(layer), int(head), float(values[layer, head]), int(n_queries[layer, head]))
        for i, (layer, head) in enumerate(order)
    ]
    return rows[:top] if top is not None else rows


@dataclass(frozen=True)
class HeadPoints:
    """Every head that two statistics both answer, as points: x, y, and each point's layer and head."""

    x: np.ndarray
    y: np.ndarray
    layers: np.ndarray
    heads: np.ndarray


def head_points(values: np.ndarray, statistics: tuple[str, ...], x_stat: str, y_stat: str) -> HeadPoints:
    """One point per head from values [n_statistics, n_layers, n_heads]: x_stat against y_stat (heads either
    leaves NaN are left out), in layer, then head order."""
    x, y = values[statistics.index(x_stat)], values[statistics.index(y_stat)]
    layers, heads = np.nonzero(~np.isnan(x) & ~np.isnan(y))
    return HeadPoints(x[layers, heads], y[layers, heads], layers, heads)


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
    weight on each, where the query and the key the value is about sit in the strip, and a one-line caption.
    A key outside the query's window comes with its own few tokens, apart from the window by a gap cell (weight
    NaN) that says how many tokens it skips."""

    readable: list[str]
    plotly: list[str]
    weights: np.ndarray
    query_index: int | None
    caption: str
    focus_index: int | None = None


def _segments(example: dict, tokens: list[str], key_tokens: list[str]) -> list[tuple[int, list[str], list[float]]]:
    """(first position, tokens, weights) of the query's window and, when stored, of the key's own window, in
    position order. Keys after the query that got no weight (a causal model's future) leave the query's window."""
    start = int(example["window_start"])
    weights = [float(w) for w in example["weights"]]
    end = int(example["query"]) + 1 - start  # the query's place in the window, plus one
    if 0 < end < len(tokens) and not any(weights[end:]):
        tokens, weights = tokens[:end], weights[:end]
    found = [(start, tokens, weights)]
    if int(example.get("key_window_start", -1)) >= 0:  # atlases written before the field have none
        found.append((int(example["key_window_start"]), key_tokens, [float(w) for w in example["key_weights"]]))
    return sorted(found, key=lambda seg: seg[0])


def _strip(segments: list[tuple[int, list[str], list[float]]]) -> tuple[list[int | None], list[str], list[float]]:
    """Positions (None: a gap), tokens and weights of the segments side by side, a gap cell between two apart."""
    positions: list[int | None] = []
    tokens: list[str] = []
    weights: list[float] = []
    for first, seg_tokens, seg_weights in segments:
        if positions and first > positions[-1] + 1:
            positions.append(None)
            tokens.append(counted(first - positions[-2] - 1, "token"))
            weights.append(float("nan"))
        positions += range(first, first + len(seg_tokens))
        tokens += seg_tokens
        weights += seg_weights
    return positions, tokens, weights


def example_row(example: dict, document: tuple[list[str], list[tuple[int, int]]] | None = None) -> ExampleRow:
    """An example as a strip. `document`: its document's tokens and offsets (services.atlas.example_document),
    which name byte pieces by their character; without it they show as stored."""
    start, tokens = int(example["window_start"]), list(example["tokens"])
    key_tokens, top_tokens = list(example.get("key_tokens", [])), list(example["top_key_tokens"])
    if document is not None:
        named = name_byte_pieces(*document, example["text"])
        tokens, top_tokens = named[start : start + len(tokens)], [named[int(k)] for k in example["top_keys"]]
        key_start = int(example.get("key_window_start", -1))
        key_tokens = named[key_start : key_start + len(key_tokens)] if key_start >= 0 else []
    positions, strip, weights = _strip(_segments(example, tokens, key_tokens))
    shown = [t if p is None else r for p, t, r in zip(positions, strip, readable_tokens(strip), strict=True)]
    safe = [t if p is None else r for p, t, r in zip(positions, strip, plotly_tokens(strip), strict=True)]
    readable = [f"⋯ {t} ⋯" if p is None else f"{p}: {t}" for p, t in zip(positions, shown, strict=True)]
    plotly = [f"⋯ {t} ⋯" if p is None else f"{p}: {t}" for p, t in zip(positions, safe, strict=True)]
    q, focus = int(example["query"]), example.get("focus_key")
    where = "a repeated random sequence" if example["kind"] == "induction" else f"document {example['doc_id']}"
    key_bits = ", ".join(
        f"{k}: {markdown_code(t)} {w:.2f}"  # the page writes the caption as Markdown: tokens stay literal
        for k, t, w in zip(example["top_keys"], readable_tokens(top_tokens), example["top_key_weights"], strict=True)
    )
    caption = f"{where}, query {q} — value {float(example['value']):.3f}; strongest keys: {key_bits}"
    return ExampleRow(
        readable,
        plotly,
        np.asarray(weights, dtype=float),
        positions.index(q) if q in positions else None,
        caption,
        positions.index(int(focus)) if focus is not None and int(focus) in positions else None,
    )
