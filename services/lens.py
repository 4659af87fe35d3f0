"""Layer-by-layer results of a trace (issue 16): the logit-lens grid, one position's chosen tokens across
layers, value-weighted attention, one token's contribution graph, a hybrid's scan or delta-rule weights, a protein
model's contacts predicted from its attention and what it expects at each residue, a sequence classifier's
verdict and a token classifier's labels after each block. Each is derived from a cached trace and cached in its group
(services.traces.derived), so it leaves the cache with that trace; each has an uncached twin (`lens_top`, `ranks_of`,
`value_weighted_of`, `graph_columns`, `implicit_weights_of`, `contacts_of`, `residue_logprobs_of`, `class_verdict_of`,
`tag_grid_of`) for the notebook views (attention_viz). numpy out.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from attention_core import Trace
from attention_core.classify import (
    class_ablation_sweep,
    class_logits_by_layer,
    class_scores,
    final_tag_logits,
    has_classifier,
    has_tagger,
    log_scores,
    tag_ablation_sweep,
    tag_logits_by_layer,
)
from attention_core.config import REPLACED_LABELS
from attention_core.contacts import contact_probabilities
from attention_core.implicit import implicit_weights as _implicit_weights
from attention_core.implicit import weighted_layers
from services.models import PROTEIN_ARCHS
from services.traces import derived, is_derived, set_threads_for

__all__ = [
    "AMINO_ACIDS", "REPLACED_LABELS", "class_log_scores_of", "class_sweep", "class_sweep_of", "class_verdict",
    "class_verdict_of",
    "contacts", "contacts_of", "contribution_graph", "fills_in", "graph_columns", "has_class_sweep", "has_lens",
    "has_tag_sweep", "implicit_weights", "implicit_weights_of", "lens_grid", "lens_ranks", "lens_top", "mask_token",
    "mask_token_id", "ranks_of", "residue_logprobs", "residue_logprobs_of", "tag_grid", "tag_grid_of",
    "tag_log_scores_of", "tag_sweep", "value_weighted", "value_weighted_of", "weighted_layers",
]  # fmt: skip


def has_lens(trace: Trace) -> bool:
    """Whether the model has an unembedding to read layers through (decoders, and encoders loaded with their
    masked-language-model head; not MiniLM, an embedding model)."""
    return trace.config.has_lm_head


def fills_in(trace: Trace) -> bool:
    """Whether the model's prediction at a position is of the token there (a masked-language model's), not of the
    next one."""
    return trace.config.has_lm_head and not trace.config.predicts_next_token


def mask_token(trace: Trace) -> str | None:
    """The token a masked-language model fills in, as typed ("[MASK]", "<mask>"); None for any other model."""
    return trace.context.tokenizer.mask_token if fills_in(trace) else None


def mask_token_id(trace: Trace) -> int | None:
    """The id of mask_token, where the tokenizer reads the typed mask as one token; None otherwise."""
    mask = mask_token(trace)
    ids = [] if mask is None else trace.token_ids_for(mask)
    return ids[0] if len(ids) == 1 else None


def lens_grid(
    base_key: Hashable, trace: Trace, k: int = 5, start: int = 0, stop: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """([n_layers, m, k] token ids, [n_layers, m, k] probabilities): every layer's top k at positions
    start..stop-1 (default: every position; m = stop - start)."""
    stop = trace.n_tokens if stop is None else int(stop)
    return derived(base_key, "lens_top", int(k), int(start), stop, compute=lambda: lens_top(trace, k, start, stop))


def lens_top(trace: Trace, k: int, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """lens_grid's arrays, uncached (the notebook views compute them once per view)."""
    # Threads for the grid's own size: its rows are every (layer, position), each projected onto the whole
    # vocabulary, so even a 64-token text is 1,920 rows × 49,152 tokens on SmolLM2 (~108 GFLOP), work a
    # second core pays for, where the 64-token trace itself runs best on one (backend/threads.py).
    set_threads_for(trace.n_layers * (stop - start))
    top = trace.lens_top(int(k), int(start), int(stop))
    return top.ids.numpy(), top.probs.numpy().astype(np.float64)


def lens_ranks(
    base_key: Hashable, trace: Trace, position: int, token_ids: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """([n_layers, t] probability, [n_layers, t] rank, 0 = top-1) of each token at `position`, every layer."""
    ids = tuple(int(t) for t in token_ids)
    return derived(base_key, "lens_ranks", int(position), ids, compute=lambda: ranks_of(trace, position, ids))


def ranks_of(trace: Trace, position: int, token_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """lens_ranks's arrays, uncached."""
    probs, ranks = trace.lens_ranks(int(position), [int(t) for t in token_ids])
    return probs.numpy().astype(np.float64), ranks.numpy()


def value_weighted(base_key: Hashable, trace: Trace, layer: int, head: int) -> np.ndarray:
    """[n_q, n_k] ‖A[i,j]·v_j·W_O^h‖ of one head (float64)."""
    return derived(
        base_key, "value_weighted", int(layer), int(head), compute=lambda: value_weighted_of(trace, layer, head)
    )


def value_weighted_of(trace: Trace, layer: int, head: int) -> np.ndarray:
    """value_weighted's array, uncached."""
    return trace.value_weighted(int(layer), int(head)).numpy().astype(np.float64)


def contribution_graph(base_key: Hashable, trace: Trace, token: int, threshold: float) -> dict[str, np.ndarray]:
    """The edges of `token`'s contribution graph (attention_core/flow.py) as columns of equal length: layer,
    kind ("attention", "residual_attn", "mlp", "residual_mlp"), source, target (positions), importance."""

    return derived(
        base_key, "contribution_graph", int(token), round(float(threshold), 6),
        compute=lambda: graph_columns(trace, token, threshold),
    )  # fmt: skip


def graph_columns(trace: Trace, token: int, threshold: float) -> dict[str, np.ndarray]:
    """contribution_graph's columns, uncached."""
    set_threads_for(trace.n_tokens)
    edges = trace.contribution_graph(int(token), float(threshold)).edges
    return {
        "layer": np.array([e.layer for e in edges], dtype=np.int64),
        "kind": np.array([e.kind for e in edges], dtype=object),
        "source": np.array([e.source for e in edges], dtype=np.int64),
        "target": np.array([e.target for e in edges], dtype=np.int64),
        "importance": np.array([e.importance for e in edges], dtype=np.float64),
    }


def implicit_weights(base_key: Hashable, trace: Trace, layer: int, start: int, stop: int) -> np.ndarray:
    """[heads, m, m] weight[t, s] of a hybrid's scan or delta rule for the tokens start..stop − 1 (m of them), 0 where
    s > t (attention_core/implicit.py; float64)."""
    return derived(base_key, "implicit_weights", int(layer), int(start), int(stop),
                   compute=lambda: implicit_weights_of(trace, layer, start, stop))  # fmt: skip


def implicit_weights_of(trace: Trace, layer: int, start: int, stop: int) -> np.ndarray:
    """implicit_weights's array, uncached."""
    return _implicit_weights(trace, int(layer), int(start), int(stop)).numpy().astype(np.float64)


def contacts(base_key: Hashable, trace: Trace) -> np.ndarray | None:
    """[n − 2, n − 2] probabilities that two residues touch, from every head's pattern and the model's contact head
    (ESM's; attention_core/contacts.py), float64; None where the model has none or the text fewer than two residues."""
    return derived(base_key, "contacts", compute=lambda: contacts_of(trace))


def contacts_of(trace: Trace) -> np.ndarray | None:
    """contacts's array, uncached."""
    found = contact_probabilities(trace)
    return None if found is None else found.numpy().astype(np.float64)


AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"  # the 20 standard amino acids, as protein language models spell them


def residue_logprobs(base_key: Hashable, trace: Trace) -> tuple[np.ndarray, list[int]] | None:
    """([m, 20] log p of each standard amino acid (AMINO_ACIDS) at each of the text's m residues, from the model's
    own softmax over its whole vocabulary, float64; the residues' token positions), for a protein model loaded with
    its masked-language-model head (ESM's, ESM C's); None for any other model or a text without residues."""
    return derived(base_key, "residue_logprobs", compute=lambda: residue_logprobs_of(trace))


def residue_logprobs_of(trace: Trace) -> tuple[np.ndarray, list[int]] | None:
    """residue_logprobs's arrays, uncached."""
    if trace.config.arch not in PROTEIN_ARCHS or trace.logits is None:
        return None
    ids = [trace.token_ids_for(letter) for letter in AMINO_ACIDS]
    if any(len(found) != 1 for found in ids):  # a vocabulary without one token per amino acid
        return None
    positions = [i for i, (start, stop) in enumerate(trace.offsets) if stop > start]  # not <cls>, <eos>
    if not positions:
        return None
    logits = trace.logits[positions].numpy().astype(np.float64)  # (m, vocabulary)
    top = logits.max(axis=1, keepdims=True)
    logp = logits - top - np.log(np.exp(logits - top).sum(axis=1, keepdims=True))  # log softmax over the vocabulary
    return logp[:, [found[0] for found in ids]], positions


def class_verdict(base_key: Hashable, trace: Trace) -> tuple[np.ndarray, tuple[str, ...], str, str] | None:
    """([n_layers, n_labels] the classifier's scores read from the text's embeddings after each block, the last row
    the model's own verdict; its labels; how its scores read: "softmax", "sigmoid" or "regression"; what it reads:
    "first", "mean" or "last" (ModelConfig.class_pool)) for a model loaded with a sequence-classification head; None
    for any other."""
    return derived(base_key, "class_verdict", compute=lambda: class_verdict_of(trace))


def class_verdict_of(trace: Trace) -> tuple[np.ndarray, tuple[str, ...], str, str] | None:
    """class_verdict's arrays, uncached."""
    if not has_classifier(trace):
        return None
    cfg = trace.config
    scores = class_scores(class_logits_by_layer(trace), cfg.class_problem)  # (n_layers, n_labels)
    return scores.numpy().astype(np.float64), cfg.class_labels, cfg.class_problem, cfg.class_pool


def class_log_scores_of(trace: Trace) -> np.ndarray:
    """[n_labels] the model's own log p of each label (a regression's score), what Δ log p is a difference of."""
    return log_scores(class_logits_by_layer(trace)[-1], trace.config.class_problem).numpy().astype(np.float64)


def class_sweep(base_key: Hashable, trace: Trace, label: int) -> np.ndarray:
    """[n_layers, n_heads] change in log p(label) (a regression's score) when each head alone is zeroed, read through
    a sequence classifier's head (attention_core/classify.py), cached with the trace (float64)."""
    return derived(base_key, "class_sweep", int(label), compute=lambda: class_sweep_of(trace, label))


def class_sweep_of(trace: Trace, label: int) -> np.ndarray:
    """class_sweep's array, uncached (the notebook's)."""
    return class_ablation_sweep(trace, int(label)).numpy().astype(np.float64)


def has_class_sweep(base_key: Hashable, label: int) -> bool:
    """Whether class_sweep has that ranking cached (the page draws it again without a click)."""
    return is_derived(base_key, "class_sweep", int(label))


def tag_grid(base_key: Hashable, trace: Trace) -> tuple[np.ndarray, tuple[str, ...]] | None:
    """([n_layers, n_tokens, n_labels] a token classifier's probabilities of each label at every position, read from
    that position's embedding after each block, the last block's the model's own; its labels) for a model loaded with
    a token-classification head; None for any other."""
    return derived(base_key, "tag_grid", compute=lambda: tag_grid_of(trace))


def tag_grid_of(trace: Trace) -> tuple[np.ndarray, tuple[str, ...]] | None:
    """tag_grid's arrays, uncached."""
    if not has_tagger(trace):
        return None
    return class_scores(tag_logits_by_layer(trace), "softmax").numpy().astype(np.float64), trace.config.tag_labels


def tag_log_scores_of(trace: Trace, position: int) -> np.ndarray:
    """[n_labels] the tagger's own log p of each label at `position`, what its Δ log p is a difference of."""
    return log_scores(final_tag_logits(trace, position), "softmax").numpy().astype(np.float64)


def tag_sweep(base_key: Hashable, trace: Trace, label: int, position: int) -> np.ndarray:
    """[n_layers, n_heads] change in log p(label) at `position` when each head alone is zeroed, read through a token
    classifier's head (attention_core/classify.py), cached with the trace (float64)."""
    return derived(base_key, "tag_sweep", int(label), int(position), compute=lambda: tag_ablation_sweep(
        trace, int(label), int(position)).numpy().astype(np.float64))  # fmt: skip


def has_tag_sweep(base_key: Hashable, label: int, position: int) -> bool:
    """Whether tag_sweep has that ranking cached (the page draws it again without a click)."""
    return is_derived(base_key, "tag_sweep", int(label), int(position))
