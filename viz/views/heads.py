"""Head finder view models: every head ranked by the attention one query pays to chosen keys, and
per-head statistics (entropy, previous-/first-token share, distance; duplicate-token and induction share over the
text's repeats) over every layer × head."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from viz.views.common import to_numpy
from viz.views.trace import TraceLike


def per_layer(trace: TraceLike, layer_values: Callable[[int], np.ndarray]) -> np.ndarray:
    """[n_layers, ...] `layer_values(layer)` of each layer with heads, stacked, NaN in a hybrid's layers without."""
    kept = {layer: layer_values(layer) for layer in trace.attention_layers}
    blank = np.full_like(next(iter(kept.values())), np.nan)
    return np.stack([kept.get(layer, blank) for layer in range(trace.n_layers)])


def all_patterns(trace: TraceLike) -> np.ndarray:
    """[n_layers, n_heads, n_q, n_k] the patterns the pass used (n ≤ the app's token cap, so this is small); NaN in
    a hybrid's layers without heads."""
    return per_layer(trace, lambda layer: to_numpy(trace.layer_patterns(layer), dtype=np.float32))


@dataclass(frozen=True)
class HeadHit:
    layer: int
    head: int
    weight: float  # Σ over the chosen keys of A[query, key]
    per_key: tuple[float, ...]


def rank_heads_by_attention(patterns: np.ndarray, query: int, keys: Sequence[int]) -> list[HeadHit]:
    """Every head, most attention from `query` to the `keys` (together) first."""
    return rank_heads_by_rows(patterns[:, :, query, :], keys)


def query_rows(trace: TraceLike, query: int) -> np.ndarray:
    """[n_layers, n_heads, n_k] the weights `query` gives every key in every head: one row of each pattern,
    computed alone (trace.pattern_window), so a long text never holds every head's full pattern. NaN in a hybrid's
    layers without heads."""
    rows, heads = slice(query, query + 1), range(trace.n_heads)
    return per_layer(trace, lambda layer: np.array(
        [to_numpy(trace.pattern_window(layer, head, rows, slice(None)))[0] for head in heads], dtype=np.float32))


def rank_heads_by_rows(rows: np.ndarray, keys: Sequence[int]) -> list[HeadHit]:
    """Every head, most attention to the `keys` (together) first, from one query's rows ([L, H, n_k]; a hybrid's
    layers without heads, NaN, left out)."""
    keys = list(keys)
    sub = rows[:, :, keys].astype(np.float64)  # (L, H, len(keys))
    total = sub.sum(axis=-1)
    order = np.argsort(-total, axis=None, kind="stable")
    n_heads = rows.shape[1]
    hits = []
    for flat in order:
        layer, head = divmod(int(flat), n_heads)
        if np.isnan(total[layer, head]):
            continue
        hits.append(HeadHit(layer, head, float(total[layer, head]), tuple(float(x) for x in sub[layer, head])))
    return hits


STAT_COLUMNS = {
    "entropy": "entropy (bits)",
    "prev": "previous-token share",
    "first": "first-token share",
    "distance": "mean distance (tokens)",
}


def head_statistics(patterns: np.ndarray, causal: bool) -> dict[str, np.ndarray]:
    """Per head, averaged over queries: [n_layers, n_heads] arrays.

    entropy: −Σ A log₂ A of a query's row (0 = all on one key; log₂(#keys visible) = uniform);
    prev: A[i, i−1] and first: A[i, 0], both over queries i ≥ 1 (query 0 sees only key 0 under a causal mask;
    the atlas's `first_token` counts the same queries); distance: Σ_j A[i, j]·|i − j|. Entropy and distance are
    over the queries that see ≥ 2 keys, as the atlas's: under the causal mask i ≥ 1 (query 0's are 0 for every
    head), otherwise every query.
    """
    sums = _row_sums(patterns, 0)
    return _means(sums, patterns.shape[-2], causal)


ROW_SUMS = {"entropy": "entropy", "previous": "prev", "first": "first", "distance": "distance"}  # engine → ours


def statistics_of_row_sums(totals: dict[str, np.ndarray], n_tokens: int, causal: bool) -> dict[str, np.ndarray]:
    """`head_statistics` from the engine's row sums of every layer ([n_layers, n_heads] each, named as
    `Trace.pattern_row_sums` names them: entropy in nats; NaN in a hybrid's layers without heads). The row sums are
    computed a chunk of query rows at a time (services.repeats.head_finder_statistics), so a long text never holds
    all its patterns, which at 1,000 tokens are 1 GB: 30 layers × 9 heads × n². `head_statistics` is the same maths
    written out on whole patterns; tests hold the two equal."""
    sums = {ours: np.asarray(totals[engine], dtype=np.float64) for engine, ours in ROW_SUMS.items()}
    sums["entropy"] = sums["entropy"] / _LN2  # nats → bits
    return _means(sums, n_tokens, causal)


_TINY = float(np.finfo(np.float32).tiny)  # the smallest normal float32: log of it is finite, and 0 · it = 0
_LN2 = float(np.log(2.0))


def _row_sums(p: np.ndarray, row_start: int) -> dict[str, np.ndarray]:
    """Sums over the query rows of [..., rows, n_k] weights (rows start at query `row_start`) of each row's
    entropy, previous-token weight, first-token weight and mean distance: [...] arrays.

    Used on whole patterns of short texts (the control text, tests); a trace's own statistics come from the
    engine's chunked `Trace.pattern_row_sums`. The products are float32 (a weight's own precision), summed in
    float64. The logarithm is the natural one of max(p, tiny), in bits at the end: a weight below float32's
    smallest normal number adds less than 1e-36 to an entropy. The distances |i − j| are built in float32."""
    p = np.asarray(p, dtype=np.float32)
    n_rows, n_k = p.shape[-2:]
    logs = np.log(np.maximum(p, np.float32(_TINY)))  # 0 · log(tiny) = 0: the 0 · log 0 = 0 convention
    q = np.arange(row_start, row_start + n_rows)
    has_prev = q >= 1
    dist = np.abs(np.subtract.outer(q.astype(np.float32), np.arange(n_k, dtype=np.float32)))  # exact below 2²⁴
    return {
        "entropy": -(p * logs).sum(axis=(-1, -2), dtype=np.float64) / _LN2,
        "prev": p[..., np.flatnonzero(has_prev), q[has_prev] - 1].sum(axis=-1, dtype=np.float64),
        "first": p[..., np.flatnonzero(has_prev), 0].sum(axis=-1, dtype=np.float64),
        "distance": (p * dist).sum(axis=(-1, -2), dtype=np.float64),
    }


def _means(sums: dict[str, np.ndarray], n: int, causal: bool) -> dict[str, np.ndarray]:
    """Row sums → means over the queries each statistic counts: the previous- and first-token shares over the n − 1
    after the first; entropy and distance over the queries that see ≥ 2 keys (under the causal mask the n − 1
    after the first, whose row sums hold query 0's zeros)."""

    def after_first(total: np.ndarray) -> np.ndarray:
        return total / (n - 1) if n > 1 else np.full(total.shape, np.nan)  # one token: no query after the first

    def choosing(total: np.ndarray) -> np.ndarray:
        return after_first(total) if causal else total / n

    return {
        "entropy": choosing(sums["entropy"]),
        "prev": after_first(sums["prev"]),
        "first": after_first(sums["first"]),
        "distance": choosing(sums["distance"]),
    }


def stats_table(stats: dict[str, np.ndarray], repeats: RepeatScores | None = None) -> dict[str, list]:
    """Columns for st.dataframe: one row per head, (layer, head) in the order `table_heads` lists them; a text
    pair's other-text share; the statistics; then the repeat scores that some query of the text qualifies for
    (`RepeatScores.shown`: a score over no query is left out, and `repeat_notes` says why)."""
    heads = table_heads(stats)
    table: dict[str, list] = {"layer": [layer for layer, _ in heads], "head": [head for _, head in heads]}
    if repeats is not None and "across" in repeats.values:  # a text pair's, first: at 1024 px the last scroll away
        table[ACROSS_COLUMN] = [float(repeats.values["across"][at]) for at in heads]
    for key, label in STAT_COLUMNS.items():
        table[label] = [float(stats[key][at]) for at in heads]
    for key in repeats.shown if repeats is not None else []:
        table[REPEAT_COLUMNS[key]] = [float(repeats.values[key][at]) for at in heads]
    return table


def table_heads(stats: dict[str, np.ndarray]) -> list[tuple[int, int]]:
    """The (layer, head) of each row of `stats_table`, layer by layer: every head, but those of a hybrid's layers
    without heads (all NaN)."""
    kept = ~np.isnan(stats["entropy"]).all(axis=1)  # (n_layers,)
    n_layers, n_heads = stats["entropy"].shape
    return [(layer, head) for layer in range(n_layers) if kept[layer] for head in range(n_heads)]


# ── Repeats: the duplicate-token and induction heads of this text ─────────────────────────────────
# The values come from services.repeats, with the head atlas's definitions (attention_core.atlas.statistics).
# Named as on the Head atlas page (viz.views.atlas.STATISTIC_LABELS); short, so the table's 8 columns fit at 1280 px.
REPEAT_COLUMNS = {"induction": "induction", "duplicate": "duplicate token"}
REPEAT_NAMES = {"induction": "induction share", "duplicate": "duplicate-token share"}  # in sentences
REPEAT_MEANINGS = {
    # Tokens as letters, not words: each tokenizer splits a name differently (SmolLM2 “D|urs|ley”, MiniLM
    # “du|##rs|##ley”), and an encoder's head predicts nothing (a review: pieces MiniLM lacks).
    "induction": "Induction share: the weight a query whose token appeared earlier puts on the token that followed "
    "that earlier copy (in “… A B … A”, the second A on B; in a decoder, that is how an induction head helps predict "
    "B next). Averaged over those queries.",
    "duplicate": "Duplicate-token share: the weight a query whose token appeared earlier puts on those earlier copies "
    "of itself (the second A on the first A; a copy at the first token does not count: weight there is the "
    "sink's). Averaged over those queries.",
}
ACROSS_COLUMN = "other-text share"  # a text pair's (services.repeats.other_text_keys)
ACROSS_MEANING = (
    "Other-text share (a text pair): the weight a query puts on the other text's tokens (a query of the first "
    "text, its [CLS] and [SEP] included, on the second's; a query of the second on the first's), averaged over the "
    "queries that see the other text. High in a head that reads across the pair, as a cross-encoder must."
)
FEW_QUERIES = 5  # a score averaged over fewer queries than this is said to be an anecdote
REPEAT_EXAMPLE = (
    "The old lighthouse keeper climbed the winding stairs every night.\n"
    "The old lighthouse keeper climbed the winding stairs every night."
)


@dataclass(frozen=True)
class RepeatScores:
    """Per head, the mean over the text's qualifying queries of each repeat statistic ([n_layers, n_heads], NaN
    where none qualifies); per layer, how many queries each averages over ([n_layers]: fewer in a sliding-window
    layer whose window hides some earlier copies); and how many of the text's queries qualify without a window.
    A text pair's other-text share comes with them as "across" (not a repeat: its own column, ACROSS_COLUMN)."""

    values: dict[str, np.ndarray]
    n_queries: dict[str, np.ndarray]
    n_in_text: dict[str, int]

    @property
    def shown(self) -> list[str]:
        """The statistics some query qualifies for in some layer, induction first."""
        return [key for key in REPEAT_COLUMNS if int(np.max(self.n_queries[key])) > 0]


def _queries(n: int) -> str:
    return "1 query" if n == 1 else f"{n} queries"


def _over(scores: RepeatScores, key: str) -> str:
    """How many queries a score averages over: "15 queries", "15 queries (3 in the sliding-window layers)" where a
    window hides some layers' copies, "3 queries (5 without the sliding window)" where every layer has one."""
    counts = np.asarray(scores.n_queries[key])
    most, fewer = int(counts.max()), sorted({int(c) for c in counts if c < counts.max()})
    if fewer:  # the sliding-window layers' count (a range, were their windows to differ)
        low = "none" if fewer == [0] else "–".join(str(c) for c in sorted({fewer[0], fewer[-1]}))
        return f"{_queries(most)} ({low} in the sliding-window layers)"
    if most < scores.n_in_text[key]:
        return f"{_queries(most)} ({scores.n_in_text[key]} without the sliding window)"
    return _queries(most)


def repeat_heading(scores: RepeatScores, key: str, k: int = 10) -> str:
    """The title of a top-heads table, with how many of the text's queries its score averages over."""
    shown = min(k, int(np.isfinite(scores.values[key]).sum()))
    return f"Top {shown} by {REPEAT_NAMES[key]}, each over {_over(scores, key)}"


def repeat_help(scores: RepeatScores, key: str) -> str:
    """A repeat column's tooltip: what it measures and, on this text, over how many queries."""
    return f"{REPEAT_MEANINGS[key]} Here over {_over(scores, key)}."


REPEAT_COPIES = {"induction": "token that followed an earlier copy of a query's token",
                 "duplicate": "earlier copy of a query's token"}  # fmt: skip


def _window_note(scores: RepeatScores, key: str) -> str | None:
    """What a sliding window hides: the copies of every layer (no score) or of the sliding-window layers."""
    counts = np.asarray(scores.n_queries[key])
    if scores.n_in_text[key] == 0 or counts.min() > 0:
        return None
    if counts.max() == 0:
        return (f"No {REPEAT_COPIES[key]} lies inside the sliding window (a query sees only the latest tokens), so "
                f"there is no {REPEAT_NAMES[key]}.")  # fmt: skip
    return (f"In the sliding-window layers no {REPEAT_COPIES[key]} lies inside the window (a query there sees only "
            f"the latest tokens), so those layers have no {REPEAT_NAMES[key]} (empty in the table).")  # fmt: skip


def _few(scores: RepeatScores, key: str) -> str | None:
    counts = np.asarray(scores.n_queries[key])
    if counts.max() < FEW_QUERIES:
        return f"the {REPEAT_NAMES[key]} averages over only {_over(scores, key)}"
    fewest = int(counts[counts > 0].min())
    if fewest < FEW_QUERIES:
        return f"the {REPEAT_NAMES[key]} of the sliding-window layers averages over only {_queries(fewest)}"
    return None


def repeat_notes(scores: RepeatScores, trace: TraceLike) -> list[str]:
    """Why a repeat score is missing (no qualifying query; in a sliding-window layer, none whose copies the window
    holds) or weak (fewer than FEW_QUERIES), in words; of the tokens read when the token cap cut the text."""
    ids, cut = trace.token_ids, trace.truncated
    here = f"in the {trace.n_tokens} tokens read (the token cap cut the text)" if cut else "here"
    paste = ": raise the token cap (sidebar) to read the rest of the text, paste a text that repeats a phrase sooner"
    if not cut:
        paste = ": paste a text that repeats a phrase (a sentence written twice, a name used again, code that calls "
        paste += "what it defined)"
    paste += ", or try the example below."
    if not scores.shown and len(set(ids)) == len(ids):
        return [f"No token repeats {here if cut else 'in this text'}, so there is no duplicate-token or induction "
                "score" + paste]  # fmt: skip
    missing = {
        "induction": f"No token {here} repeats except right after itself (then the token after its earlier copy is the "
        "query itself), so there is no induction score",
        "duplicate": f"No token {here} repeats except the first token (a copy there does not count: weight on the "
        "first token is the sink's), so there is no duplicate-token score",
    }
    absent = [key for key in REPEAT_COLUMNS if scores.n_in_text[key] == 0]
    notes = [missing[key] + (paste if key == absent[-1] else ".") for key in absent]  # the advice once, at the end
    notes += [note for key in REPEAT_COLUMNS if (note := _window_note(scores, key))]
    few = [phrase for key in scores.shown if (phrase := _few(scores, key))]
    if few:
        notes.append(
            f"Few queries repeat {here}, so " + " and ".join(few) + ": a score over so few says little about a "
            "head's habit; a longer repeated passage says more."
        )
    return notes


def repeat_ranking(scores: RepeatScores, key: str, k: int = 10) -> list[dict]:
    """The k heads with the highest `key` score ("induction" or "duplicate"), highest first (ties: the earlier
    layer and head), as table rows; none when no query qualifies, and no head of a layer where none does."""
    if key not in scores.shown:
        return []
    values = scores.values[key]
    order = [flat for flat in np.argsort(-values, axis=None, kind="stable") if np.isfinite(values.flat[flat])][:k]
    n_heads = values.shape[1]
    return [
        {"layer": layer, "head": head, REPEAT_COLUMNS[key]: float(values[layer, head])}
        for layer, head in (divmod(int(flat), n_heads) for flat in order)
    ]


def row_to_head(row: int, heads: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """Table row (its position in the unsorted data, which is what a selection reports) → (layer, head), by the
    table's `table_heads`."""
    return heads[int(row)]


CONTROL_QUERY, CONTROL_KEYS = "creature", {"fluffy", "blue"}  # the showcase's question, which its control asks


def default_query_keys(
    tokens: Sequence[str], offsets: Sequence[tuple[int, int]] | None = None
) -> tuple[int, list[int]]:
    """A sensible first question: "creature" ← "fluffy", "blue" when present, else the last word ← the word before
    it (a word: a token with a letter or digit that covers some of the text; special tokens such as [CLS], [SEP]
    and </s> cover none: their `offsets` are empty; a text with no word: its last token ← the one before)."""
    stripped = [t.strip().lower() for t in tokens]
    if CONTROL_QUERY in stripped:
        q = stripped.index(CONTROL_QUERY)
        keys = [i for i, t in enumerate(stripped[:q]) if t in CONTROL_KEYS]
        if keys:
            return q, keys
    words = word_positions(tokens, offsets)
    if not words:
        return len(tokens) - 1, [max(0, len(tokens) - 2)]
    return words[-1], [words[-2] if len(words) > 1 else max(0, words[-1] - 1)]


def word_positions(tokens: Sequence[str], offsets: Sequence[tuple[int, int]] | None = None) -> list[int]:
    """The positions of words: tokens with a letter or digit that cover some of the text (special tokens such as
    [CLS], [SEP] and </s> cover none: their `offsets` are empty)."""
    covers = [end > start for start, end in offsets] if offsets is not None else [True] * len(tokens)
    return [i for i, t in enumerate(tokens) if covers[i] and any(c.isalnum() for c in t)]


# The showcase's control: the same adjectives before the noun, but one word ("old") between them and it, so a
# head that only looks at the previous token cannot score here.
CONTROL_TEXT = "a fluffy and blue old creature roamed the verdant forest"
PREVIOUS_TOKEN_HEAD = 0.5  # a head whose previous-token share is above this is called a previous-token head


def asks_control_question(tokens: Sequence[str], query: int, keys: Sequence[int]) -> bool:
    """Whether the head finder asks the question its control text was built for: "creature" ← every "fluffy" and
    "blue" before it. Only then may the control's numbers stand beside the page's: for another question they
    would measure different tokens."""
    stripped = [t.strip().lower() for t in tokens]
    adjectives = [i for i, t in enumerate(stripped[:query]) if t in CONTROL_KEYS]
    return stripped[query] == CONTROL_QUERY and bool(adjectives) and sorted(keys) == adjectives


@dataclass(frozen=True)
class ControlResult:
    query: int
    keys: list[int]
    best: HeadHit  # the best head for the same question in the control text
    same_head: HeadHit  # the original best head's score in the control text


def control_result(patterns: np.ndarray, tokens: Sequence[str], layer: int, head: int) -> ControlResult:
    """The head finder's default question asked of the control text's patterns ([L, H, n, n])."""
    query, keys = default_query_keys(tokens)
    hits = rank_heads_by_attention(patterns, query, keys)
    same = next(h for h in hits if (h.layer, h.head) == (layer, head))
    return ControlResult(query, keys, hits[0], same)
