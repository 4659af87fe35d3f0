"""Experiments view models: next-token predictions before and after a change, how far the residual
stream moved, row entropies, heads ranked by the effect of ablating each, and the page's constants.

No engine import: the interventions themselves and the cached runs are the services' job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from viz.labels import predicted_token_label, readable_token
from viz.views.common import to_numpy
from viz.views.patterns import cut_position
from viz.views.trace import TraceLike

EXP_MAX_TOKENS = 512  # experiments run on at most this many tokens (each change is a full forward pass; the
# temperature heatmap draws every cell with its own hover text)
SWEEP_MAX_TOKENS = 256  # the all-heads sweep runs n_heads variants per layer, batched (bench/sweep.py)
TOP_K = 10
TEMPERATURE_FULL_MAX_TOKENS = 64  # up to here the temperature map draws every query; past it the last ones:
TEMPERATURE_QUERIES = 48  # this many, each with all of its keys (rows still sum to 1; labels stay readable)
TEMPERATURES: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)

# The changes a user can apply to the selected head, in the order the page offers them.
CHANGES: dict[str, str] = {  # short enough for the page's select box at 1024 px (47 characters)
    "zero": "Zero-ablate: output set to 0",
    "mean": "Mean-ablate: output = its mean over positions",
    "previous": "Attend only to the previous token",
    "self": "Attend only to itself",
    "temperature": "Softmax temperature: scores ÷ T",
    "layer": "Remove the whole attention layer",
}


def text_tail(trace: TraceLike, chars: int = 24) -> str:
    """The end of what the trace read, on one line, for a chart title ("…the verdant forest"): at most `chars`
    characters, from a word's start where one begins. A text the token cap cut ends where its last token read ends,
    not at the end of the text: the prediction is the one after that token."""
    read = trace.text[: cut_position(trace)] if trace.truncated else trace.text
    return _tail(read, chars)


def _tail(read: str, chars: int) -> str:
    tail = " ".join(read.split())
    return tail if len(tail) <= chars else "…" + tail[-(chars - 1) :].split(" ", 1)[-1]


def text_end(trace: TraceLike) -> int:
    """The position of the text's own last token: the last position, or the one before the special tokens a
    tokenizer appends after the text (an EOS where a GGUF sets add_eos_token, BERT's [SEP]), which span no text
    (offsets (0, 0)). The last position when no token spans text."""
    spans = [i for i, span in enumerate(trace.offsets) if tuple(span) != (0, 0)]
    return spans[-1] if spans else trace.n_tokens - 1


def prediction_position(trace: TraceLike, mask: str | None = None) -> int:
    """Where a prediction is read by default: after the text's last token (text_end); for a masked-language model
    (`mask`: its mask token), at the first mask the text holds, else at the text's last token."""
    tokens = list(trace.tokens)
    return tokens.index(mask) if mask is not None and mask in tokens else text_end(trace)


def _index(trace: TraceLike, position: int) -> int:
    """`position` as an index 0..n-1 (a negative one counts from the end); IndexError outside the text."""
    return range(trace.n_tokens)[position]


def prediction_place(trace: TraceLike, position: int, chars: int = 14) -> str:
    """Where a prediction is made, for a title: after the text's last token, the end of what was read (“…the
    verdant forest”, as before positions could be picked); after another token, the text up to it and its index
    (“…and Mrs D” (token 28)), shorter, so the title still fits a 390 px phone; after a token the tokenizer
    appended, that token (“the added ‘</s>’ (token 9)”)."""
    i, end = _index(trace, position), text_end(trace)
    if i == end:
        return f"“{text_tail(trace)}”"
    if i > end:
        return f"the added ‘{readable_token(trace.decode_token(trace.token_ids[i]))}’ (token {i})"
    stop = max((stop for _start, stop in trace.offsets[: i + 1]), default=0)  # special tokens have (0, 0)
    read = _tail(trace.text[:stop], chars)
    return f"“{read}” (token {i})" if read else f"the start (token {i})"


def next_in_text(trace: TraceLike, position: int) -> int | None:
    """The id of the token that comes next in the text after `position`: the natural target of a prediction made
    in the middle of the text. None after the text's last token (what comes next there is the model's guess; a
    token the tokenizer appends is not the text's: `added_after`)."""
    i = _index(trace, position)
    return trace.token_ids[i + 1] if i < text_end(trace) else None


def added_after(trace: TraceLike, position: int) -> int | None:
    """The id of the special token the tokenizer appended right after `position` (an EOS after the text's last
    token), or None."""
    i = _index(trace, position)
    return trace.token_ids[i + 1] if text_end(trace) <= i < trace.n_tokens - 1 else None


def next_token_logprobs(trace: TraceLike, position: int = -1) -> np.ndarray | None:
    """[vocab] log-probabilities (float64) of the token after `position` (default: the last token): the model's
    prediction there, from its logits at that position (the one forward pass computed them all). None for
    encoders (no LM head)."""
    logits = trace.next_token_logits(position)
    if logits is None:
        return None
    x = to_numpy(logits)
    x = x - x.max()
    return x - np.log(np.exp(x).sum())


def probability_text(p: float, decimals: int = 3) -> str:
    """A probability with `decimals` decimals, or in scientific notation (“6.1e-06”) when it would round to zero: a
    next token the model gives 6e-06 is unlikely, not impossible, and “0.000” read as impossible."""
    return f"{p:.{decimals}f}" if p == 0 or round(p, decimals) > 0 else f"{p:.1e}"


def change_text(change: float, decimals: int = 3) -> tuple[str, bool]:
    """A signed change (“+0.125”) and whether it is one at this precision: a change that rounds to zero is written
    “±0.000”, to be shown uncoloured (a green “+0.000” read as an improvement)."""
    if round(change, decimals) == 0:
        return f"±{0:.{decimals}f}", False
    return f"{change:+.{decimals}f}", True


def top_ids(logprobs: np.ndarray, k: int = TOP_K) -> list[int]:
    """Ids of the k most likely tokens, most likely first (ties broken by id, so the order is stable)."""
    k = min(k, logprobs.shape[0])
    part = np.argpartition(-logprobs, k - 1)[:k]
    return [int(i) for i in sorted(part, key=lambda i: (-logprobs[i], i))]


@dataclass(frozen=True)
class PredictionRow:
    token_id: int
    token: str  # readable (␣ for a leading space), byte pieces named (predicted_token_label); plain text
    p_before: float
    p_after: float
    rank_before: int  # 1 = the top prediction
    rank_after: int

    @property
    def dlogp(self) -> float:
        """log p_after − log p_before (natural log)."""
        return float(np.log(self.p_after) - np.log(self.p_before))


def rank_of(logprobs: np.ndarray, token_id: int) -> int:
    """1-based rank of a token in a distribution (1 = most likely)."""
    return int(np.sum(logprobs > logprobs[token_id])) + 1


def compare_predictions(
    before: np.ndarray, after: np.ndarray, decode: Callable[[int], str], k: int = TOP_K
) -> list[PredictionRow]:
    """Rows for the union of the top-k before and the top-k after, ordered by probability before, then after."""
    ids = top_ids(before, k)
    ids += [i for i in top_ids(after, k) if i not in ids]
    rows = [
        PredictionRow(
            token_id=i,
            token=predicted_token_label(decode(i)),
            p_before=float(np.exp(before[i])),
            p_after=float(np.exp(after[i])),
            rank_before=rank_of(before, i),
            rank_after=rank_of(after, i),
        )
        for i in ids
    ]
    return sorted(rows, key=lambda r: (r.rank_before, r.rank_after))


def prediction_table(rows: Sequence[PredictionRow], with_after: bool) -> list[dict[str, Any]]:
    """Plain rows for st.dataframe (the token stays text: no markup is ever interpreted there)."""
    out = []
    for r in rows:
        row: dict[str, Any] = {"token": r.token, "rank": r.rank_before, "p": r.p_before}
        if with_after:
            row = {
                "token": r.token,
                "rank before": r.rank_before,
                "p before": r.p_before,
                "rank after": r.rank_after,
                "p after": r.p_after,
                "Δ log p": r.dlogp,
            }
        out.append(row)
    return out


def residual_drift(before: TraceLike, after: TraceLike) -> np.ndarray:
    """[n_layers + 1, n] ‖resid_after(l) − resid_before(l)‖ / ‖resid_before(l)‖ at every position.

    Row l is the residual stream entering block l (row 0: the embeddings; the last row: the final
    residual, before the final norm).
    """
    if before.n_tokens != after.n_tokens or before.token_ids != after.token_ids:
        raise ValueError("before and after must be traces of the same tokens")
    rows = []
    for layer in range(before.n_layers + 1):
        b = to_numpy(before.resid(layer))
        a = to_numpy(after.resid(layer))
        norm = np.linalg.norm(b, axis=-1)
        rows.append(np.linalg.norm(a - b, axis=-1) / np.where(norm > 0, norm, 1.0))
    return np.stack(rows)


def row_entropy(pattern: np.ndarray) -> np.ndarray:
    """[n_q] entropy in bits of each query row of an attention pattern (0·log 0 = 0)."""
    p = np.asarray(pattern, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log2(np.where(p > 0, p, 1.0)), 0.0)
    return terms.sum(-1)


@dataclass(frozen=True)
class HeadEffect:
    layer: int
    head: int
    dlogp: float  # change in log p(target) when this head alone is ablated; negative = the head helped


def rank_heads_by_effect(sweep: np.ndarray) -> list[HeadEffect]:
    """Every head of an ablation sweep [n_layers, n_heads], largest drop in log p first (ties by layer, head); a
    hybrid's layers without heads (NaN) left out."""
    L, H = sweep.shape
    order = sorted((float(sweep[l, h]), l, h) for l in range(L) for h in range(H) if not np.isnan(sweep[l, h]))  # noqa: E741
    return [HeadEffect(layer, head, d) for d, layer, head in order]


def typed_token_id(trace: TraceLike, typed: str) -> tuple[int | None, str]:
    """A token id for text the user typed (' Paris'), and a sentence saying what was used.

    The text is tokenised as the trace's model would (`trace.token_ids_for`); when it is more than one
    token, the first one is the next-token prediction that matters, and the message says so.
    """
    if not typed:
        return None, "Type a token, e.g. ' Paris' with its leading space."
    ids = list(trace.token_ids_for(typed))
    if not ids:
        return None, f"{readable_token(typed)!s} produced no tokens."
    first = predicted_token_label(trace.decode_token(ids[0]))
    if len(ids) == 1:
        return ids[0], f"{first} is one token (id {ids[0]})."
    parts = " │ ".join(predicted_token_label(trace.decode_token(i)) for i in ids)
    return ids[0], f"That text is {len(ids)} tokens ({parts}); using the first, {first} (id {ids[0]})."
