"""Reading a GGUF file: its metadata and its tensors dequantised to float32 (the tokenizer: tokenizer.py). The
header is read by header.py; the tensors are views of the file shaped as gguf's reader shapes them, and the
`gguf` package dequantises them.

Architecture-neutral: the converters (one module per architecture family) read through `Meta` and
`Tensors` and map the llama.cpp tensor names to the canonical layout (attention_core/loading/__init__.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import ModelLoadError
from .header import GGUFHeader, TensorInfo, check_complete, tensor_bytes, tensor_type_name

Progress = Callable[[float, str], None]

_MISSING = object()
# Tensor types read as plain arrays of their elements; every other type is blocks of bytes for gguf.dequantize.
_PLAIN_DTYPES = {0: np.float32, 1: np.float16, 24: np.int8, 25: np.int16, 26: np.int32, 27: np.int64, 28: np.float64}


@dataclass(frozen=True)
class GGUFTensor:
    name: str
    tensor_type: Any  # gguf.GGMLQuantizationType
    data: np.ndarray  # a read-only view of the file: elements, or (..., bytes per row) of quantised blocks


@dataclass(frozen=True)
class GGUFFile:
    """What the converters read: the metadata by key (Python values) and every tensor as a view of the file."""

    fields: dict[str, Any]
    tensors: list[GGUFTensor]
    file_name: str = "the GGUF file"  # for messages about a tensor's values, found only as they are dequantised


def _tensor(data: np.ndarray, header: GGUFHeader, info: TensorInfo) -> GGUFTensor:
    """The tensor's bytes in the file, shaped as gguf's reader shapes them (dims reversed: rows first)."""
    from gguf import GGMLQuantizationType
    from gguf.quants import quant_shape_to_byte_shape

    qtype = GGMLQuantizationType(info.ggml_type)
    dims = tuple(reversed(info.shape))
    start = header.data_start + info.offset
    plain = _PLAIN_DTYPES.get(info.ggml_type)
    if plain is None:
        view = data[start : start + tensor_bytes(info)].reshape(quant_shape_to_byte_shape(dims, qtype))
    else:
        dtype = np.dtype(plain).newbyteorder(">" if header.big_endian else "<")
        view = data[start : start + tensor_bytes(info)].view(dtype).reshape(dims)
    return GGUFTensor(info.name, qtype, view)


def read_gguf(path: Path) -> GGUFFile:
    """Open a GGUF file: its metadata read with the header (header.py: ~0.2 s for SmolLM2's, where gguf's own
    reader took 5.3 s), its tensors mapped; a damaged or truncated file is one clear error."""
    if not path.is_file():
        raise ModelLoadError(f"Weight file not found: {path}")
    header = check_complete(path)
    names = [t.name for t in header.tensors]
    if len(set(names)) != len(names):  # one would silently replace the other (gguf's reader refused it too)
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ModelLoadError(f"{path.name} lists the tensor {twice[0]!r} twice; the file is corrupt.")
    if header.big_endian:
        _check_plain(path, header)
    data = np.memmap(path, mode="r")
    try:
        return GGUFFile(header.fields, [_tensor(data, header, t) for t in header.tensors], path.name)
    except (ValueError, KeyError) as exc:  # an unknown tensor type, a shape its bytes do not fill
        raise ModelLoadError(f"{path.name} is not a readable GGUF file (truncated or corrupt?): {exc}") from exc


def _check_plain(path: Path, header: GGUFHeader) -> None:
    """A big-endian file's plain tensors are read as big-endian values, but its blocks cannot be: gguf's writer
    swaps the bytes of plain arrays only, so a block's f16 scales (and BF16's halves) may be in either order."""
    for t in header.tensors:
        if t.ggml_type not in _PLAIN_DTYPES:
            kind = tensor_type_name(t)
            raise ModelLoadError(
                f"{path.name} is big-endian and its tensor {t.name} is {kind}, whose byte order in such a file is "
                "ambiguous; convert the model to a little-endian GGUF (llama.cpp's default)."
            )


class Meta:
    """The file's metadata: `general.*`/`tokenizer.*` keys by full name, the architecture's by suffix."""

    def __init__(self, reader: GGUFFile):
        self.reader = reader
        self.arch = str(self.key("general.architecture"))

    def key(self, key: str, default: Any = _MISSING) -> Any:
        if key not in self.reader.fields:
            if default is not _MISSING:
                return default
            raise ModelLoadError(f"GGUF metadata key {key!r} is missing; the file is incomplete.")
        return self.reader.fields[key]

    def get(self, suffix: str, default: Any = _MISSING) -> Any:
        """`{arch}.{suffix}`, e.g. get("block_count") reads "qwen2.block_count"."""
        return self.key(f"{self.arch}.{suffix}", default)

    def has(self, suffix: str) -> bool:
        return f"{self.arch}.{suffix}" in self.reader.fields

    def maybe_int(self, key: str) -> int | None:
        value = self.key(key, None)
        return None if value is None else int(value)

    def count(self, suffix: str, default: Any = _MISSING) -> int:
        """`{arch}.{suffix}` as a positive whole number (a length, a head count): 0, -1 or text would fail far
        from here (a division by zero, a reshape, every trace refused for its length)."""
        return positive(f"{self.arch}.{suffix}", self.get(suffix, default))

    def number(self, suffix: str, default: Any = _MISSING) -> float:
        """`{arch}.{suffix}` as a positive finite float (an epsilon, a RoPE base or scaling factor, a scale or
        soft-cap): NaN, 0 or a negative would load and make RoPE, the norms or the scores wrong or NaN."""
        value = self.get(suffix, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
            raise ModelLoadError(f"GGUF metadata {self.arch}.{suffix} is {value!r}; it must be a positive finite "
                                 "number.")
        return float(value)

    def unless_zero(self, suffix: str, read: Callable[[str], Any]) -> Any:
        """None where `{arch}.{suffix}` is absent or 0 (llama.cpp's 'none': no soft-cap, window or RoPE scaling),
        else read(suffix), e.g. meta.number."""
        value = self.get(suffix, None)
        if value is None or (type(value) in (int, float) and value == 0):
            return None
        return read(suffix)

    def vocab_size(self) -> int:
        if self.has("vocab_size"):
            return self.count("vocab_size")
        return len(self.key("tokenizer.ggml.tokens"))  # a missing key is named, not a KeyError

    def tensor_f32(self, name: str) -> np.ndarray | None:
        """A small float32 tensor read straight from the file (rope_freqs, needed before the weights), or None."""
        for t in self.reader.tensors:
            if t.name == name:
                if t.tensor_type.name != "F32":
                    raise ModelLoadError(f"{name} is stored as {t.tensor_type.name}; llama.cpp writes it as F32.")
                return np.array(t.data, dtype=np.float32).reshape(-1)
        return None


def positive(key: str, value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ModelLoadError(f"GGUF metadata {key} is {value!r}; it must be a positive whole number.")
    return value


def attention_shape(meta: Meta, hybrid: bool = False) -> tuple[int, int, int, int]:
    """(d_model, n_heads, n_kv_heads, d_head) from the metadata, checked to be positive and to divide. `hybrid`: a
    per-layer head_count_kv may hold 0 for the layers without attention (llama.cpp's mark of a recurrent layer)."""
    d_model, n_heads = meta.count("embedding_length"), meta.count("attention.head_count")
    if meta.has("attention.key_length"):
        d_head = meta.count("attention.key_length")
    elif d_model % n_heads:
        raise ModelLoadError(f"GGUF metadata {meta.arch}.embedding_length {d_model} does not split into {n_heads} "
                             "heads, and no attention.key_length gives their size.")
    else:
        d_head = d_model // n_heads
    n_kv = meta.get("attention.head_count_kv", n_heads)
    if isinstance(n_kv, list) and hybrid:
        n_kv = [count for count in n_kv if count != 0] or [0]
    if isinstance(n_kv, list):  # a per-layer list in some files: we need one count for every layer
        if len(set(n_kv)) != 1:
            raise ModelLoadError(f"Per-layer key/value head counts {sorted(set(n_kv), key=str)} are not supported.")
        n_kv = n_kv[0]
    n_kv = positive(f"{meta.arch}.attention.head_count_kv", n_kv)
    if n_heads % n_kv:  # each key/value head serves a whole group of query heads
        raise ModelLoadError(f"GGUF metadata {meta.arch}.attention.head_count {n_heads} is not a multiple of "
                             f"head_count_kv {n_kv}.")
    return d_model, n_heads, n_kv, d_head


def layers_run(meta: Meta) -> int:
    """The layers the model runs: block_count less the last nextn_predict_layers blocks (multi-token prediction
    layers, which some converters append: in the file, not run)."""
    n_layers = meta.count("block_count") - (meta.unless_zero("nextn_predict_layers", meta.count) or 0)
    if n_layers < 1:
        raise ModelLoadError(f"block_count {meta.count('block_count')} leaves no layer besides the prediction ones.")
    return n_layers


def sliding_layers(meta: Meta, n_layers: int, period: int, global_first: bool = False) -> tuple[bool, ...]:
    """Which layers slide: attention.sliding_window_pattern as one flag per layer (True = sliding window) or a period
    (every period-th layer global, the others sliding: the last of each period, or the first where `global_first`,
    as llama.cpp's set_swa_pattern has it), else the architecture's own `period`."""
    pattern = meta.get("attention.sliding_window_pattern", period)
    if isinstance(pattern, list):
        if len(pattern) != n_layers:
            raise ModelLoadError(f"sliding_window_pattern lists {len(pattern)} layers for {n_layers}.")
        return tuple(bool(p) for p in pattern)
    n = int(pattern)
    if global_first:
        return tuple(n > 0 and i % n != 0 for i in range(n_layers))
    return tuple(n > 0 and i % n < n - 1 for i in range(n_layers))


def dequantize_all(reader: GGUFFile, progress: Progress | None = None) -> dict[str, np.ndarray]:
    """Every tensor as float32 numpy, shaped (out, in) for matrices (GGUF lists its dims reversed)."""
    import gguf

    out: dict[str, np.ndarray] = {}
    tensors = list(reader.tensors)
    for i, t in enumerate(tensors):
        data = t.data
        if not data.dtype.isnative:  # a big-endian file's plain tensor: gguf.dequantize would reinterpret its bytes
            data = data.astype(data.dtype.newbyteorder("="))
        try:
            data = gguf.dequantize(data, t.tensor_type)
        except NotImplementedError:
            known = ", ".join(sorted(["F32", "F16"] + [q.name for q in gguf.quants._type_traits]))
            raise ModelLoadError(
                f"Tensor {t.name} is stored as {t.tensor_type.name}, which the gguf package cannot dequantise; "
                f"it reads {known}."
            ) from None
        except Exception as exc:
            raise ModelLoadError(f"Tensor {t.name} could not be dequantised (corrupt file?): {exc}") from exc
        out[t.name] = np.array(data, dtype=np.float32)  # a writable copy: F32 comes straight from the read-only map
        _check_finite(reader.file_name, t.name, out[t.name])
        if progress is not None:
            progress((i + 1) / len(tensors), f"Dequantising {t.name}")
    return out


def _check_finite(file_name: str, name: str, data: np.ndarray) -> None:
    """NaN or inf in a weight makes every trace NaN far from its cause: refuse the file by the tensor's name. The
    float64 sum is NaN or inf exactly when a value is (float32 values cannot overflow it) and needs no mask."""
    with np.errstate(invalid="ignore"):  # inf + -inf is NaN, which is what this looks for
        if np.isfinite(data.sum(dtype=np.float64)):
            return
    bad = data.size - int(np.count_nonzero(np.isfinite(data)))
    raise ModelLoadError(
        f"{file_name}: tensor {name} holds {bad:,} NaN or infinite values of {data.size:,}; the file is corrupt "
        "or was converted from broken weights."
    )


class Tensors:
    """The dequantised tensors by GGUF name, handed out in the canonical [in, out] orientation."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        self.arrays = arrays
        self.used: set[str] = set()

    def has(self, name: str) -> bool:
        return name in self.arrays

    def rows(self, name: str, n_heads: int, d_head: int) -> np.ndarray:
        """A head-major projection (or its bias) as stored, checked to hold n_heads × d_head rows: the metadata's
        head counts are otherwise trusted by every later reshape."""
        data = self.raw(name)
        if data.shape[0] != n_heads * d_head:
            raise ModelLoadError(f"{name} has {data.shape[0]} rows; {n_heads} heads of {d_head} dimensions need "
                                 f"{n_heads * d_head}.")
        return data

    def raw(self, name: str) -> np.ndarray:
        """As stored: (out, in) for a matrix."""
        if name not in self.arrays:
            raise ModelLoadError(f"The GGUF file lacks the tensor {name!r}.")
        self.used.add(name)
        return self.arrays[name]

    def vector(self, name: str) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self.raw(name).reshape(-1)))

    def linear(self, name: str) -> torch.Tensor:
        """A (out, in) matrix turned [in, out] so that activations do x @ W."""
        return matrix(self.raw(name))

    def skip(self, *names: str) -> None:
        """Mark the named tensors the file holds read and not run (a classifier's head, sentence-transformers'
        projections, RoPE factors the config already took in): check_all_used then lets them pass."""
        self.used.update(name for name in names if name in self.arrays)

    def skip_blocks_from(self, first: int) -> None:
        """Mark every tensor of blocks `first` onwards read: blocks a file holds that the model does not run
        (GLM-4.5's multi-token prediction layer, which llama.cpp also loads and leaves out of its graph)."""
        for name in self.arrays:
            block = re.match(r"blk\.(\d+)\.", name)
            if block and int(block.group(1)) >= first:
                self.used.add(name)

    def check_all_used(self) -> None:
        """A tensor we did not map is a feature we would silently drop: refuse instead."""
        left = sorted(set(self.arrays) - self.used)
        if left:
            raise ModelLoadError(f"The GGUF file has tensors this architecture's converter does not know: {left[:4]}.")


def matrix(data: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(data.T))  # (out, in) → [in, out]


def unpermute_rope_rows(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Undo llama.cpp's llama converter, which interleaves each head's two RoPE halves.

    llama.cpp stores rows (head, i, half) for its GPT-J style rotation; Hugging Face's `rotate_half`
    wants (head, half, i). `w` is [out, ...] with out = n_heads * d_head (a matrix or a bias).
    """
    out = w.shape[0]
    d_head = out // n_heads
    rest = w.shape[1:]
    return w.reshape(n_heads, d_head // 2, 2, *rest).swapaxes(1, 2).reshape(out, *rest)  # (n_heads*d_head, ...)


def split_rows(data: np.ndarray, sizes: list[int], name: str) -> list[np.ndarray]:
    """A fused tensor (attn_qkv, phi3's gate+up) cut along its output rows."""
    if data.shape[0] != sum(sizes):
        raise ModelLoadError(f"{name} has {data.shape[0]} rows; the metadata implies {sum(sizes)} ({sizes}).")
    return np.split(data, np.cumsum(sizes)[:-1], axis=0)
