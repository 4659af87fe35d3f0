"""GGUF glm4 (GLM-4-0414, Ollama's glm4) → canonical weights and config, read with llama.cpp's rules for it.

llama.cpp's glm4 graph: an RMSNorm before and after each sublayer (attn_norm, post_attention_norm; ffn_norm,
post_ffw_norm: the sandwich of Gemma 2, with plain weights), biases on q, k and v, the MLP's gate and up fused in
ffn_up (rows gate | up, as its SwiGLU splits them), and RoPE on the first rope.dimension_count dimensions of each
head in neighbouring pairs (llama.cpp's "normal" rotation; the converter keeps Hugging Face's rows): reordered to
the engine's halves (conventions.pairs_to_halves). Files for the multimodal GLM-4V (M-RoPE sections) and files
with extra next-token prediction layers are refused.
"""

from __future__ import annotations

from ...config import ModelConfig
from ...errors import ModelLoadError
from ..conventions import pairs_to_halves
from .llama import Weights, fused_gated_mlp, rope_config, separate_qkv_weights
from .reader import Meta, Tensors


def glm4_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    if any(meta.get("rope.dimension_sections", [0])):
        raise ModelLoadError("GLM-4V files (M-RoPE sections) are not supported; GLM-4 text files are.")
    if meta.unless_zero("nextn_predict_layers", meta.count):
        raise ModelLoadError("GLM files with next-token prediction layers are not supported yet.")
    return rope_config(meta, name, tensor_names, arch="glm4", norm_position="sandwich", rope_pairs_reordered=True)


def glm4_weights(t: Tensors, cfg: ModelConfig) -> Weights:
    def sandwich_mlp(t: Tensors, w: Weights, src: str, dst: str) -> None:
        norms = {"ln_attn_out": "post_attention_norm", "ln_mlp": "ffn_norm", "ln_mlp_out": "post_ffw_norm"}
        for ours, theirs in norms.items():
            w[f"{dst}{ours}.w"] = t.vector(f"{src}{theirs}.weight")
        fused_gated_mlp(t, w, src, dst, cfg.d_mlp)

    return pairs_to_halves(separate_qkv_weights(t, cfg, permuted=False, mlp=sandwich_mlp), cfg)
