"""Hugging Face folders (config.json + model.safetensors + tokenizer.json) → canonical weights.

Only safetensors are read (never pickle), and no code from the folder is run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch
from tokenizers import Tokenizer

from ..config import ModelConfig
from ..errors import ModelLoadError

Progress = Callable[[float, str], None]


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    if not path.is_file():
        raise ModelLoadError(f"Weight file not found: {path}")
    try:
        return load_file(str(path))
    except Exception as exc:  # SafetensorsError on a bad header, truncated data, ...
        raise ModelLoadError(f"{path.name} is not a readable safetensors file (truncated or corrupt?): {exc}") from exc


def read_json(path: Path) -> dict:
    if not path.is_file():
        raise ModelLoadError(f"File not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path.name} is not valid JSON: {exc}") from exc


def read_tokenizer(path: Path) -> Tokenizer:
    if not path.is_file():
        raise ModelLoadError(f"Tokenizer file not found: {path}")
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:
        raise ModelLoadError(f"{path.name} is not a readable tokenizer.json: {exc}") from exc
    # The engine applies its own token cap with a visible notice; a silent cut or padding would hide tokens.
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def config_from_bert(hf: dict, name: str) -> ModelConfig:
    if hf.get("model_type") not in ("bert", None):
        raise ModelLoadError(f"model_type {hf.get('model_type')!r} is not a BERT encoder.")
    if hf.get("position_embedding_type", "absolute") != "absolute":
        raise ModelLoadError("Only absolute position embeddings are supported for BERT.")
    if hf.get("hidden_act", "gelu") != "gelu":
        raise ModelLoadError(f"hidden_act {hf.get('hidden_act')!r} is not supported (only exact 'gelu').")
    d_model, n_heads = int(hf["hidden_size"]), int(hf["num_attention_heads"])
    return ModelConfig(
        name=name,
        arch="bert",
        n_layers=int(hf["num_hidden_layers"]),
        n_heads=n_heads,
        n_kv_heads=n_heads,
        d_model=d_model,
        d_head=d_model // n_heads,
        d_mlp=int(hf["intermediate_size"]),
        d_vocab=int(hf["vocab_size"]),
        n_ctx=int(hf["max_position_embeddings"]),
        causal=False,
        norm="layer",
        norm_eps=float(hf.get("layer_norm_eps", 1e-12)),
        norm_position="post",
        act="gelu",
        gated_mlp=False,
        uses_rope=False,
        n_token_types=int(hf.get("type_vocab_size", 2)),
        attn_bias=True,
        mlp_bias=True,
        tie_embeddings=True,
        display_name=str(hf.get("_name_or_path") or name),
    )


def weights_from_bert(sd: dict[str, torch.Tensor], config: ModelConfig) -> dict[str, torch.Tensor]:
    """HF BertModel state dict ([out, in] Linear weights) → canonical layout ([in, out])."""
    prefix = "bert." if any(k.startswith("bert.") for k in sd) else ""

    def get(key: str) -> torch.Tensor:
        try:
            return sd[prefix + key].float()
        except KeyError:
            raise ModelLoadError(f"BERT weights lack {prefix + key!r}.") from None

    def linear(dst: str, src: str) -> None:
        w[dst.replace("{X}", "W")] = get(src + ".weight").T.contiguous()  # [out, in] → [in, out]
        w[dst.replace("{X}", "b")] = get(src + ".bias")

    def norm(dst: str, src: str) -> None:
        w[dst + ".w"] = get(src + ".weight")
        w[dst + ".b"] = get(src + ".bias")

    w: dict[str, torch.Tensor] = {
        "embed.W_E": get("embeddings.word_embeddings.weight"),
        "embed.W_pos": get("embeddings.position_embeddings.weight"),
        "embed.W_type": get("embeddings.token_type_embeddings.weight"),
    }
    norm("embed.ln", "embeddings.LayerNorm")
    for layer in range(config.n_layers):
        src, dst = f"encoder.layer.{layer}.", f"blocks.{layer}."
        linear(dst + "attn.{X}_Q", src + "attention.self.query")
        linear(dst + "attn.{X}_K", src + "attention.self.key")
        linear(dst + "attn.{X}_V", src + "attention.self.value")
        linear(dst + "attn.{X}_O", src + "attention.output.dense")
        norm(dst + "ln_attn", src + "attention.output.LayerNorm")
        linear(dst + "mlp.{X}_in", src + "intermediate.dense")
        linear(dst + "mlp.{X}_out", src + "output.dense")
        norm(dst + "ln_mlp", src + "output.LayerNorm")
    return w


def convert_hf_folder(folder: Path, name: str, progress: Progress | None = None):
    """A Hugging Face BERT folder → (config, canonical float32 weights, tokenizer)."""
    if not folder.is_dir():
        raise ModelLoadError(f"Model folder not found: {folder}")
    hf = read_json(folder / "config.json")
    config = config_from_bert(hf, name)
    tokenizer = read_tokenizer(folder / "tokenizer.json")
    if progress is not None:
        progress(0.2, "Reading model.safetensors")
    weights = weights_from_bert(read_safetensors(folder / "model.safetensors"), config)
    if progress is not None:
        progress(1.0, "Converted BERT weights")
    return config, weights, tokenizer
