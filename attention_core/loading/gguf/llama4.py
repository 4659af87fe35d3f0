"""GGUF llama4 (Llama 4 Scout, Maverick) → canonical weights, as llama.cpp's Llama4Model converter writes the file
and its llama-iswa graph runs it (Ollama's converter writes the same tensor names, plus two keys: use_qk_norm and
attention.chunk_size).

- Rows of W_Q and W_K are kept as Hugging Face stores them (the converter does not permute them: llama.cpp rotates
  Llama 4 in neighbouring pairs, as Hugging Face does), so they are reordered to the engine's halves.
- Every 4th layer rotates nothing and the others are chunked; llama.cpp fixes both periods at 4 with no key.
- The layers that rotate normalise their rotated q and k by their root mean square, with no weight, unless the file
  says use_qk_norm false; without that key llama.cpp decides by the experts' count (none for 128: Maverick).
- The MLPs with a router (ffn_gate_inp; every interleave_moe_layer_step-th block) are mixtures: sigmoid weights of
  the top expert_used_count logits, each multiplying its expert's input, plus a shared expert (ffn_*_shexp).
- llama3 RoPE scaling comes as rope_freqs, one divisor per frequency.
- Texts are capped below llama.cpp's fixed 8,192-token chunks and query-temperature floor (hf_adapters_llama4).
A file with attention.sliding_window 0 (MobileLLM's layout, which llama.cpp runs without chunks or NoPE layers) is
refused.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from ...config import ModelConfig
from ...errors import ModelLoadError
from ..conventions import pairs_to_halves
from ..hf_adapters_llama4 import text_cap
from .deepseek import routed_mlp
from .llama import expert_counts, rope_config, separate_qkv_weights, skip_rope_freqs, with_rope_freqs
from .reader import Meta, Tensors

PERIOD = 4  # llama.cpp's n_no_rope_layer_step and its chunked-layer pattern: every 4th layer full and without RoPE
CHUNK = FLOOR = 8192  # llama.cpp's n_swa and n_attn_temp_floor_scale for llama4, written in no key


def llama4_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    if meta.get("attention.sliding_window", None) == 0:
        raise ModelLoadError("A llama4 file without chunked attention (attention.sliding_window 0, MobileLLM's "
                             "layout) is not supported yet.")  # fmt: skip
    n_layers, (n_experts, used) = meta.count("block_count"), expert_counts(meta)
    rotates = tuple((i + 1) % PERIOD != 0 for i in range(n_layers))
    qk_norm = meta.get("use_qk_norm", None)
    qk_norm = n_experts != 128 if qk_norm is None else bool(qk_norm)  # llama.cpp: all but the 128-expert model
    norms = dict(qk_norm="head", qk_norm_after_rope=True, qk_norm_layers=rotates, qk_norm_weights=False)
    experts = dict(n_experts=n_experts, experts_per_token=used, moe_router="sigmoid", moe_renormalize=False,
                   moe_scales_input=True)  # fmt: skip
    cfg = rope_config(meta, name, tensor_names, experts=experts, arch="llama4", rope_pairs_reordered=True,
                      rope_layers=rotates, **(norms if qk_norm else {}))  # fmt: skip
    cfg = with_rope_freqs(cfg, meta)
    cap, notes = text_cap(cfg.n_ctx, meta.count("attention.chunk_size", CHUNK), FLOOR)
    return replace(cfg, n_ctx=cap, conversion_notes=cfg.conversion_notes + notes)


def llama4_weights(t: Tensors, cfg: ModelConfig) -> dict[str, torch.Tensor]:
    skip_rope_freqs(t)  # read as the config's RoPE divisors
    return pairs_to_halves(separate_qkv_weights(t, cfg, permuted=False, mlp=routed_mlp), cfg)
