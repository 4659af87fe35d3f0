"""falcon-h1 (TII's Falcon-H1 as llama.cpp's converter writes it): in every layer attention and a Mamba-2 scan side by
side on the same attn_norm output, both outputs added (ModelConfig.ssm_beside_attention), then ffn_norm and a gated
SiLU MLP.

- Attention: attn_q, attn_k, attn_v, attn_output; q's and k's rows as the checkpoint has them (llama.cpp rotates
  falcon-h1 NeoX-style, so its converter does not permute them); biases where the file has them.
- The scan: mamba_layer's tensors (ssm_in, ssm_conv1d, ssm_dt.bias, ssm_a, ssm_d, ssm_out; the ssm.* keys), its
  group norm ssm_norm only where the model has one. llama.cpp's scan normalises after the gate whatever the original
  model did (transformers' mamba_norm_before_gate, which the file does not record): this engine runs the file as
  llama.cpp does and says so in a conversion note.
- The converter folds every µP multiplier into the tensors, the embedding's and lm_head's too, so nothing is scaled
  here; its pre-feedforward norm is stored without a ".weight" suffix (blk.N.ffn_norm), as llama.cpp reads it.
"""

from __future__ import annotations

import dataclasses

from ...config import ModelConfig
from .hybrid import mamba_layer, ssm_fields
from .llama import Weights, ends, gated_mlp, rope_config
from .reader import Meta, Tensors, matrix

NORM_NOTE = ("This file's scan has a gated RMSNorm, which llama.cpp applies after the gate, and so does this app; the "
             "file does not say whether the original model applied it before the gate (transformers' "
             "mamba_norm_before_gate), where the numbers would differ.")  # fmt: skip


def falcon_h1_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    normed = "blk.0.ssm_norm.weight" in tensor_names
    cfg = rope_config(meta, name, tensor_names, arch="falcon_h1", ssm_beside_attention=True,
                      ssm_norm="after_gate" if normed else "none", mlp_bias="blk.0.ffn_up.bias" in tensor_names,
                      **ssm_fields(meta))  # fmt: skip
    return dataclasses.replace(cfg, conversion_notes=(*cfg.conversion_notes, NORM_NOTE)) if normed else cfg


def falcon_h1_weights(t: Tensors, cfg: ModelConfig) -> Weights:
    w = ends(t, cfg)
    heads = {"q": cfg.n_heads, "k": cfg.n_kv_heads, "v": cfg.n_kv_heads}
    for layer in range(cfg.n_layers):
        src, dst = f"blk.{layer}.", f"blocks.{layer}."
        w[dst + "ln_attn.w"] = t.vector(src + "attn_norm.weight")
        for part in "qkv":
            w[f"{dst}attn.W_{part.upper()}"] = matrix(t.rows(f"{src}attn_{part}.weight", heads[part], cfg.d_head))
        w[dst + "attn.W_O"] = t.linear(src + "attn_output.weight")
        for ours, theirs in (("attn.b_Q", "attn_q"), ("attn.b_K", "attn_k"), ("attn.b_V", "attn_v"),
                             ("attn.b_O", "attn_output"), ("mlp.b_gate", "ffn_gate"), ("mlp.b_in", "ffn_up"),
                             ("mlp.b_out", "ffn_down")):  # fmt: skip
            if t.has(f"{src}{theirs}.bias"):
                w[dst + ours] = t.vector(f"{src}{theirs}.bias")
        mamba_layer(t, w, src, dst + "ssm.", cfg, norm=cfg.ssm_norm != "none")
        norm = src + "ffn_norm"  # the converter's name for it, without ".weight" (llama.cpp reads it so)
        w[dst + "ln_mlp.w"] = t.vector(norm if t.has(norm) else norm + ".weight")
        gated_mlp(t, w, src, dst)
    return w
