"""An extractive question-answering model's answer (attention_core.classify.answer_logits_by_layer): each token's
start and end logits after every block, decoded as transformers' question-answering pipeline decodes the last
block's: a softmax over the context's tokens for the start and for the end, then the span of at most
MAX_ANSWER_TOKENS tokens whose p(start) × p(end) is largest. numpy in, numpy and words out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from viz.views.trace import TraceLike

MAX_ANSWER_TOKENS = 15  # the pipeline's max_answer_len


@dataclass(frozen=True)
class Span:
    """One answer: the tokens start..end (positions in the trace), the text they cover, p(start) and p(end)."""

    start: int
    end: int
    text: str
    p_start: float
    p_end: float

    @property
    def score(self) -> float:
        return self.p_start * self.p_end


@dataclass(frozen=True)
class AnswerView:
    candidates: np.ndarray  # [m] the positions an answer may start and end at: the context's tokens
    p_start: np.ndarray  # [n_layers, m] softmax over the candidates of each block's start logits
    p_end: np.ndarray  # [n_layers, m]
    spans: list[Span]  # the best span after each block; the last is the model's answer
    pair: bool  # read from a text pair's second text (else from the whole text)

    @property
    def answer_span(self) -> tuple[list[int], int, int]:
        """(candidates, start, end): the model's answer as the head ranking takes it, its start and end as indices into
        the candidate positions (services.answers.answer_sweep)."""
        final, candidates = self.spans[-1], [int(c) for c in self.candidates]
        return candidates, candidates.index(final.start), candidates.index(final.end)

    @property
    def settles(self) -> int:
        """The first block from which every later block's best span is the model's own."""
        final = (self.spans[-1].start, self.spans[-1].end)
        block = len(self.spans) - 1
        while block > 0 and (self.spans[block - 1].start, self.spans[block - 1].end) == final:
            block -= 1
        return block


def answer_candidates(offsets: Sequence[tuple[int, int]], second_token: int | None) -> np.ndarray:
    """The positions an answer may cover: the second text's tokens (the context) for a pair, every token of the
    text otherwise; never a special token (its offsets are empty)."""
    first = 0 if second_token is None else second_token
    return np.array([i for i, (a, b) in enumerate(offsets) if i >= first and b > a], dtype=np.int64)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def best_span(p_start: np.ndarray, p_end: np.ndarray, candidates: np.ndarray) -> tuple[int, int]:
    """(i, j) indices into `candidates` maximising p_start[i] · p_end[j] with i ≤ j and at most MAX_ANSWER_TOKENS
    tokens from the one to the other (the first such pair on a tie, as numpy's argmax takes it)."""
    joint = np.outer(p_start, p_end)
    width = candidates[None, :] - candidates[:, None]  # tokens from start to end, less one
    joint[(width < 0) | (width >= MAX_ANSWER_TOKENS)] = -1.0
    i, j = np.unravel_index(int(np.argmax(joint)), joint.shape)
    return int(i), int(j)


def answer_view(logits: np.ndarray, trace: TraceLike) -> AnswerView | None:
    """The answer after each block from `trace`'s [n_layers, n_tokens, 2] start and end logits; None when no token
    can hold one (a context the token cap cut away)."""
    second_token = None if trace.segments is None else trace.segments.second_token
    offsets, text = trace.offsets, trace.text
    candidates = answer_candidates(offsets, second_token)
    if candidates.size == 0:
        return None
    p_start, p_end = _softmax(logits[:, candidates, 0]), _softmax(logits[:, candidates, 1])
    spans = []
    for ps, pe in zip(p_start, p_end, strict=True):
        i, j = best_span(ps, pe, candidates)
        start, end = int(candidates[i]), int(candidates[j])
        spans.append(Span(start, end, text[offsets[start][0] : offsets[end][1]], float(ps[i]), float(pe[j])))
    return AnswerView(candidates, p_start, p_end, spans, pair=second_token is not None)


def answer_rows(view: AnswerView) -> list[dict]:
    """The best span after each block, as table rows (the last row: the model's own answer)."""
    return [{"after block": b, "answer": s.text, "tokens": f"{s.start}–{s.end}", "p(start)": s.p_start,
             "p(end)": s.p_end, "p(start) × p(end)": s.score} for b, s in enumerate(view.spans)]  # fmt: skip


def answer_sentence(view: AnswerView, model: str, quote: Callable[[str], str] = str) -> str:
    """The model's answer in words (`model` Markdown-safe; `quote` shows the answer, which is the user's text, as
    code in Markdown) and the block it settles at."""
    final, last = view.spans[-1], len(view.spans) - 1
    where = "the second text (the context; the first is the question)" if view.pair else (
        "the text (type the question first and the context as the second text, as such a model was trained)")
    said = (f"{model} is an extractive question-answering model: its head gives each token a start and an end logit, "
            f"and its answer is the span of at most {MAX_ANSWER_TOKENS} tokens of {where} whose start and end are "
            "likeliest together, as transformers' question-answering pipeline picks it. Its answer: "
            f"{quote(final.text)} (positions {final.start}–{final.end}), p(start) × p(end) = {final.p_start:.3f} × "
            f"{final.p_end:.3f} = {final.score:.3f}. Read the same way after each block, ")  # fmt: skip
    if view.settles == 0:
        return said + "every block already picks that span."
    if view.settles == last:
        return said + f"the span comes out only after the last block ({last})."
    return said + f"the span is the answer from block {view.settles} (of 0–{last}) on."


def answer_window(view: AnswerView, size: int) -> slice:
    """The candidates a chart shows: all of them, or `size` of them around the answer (a long context)."""
    m = view.candidates.size
    if m <= size:
        return slice(0, m)
    at = int(np.searchsorted(view.candidates, view.spans[-1].start))
    first = min(max(0, at - size // 2), m - size)
    return slice(first, first + size)
