"""attention_core/loading/gguf/header.py and reader.read_gguf: the header walked with struct gives what gguf's own
reader gives (every metadata value, every tensor's elements, bytes and data), for every kind of metadata value,
a custom alignment, a big-endian file, a tiny model and SmolLM2's file; a file cut short or not a GGUF file at
all is named as such."""

from __future__ import annotations

import struct
from pathlib import Path

import gguf
import numpy as np
import pytest

from attention_core.errors import ModelLoadError
from attention_core.loading.gguf.header import check_complete, read_header, tensor_bytes
from attention_core.loading.gguf.reader import read_gguf
from attention_core.memory import float32_bytes
from tests.gguf_writer import save_tiny_gguf


def _every_kind_of_value(path: Path, endian=gguf.GGUFEndian.LITTLE, alignment: int | None = None) -> Path:
    """Every scalar type, strings, arrays of numbers and of strings (a vocabulary's shape), and tensors of three
    ggml types (two when big-endian) whose sizes are not multiples of the alignment."""
    w = gguf.GGUFWriter(str(path), "llama", endianess=endian)
    if alignment is not None:
        w.add_custom_alignment(alignment)
    w.add_uint8("t.u8", 7), w.add_int8("t.i8", -7), w.add_uint16("t.u16", 700), w.add_int16("t.i16", -700)
    w.add_uint32("t.u32", 70_000), w.add_int32("t.i32", -70_000), w.add_float32("t.f32", 0.5)
    w.add_uint64("t.u64", 2**40), w.add_int64("t.i64", -(2**40)), w.add_float64("t.f64", 0.25), w.add_bool("t.b", True)
    w.add_string("t.s", "héllo ❤")
    w.add_array("t.ints", [1, 2, 3, 4, 5])
    w.add_array("t.floats", [0.5, 1.5])
    w.add_array("t.words", ["a", "", "ünïcode", "🦊" * 40])
    rng = np.random.default_rng(0)
    w.add_tensor("a.weight", rng.standard_normal((3, 5)).astype(np.float32))
    w.add_tensor("b.weight", rng.standard_normal((7, 3)).astype(np.float16))
    if endian == gguf.GGUFEndian.LITTLE:  # a big-endian file of blocks is refused (test_gguf_hostile.py)
        q8 = gguf.quants.quantize(rng.standard_normal((2, 64)).astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
        w.add_tensor("c.weight", q8, raw_shape=q8.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file(), w.write_kv_data_to_file(), w.write_tensors_to_file()
    w.close()
    return path


def _same_as_the_reader(path: Path) -> None:
    header, reader = check_complete(path), gguf.GGUFReader(str(path))
    assert header.data_start == reader.data_offset
    assert [t.name for t in header.tensors] == [t.name for t in reader.tensors]
    for mine, theirs in zip(header.tensors, reader.tensors, strict=True):
        assert header.data_start + mine.offset == theirs.data_offset, mine.name
        assert tensor_bytes(mine) == theirs.n_bytes, mine.name
        assert int(np.prod(mine.shape)) == theirs.n_elements, mine.name
    assert header.n_elements == sum(int(t.n_elements) for t in reader.tensors)
    # what the converters read (reader.read_gguf): every metadata value and every tensor's data as gguf reads them
    ours = read_gguf(path)
    theirs = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    assert ours.fields == theirs
    for mine, their in zip(ours.tensors, reader.tensors, strict=True):
        assert (mine.name, mine.tensor_type, mine.data.dtype) == (their.name, their.tensor_type, their.data.dtype)
        np.testing.assert_array_equal(mine.data, their.data, err_msg=mine.name)


@pytest.mark.parametrize(
    ("endian", "alignment"),
    [(gguf.GGUFEndian.LITTLE, None), (gguf.GGUFEndian.LITTLE, 64), (gguf.GGUFEndian.BIG, None)],
    ids=["little", "aligned-64", "big-endian"],
)
def test_the_header_gives_what_the_reader_gives(tmp_path, endian, alignment) -> None:
    _same_as_the_reader(_every_kind_of_value(tmp_path / "kinds.gguf", endian, alignment))


def test_a_model_file_and_its_size(tmp_path) -> None:
    path = save_tiny_gguf(tmp_path / "tiny.gguf", "llama")
    _same_as_the_reader(path)
    assert float32_bytes("gguf", path) == 4 * sum(int(t.n_elements) for t in gguf.GGUFReader(str(path)).tensors)


def test_smollm2s_file(smollm) -> None:
    # 49,152 vocabulary strings and their merges before the first tensor: what made gguf's reader slow
    _same_as_the_reader(smollm.source)


@pytest.mark.parametrize("short_by", ["a tensor and more", "one byte"])
def test_a_file_cut_short_in_its_data_is_named_truncated(tmp_path, short_by) -> None:
    whole = _every_kind_of_value(tmp_path / "whole.gguf")
    header = read_header(whole)
    last = header.tensors[-1]
    end = header.data_start + last.offset + tensor_bytes(last)  # the file's padding after it may go
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(whole.read_bytes()[: header.data_start + 70 if short_by == "a tensor and more" else end - 1])
    assert read_header(cut).n_elements == header.n_elements  # the header itself is whole
    with pytest.raises(ModelLoadError, match=rf"cut\.gguf is truncated: its tensors need {end:,} bytes"):
        check_complete(cut)
    assert check_complete(whole) == header
    cut.write_bytes(whole.read_bytes()[:end])  # the data whole, the padding after it gone: complete
    assert check_complete(cut).n_elements == header.n_elements


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "not a readable GGUF file"),
        (b"this is not a model" * 100, "GGUF magic"),
        (b"GGUF\x01\x00\x00\x00" + bytes(16), "GGUF version 1"),
        (None, "not a readable GGUF file"),  # the first 200 bytes of a real file: its header ends early
        # one key whose value is an array of 2^60 strings: refused at once, not walked string by string
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1) + b"k" + struct.pack("<IIQ", 9, 8, 2**60),
         "1,152,921,504,606,846,976 array items would run past the end"),
        (b"GGUF" + struct.pack("<IQQ", 3, 2**40, 0), "1,099,511,627,776 tensors would run past the end"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 2**40), "1,099,511,627,776 metadata keys would run past the end"),
        (b"GGUF" + struct.pack("<IQQ", 3, 1, 0) + struct.pack("<Q", 1) + b"t" + struct.pack("<I", 2**31) + bytes(64),
         "tensor t has 2147483648 dimensions"),
    ],
    ids=["empty", "not-gguf", "version-1", "header-cut", "array-count", "tensor-count", "key-count", "n-dims"],
)
def test_an_unreadable_header_is_one_clear_error(tmp_path, content, says) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(content if content is not None else _every_kind_of_value(tmp_path / "w.gguf").read_bytes()[:200])
    with pytest.raises(ModelLoadError, match=f"bad.gguf .*{says}"):
        read_header(bad)


def test_a_tensor_listed_twice_is_refused(tmp_path) -> None:
    # gguf's writer refuses a duplicate name, so rename the second tensor in the bytes ("b.weight" -> "a.weight")
    path = _every_kind_of_value(tmp_path / "twice.gguf")
    raw = path.read_bytes()
    at = raw.index(b"b.weight", raw.index(b"a.weight"))
    path.write_bytes(raw[:at] + b"a.weight" + raw[at + len(b"b.weight") :])
    with pytest.raises(ModelLoadError, match="twice.gguf lists the tensor 'a.weight' twice"):
        read_gguf(path)


def test_a_first_load_walks_the_header_once(tmp_path, monkeypatch) -> None:
    """The size check (attention_core.memory) and the loader both read the header of a first load: the second
    read reuses the first walk (0.2 s on SmolLM2), and a file changed in between is walked again."""
    from attention_core.loading.gguf import header as header_module

    path = _every_kind_of_value(tmp_path / "once.gguf")
    walks = []
    walk = header_module._walk
    monkeypatch.setattr(header_module, "_walk", lambda buf, size: walks.append(size) or walk(buf, size))
    first = read_header(path)
    assert check_complete(path) == first and len(walks) == 1
    path.write_bytes(path.read_bytes() + bytes(32))  # a changed file: walked again
    assert read_header(path).file_size == first.file_size + 32 and len(walks) == 2
