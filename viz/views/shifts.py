"""How attention moves embeddings: Δe split by source token, before/after pictures, and one word
("mole") across sentences and layers. All numbers come from the engine's trace."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from viz.views.common import cosine, display_tokens, pca_2d, to_numpy
from viz.views.trace import TraceLike


# ── "a fluffy blue creature": who moved this token, and by how much ─────────────────────────────
@dataclass(frozen=True)
class DeltaBySource:
    layer: int
    query: int
    tokens: list[str]
    per_head: np.ndarray  # [n_heads, n_k, d_model] A[i,j]·(v_j W_O) for each head and source
    weights: np.ndarray  # [n_heads, n_k] the attention weights A[i, j] of each head
    bias: np.ndarray  # [d_model] b_O (zeros when the model has none): added once, from no source
    attn_out: np.ndarray  # [d_model] the engine's attention output at the query
    allowed: np.ndarray  # [n_k] bool: the sources this pass let the query see (the causal mask, any window)
    has_bias: bool  # whether the model has b_O at all (llama-style models have none)

    @property
    def per_source(self) -> np.ndarray:
        """[n_k, d_model] summed over heads."""
        return self.per_head.sum(axis=0)

    @property
    def delta(self) -> np.ndarray:
        """[d_model] Σ heads, keys + b_O: should equal attn_out."""
        return self.per_source.sum(axis=0) + self.bias

    def share_along_delta(self) -> np.ndarray:
        """[n_k] each source's component along Δe, as a fraction of |Δe|²: with b_O's share they sum to 1."""
        d = self.attn_out
        norm2 = float(d @ d)
        return self.per_source @ d / norm2 if norm2 > 0 else np.zeros(len(self.tokens))

    def bias_share(self) -> float:
        d = self.attn_out
        norm2 = float(d @ d)
        return float(self.bias @ d / norm2) if norm2 > 0 else 0.0

    def head_norms(self) -> np.ndarray:
        """[n_heads, n_k] |A[i,j]·(v_j W_O)| per head and source."""
        return np.linalg.norm(self.per_head, axis=-1)


def delta_by_source(trace: TraceLike, layer: int, query: int) -> DeltaBySource:
    """Δe of `query` at `layer` split by source token and head, with b_O and the engine's attn_out."""
    b = trace.output_bias(layer)
    per_head = to_numpy(trace.contributions(layer, query))  # (n_heads, n_k, d_model)
    d_model = per_head.shape[-1]
    return DeltaBySource(
        layer=layer,
        query=query,
        tokens=display_tokens(trace),  # byte pieces named by their character
        per_head=per_head,
        weights=to_numpy(trace.layer_patterns(layer))[:, query, :],
        bias=to_numpy(b) if b is not None else np.zeros(d_model),
        attn_out=to_numpy(trace.attn_out(layer))[query],
        allowed=to_numpy(trace.mask(layer))[query].astype(bool),
        has_bias=b is not None,
    )


@dataclass(frozen=True)
class LayerShift:
    """Every token's residual before block `layer`'s attention and after it, projected to 2-D."""

    layer: int
    tokens: list[str]
    before: np.ndarray  # [n, 2]
    after: np.ndarray  # [n, 2]
    explained: np.ndarray  # [2] variance ratio of the two axes
    included: list[int]  # token positions in the PCA (the first token may be left out: see below)
    step_norms: np.ndarray  # [m] |after − before| in the full d_model space, for the included tokens
    n_eligible: int = 0  # tokens that could be drawn (all, or all but the first): more than m when thinned


def residual_norms(trace: TraceLike, layer: int) -> np.ndarray:
    """[n] length of each token's residual entering `layer`."""
    return np.linalg.norm(to_numpy(trace.resid(layer)), axis=-1)


# Long texts: how many tokens the arrow picture and the per-source charts draw (the table keeps every source).
ARROW_MAX = 64  # 1,000 arrows with labels took the browser a minute to draw and could not be read
SOURCE_MAX = 40  # bars and heat-map columns: one readable label each


def drawn_sources(norms: np.ndarray, allowed: np.ndarray, query: int, limit: int = SOURCE_MAX) -> list[int] | None:
    """The sources the per-source charts draw for a text of more than `limit` tokens, in text order: the ones the
    query may see (`allowed` [n] bool: the mask, any window), and of more than `limit` of those the query itself
    and the `limit` − 1 others with the largest contribution |c_j| (`norms` [n]). None when every token fits."""
    n = len(norms)
    if n <= limit:
        return None
    visible = [int(j) for j in np.flatnonzero(allowed)]
    if len(visible) <= limit:
        return visible
    kept = [query] if query in visible else []
    return sorted(kept + top_positions(norms, limit - len(kept), among=visible, exclude=kept))


def drawn_sources_sentence(n: int, shown: Sequence[int], allowed: np.ndarray, kept: float) -> str:
    """What the charts draw of a long text's sources (drawn_sources), for the page's note; `kept`: the drawn
    sources' part of Σ|c_j|."""
    seen = int(np.count_nonzero(allowed))
    hidden = f"; the mask hides the other {n - seen} of the {n} tokens" if seen < n else ""
    if len(shown) == seen:
        drawn = f"the charts draw all {seen}"
    else:
        drawn = (
            f"the charts draw the {len(shown)} with the largest contribution |c_j| (the token itself included), "
            f"which carry {kept:.0%} of Σ|c_j|"
        )
    return (
        f"This token has {seen} sources{hidden}: {drawn}; the table below lists every token. The share's sum in "
        "the title is over every source."
    )


FIRST_TOKEN_OUTLIER = 5.0  # past this first_token_outlier, the arrows' picture leaves the first token out at first


def first_token_outlier(shift: LayerShift) -> float:
    """How far out the first token lies in the arrows' picture `shift` (drawn with it): the larger of its distances,
    before and after this layer's attention, from the other tokens' median point, over the other tokens' median such
    distance, on the picture's two axes. A decoder's attention sink has a residual many times longer than the rest;
    BERT's [CLS] can be moved several times as far as the rest, along the axis the PCA then picks. NaN when the
    picture has fewer than 3 tokens or not the first."""
    if len(shift.included) < 3 or shift.included[0] != 0:
        return float("nan")

    def from_the_rest(points: np.ndarray) -> np.ndarray:
        return np.linalg.norm(points - np.median(points[1:], axis=0), axis=-1)  # (m,)

    far = np.maximum(from_the_rest(shift.before), from_the_rest(shift.after))
    return float(far[0] / max(float(np.median(far[1:])), 1e-30))


def layer_shift(
    trace: TraceLike, layer: int, skip_first: bool = False, max_tokens: int | None = None, keep: int | None = None
) -> LayerShift:
    """PCA (numpy SVD) of the 2m points {resid(layer), resid_mid(layer)} for the included tokens.

    `skip_first`: decoders give the first token a residual tens of times larger than the others (an
    "attention sink"); left in, it alone defines the first axis and the other tokens collapse to a dot.
    `max_tokens`: when more tokens than this are eligible, include only token `keep` and the ones whose
    residual this layer's attention moved most (|after − before| in the full space), `max_tokens` in all,
    in text order; the PCA is then of those tokens' points alone (what is drawn).
    """
    before = to_numpy(trace.resid(layer))
    after = to_numpy(trace.resid_mid(layer))
    n = before.shape[0]
    eligible = list(range(1 if skip_first and n > 1 else 0, n))
    steps = np.linalg.norm(after - before, axis=-1)
    included = eligible
    if max_tokens is not None and len(eligible) > max_tokens:
        kept = [keep] if keep in eligible else []
        included = sorted(kept + top_positions(steps, max_tokens - len(kept), eligible, exclude=kept))
    coords, ratio, _ = pca_2d(np.concatenate([before[included], after[included]]))
    m = len(included)
    shown = display_tokens(trace)  # named once for the whole text, then picked
    return LayerShift(
        layer=layer,
        tokens=[shown[i] for i in included],
        before=coords[:m],
        after=coords[m:],
        explained=ratio,
        included=included,
        step_norms=steps[included],
        n_eligible=len(eligible),
    )


def top_positions(
    values: np.ndarray, k: int, among: Sequence[int] | None = None, exclude: Sequence[int] = ()
) -> list[int]:
    """The positions (from `among`, default all) of the k largest `values`, minus `exclude`, in text order;
    ties go to the earlier position."""
    pool = [i for i in (range(len(values)) if among is None else among) if i not in set(exclude)]
    ranked = sorted(pool, key=lambda i: (-float(values[i]), i))
    return sorted(ranked[: max(0, k)])


def residual_after_attention_label(norm_position: str, norm: str, scan_beside: bool = False) -> str:
    """What the residual after a layer's attention is, in terms of the residual before it and the attention's
    update Δe, as `attention_core.blocks.after_attention` computes it for the model's norm position; `scan_beside`:
    the model adds a scan's output beside its heads' (Falcon-H1)."""
    norm_name = "RMSNorm" if norm == "rms" else "LayerNorm"
    if scan_beside:
        return "before + Δe + the output of the Mamba-2 scan this model runs beside its heads"
    if norm_position == "pre":
        return "before + Δe"
    if norm_position == "post":
        return f"{norm_name}(before + Δe) in this post-norm model"
    return f"before + {norm_name}(Δe): this model normalises its attention's output before adding it"


# ── "mole": one word in many sentences ──────────────────────────────────────────────────────────
def find_word(text: str, word: str) -> tuple[int, int] | None:
    """Character span of the first whole-word, case-insensitive occurrence of `word` in `text`."""
    word = word.strip()
    if not word:
        return None
    m = re.search(r"(?<!\w)" + re.escape(word) + r"(?!\w)", text, flags=re.IGNORECASE)
    return (m.start(), m.end()) if m else None


def word_positions(offsets: Sequence[tuple[int, int]], span: tuple[int, int]) -> list[int]:
    """Token positions whose character span overlaps `span` (special tokens have empty spans)."""
    start, end = span
    return [i for i, (a, b) in enumerate(offsets) if b > a and a < end and b > start]


@dataclass(frozen=True)
class WordTrace:
    text: str
    word: str
    span: tuple[int, int]
    positions: list[int]  # the word's sub-tokens
    pieces: list[str]
    embeddings: np.ndarray  # [n_layers + 1, d_model] mean over sub-tokens of the residual entering each block
    has_right_context: bool  # text after the word (other than punctuation) exists
    causal: bool

    @property
    def right_context_hidden(self) -> bool:
        """A causal model cannot see text after the word: that part of the sentence can't shape it."""
        return self.causal and self.has_right_context


def word_trace(trace: TraceLike, word: str) -> WordTrace | None:
    """The contextual embedding of `word` in the traced text at every layer; None when it isn't there."""
    span = find_word(trace.text, word)
    if span is None:
        return None
    positions = word_positions(trace.offsets, span)
    if not positions:  # the word lies past the token cap
        return None
    layers = range(trace.n_layers + 1)
    emb = np.stack([to_numpy(trace.resid(layer))[positions].mean(axis=0) for layer in layers])
    right = trace.text[span[1] :]
    shown = display_tokens(trace)  # named once for the whole text, then picked
    return WordTrace(
        text=trace.text,
        word=trace.text[span[0] : span[1]],
        span=span,
        positions=positions,
        pieces=[shown[i] for i in positions],
        embeddings=emb,
        has_right_context=bool(re.search(r"\w", right)),
        causal=bool(trace.causal),
    )


def pairwise_cosines(words: Sequence[WordTrace]) -> dict[tuple[int, int], np.ndarray]:
    """(a, b) → [n_layers + 1] cosine similarity of the word's embeddings in sentences a and b."""
    out = {}
    for a in range(len(words)):
        for b in range(a + 1, len(words)):
            ea, eb = words[a].embeddings, words[b].embeddings
            out[(a, b)] = np.array([cosine(ea[layer], eb[layer]) for layer in range(ea.shape[0])])
    return out


def trajectories(words: Sequence[WordTrace]) -> tuple[np.ndarray, np.ndarray]:
    """[n_sentences, n_layers + 1, 2] joint PCA of every sentence's word embedding at every layer.

    Each vector is scaled to unit length first: the residual's norm grows layer by layer, and without
    this the first axis would just be "depth"; directions are what cosine similarity compares.
    """
    stack = np.stack([w.embeddings for w in words])  # (s, L+1, d)
    s, n_points, d = stack.shape
    flat = stack.reshape(s * n_points, d)
    norms = np.linalg.norm(flat, axis=-1, keepdims=True)
    flat = flat / np.where(norms > 0, norms, 1.0)
    coords, ratio, _ = pca_2d(flat)
    return coords.reshape(s, n_points, 2), ratio


@dataclass(frozen=True)
class SenseMatch:
    senses: list[str]
    similarity: np.ndarray  # [n_sentences, n_senses, n_layers + 1] cosine to each sense reference
    closest: np.ndarray  # [n_sentences, n_layers + 1] index of the closest sense; -1 for a tie


def sense_match(words: Sequence[WordTrace], references: Sequence[WordTrace], senses: Sequence[str]) -> SenseMatch:
    """Cosine of each occurrence to each sense reference (the word in the reference sentence), per layer."""
    n_points = words[0].embeddings.shape[0]
    sim = np.array(
        [
            [[cosine(w.embeddings[layer], r.embeddings[layer]) for layer in range(n_points)] for r in references]
            for w in words
        ]
    )
    filled = np.nan_to_num(sim, nan=-2.0)  # NaN (a zero vector) is never the closest
    closest = np.argmax(filled, axis=1)
    if len(references) > 1:
        # At layer 0 a word's embedding is the same in every sentence (decoders): every sense is
        # equally close and argmax would just report the first one. Call that a tie (-1).
        ordered = np.sort(filled, axis=1)
        closest = np.where(ordered[:, -1, :] - ordered[:, -2, :] < 1e-6, -1, closest)
    return SenseMatch(senses=list(senses), similarity=sim, closest=closest)


def parse_lines(text: str) -> list[str]:
    """Non-empty lines, stripped: the sentences box takes one sentence per line."""
    return [line.strip() for line in text.splitlines() if line.strip()]
