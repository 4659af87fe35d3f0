"""A GGUF file's header walked with `struct`: its metadata, the tensors it lists, and whether the file is long
enough for their data.

gguf.GGUFReader builds every metadata field as numpy views before it lists a tensor: SmolLM2's 49,152-token
vocabulary and its merges take it 5.3 s here, and a first load ran it twice (the size check in
attention_core/memory.py, then the conversion in reader.py). Read with `struct`, the same values take 0.2 s.

Layout (GGUF v2 and v3, llama.cpp's docs/gguf.md): magic "GGUF", version u32, tensor count u64, key/value
count u64; each key/value: a string key, a u32 value type, the value (an array: a u32 item type, a u64 count,
the items; a string: a u64 length and its bytes); each tensor: a string name, u32 n_dims, n_dims u64 dims, u32
ggml type, u64 offset into the data, which starts at the next multiple of general.alignment (32 unless set).
Little-endian; a big-endian file is recognised by its version, as gguf's reader does, and its header read in
that order. Its tensors: plain ones (F32, F16, F64, I8-I64) are read as big-endian values and converted
(reader.py); one of quantised blocks (BF16, Q8_0, ...) is refused, since gguf's writer swaps plain arrays only and
a block's f16 scales may then be in either order.
"""

from __future__ import annotations

import functools
import math
import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import ModelLoadError

MAGIC = b"GGUF"
VERSIONS = (2, 3)  # what gguf.GGUFReader reads; v1 counted in u32
STRING, ARRAY = 8, 9  # gguf.GGUFValueType
SCALAR_FORMATS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
SCALAR_BYTES = {kind: struct.calcsize(fmt) for kind, fmt in SCALAR_FORMATS.items()}
ALIGNMENT_KEY, DEFAULT_ALIGNMENT = "general.alignment", 32
MAX_DIMS = 8  # llama.cpp's GGML_MAX_DIMS is 4
MAX_NESTING = 8  # arrays of arrays: llama.cpp reads none, gguf-py any; deeper is a hostile file (recursion)


class _TooDeep(ValueError):
    pass


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # as the file lists it (GGUF writes a matrix's dims in reverse)
    ggml_type: int
    offset: int  # from the start of the data section


@dataclass(frozen=True)
class GGUFHeader:
    tensors: tuple[TensorInfo, ...]
    data_start: int  # byte where the data section begins
    file_size: int
    fields: dict[str, Any]  # the metadata by key
    big_endian: bool

    @property
    def n_elements(self) -> int:
        return sum(math.prod(t.shape) for t in self.tensors)


class _Cursor:
    """Reads the header's little- (or big-) endian fields in order; past the end of the file is a struct.error."""

    def __init__(self, buf, order: str):
        self.buf, self.order, self.at = buf, order, 0

    def take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(self.order + fmt, self.buf, self.at)
        self.at += struct.calcsize(fmt)
        return value

    def string(self) -> bytes:  # a copy: the file's mapping closes after the walk
        n = self.take("Q")
        if self.at + n > len(self.buf):
            raise struct.error("a string runs past the end of the file")
        self.at += n
        return self.buf[self.at - n : self.at]

    def value(self, kind: int, depth: int = 0) -> Any:
        """A metadata value as Python: a number, a str, or a list (gguf's ReaderField.contents() gives the same)."""
        if kind in SCALAR_FORMATS:
            return self.take(SCALAR_FORMATS[kind])
        if kind == STRING:
            return self.string().decode("utf-8")
        if kind != ARRAY:
            raise ValueError(f"unknown metadata value type {kind}")
        item, count = self.take("I"), self.take("Q")
        _check_count(self, count, SCALAR_BYTES.get(item, 8 if item == STRING else 12), "array items")
        if item in SCALAR_FORMATS:  # numbers at once (a vocabulary's scores and token types)
            fmt = f"{self.order}{count}{SCALAR_FORMATS[item]}"
            values = list(struct.unpack_from(fmt, self.buf, self.at))
            self.at += struct.calcsize(fmt)
            return values
        if item == ARRAY and depth >= MAX_NESTING - 1:
            raise _TooDeep
        return [self.value(item, depth + 1) for _ in range(count)]


def _tensor(cur: _Cursor) -> TensorInfo:
    name = cur.string().decode("utf-8", errors="replace")
    n_dims = cur.take("I")
    if n_dims > MAX_DIMS:
        raise ValueError(f"tensor {name} has {n_dims} dimensions")
    shape = tuple(cur.take("Q") for _ in range(n_dims))
    return TensorInfo(name, shape, cur.take("I"), cur.take("Q"))


def _check_count(cur: _Cursor, count: int, least: int, what: str) -> None:
    """A damaged count would loop for a very long time before the reads ran off the end: refuse it at once."""
    if cur.at + count * least > len(cur.buf):
        raise struct.error(f"{count:,} {what} would run past the end of the file")


def _walk(buf, file_size: int) -> GGUFHeader:
    if buf[:4] != MAGIC:
        raise ValueError("it does not start with the GGUF magic bytes")
    order = "<" if struct.unpack_from("<I", buf, 4)[0] & 0xFFFF else ">"  # 0 in the low half: the other order
    cur = _Cursor(buf, order)
    cur.at = 4
    version = cur.take("I")
    if version not in VERSIONS:
        raise ValueError(f"GGUF version {version} (versions {VERSIONS} are read)")
    n_tensors, n_kv = cur.take("Q"), cur.take("Q")
    _check_count(cur, n_kv, 12, "metadata keys")  # a key's fewest bytes: its length and its value type
    fields = {}
    for _ in range(n_kv):
        key = cur.string().decode("utf-8")
        try:
            fields[key] = cur.value(cur.take("I"))
        except _TooDeep:
            raise ValueError(f"metadata {key} nests arrays more than {MAX_NESTING} deep") from None
    alignment = fields.get(ALIGNMENT_KEY, DEFAULT_ALIGNMENT)
    _check_count(cur, n_tensors, 24, "tensors")  # name length, n_dims, type, offset
    tensors = tuple(_tensor(cur) for _ in range(n_tensors))
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise ValueError(f"general.alignment is {alignment}, not a power of two")
    return GGUFHeader(tensors, -(-cur.at // alignment) * alignment, file_size, fields, order == ">")


def read_header(path: Path) -> GGUFHeader:
    """The metadata and tensors a GGUF file lists and where its data begins; ModelLoadError when the header
    cannot be read. A first load reads it twice (the size check in attention_core/memory.py, then the loader):
    the second read reuses the first walk while the file is unchanged (same inode, size and time)."""
    try:
        st = os.stat(path)
        return _read_header(str(Path(path).resolve()), st.st_ino, st.st_size, st.st_mtime_ns)
    except (OSError, ValueError, struct.error) as exc:  # mmap of an empty file is a ValueError too
        raise ModelLoadError(f"{Path(path).name} is not a readable GGUF file ({exc}).") from None


@functools.lru_cache(maxsize=2)
def _read_header(path: str, _inode: int, _size: int, _mtime_ns: int) -> GGUFHeader:
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        return _walk(buf, len(buf))


def tensor_type_name(info: TensorInfo) -> str:
    """The ggml type's name (Q8_0, BF16, ...), or its number when gguf does not know it."""
    from gguf.constants import GGMLQuantizationType

    try:
        return GGMLQuantizationType(info.ggml_type).name
    except ValueError:
        return f"ggml type {info.ggml_type}"


def tensor_bytes(info: TensorInfo) -> int:
    """Bytes of a tensor's data in the file: its elements in blocks of its ggml type."""
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    try:
        block, size = GGML_QUANT_SIZES[GGMLQuantizationType(info.ggml_type)]
    except (ValueError, KeyError):
        raise ModelLoadError(f"Tensor {info.name} has ggml type {info.ggml_type}, which gguf does not know.") from None
    return math.prod(info.shape) // block * size


def check_complete(path: Path) -> GGUFHeader:
    """The header, once the file is known to hold every tensor's data: a download cut short is named as such
    rather than left to fail when a tensor is read ("cannot reshape array of size ...")."""
    header = read_header(path)
    _check_types(path, header)
    _check_layout(path, header)
    end = max((header.data_start + t.offset + tensor_bytes(t) for t in header.tensors), default=header.data_start)
    if end > header.file_size:
        raise ModelLoadError(
            f"{path.name} is truncated: its tensors need {end:,} bytes, the file has {header.file_size:,} "
            "(an interrupted download or copy?)."
        )
    return header


def _check_types(path: Path, header: GGUFHeader) -> None:
    """Every tensor in a ggml type gguf knows: another type's bytes per element are unknown, so neither the file's
    length nor where its tensors lie can be checked (a newer ggml's type, or a damaged header)."""
    from importlib.metadata import PackageNotFoundError, version

    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    known = {t.value for t in GGMLQuantizationType if t in GGML_QUANT_SIZES}
    for t in header.tensors:
        if t.ggml_type not in known:
            try:
                installed = f"gguf {version('gguf')}"
            except PackageNotFoundError:  # a source checkout of gguf-py
                installed = "gguf"
            raise ModelLoadError(
                f"{path.name}: tensor {t.name} has ggml type {t.ggml_type}, which the installed gguf package "
                f"({installed}) does not know; the file is damaged or was written for a newer ggml."
            )


def _check_layout(path: Path, header: GGUFHeader) -> None:
    """Each tensor at a multiple of general.alignment (llama.cpp's gguf.c refuses others) and no two sharing
    bytes: a file whose tensors overlap would load one tensor's bytes as another's weights without a word."""
    alignment = header.fields.get(ALIGNMENT_KEY, DEFAULT_ALIGNMENT)  # checked to be a power of two by _walk
    for t in header.tensors:
        if t.offset % alignment:
            raise ModelLoadError(
                f"{path.name}: tensor {t.name} starts at byte {t.offset:,} of the data, not a multiple of its "
                f"alignment {alignment}; the file is corrupt."
            )
    last, end = None, 0  # the tensor reaching furthest so far, and where it ends
    sized = [t for t in header.tensors if tensor_bytes(t)]  # an empty tensor shares nothing, wherever it lies
    for t in sorted(sized, key=lambda t: t.offset):
        if last is not None and t.offset < end:
            raise ModelLoadError(
                f"{path.name}: tensors {last.name} and {t.name} overlap ({t.name} starts at byte {t.offset:,}, "
                f"{last.name} runs to byte {end:,}); the file is corrupt."
            )
        if t.offset + tensor_bytes(t) > end:
            last, end = t, t.offset + tensor_bytes(t)
