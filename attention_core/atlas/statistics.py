"""What a head does, as numbers: the atlas's statistics, pure functions of one layer's patterns.

Every function takes `patterns` [n_heads, n, n] (rows are queries and sum to 1, as `Trace.layer_patterns`
returns them) and gives per head a *sum* over the qualifying queries and their *count*, so a corpus value is
Σ sums ÷ Σ counts: a mean over every qualifying (text, query) pair, not a mean of per-text means. They also
give each qualifying query's own value [n_heads, n] (NaN where a query does not qualify), from which the job
keeps the examples (each head's highest and lowest values).
The formulas are in docs/atlas.md; the names are the Parquet `statistic` column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

# Written into every atlas's metadata. 2 (2026-12-02): self and mean_distance leave out the query that sees only
# itself, duplicate_token the first token; an atlas without it (1) was made with the earlier definitions.
STATISTICS_VERSION = 2
TEXT_STATISTICS = ("previous_token", "first_token", "self", "entropy", "mean_distance", "duplicate_token")
STATISTICS = (*TEXT_STATISTICS, "induction")


@dataclass(frozen=True)
class HeadValues:
    """One statistic on one layer of one text: per-query values [n_heads, n] (NaN: the query does not
    qualify), and their sums per head [n_heads] over the `n_queries` qualifying queries."""

    per_query: torch.Tensor
    sums: torch.Tensor
    n_queries: int


def _over(per_query: torch.Tensor, qualifies: torch.Tensor) -> HeadValues:
    """Keep the qualifying queries' values (others NaN) and sum them per head (in float64)."""
    kept = per_query.double().masked_fill(~qualifies, float("nan"))  # [n_heads, n]
    sums = kept[:, qualifies].sum(dim=1)  # [n_heads]
    return HeadValues(kept, sums, int(qualifies.sum()))


def _all_but_first(n: int) -> torch.Tensor:
    qualifies = torch.ones(n, dtype=torch.bool)
    qualifies[0] = False
    return qualifies


def previous_token(patterns: torch.Tensor) -> HeadValues:
    """A[i, i−1] over queries i ≥ 1."""
    n = patterns.shape[-1]
    per_query = torch.zeros(patterns.shape[:2], dtype=patterns.dtype)  # [n_heads, n]
    per_query[:, 1:] = torch.diagonal(patterns, offset=-1, dim1=1, dim2=2)  # A[h, i, i-1] for i ≥ 1
    return _over(per_query, _all_but_first(n))


def first_token(patterns: torch.Tensor) -> HeadValues:
    """A[i, 0] over queries i ≥ 1 (the attention sink)."""
    return _over(patterns[:, :, 0], _all_but_first(patterns.shape[-1]))


def _visible_keys(n: int, causal: bool) -> torch.Tensor:
    """How many keys each query may see [n]: i + 1 under the causal mask, n otherwise (float64)."""
    return torch.arange(1, n + 1, dtype=torch.float64) if causal else torch.full((n,), float(n), dtype=torch.float64)


def self_attention(patterns: torch.Tensor, causal: bool) -> HeadValues:
    """A[i, i] over queries that see ≥ 2 keys (under the causal mask query 0 sees only itself: A[0, 0] = 1 for
    every head)."""
    n = patterns.shape[-1]
    return _over(torch.diagonal(patterns, dim1=1, dim2=2), _visible_keys(n, causal) >= 2)


def entropy(patterns: torch.Tensor, causal: bool) -> HeadValues:
    """−Σ_j A[i,j]·ln A[i,j] ÷ ln(keys query i may see), over queries that see ≥ 2 keys: 0 = all weight on
    one key, 1 = spread evenly over every visible key."""
    p = patterns.double()
    nats = -torch.special.xlogy(p, p).sum(dim=-1)  # [n_heads, n]; 0·ln 0 = 0
    visible = _visible_keys(patterns.shape[-1], causal)
    per_query = nats / torch.log(visible.clamp(min=2))  # clamp: the query that sees 1 key is dropped anyway
    return _over(per_query, visible >= 2)


def mean_distance(patterns: torch.Tensor, causal: bool) -> HeadValues:
    """Σ_j A[i,j]·|i − j| over queries that see ≥ 2 keys (on a causal pattern, where j ≤ i, this is
    Σ_j A[i,j]·(i − j), and query 0's distance is 0 for every head)."""
    n = patterns.shape[-1]
    idx = torch.arange(n)
    distance = (idx[:, None] - idx[None, :]).abs().to(patterns.dtype)  # [n, n]
    return _over((patterns * distance).sum(dim=-1), _visible_keys(n, causal) >= 2)


def _copies(token_ids: torch.Tensor, gap: int) -> torch.Tensor:
    """[n, n] bool: key j holds query i's token and lies at least `gap` positions before it (t_j = t_i, j ≤ i − gap)."""
    same = token_ids[:, None] == token_ids[None, :]  # [n, n]
    return same.tril(diagonal=-gap)


def earlier_copies(token_ids: torch.Tensor) -> torch.Tensor:
    """[n, n] bool: key j is an earlier copy of query i's token, after the first token (0 < j < i, t_j = t_i).
    Position 0 is left out: weight there is the sink's (first_token), whatever the token."""
    copies = _copies(token_ids, gap=1)
    copies[:, 0] = False
    return copies


def weight_on(patterns: torch.Tensor, keys: torch.Tensor) -> HeadValues:
    """Σ_j A[i, j] over the keys j that `keys` [n_q, n_k] (bool) marks for query i, over the queries with at least
    one marked key. `patterns` may be a block of query rows [n_heads, r, n_k] with the same rows of `keys` (the
    head finder's long texts): sums and counts of the blocks add up to those of the whole pattern."""
    return _over((patterns * keys).sum(dim=-1), keys.any(dim=1))


def duplicate_token(patterns: torch.Tensor, token_ids: torch.Tensor) -> HeadValues:
    """Σ A[i, j] over earlier positions 0 < j < i holding the same token as i, over queries whose token occurred
    there."""
    return weight_on(patterns, earlier_copies(token_ids))


def induction_targets(token_ids: torch.Tensor) -> torch.Tensor:
    """[n, n] bool: key j + 1 follows an earlier occurrence j of query i's token (t_j = t_i, j + 1 < i): the token
    an induction head predicts comes next. A copy at position 0 counts (its follower, position 1, is no sink);
    a copy just before the query (j = i − 1) does not: its follower is the query itself."""
    copies = _copies(token_ids, gap=2)  # j ≤ i − 2, position 0 included
    targets = torch.zeros_like(copies)
    targets[:, 1:] = copies[:, :-1]  # the copy at j marks key j + 1
    return targets


def text_induction(patterns: torch.Tensor, token_ids: torch.Tensor) -> HeadValues:
    """Induction on any text (the head finder's): Σ A[i, j + 1] over the followers of the earlier occurrences j of
    query i's token (`induction_targets`), over queries with one. On a repeated sequence whose first copy holds
    distinct tokens it is `induction` (tests hold the two equal); on a text it also counts every other repeat."""
    return weight_on(patterns, induction_targets(token_ids))


def induction(patterns: torch.Tensor, start: int, period: int) -> HeadValues:
    """On a sequence whose tokens [start, start + period) repeat at [start + period, start + 2·period):
    A[i, i − period + 1] for queries i in the second copy (the token after the current token's first
    occurrence, which an induction head predicts comes next)."""
    n = patterns.shape[-1]
    if start + 2 * period > n or period < 2:
        raise ValueError(f"a repeat of period {period} from position {start} does not fit {n} tokens")
    queries = torch.arange(start + period, start + 2 * period)
    per_query = torch.zeros(patterns.shape[:2], dtype=patterns.dtype)
    per_query[:, queries] = patterns[:, queries, queries - period + 1]
    qualifies = torch.zeros(n, dtype=torch.bool)
    qualifies[queries] = True
    return _over(per_query, qualifies)


def text_statistics(patterns: torch.Tensor, token_ids: torch.Tensor, causal: bool) -> dict[str, HeadValues]:
    """Every statistic that a text's own pattern answers (all but induction), by name."""
    return {
        "previous_token": previous_token(patterns),
        "first_token": first_token(patterns),
        "self": self_attention(patterns, causal),
        "entropy": entropy(patterns, causal),
        "mean_distance": mean_distance(patterns, causal),
        "duplicate_token": duplicate_token(patterns, token_ids),
    }


def corpus_value(sums: list[float], counts: list[int]) -> float:
    """Σ sums ÷ Σ counts, summed exactly (math.fsum) so the order the parts arrive in cannot change it; NaN
    when no query qualified."""
    total = sum(counts)
    return math.fsum(sums) / total if total else float("nan")
