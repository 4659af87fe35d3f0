"""Parameter counting: a loaded model's exact tensors, and a calculator for hypothetical configs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

import torch

from .config import ModelConfig


def attention_parameters(d_model: int, d_head: int, n_heads: int, n_layers: int, n_kv_heads: int | None = None) -> int:
    """Attention weights as 3Blue1Brown counts them: query, key, value-down and value-up maps per head.

    Each is d_model × d_head (value-up is d_head × d_model); biases are not counted. With grouped-query
    attention, keys and value-downs exist once per key/value head. GPT-3: 57,982,058,496.
    """
    n_kv = n_heads if n_kv_heads is None else n_kv_heads
    per_layer = d_model * d_head * (2 * n_heads + 2 * n_kv)  # W_Q and W_O per query head, W_K and W_V per kv head
    return per_layer * n_layers


def attention_breakdown(d_model: int, d_head: int, n_heads: int, n_layers: int) -> dict[str, int]:
    """Per-head, per-layer and total counts of each of the four attention matrices (no GQA)."""
    per_head = d_model * d_head
    return {
        "per_head_each": per_head,  # query, key, value-down, value-up: each this size
        "per_head": 4 * per_head,
        "per_layer": 4 * per_head * n_heads,
        "total": 4 * per_head * n_heads * n_layers,
    }


def model_parameters(
    d_model: int,
    n_layers: int,
    n_heads: int,
    d_head: int,
    d_vocab: int,
    d_mlp: int | None = None,
    n_ctx: int = 0,
    n_kv_heads: int | None = None,
    gated_mlp: bool = False,
    tied_embeddings: bool = True,
    biases: bool = True,
    norm_params_per_norm: int = 2,
) -> dict[str, int]:
    """A whole decoder-style model's parameters by component, for a hypothetical config.

    With `GPT3` below (3Blue1Brown's accounting: embedding, unembedding, attention and MLP matrices;
    no biases, norms or positions) the total is 175,181,291,520.
    """
    d_mlp = 4 * d_model if d_mlp is None else d_mlp
    n_kv = n_heads if n_kv_heads is None else n_kv_heads
    attn = attention_parameters(d_model, d_head, n_heads, n_layers, n_kv)
    attn_bias = (d_head * (n_heads + 2 * n_kv) + d_model) * n_layers if biases else 0
    mlp = (3 if gated_mlp else 2) * d_model * d_mlp * n_layers
    mlp_bias = ((2 if gated_mlp else 1) * d_mlp + d_model) * n_layers if biases else 0
    norms = norm_params_per_norm * d_model * (2 * n_layers + 1)
    counts = {
        "embedding": d_vocab * d_model,
        "positions": n_ctx * d_model,
        "attention": attn + attn_bias,
        "mlp": mlp + mlp_bias,
        "norms": norms,
        "unembedding": 0 if tied_embeddings else d_vocab * d_model,
    }
    counts["total"] = sum(counts.values())
    return counts


GPT3 = {
    "d_model": 12288,
    "d_head": 128,
    "n_heads": 96,
    "n_layers": 96,
    "d_vocab": 50257,
    "d_mlp": 4 * 12288,
    "n_ctx": 0,
    "tied_embeddings": False,
    "biases": False,
    "norm_params_per_norm": 0,
}


def count_weights(weights: Mapping[str, torch.Tensor]) -> dict[str, int]:
    """A loaded model's exact count by component; sums to the total size of its tensors.

    Keys: embedding (tokens, positions, segments, embedding norm), per-layer attention matrices
    (`attention.W_Q`, ...), `mlp`, `convolution`, `delta rule`, `state space` and `recurrence` (a hybrid's), `norms`,
    `unembedding`, `contact head` (ESM's), `classifier head` (a sequence classifier's), and `total`.
    """
    counts: dict[str, int] = defaultdict(int)
    for name, t in weights.items():
        n = t.numel()
        if name.startswith(("embed.", "dec.embed.", "rel.")):  # a decoder's own positions; DeBERTa's relative ones
            counts["embedding"] += n
        elif name.startswith("unembed."):
            counts["unembedding"] += n
        elif name.startswith("contact."):  # ESM's contact head: a weight per layer's head (contacts.py)
            counts["contact head"] += n
        elif name.startswith("classify."):  # a sequence classifier's pooler and labels, a tagger's map (classify.py)
            counts["classifier head"] += n
        elif ".attn." in name:  # W_Q, b_Q, W_K, ..., q_norm.w (not "w": k_norm.w is another), over all layers
            counts["attention." + name.split(".attn.", 1)[1]] += n
        elif ".cross." in name:  # encoder-decoders' cross-attention
            counts["cross_attention." + name.split(".cross.", 1)[1]] += n
        elif ".mlp." in name:
            counts["mlp"] += n
        elif ".conv." in name:  # a hybrid's convolution layers: W_in, kernel, W_out
            counts["convolution"] += n
        elif ".delta." in name:  # a hybrid's gated delta rule layers (delta_net.py)
            counts["delta rule"] += n
        elif ".ssm." in name:  # a hybrid's Mamba-2 layers (mamba.py)
            counts["state space"] += n
        elif ".lru." in name:  # a hybrid's RG-LRU layers (rg_lru.py)
            counts["recurrence"] += n
        else:  # ln_attn, ln_mlp, ln_final
            counts["norms"] += n
    counts["total"] = sum(counts.values())
    return dict(counts)


def count_per_layer(weights: Mapping[str, torch.Tensor], config: ModelConfig) -> list[dict[str, int]]:
    """Per block: each attention matrix, the MLP and the norms (a block that layers share, ALBERT's, in each)."""
    rows = []
    for layer in range(config.n_layers):
        prefix = f"blocks.{config.layer_weights[layer] if config.layer_weights else layer}."
        row: dict[str, int] = defaultdict(int)
        for name, t in weights.items():
            if name.startswith(prefix):
                rest = name[len(prefix) :]
                key = rest.split(".", 1)[1] if rest.startswith("attn.") else rest.split(".", 1)[0]
                row[key] += t.numel()
        rows.append(dict(row))
    return rows
