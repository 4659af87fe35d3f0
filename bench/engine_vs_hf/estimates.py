"""Arithmetic and memory estimates: the FLOPs floor of a forward pass, HF's memory at n tokens."""

from __future__ import annotations

from typing import Any


def forward_flops(cfg: dict[str, Any], n: int, logits: bool) -> float:
    """Matmul FLOPs of one forward pass over n tokens (the arithmetic floor counts only these).

    Per layer and token, every projection weight is used once in a multiply-add (2 FLOPs per weight):
        P_layer = d_model·(n_heads·d_head)  [W_Q]  + 2·d_model·(n_kv_heads·d_head)  [W_K, W_V]
                + (n_heads·d_head)·d_model  [W_O]  + (3 if gated else 2)·d_model·d_mlp  [MLP]
        linear  = 2 · n · n_layers · P_layer
    Attention: for each head and each (query, key) pair that the mask allows, q·k and p·v are d_head
    multiply-adds each, i.e. 4·d_head FLOPs; pairs = n(n+1)/2 when causal (an ideal kernel skips the masked
    half), n² otherwise:
        attention = 4 · d_head · n_heads · pairs · n_layers
    With logits, the unembedding adds 2 · n · d_model · d_vocab.
    Norms, RoPE, softmax and activations are O(n·d) or O(n²·heads) element-wise work and are left out, so
    the floor is a lower bound.
    """
    d, dh, h, hkv = cfg["d_model"], cfg["d_head"], cfg["n_heads"], cfg["n_kv_heads"]
    p_layer = d * h * dh + 2 * d * hkv * dh + h * dh * d + (3 if cfg["gated_mlp"] else 2) * d * cfg["d_mlp"]
    linear = 2 * n * cfg["n_layers"] * p_layer
    pairs = n * (n + 1) / 2 if cfg["causal"] else n * n
    attention = 4 * dh * h * pairs * cfg["n_layers"]
    unembed = 2 * n * d * cfg["d_vocab"] if logits else 0
    return linear + attention + unembed


def estimate_hf_bytes(cfg: dict[str, Any], n: int) -> float:
    """What HF eager with output_attentions keeps at n tokens, doubled for the per-layer temporaries.

    The returned patterns alone are n_layers·n_heads·n²·4 bytes; each layer also builds scores, the scaled
    and masked scores and the softmax before one is kept, and the output adds hidden states and logits.
    Doubling the patterns covers those with margin (the machine is shared: an out-of-memory kill could hit
    someone else's process).
    """
    patterns = cfg["n_layers"] * cfg["n_heads"] * n * n * 4
    logits = n * cfg["d_vocab"] * 4
    hidden = (cfg["n_layers"] + 1) * n * cfg["d_model"] * 4
    weights = 135e6 * 4 * 1.2  # fp32 weights of SmolLM2-135M plus allocator slack
    return 2 * patterns + logits + hidden + weights


def free_bytes_for_hf(device: str) -> tuple[float, str]:
    """Bytes free where HF would run: (free GPU memory or available RAM, what that is called in the report)."""
    import psutil
    import torch

    if device.startswith("cuda"):
        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return float(free), "free GPU memory"
    return float(psutil.virtual_memory().available), "available RAM"
