"""A sequence classifier's verdict on the whole text (loading/classifier_head.py reads its head): the first token's
embedding after a block (or, ModernBERT's classifier_pooling "mean", every token's averaged), through the model's final
norm where it has one, the pooler (ModernBERT's with a LayerNorm after it) and the classifier,

    logits = act(h_0 · W_pool + b_pool) · W_out + b_out     [n_labels]

after the last block the model's own logits, after an earlier one the same head read early (a logit lens for the
class). Scores: softmax over the labels, a sigmoid each (a multi-label model's), or the raw score (a regression's).
A token classifier (a tagger) labels every position i the same way from its own embedding, logits_i = h_i · W_tag +
b_tag (ModernBERT's head on h_i first), scored by the softmax over its labels. An extractive question-answering head
gives every position a start and an end logit, (s_i, e_i) = h_i · W_answer + b_answer: softmax over the positions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import torch

from .activations import activation
from .blocks import normalize
from .config import REPLACED_LABELS, ModelConfig
from .device import host_float
from .seq2seq_classify import DECODER_EOS, decoder_readout
from .sweep import head_ablation_sweep

if TYPE_CHECKING:
    from .blocks import Weights
    from .trace import Trace


def has_classifier(trace: Trace) -> bool:
    """Whether the model was loaded with a sequence-classification head."""
    return bool(trace.config.class_labels)


def class_logits_by_layer(trace: Trace) -> torch.Tensor:
    """[n_layers, n_labels] the classifier's logits from the first token's embedding after each block (the last row
    the model's own). Raises ValueError for a model without a classifier."""
    if not has_classifier(trace):
        raise ValueError(f"{trace.model_name} has no sequence-classification head.")
    w, cfg, at = trace.context.pass_weights, trace.config, read_position(trace.token_ids, trace.config)
    # BART's reads its decoder's blocks at the last </s> (seq2seq_classify.py), each (d_model,) as a one-token text
    c = trace.captured
    states = [h[None] for h in c.decoder_eos] if cfg.class_pool == DECODER_EOS else c.resid_pre
    with torch.inference_mode():  # a block at a time: all of them at once would copy every residual (n_layers × n × d)
        rows = [class_head(h, w, cfg, at) for h in states[1:]]  # each (n_labels,)
        return host_float(torch.stack(rows))  # (n_layers, n_labels)


def read_position(token_ids: list[int], cfg: ModelConfig) -> int:
    """The position a classifier reads: the first, or a decoder's last that is not its pad token (transformers' rule:
    the rightmost such; position 0 where every token is the pad token). Unused for mean pooling."""
    if cfg.class_pool != "last":
        return 0
    kept = [i for i, t in enumerate(token_ids) if t != cfg.class_pad_id]
    return kept[-1] if kept else 0


def class_head(h: torch.Tensor, w: Weights, cfg: ModelConfig, at: int = 0) -> torch.Tensor:
    """[..., n_labels] logits of a text's embeddings [..., n_tokens, d_model] through the final norm (where the model
    has one), pooled (the token at `at`, read_position's; or the mean of all: cfg.class_pool), the pooler (where it
    has one: not a decoder's) and the classifier, in the pass's dtype (bfloat16 in half precision)."""
    h = h.to(w["classify.W_out"].dtype)
    if cfg.class_pool == "mean":  # each position through the norm, then their average
        pooled = _closing_norm(h, w, cfg).mean(-2)  # (..., d_model)
    else:  # the norm works a position at a time: the read token's alone
        pooled = _closing_norm(h[..., at, :], w, cfg)
    logits = (_pooler(pooled, w, cfg) if "classify.W_pool" in w else pooled) @ w["classify.W_out"]
    return logits + w["classify.b_out"] if "classify.b_out" in w else logits


def _pooler(x: torch.Tensor, w: Weights, cfg: ModelConfig) -> torch.Tensor:
    """act(x · W_pool + b_pool), then the pooler's LayerNorm where it has one (ModernBERT's head, whose bias is
    optional)."""
    x = x @ w["classify.W_pool"]
    x = activation(x + w["classify.b_pool"] if "classify.b_pool" in w else x, cfg.class_pool_act)
    return normalize(x, w, "classify.ln", cfg) if "classify.ln.w" in w else x


def _closing_norm(h: torch.Tensor, w: Weights, cfg: ModelConfig) -> torch.Tensor:
    """Embeddings [..., d_model] through the final norm where the model has one: pre-norm encoders close the stack
    with a norm, as unembed does; post-norm ones (BERT) end on a block's own norm. An encoder-decoder's verdict
    reads its decoder's stack, closed by the decoder's own norm (mBART's; BART's post-norm decoder has none)."""
    name = "dec.ln_final" if cfg.class_pool == DECODER_EOS else "ln_final"
    return normalize(h, w, name, cfg) if f"{name}.w" in w or not cfg.norm_weights else h


def has_tagger(trace: Trace) -> bool:
    """Whether the model was loaded with a token-classification head (a tagger's)."""
    return bool(trace.config.tag_labels)


def tag_logits_by_layer(trace: Trace) -> torch.Tensor:
    """[n_layers, n_tokens, n_labels] the tagger's logits at every position from its embedding after each block (the
    last block's the model's own). Raises ValueError for a model without a token-classification head."""
    if not has_tagger(trace):
        raise ValueError(f"{trace.model_name} has no token-classification head.")
    w, cfg = trace.context.pass_weights, trace.config
    with torch.inference_mode():  # a block at a time, as class_logits_by_layer
        return host_float(torch.stack([tag_head(h, w, cfg) for h in trace.captured.resid_pre[1:]]))  # (n_layers, n, L)


def final_tag_logits(trace: Trace, position: int) -> torch.Tensor:
    """[n_labels] the tagger's own logits at `position` (the last block's): tag_logits_by_layer's last row there,
    without reading every block and position."""
    if not has_tagger(trace):
        raise ValueError(f"{trace.model_name} has no token-classification head.")
    with torch.inference_mode():
        return host_float(tag_head(trace.captured.resid_pre[-1][position], trace.context.pass_weights, trace.config))


def tag_head(h: torch.Tensor, w: Weights, cfg: ModelConfig) -> torch.Tensor:
    """[..., n_labels] a tagger's logits of embeddings [..., d_model] through the final norm (where the model has one),
    ModernBERT's head (where read) and its one linear map, in the pass's dtype."""
    h = _closing_norm(h.to(w["classify.W_tag"].dtype), w, cfg)
    h = _pooler(h, w, cfg) if "classify.W_pool" in w else h  # ModernBERT's head, ELECTRA discriminator's dense map
    logits = h @ w["classify.W_tag"]
    logits = logits + w["classify.b_tag"] if "classify.b_tag" in w else logits  # a decoder's `score` may have none
    if cfg.tag_labels == REPLACED_LABELS and logits.shape[-1] == 1:  # ELECTRA's discriminator: p(replaced) = σ(z)
        logits = torch.cat([torch.zeros_like(logits), logits], dim=-1)  # = softmax((0, z))[1], exactly
    return logits


def tag_ablation_sweep(trace: Trace, label: int, position: int, mode: Literal["zero", "mean"] = "zero") -> torch.Tensor:
    """[n_layers, n_heads]: change in log p(label) at `position` when each head alone is ablated: the ablation sweep
    (sweep.py) read through the tagger's head at that position."""
    if not has_tagger(trace):
        raise ValueError(f"{trace.model_name} has no token-classification head.")
    if not 0 <= label < len(trace.config.tag_labels):
        raise IndexError(f"label {label} is not one of the model's {len(trace.config.tag_labels)}")
    w, cfg = trace.context.pass_weights, trace.config
    return head_ablation_sweep(trace, label, position, mode,
                               readout=lambda h: torch.log_softmax(tag_head(h, w, cfg).float(), dim=-1))  # fmt: skip


def has_answer_head(trace: Trace) -> bool:
    """Whether the model was loaded with an extractive question-answering head."""
    return trace.config.answer_head


def answer_logits_by_layer(trace: Trace) -> torch.Tensor:
    """[n_layers, n_tokens, 2] the question-answering head's start and end logits at every position, from its
    embedding after each block through the final norm (where the model has one) and `qa_outputs` (the last block's
    the model's own: transformers' start_logits and end_logits). Raises ValueError for a model without the head."""
    if not has_answer_head(trace):
        raise ValueError(f"{trace.model_name} has no question-answering head.")
    w, cfg = trace.context.pass_weights, trace.config
    with torch.inference_mode():  # a block at a time, as class_logits_by_layer
        return host_float(torch.stack([answer_head(h, w, cfg) for h in trace.captured.resid_pre[1:]]))  # (L, n, 2)


def answer_head(h: torch.Tensor, w: Weights, cfg: ModelConfig) -> torch.Tensor:
    """[..., 2] start and end logits of embeddings [..., d_model] through the final norm (where the model has one),
    ModernBERT's head (where read) and `qa_outputs`, in the pass's dtype."""
    h = _closing_norm(h.to(w["classify.W_answer"].dtype), w, cfg)
    h = _pooler(h, w, cfg) if "classify.W_pool" in w else h  # ModernBERT's head on every token
    return h @ w["classify.W_answer"] + w["classify.b_answer"]


def answer_log_p(logits: torch.Tensor, candidates: torch.Tensor, start: int, end: int) -> torch.Tensor:
    """[...] log p(start) + log p(end) of the span start..end (indices into `candidates`, the positions an answer may
    cover) from start and end logits [..., n, 2]: each a log softmax over the candidates, as the answer is read."""
    picked = logits[..., candidates, :].float()  # (..., m, 2)
    return picked[..., 0].log_softmax(-1)[..., start] + picked[..., 1].log_softmax(-1)[..., end]


def answer_ablation_sweep(
    trace: Trace, candidates: list[int], start: int, end: int, mode: Literal["zero", "mean"] = "zero"
) -> torch.Tensor:
    """[n_layers, n_heads]: change in log p(start) + log p(end) of the answer span start..end (indices into
    `candidates`) when each head alone is ablated: the ablation sweep (sweep.py) read through the question-answering
    head at every position."""
    if not has_answer_head(trace):
        raise ValueError(f"{trace.model_name} has no question-answering head.")
    w, cfg, at = trace.context.pass_weights, trace.config, torch.tensor(candidates, device=trace.context.device)

    def readout(h: torch.Tensor) -> torch.Tensor:  # (..., n, d_model) → (..., 1)
        return answer_log_p(answer_head(h, w, cfg), at, start, end)[..., None]

    return head_ablation_sweep(trace, 0, slice(None), mode, readout=readout)


def log_scores(logits: torch.Tensor, problem: str) -> torch.Tensor:
    """The log of class_scores (float32): log softmax, log sigmoid each, or a regression's score itself."""
    logits = logits.float()
    if problem == "sigmoid":
        return torch.nn.functional.logsigmoid(logits)
    return logits if problem == "regression" else torch.log_softmax(logits, dim=-1)


def class_ablation_sweep(trace: Trace, label: int, mode: Literal["zero", "mean"] = "zero") -> torch.Tensor:
    """[n_layers, n_heads]: change in log p(label) (a regression's score) when each head alone is ablated: the
    ablation sweep (sweep.py) read through the classifier's head on the first token."""
    if not has_classifier(trace):
        raise ValueError(f"{trace.model_name} has no sequence-classification head.")
    if not 0 <= label < len(trace.config.class_labels):
        raise IndexError(f"label {label} is not one of the model's {len(trace.config.class_labels)}")
    w, cfg, at = trace.context.pass_weights, trace.config, read_position(trace.token_ids, trace.config)

    def head(h: torch.Tensor) -> torch.Tensor:  # (..., n, d_model) → (..., n_labels)
        return log_scores(class_head(h, w, cfg, at), cfg.class_problem)

    # BART's: each variant's encoder output read by its decoder first (seq2seq_classify.py)
    readout = decoder_readout(trace.context, trace.token_ids, head) if cfg.class_pool == DECODER_EOS else head
    return head_ablation_sweep(trace, label, slice(None), mode, readout=readout)  # every position: pooled by the head


def class_scores(logits: torch.Tensor, problem: str) -> torch.Tensor:
    """The labels' scores from their logits [..., n_labels]: probabilities (softmax, or a sigmoid each) or, for a
    regression, the logits themselves."""
    if problem == "sigmoid":
        return torch.sigmoid(logits)
    return logits if problem == "regression" else torch.softmax(logits, dim=-1)
