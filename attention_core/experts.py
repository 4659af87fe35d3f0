"""The MLP: one feed-forward network, or a mixture of experts with its router.

A router scores every expert for each token and the token's output sums its chosen experts' outputs, each weighted
by its score:
- softmax (Mixtral, Qwen-MoE, OLMoE, GPT-OSS): the top experts_per_token probabilities, renormalised over the chosen
  ones where the model does (moe_renormalize);
- sigmoid (DeepSeek-V3, Kimi K2): each expert's own sigmoid score; the choice adds a learned correction bias
  (router.b_choice) that the weights do not (ERNIE 4.5's MoE adds one to its softmax probabilities alike);
  "sigmoid_logits" (Kolibri-1): the same weights, the choice made on the raw logits plus that bias (a bias shifts a
  logit and a sigmoid score differently, so the two choose differently);
- groups (DeepSeek-V2, V3: moe_groups = (groups, kept)): the experts sit in equal groups and a token chooses only
  within its `kept` best groups, a group rated by its best score (softmax routers, V2) or by its best two summed
  (sigmoid routers, V3);
- the chosen weights × moe_scale (DeepSeek's routed_scaling_factor);
- SparseMixer (Phi-3.5-MoE, moe_router "sparsemixer"; `sparse_mixer`): the best expert, then the best of the rest,
  each weighted by a softmax over the logits within a relative 2ε of its own (ε: moe_mixer_eps), not renormalised;
- Llama 4 (moe_scales_input): the weight multiplies the token before its expert reads it, not the expert's output
  (a SwiGLU expert is not linear, so the two differ); its router is the sigmoid one, top-1, not renormalised.
Nemotron 3's experts may read and write a narrower latent (latent_in.W before them, latent_out.W after; the router
and the shared expert read the token itself). A shared expert (under shared.) adds to every token: scaled by
sigmoid(x·shared_gate.W) where the model has that gate (Qwen2-MoE), as it is otherwise (DeepSeek).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .activations import activation, clamped_swiglu, xielu
from .config import ModelConfig
from .linear import linear

Weights = Mapping[str, torch.Tensor]


def feed_forward(x: torch.Tensor, w: Weights, p: str, cfg: ModelConfig) -> torch.Tensor:
    """One feed-forward network, its weights under the prefix `p`: gated (SwiGLU, GeGLU) or plain."""
    if cfg.gated_mlp:  # SwiGLU (silu), GeGLU (gelu_tanh, Gemma), GPT-OSS's clamped SwiGLU (with biases)
        if p + "W_gate_in" in w:  # one matrix product instead of two (see fast_weights): gate, then up, equal widths
            fused = linear(x, w[p + "W_gate_in"], w.get(p + "b_gate_in"))  # (..., n, 2·d_mlp)
            gate, up = fused.chunk(2, dim=-1)  # (..., n, d_mlp) each
        else:
            gate, up = linear(x, w[p + "W_gate"], w.get(p + "b_gate")), linear(x, w[p + "W_in"], w.get(p + "b_in"))
        if cfg.act == "swiglu_clamped":
            hidden = clamped_swiglu(gate, up, *cfg.swiglu_clamp)
        else:
            hidden = activation(gate, cfg.act) * up
        return linear(hidden, w[p + "W_out"], w.get(p + "b_out"))  # (..., n, d_model)
    pre = linear(x, w[p + "W_in"], w.get(p + "b_in"))  # (..., n, d_mlp)
    hidden = xielu(pre, w, p, *cfg.xielu) if cfg.act == "xielu" else activation(pre, cfg.act)
    return linear(hidden, w[p + "W_out"], w.get(p + "b_out"))  # (..., n, d_model)


def sparse_mixer(logits: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Phi-3.5-MoE's two experts per token at inference (transformers' sparsemixer, training branches aside): the top
    logit's expert, weighted by a softmax over the logits s with (top − s) / max(|s|, top) ≤ 2ε; then the best of the
    rest, weighted likewise around its own logit, the first left out. (weights, chosen), each (m, 2)."""
    weights, chosen, rest = [], [], logits
    for _ in range(2):
        top, index = rest.max(dim=-1, keepdim=True)  # (m, 1) each
        far = (top - logits) / logits.abs().clamp(min=top) > 2 * eps  # (m, n_experts): outside the top's reach
        weights.append(torch.softmax(rest.masked_fill(far, float("-inf")), dim=-1).gather(1, index))
        chosen.append(index)
        rest = rest.scatter(-1, index, float("-inf"))  # the next round picks among the others
    return torch.cat(weights, dim=-1), torch.cat(chosen, dim=-1)


def route(flat: torch.Tensor, w: Weights, p: str, cfg: ModelConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Each token's chosen experts and their weights, both (m, experts_per_token), for tokens flat (m, d_model)."""
    logits = linear(flat, w[p + "router.W"], w.get(p + "router.b")).float()  # (m, n_experts)
    if cfg.moe_router == "sparsemixer":
        weights, chosen = sparse_mixer(logits, cfg.moe_mixer_eps)
        return weights * cfg.moe_scale, chosen
    sigmoid = cfg.moe_router in ("sigmoid", "sigmoid_logits")
    scores = torch.sigmoid(logits) if sigmoid else torch.softmax(logits, dim=-1)
    chosen_by = logits if cfg.moe_router == "sigmoid_logits" else scores
    choice = chosen_by + w[p + "router.b_choice"].float() if p + "router.b_choice" in w else chosen_by
    groups, kept = cfg.moe_groups
    if groups > 1:
        grouped = choice.unflatten(-1, (groups, -1))  # (m, groups, experts per group)
        rated = grouped.topk(2, dim=-1).values.sum(-1) if cfg.moe_router == "sigmoid" else grouped.amax(-1)
        best = torch.zeros_like(rated, dtype=torch.bool).scatter_(1, rated.topk(kept, dim=-1).indices, True)
        choice = choice.masked_fill(~best.repeat_interleave(grouped.shape[-1], dim=1), float("-inf"))
    chosen = choice.topk(cfg.experts_per_token, dim=-1).indices  # (m, k)
    weights = scores.gather(1, chosen)  # (m, k): the scores, without the correction bias
    if cfg.moe_renormalize:
        weights = weights / weights.sum(-1, keepdim=True)
    return weights * cfg.moe_scale, chosen


def mixture_of_experts(x: torch.Tensor, w: Weights, p: str, cfg: ModelConfig) -> torch.Tensor:
    """Each token's MLP output: its chosen experts' outputs (feed-forward networks under experts.{e}), weighted as
    `route` says, plus the shared expert where the model has one."""
    flat = x.reshape(-1, x.shape[-1])  # (m, d_model)
    weights, chosen = route(flat, w, p, cfg)  # (m, k) each
    latent = p + "latent_in.W" in w  # Nemotron 3: the experts read and write a narrower latent (m, d_latent)
    read = linear(flat, w[p + "latent_in.W"], w.get(p + "latent_in.b")) if latent else flat
    out = torch.zeros_like(read)
    for expert in range(cfg.n_experts):
        rows, slot = (chosen == expert).nonzero(as_tuple=True)  # the tokens that chose it, and in which place
        if rows.numel():
            weight = weights[rows, slot, None].to(flat.dtype)  # (r, 1)
            if cfg.moe_scales_input:  # Llama 4: the weight scales what the expert reads
                out.index_add_(0, rows, feed_forward(read[rows] * weight, w, f"{p}experts.{expert}.", cfg))
                continue
            part = feed_forward(read[rows], w, f"{p}experts.{expert}.", cfg)  # (r, d_model or d_latent)
            out.index_add_(0, rows, part * weight)
    if latent:
        out = linear(out, w[p + "latent_out.W"], w.get(p + "latent_out.b"))  # (m, d_model)
    if p + "shared.W_out" in w:
        shared = feed_forward(flat, w, p + "shared.", cfg)  # (m, d_model)
        if p + "shared_gate.W" in w:
            shared = torch.sigmoid(linear(flat, w[p + "shared_gate.W"], None)) * shared  # (m, 1) gate per token
        out = out + shared
    return out.reshape(x.shape)
