"""Conventions a converter folds into the canonical weights, whatever the source format (Hugging Face or GGUF).

- `neighbours_to_halves`: GPT-J and Cohere rotate each head's neighbouring dimensions (0, 1), (2, 3), … with RoPE;
  the engine rotates halves (i, i + r/2), as Llama does. Reordering W_Q's and W_K's columns (even ones first) makes
  one rotation the other: q·k, every score and pattern are unchanged, and a head's q and k hold the same numbers.
  `pairs_to_halves` does it for every layer's W_Q and W_K and their biases.
- `last_pairs_to_halves`: DeepSeek's latent attention rotates the *last* dimensions of each head in neighbouring
  pairs; the same reordering, on those columns.
- `fold_residual_scale`: Granite multiplies each sublayer's output by residual_scale before its add; folded into
  W_O, b_O, W_out and b_out (every expert's, in a mixture of experts), the pass and every per-head Δe give the
  model's numbers without knowing of it.
- `unfuse_qkvz`, `unfuse_ba`: Qwen3-Next fuses its delta rule's q, k, v and output gate z into one map, and β's and
  α's into another, per key head; split into Qwen3.5's maps (delta_net.py's W_qkv, W_z, W_b, W_a), for its Hugging
  Face folders and the GGUF files that keep them fused.
"""

from __future__ import annotations

import torch

from ..config import ModelConfig
from ..errors import ModelLoadError

Weights = dict[str, torch.Tensor]


def neighbours_to_halves(W: torch.Tensor, n_heads: int, rotary_dim: int) -> torch.Tensor:
    """W_Q or W_K ([d_model, n_heads·d_head]) with each head's first `rotary_dim` columns reordered from rotation
    pairs (0, 1), (2, 3), … to the rotate-half pairs (i, i + r/2): even columns, then odd ones; the columns past
    rotary_dim (not rotated) are kept."""
    d_model, width = W.shape
    heads = W.reshape(d_model, n_heads, width // n_heads)  # (d_model, n_heads, d_head)
    rot = heads[..., :rotary_dim].reshape(d_model, n_heads, rotary_dim // 2, 2)  # (…, pair, which of the pair)
    halves = rot.transpose(-1, -2).reshape(d_model, n_heads, rotary_dim)  # (…, which half, pair) flattened
    return torch.cat([halves, heads[..., rotary_dim:]], dim=-1).reshape(d_model, width).contiguous()


def pairs_to_halves(w: Weights, cfg: ModelConfig) -> Weights:
    """Every layer's W_Q and W_K (and their biases, where the model has them) from neighbouring rotation pairs to
    the engine's halves (neighbours_to_halves), in place; cfg.rotary_dim (or d_head) columns of a head rotate."""
    rotary = cfg.rotary_dim or cfg.d_head
    for layer in range(cfg.n_layers):
        for part, heads in (("Q", cfg.n_heads), ("K", cfg.n_kv_heads)):
            key = f"blocks.{layer}.attn.W_{part}"
            w[key] = neighbours_to_halves(w[key], heads, rotary)
            bias = f"blocks.{layer}.attn.b_{part}"
            if bias in w:  # a bias is one more row over the same columns
                w[bias] = neighbours_to_halves(w[bias][None], heads, rotary)[0]
            for key in (f"blocks.{layer}.attn.{part.lower()}_norm.{kind}" for kind in "wb"):
                if key in w:  # a q/k norm's weight and bias scale the columns they sit over: moved with them
                    t = w[key]  # [d_head] shared by the heads, or [heads, d_head] (Command R+), or all heads' (OLMo 2)
                    w[key] = neighbours_to_halves(t.reshape(1, -1), t.numel() // cfg.d_head, rotary).reshape(t.shape)
    return w


def last_pairs_to_halves(W: torch.Tensor, heads: int, rotary: int) -> torch.Tensor:
    """W [d_in, heads·d] with each head's last `rotary` columns reordered from neighbouring pairs (0, 1), (2, 3), …
    to even columns then odd ones: the rotate-half order of the same rotation (latent attention: DeepSeek)."""
    d_in, width = W.shape
    per_head = W.reshape(d_in, heads, width // heads)  # (d_in, heads, d)
    rot = per_head[..., -rotary:].reshape(d_in, heads, rotary // 2, 2).transpose(-1, -2).reshape(d_in, heads, rotary)
    return torch.cat([per_head[..., :-rotary], rot], dim=-1).reshape(d_in, width).contiguous()


def fold_residual_scale(w: Weights, cfg: ModelConfig) -> Weights:
    """W_O, b_O, W_out and b_out (every expert's) × cfg.residual_scale, in place: a sublayer's output (x·W + b) × s
    is x·(W·s) + b·s. Where a norm follows each sublayer (HyperCLOVA X's peri-norms) it would undo that, so the
    norm's weight and bias take the factor instead: norm(y)·s. Returns `w`."""
    if cfg.residual_scale == 1.0:
        return w
    outputs = (".attn.W_O", ".attn.b_O", ".W_out", ".b_out")  # every expert's too (a mixture's output is their sum)
    if cfg.norm_position in ("sandwich", "post_sublayer"):
        outputs = (".ln_attn_out.w", ".ln_attn_out.b", ".ln_mlp_out.w", ".ln_mlp_out.b")
    for key in w:
        if key.startswith("blocks.") and key.endswith(outputs):
            w[key] = w[key] * cfg.residual_scale
    return w


def unfuse_qkvz(qkvz: torch.Tensor, cfg: ModelConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Qwen3-Next's in_proj_qkvz [rows, d_model], per key head [q (d_k), k (d_k), v (g·d_v), z (g·d_v)] with g value
    heads a key head, as W_qkv [d_model, all q | all k | all v] and W_z [d_model, n_v·d_v]."""
    (n_k, n_v), (d_k, d_v) = cfg.delta_heads, cfg.delta_dims
    g = n_v // n_k
    if tuple(qkvz.shape) != (n_k * (2 * d_k + 2 * g * d_v), cfg.d_model):
        raise ModelLoadError(f"The delta rule's fused q, k, v, z map is {tuple(qkvz.shape)}, not "
                             f"({n_k * (2 * d_k + 2 * g * d_v)}, {cfg.d_model}).")  # fmt: skip
    q, k, v, z = qkvz.reshape(n_k, -1, cfg.d_model).split([d_k, d_k, g * d_v, g * d_v], dim=1)  # (n_k, rows, d) each
    W_qkv = torch.cat([t.reshape(-1, cfg.d_model) for t in (q, k, v)]).T.contiguous()
    return W_qkv, z.reshape(-1, cfg.d_model).T.contiguous()


def unfuse_ba(ba: torch.Tensor, cfg: ModelConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Qwen3-Next's in_proj_ba [2·n_v, d_model], per key head [b (g), a (g)], as W_b and W_a [d_model, n_v]."""
    n_k, n_v = cfg.delta_heads
    if tuple(ba.shape) != (2 * n_v, cfg.d_model):
        raise ModelLoadError(f"The delta rule's fused β, α map is {tuple(ba.shape)}, not ({2 * n_v}, {cfg.d_model}).")
    b, a = ba.reshape(n_k, -1, cfg.d_model).chunk(2, dim=1)  # (n_k, g, d_model) each
    return b.reshape(-1, cfg.d_model).T.contiguous(), a.reshape(-1, cfg.d_model).T.contiguous()
