"""GGUF (llama.cpp) llama-architecture files → canonical weights, config and tokenizer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

from ..config import ModelConfig
from ..errors import ModelLoadError

if TYPE_CHECKING:
    from gguf import GGUFReader

Progress = Callable[[float, str], None]

# GGUF token types (gguf.TokenType): CONTROL tokens are the special ones (<|im_start|>, ...).
_CONTROL, _USER_DEFINED = 3, 4


def read_gguf(path: Path) -> GGUFReader:
    """Open a GGUF file, turning the reader's low-level errors into a clear one."""
    import gguf

    if not path.is_file():
        raise ModelLoadError(f"Weight file not found: {path}")
    try:
        return gguf.GGUFReader(str(path))
    except Exception as exc:  # the reader raises ValueError/IndexError/struct errors on bad bytes
        raise ModelLoadError(f"{path.name} is not a readable GGUF file (truncated or corrupt?): {exc}") from exc


def _field(reader, key: str, default=None):
    field = reader.fields.get(key)
    if field is None:
        if default is not None:
            return default
        raise ModelLoadError(f"GGUF metadata key {key!r} is missing; is this a llama-architecture file?")
    return field.contents()


def unpermute_rope_rows(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Undo llama.cpp's converter, which interleaves each head's two RoPE halves.

    llama.cpp stores rows (head, i, half) for its GPT-J style rotation; Hugging Face's `rotate_half`
    wants (head, half, i). `w` is [out, in] with out = n_heads * d_head.
    """
    out, d_in = w.shape
    d_head = out // n_heads
    return w.reshape(n_heads, d_head // 2, 2, d_in).swapaxes(1, 2).reshape(out, d_in)  # (n_heads*d_head, d_in)


def config_from_gguf(reader: GGUFReader, name: str) -> ModelConfig:
    arch = _field(reader, "general.architecture")
    if arch != "llama":
        raise ModelLoadError(f"GGUF architecture {arch!r} is not supported; only 'llama' is.")
    p = "llama."
    d_model = int(_field(reader, p + "embedding_length"))
    n_heads = int(_field(reader, p + "attention.head_count"))
    tensor_names = {t.name for t in reader.tensors}
    vocab = len(reader.fields["tokenizer.ggml.tokens"].data)
    return ModelConfig(
        name=name,
        arch="llama",
        n_layers=int(_field(reader, p + "block_count")),
        n_heads=n_heads,
        n_kv_heads=int(_field(reader, p + "attention.head_count_kv", n_heads)),
        d_model=d_model,
        d_head=d_model // n_heads,
        d_mlp=int(_field(reader, p + "feed_forward_length")),
        d_vocab=int(_field(reader, p + "vocab_size", vocab)),
        n_ctx=int(_field(reader, p + "context_length")),
        causal=True,
        norm="rms",
        norm_eps=float(_field(reader, p + "attention.layer_norm_rms_epsilon")),
        norm_position="pre",
        act="silu",
        gated_mlp=True,
        uses_rope=True,
        rope_theta=float(_field(reader, p + "rope.freq_base", 10000.0)),
        tie_embeddings="output.weight" not in tensor_names,
        bos_token_id=_maybe_int(reader, "tokenizer.ggml.bos_token_id"),
        eos_token_id=_maybe_int(reader, "tokenizer.ggml.eos_token_id"),
        display_name=str(_field(reader, "general.name", name)),
    )


def _maybe_int(reader, key: str) -> int | None:
    field = reader.fields.get(key)
    return None if field is None else int(field.contents())


# GGUF tensor name (after "blk.{l}.") → (canonical suffix, RoPE permutation to undo: "q", "k" or None)
_BLOCK_TENSORS = {
    "attn_norm.weight": ("ln_attn.w", None),
    "attn_q.weight": ("attn.W_Q", "q"),
    "attn_k.weight": ("attn.W_K", "k"),
    "attn_v.weight": ("attn.W_V", None),
    "attn_output.weight": ("attn.W_O", None),
    "ffn_norm.weight": ("ln_mlp.w", None),
    "ffn_gate.weight": ("mlp.W_gate", None),
    "ffn_up.weight": ("mlp.W_in", None),
    "ffn_down.weight": ("mlp.W_out", None),
}


def weights_from_gguf(
    reader: GGUFReader, config: ModelConfig, progress: Progress | None = None
) -> dict[str, torch.Tensor]:
    """Dequantize every tensor to float32 and map it to the canonical layout."""
    import gguf

    weights: dict[str, torch.Tensor] = {}
    tensors = list(reader.tensors)
    for i, t in enumerate(tensors):
        try:
            data = gguf.dequantize(t.data, t.tensor_type)  # (out, in) for matrices: GGUF lists dims reversed
        except Exception as exc:
            raise ModelLoadError(f"Tensor {t.name} could not be dequantized (corrupt file?): {exc}") from exc
        data = np.array(data, dtype=np.float32)  # a writable copy: F32 tensors come straight from the read-only memmap
        if t.name == "token_embd.weight":
            weights["embed.W_E"] = torch.from_numpy(data)  # [d_vocab, d_model]
        elif t.name == "output_norm.weight":
            weights["ln_final.w"] = torch.from_numpy(data)
        elif t.name == "output.weight":
            weights["unembed.W_U"] = torch.from_numpy(data.T.copy())  # [d_model, d_vocab]
        elif t.name.startswith("blk."):
            _, layer, rest = t.name.split(".", 2)
            if rest not in _BLOCK_TENSORS:
                raise ModelLoadError(f"Unexpected tensor {t.name} in GGUF file.")
            suffix, rope = _BLOCK_TENSORS[rest]
            if rope == "q":
                data = unpermute_rope_rows(data, config.n_heads)
            elif rope == "k":
                data = unpermute_rope_rows(data, config.n_kv_heads)
            if data.ndim == 2:
                data = data.T  # [out, in] → [in, out] so that activations do x @ W
            weights[f"blocks.{int(layer)}.{suffix}"] = torch.from_numpy(np.ascontiguousarray(data))
        else:
            raise ModelLoadError(f"Unexpected tensor {t.name} in GGUF file.")
        if progress is not None:
            progress((i + 1) / len(tensors), f"Dequantizing {t.name}")
    _check_complete(weights, config)
    return weights


def _check_complete(weights: dict[str, torch.Tensor], config: ModelConfig) -> None:
    expected = {"embed.W_E", "ln_final.w"} | {
        f"blocks.{layer}.{suffix}" for layer in range(config.n_layers) for suffix, _ in _BLOCK_TENSORS.values()
    }
    missing = sorted(expected - weights.keys())
    if missing:
        raise ModelLoadError(f"GGUF file lacks {len(missing)} tensors, e.g. {missing[:3]}.")
    if weights["embed.W_E"].shape != (config.d_vocab, config.d_model):
        raise ModelLoadError("Token embedding shape does not match the GGUF metadata.")


def tokenizer_from_gguf(reader: GGUFReader) -> Tokenizer:
    """Byte-level BPE from the GGUF vocabulary and merges (what llama.cpp calls the 'gpt2' tokenizer model)."""
    kind = _field(reader, "tokenizer.ggml.model")
    if kind != "gpt2":
        raise ModelLoadError(f"GGUF tokenizer model {kind!r} is not supported; only byte-level BPE ('gpt2') is.")
    tokens = [str(t) for t in _field(reader, "tokenizer.ggml.tokens")]
    merges = [tuple(str(m).split(" ", 1)) for m in _field(reader, "tokenizer.ggml.merges")]
    types = list(_field(reader, "tokenizer.ggml.token_type", [1] * len(tokens)))
    vocab = {tok: i for i, tok in enumerate(tokens)}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
    # Same pre-tokenization as Hugging Face's GGUF converter (our reference): GPT-2's regex, no prefix space.
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    special = [
        AddedToken(tok, special=True, normalized=False)
        for tok, kind in zip(tokens, types, strict=True)
        if kind in (_CONTROL, _USER_DEFINED)
    ]
    tokenizer.add_special_tokens(special)
    return tokenizer


def convert_gguf(
    path: Path, name: str, progress: Progress | None = None
) -> tuple[ModelConfig, dict[str, torch.Tensor], Tokenizer]:
    """GGUF file → (config, canonical float32 weights, tokenizer)."""
    reader = read_gguf(path)
    config = config_from_gguf(reader, name)
    tokenizer = tokenizer_from_gguf(reader)
    weights = weights_from_gguf(reader, config, progress)
    return config, weights, tokenizer
