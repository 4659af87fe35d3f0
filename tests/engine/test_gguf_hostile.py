"""Malformed and hostile GGUF files: each is refused with one clear one-line ModelLoadError naming the file and
the problem (never a raw exception, a hang or garbage weights), and a well-formed file written the other way
round (big-endian) loads the same numbers as its little-endian twin."""

from __future__ import annotations

import struct
from pathlib import Path

import gguf
import numpy as np
import pytest

from attention_core.errors import ModelLoadError
from attention_core.loading.gguf import convert_gguf
from attention_core.loading.gguf.header import check_complete
from attention_core.loading.gguf.reader import dequantize_all, read_gguf
from tests.gguf_writer import rewrite_gguf, save_tiny_gguf


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return save_tiny_gguf(tmp_path_factory.mktemp("tiny") / "tiny.gguf", "llama")


def _refused(path: Path, says: str) -> str:
    with pytest.raises(ModelLoadError) as err:
        convert_gguf(path, "m")
    message = str(err.value)
    assert "\n" not in message and path.name in message and says in message, message
    return message


# ── big-endian files ─────────────────────────────────────────────────────────────────────────────────


def test_a_big_endian_model_loads_the_numbers_of_its_little_endian_twin(tiny, tmp_path) -> None:
    big = rewrite_gguf(tiny, tmp_path / "big.gguf", big_endian=True)
    _, want, _ = convert_gguf(tiny, "m")
    _, got, _ = convert_gguf(big, "m")
    assert set(got) == set(want)
    for key in want:
        np.testing.assert_array_equal(got[key].numpy(), want[key].numpy(), err_msg=key)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_big_endian_plain_tensors_are_read_as_values(tmp_path, dtype) -> None:
    x = (np.arange(-4, 4).reshape(2, 4) * 3).astype(dtype)
    path = tmp_path / "be.gguf"
    w = gguf.GGUFWriter(str(path), "llama", endianess=gguf.GGUFEndian.BIG)
    w.add_tensor("t", x)
    w.write_header_to_file(), w.write_kv_data_to_file(), w.write_tensors_to_file()
    w.close()
    got = dequantize_all(read_gguf(path))["t"]
    assert got.dtype == np.float32 and got.dtype.isnative
    np.testing.assert_array_equal(got, x.astype(np.float32))


@pytest.mark.parametrize("qtype", ["Q8_0", "BF16"])
def test_a_big_endian_file_of_quantised_blocks_is_refused(tmp_path, qtype) -> None:
    # gguf's writer swaps plain arrays but leaves block bytes as they are, so a block's f16 scale in a big-endian
    # file may be in either order: refused rather than guessed
    qt = gguf.GGMLQuantizationType[qtype]
    blocks = gguf.quants.quantize(np.ones((2, 64), np.float32), qt)
    path = tmp_path / "beq.gguf"
    w = gguf.GGUFWriter(str(path), "llama", endianess=gguf.GGUFEndian.BIG)
    w.add_tensor("blk.0.attn_q.weight", blocks, raw_shape=blocks.shape, raw_dtype=qt)
    w.write_header_to_file(), w.write_kv_data_to_file(), w.write_tensors_to_file()
    w.close()
    with pytest.raises(ModelLoadError, match=rf"^beq\.gguf is big-endian and its tensor blk\.0\.attn_q\.weight "
                                             rf"is {qtype}[^\n]*$"):
        read_gguf(path)


# ── where the tensors lie ────────────────────────────────────────────────────────────────────────────


def _tensors_at(path: Path, offsets: list[int], n: int = 16, alignment: int | None = None) -> Path:
    """A GGUF whose F32 tensors t0, t1, ... of n values each start at `offsets` in its data section."""
    kv = b""
    if alignment is not None:
        kv = struct.pack("<Q", 17) + b"general.alignment" + struct.pack("<II", 4, alignment)
    head = b"GGUF" + struct.pack("<IQQ", 3, len(offsets), 1 if kv else 0) + kv
    for i, offset in enumerate(offsets):
        head += struct.pack("<Q", 2) + f"t{i}".encode() + struct.pack("<IQIQ", 1, n, 0, offset)
    head += bytes(-len(head) % (alignment or 32))
    path.write_bytes(head + bytes(max(offsets) + 4 * n))
    return path


@pytest.mark.parametrize("offsets", [[0, 64], [64, 0], [0, 64, 128]], ids=["in-order", "reversed", "three"])
def test_aligned_separate_tensors_are_read(tmp_path, offsets) -> None:
    assert len(check_complete(_tensors_at(tmp_path / "ok.gguf", offsets)).tensors) == len(offsets)


@pytest.mark.parametrize(
    ("offsets", "alignment", "says"),
    [
        ([0, 66], None, "tensor t1 starts at byte 66 of the data, not a multiple of its alignment 32"),
        ([0, 96], 64, "tensor t1 starts at byte 96 of the data, not a multiple of its alignment 64"),
        ([0, 0], None, "tensors t0 and t1 overlap (t1 starts at byte 0, t0 runs to byte 64)"),
        ([64, 0, 32], None, "tensors t1 and t2 overlap (t2 starts at byte 32, t1 runs to byte 64)"),
    ],
    ids=["misaligned", "misaligned-64", "same-offset", "overlapping"],
)
def test_misaligned_or_overlapping_tensors_are_refused(tmp_path, offsets, alignment, says) -> None:
    path = _tensors_at(tmp_path / "bad.gguf", offsets, alignment=alignment)
    with pytest.raises(ModelLoadError, match=r"^bad\.gguf: [^\n]*$") as err:
        check_complete(path)
    assert says in str(err.value)
