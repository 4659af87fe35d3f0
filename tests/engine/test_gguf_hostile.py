"""Malformed and hostile GGUF files: each is refused with one clear one-line ModelLoadError naming the file and
the problem (never a raw exception, a hang or garbage weights), and a well-formed file written the other way
round (big-endian) loads the same numbers as its little-endian twin."""

from __future__ import annotations

import math
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


@pytest.fixture(scope="module")
def tiny_gemma(tmp_path_factory) -> Path:
    return save_tiny_gguf(tmp_path_factory.mktemp("tiny") / "gemma.gguf", "gemma2")


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


def _tensors_at(path: Path, offsets: list[int], n: int = 16, alignment: int | None = None,
                sizes: list[int] | None = None, types: list[int] | None = None) -> Path:
    """A GGUF whose F32 tensors t0, t1, ... of n values each (or `sizes`) start at `offsets` in its data section
    (`types`: their ggml types instead of F32's 0)."""
    kv = b""
    if alignment is not None:
        kv = struct.pack("<Q", 17) + b"general.alignment" + struct.pack("<II", 4, alignment)
    head = b"GGUF" + struct.pack("<IQQ", 3, len(offsets), 1 if kv else 0) + kv
    rows = zip(offsets, sizes or [n] * len(offsets), types or [0] * len(offsets), strict=True)
    for i, (offset, size, kind) in enumerate(rows):
        head += struct.pack("<Q", 2) + f"t{i}".encode() + struct.pack("<IQIQ", 1, size, kind, offset)
    head += bytes(-len(head) % (alignment or 32))
    path.write_bytes(head + bytes(max(offsets) + 4 * n))
    return path


@pytest.mark.parametrize("offsets", [[0, 64], [64, 0], [0, 64, 128]], ids=["in-order", "reversed", "three"])
def test_aligned_separate_tensors_are_read(tmp_path, offsets) -> None:
    assert len(check_complete(_tensors_at(tmp_path / "ok.gguf", offsets)).tensors) == len(offsets)


@pytest.mark.parametrize(
    ("offsets", "sizes"),
    [([0, 32], [16, 0]), ([32, 0], [0, 16]), ([0, 0], [16, 0]), ([0, 64], [16, 0])],
    ids=["inside", "listed-first", "same-start", "after"],
)
def test_an_empty_tensor_overlaps_nothing(tmp_path, offsets, sizes) -> None:
    # a tensor of no elements has no bytes to share, wherever it lies (llama.cpp's gguf.c allows a 0 dimension)
    path = _tensors_at(tmp_path / "empty.gguf", offsets, sizes=sizes)
    assert [math.prod(t.shape) for t in check_complete(path).tensors] == sizes
    assert [t.data.size for t in read_gguf(path).tensors] == sizes


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


@pytest.mark.parametrize("kind", [4, 99])  # Q4_2, long removed from ggml; a number no ggml has used
def test_an_unknown_tensor_type_is_refused_naming_the_file_and_tensor(tmp_path, kind) -> None:
    path = _tensors_at(tmp_path / "odd.gguf", [0, 64], types=[0, kind])
    says = rf"^odd\.gguf: tensor t1 has ggml type {kind}, which the installed gguf package \(gguf [\d.]+\) "
    says += r"does not know[^\n]*$"  # one line
    for read in (check_complete, read_gguf, lambda p: convert_gguf(p, "m")):
        with pytest.raises(ModelLoadError, match=says):
            read(path)


# ── NaN and infinite weights ─────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("qtype", ["F32", "F16", "Q8_0"])
def test_a_tensor_holding_nan_or_inf_is_refused_by_name_and_count(tmp_path, qtype) -> None:
    x = np.ones((2, 32), np.float32)
    x[0, 3], x[1, 5], x[1, 6] = np.nan, np.inf, -np.inf
    path = tmp_path / "nan.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_tensor("fine.weight", np.ones((2, 32), np.float32))
    if qtype == "Q8_0":  # a block whose f16 scale is NaN: every value of the block
        blocks = gguf.quants.quantize(np.ones((2, 32), np.float32), gguf.GGMLQuantizationType.Q8_0)
        blocks[0, :2] = np.array([np.nan], np.float16).view(np.uint8)
        w.add_tensor("bad.weight", blocks, raw_shape=blocks.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    else:
        w.add_tensor("bad.weight", x.astype(np.float16 if qtype == "F16" else np.float32))
    w.write_header_to_file(), w.write_kv_data_to_file(), w.write_tensors_to_file()
    w.close()
    count = 32 if qtype == "Q8_0" else 3
    with pytest.raises(ModelLoadError, match=rf"^nan\.gguf: tensor bad\.weight holds {count} NaN or infinite values "
                                             r"of 64[^\n]*$"):
        dequantize_all(read_gguf(path))


def test_the_cache_checksum_survives_a_nan_weight(tiny, tmp_path) -> None:
    """A NaN made the checksum (a sum) NaN, which never equals itself: every later load called the cache damaged
    and rebuilt it (safetensors models can still hold one; GGUF files are refused above)."""
    from attention_core.loading.cache import read_entry, write_entry

    config, weights, tokenizer = convert_gguf(tiny, "m")
    weights["embed.W_E"][0, 0] = float("nan")
    weights["embed.W_E"][0, 1] = float("inf")
    write_entry(tmp_path / "entry", config, weights, tokenizer)
    _, back, _ = read_entry(tmp_path / "entry")
    assert back["embed.W_E"][0, :2].tolist() == [pytest.approx(float("nan"), nan_ok=True), float("inf")]
    # a damaged value elsewhere in that tensor is still caught
    from safetensors.torch import save_file

    back["embed.W_E"][1, 1] += 1.0
    save_file(back, str(tmp_path / "entry" / "weights.safetensors"))
    from attention_core.loading.cache import CacheCorrupt

    with pytest.raises(CacheCorrupt, match="embed.W_E does not match its checksum"):
        read_entry(tmp_path / "entry")


# ── malformed metadata ───────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(("depth", "ok"), [(7, True), (8, False), (5000, False)])  # depth + 1 arrays
def test_metadata_arrays_nested_deep_are_refused_not_a_recursion_error(tmp_path, depth, ok) -> None:
    from attention_core.loading.gguf.header import read_header

    nested = struct.pack("<Q", 4) + b"x.ns" + struct.pack("<I", 9) + struct.pack("<IQ", 9, 1) * depth
    path = tmp_path / "nest.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + nested + struct.pack("<IQ", 4, 0))
    if ok:
        value = read_header(path).fields["x.ns"]
        for _ in range(depth):
            value = value[0]
        assert value == []
        return
    with pytest.raises(ModelLoadError, match=r"^nest\.gguf is not a readable GGUF file \(metadata x\.ns nests "
                                             r"arrays more than 8 deep\)\.$"):
        read_header(path)


VT = gguf.GGUFValueType
BAD_SHAPES = {  # key → (value, type), what the message says
    "head-count-0": ({"llama.attention.head_count": (0, VT.UINT32)},
                     "llama.attention.head_count is 0; it must be a positive whole number"),
    "head-count-kv-0": ({"llama.attention.head_count_kv": (0, VT.UINT32)},
                        "llama.attention.head_count_kv is 0; it must be a positive whole number"),
    "heads-not-dividing-width": ({"llama.attention.head_count": (3, VT.UINT32)},
                                 "llama.embedding_length 64 does not split into 3 heads"),
    "kv-heads-not-dividing-heads": ({"llama.attention.head_count_kv": (3, VT.UINT32)},
                                    "llama.attention.head_count 4 is not a multiple of head_count_kv 3"),
    "context-length-negative": ({"llama.context_length": (-1, VT.INT32)},
                                "llama.context_length is -1; it must be a positive whole number"),
    "context-length-0": ({"llama.context_length": (0, VT.UINT32)},
                         "llama.context_length is 0; it must be a positive whole number"),
    "block-count-text": ({"llama.block_count": ("two", VT.STRING)},
                         "llama.block_count is 'two'; it must be a positive whole number"),
    "epsilon-text": ({"llama.attention.layer_norm_rms_epsilon": ("abc", VT.STRING)},
                     "llama.attention.layer_norm_rms_epsilon is 'abc'; it must be a positive finite number"),
    "heads-not-filling-rows": ({"llama.attention.head_count": (2, VT.UINT32), "llama.attention.head_count_kv":
                                (1, VT.UINT32), "llama.attention.key_length": (16, VT.UINT32)},
                               "blk.0.attn_q.weight has 64 rows; 2 heads of 16 dimensions need 32"),
}


@pytest.mark.parametrize(("fields", "says"), BAD_SHAPES.values(), ids=BAD_SHAPES.keys())
def test_impossible_shapes_in_the_metadata_are_refused(tiny, tmp_path, fields, says) -> None:
    _refused(rewrite_gguf(tiny, tmp_path / "shape.gguf", fields), says)


F32, LINEAR = VT.FLOAT32, {"llama.rope.scaling.type": ("linear", VT.STRING)}
BAD_NUMBERS = {  # arch → key → bad values (float32, int32 or text): each loaded with wrong numbers before
    "llama": {"attention.layer_norm_rms_epsilon": [-1.0, 0.0], "rope.freq_base": [0.0, -5.0, float("nan")],
              "rope.scaling.factor": [float("nan"), -2.0, float("inf")]},
    "gemma2": {"attention.scale": [0.0, -0.5, float("nan")], "attn_logit_softcapping": [-50.0, float("nan")],
               "final_logit_softcapping": [float("inf")], "attention.sliding_window": [0, -4, 2.5, "four"]},
}


@pytest.mark.parametrize(("arch", "key", "value"), [(a, k, v) for a, keys in BAD_NUMBERS.items()
                                                    for k, values in keys.items() for v in values])
def test_numbers_that_must_be_positive_are_refused(tiny, tiny_gemma, tmp_path, arch, key, value) -> None:
    kind = "whole" if key.endswith("sliding_window") else "finite"
    typed = (value, {str: VT.STRING, int: VT.INT32}.get(type(value), F32))
    fields = {f"{arch}.{key}": typed, **(LINEAR if key == "rope.scaling.factor" else {})}
    src = tiny if arch == "llama" else tiny_gemma
    _refused(rewrite_gguf(src, tmp_path / "num.gguf", fields), f"{arch}.{key} is {value!r}; it must be a positive "
                                                                  f"{kind} number")


def test_gemma3s_local_rope_base_must_be_positive(tiny_gemma) -> None:
    from attention_core.loading.gguf import _config_and_tokenizer
    from attention_core.loading.gguf.reader import GGUFFile

    reader = read_gguf(tiny_gemma)
    fields = {k.replace("gemma2.", "gemma3."): v for k, v in reader.fields.items()}
    fields.update({"general.architecture": "gemma3", "gemma3.rope.freq_base_swa": -1.0})
    with pytest.raises(ModelLoadError, match=r"^g3\.gguf: GGUF metadata gemma3\.rope\.freq_base_swa is -1\.0; it must "
                                             r"be a positive finite number\.$"):
        _config_and_tokenizer(GGUFFile(fields, reader.tensors), Path("g3.gguf"), "m")


@pytest.mark.parametrize(("key", "value"), [("rope.scaling.factor", 0.0), ("attn_logit_softcapping", 0.0)])
def test_a_zero_that_means_none_loads_as_none(tiny, tiny_gemma, tmp_path, key, value) -> None:
    # llama.cpp reads a RoPE scaling factor of 0 as no scaling (rope_freq_scale 1), a soft-cap of 0 as no cap
    arch, src = ("llama", tiny) if key.startswith("rope") else ("gemma2", tiny_gemma)
    fields = {f"{arch}.{key}": (value, F32), **(LINEAR if arch == "llama" else {})}
    config, _, _ = convert_gguf(rewrite_gguf(src, tmp_path / "zero.gguf", fields), "m")
    assert (config.rope_freq_divisors, config.rope_scaling, config.attn_softcap) == ((), None, None)


def test_anything_else_malformed_metadata_raises_names_the_file(tiny, tmp_path, monkeypatch) -> None:
    """The fallback for what no check names first (a library's ValueError on odd metadata): one line naming the
    file; a bug of ours (AttributeError) still surfaces as itself."""
    from attention_core.loading import gguf as loader

    def odd(meta):
        raise ValueError("expected tuple of length 2,\n but got tuple of length 1")

    monkeypatch.setattr(loader, "tokenizer_from_gguf", odd)
    message = _refused(tiny, "has metadata the loader cannot use (ValueError: expected tuple of length 2, but got")
    assert message.endswith("the file is malformed.")

    def bug(meta):
        raise AttributeError("a bug of ours")

    monkeypatch.setattr(loader, "tokenizer_from_gguf", bug)
    with pytest.raises(AttributeError, match="a bug of ours"):
        convert_gguf(tiny, "m")


BAD_VOCABULARIES = {  # (fields to set, keys to drop), what the message says
    "tokens-missing": ({}, ("tokenizer.ggml.tokens",), "metadata key 'tokenizer.ggml.tokens' is missing"),
    "token-types-short": ({"tokenizer.ggml.token_type": ([1] * 10, VT.ARRAY, VT.INT32)}, (),
                          "tokenizer.ggml.token_type lists 10 types for 300 tokens"),
    "bos-out-of-range": ({"tokenizer.ggml.bos_token_id": (10**6, VT.UINT32),
                          "tokenizer.ggml.add_bos_token": (True, VT.BOOL)}, (),
                         "tokenizer.ggml.bos_token_id 1000000 is not a token id (the vocabulary has 300)"),
    "eos-out-of-range": ({"tokenizer.ggml.eos_token_id": (300, VT.UINT32)}, (),
                         "tokenizer.ggml.eos_token_id 300 is not a token id (the vocabulary has 300)"),
    "eos-out-of-range-added": ({"tokenizer.ggml.eos_token_id": (10**6, VT.UINT32),
                                "tokenizer.ggml.add_eos_token": (True, VT.BOOL)}, (),
                               "tokenizer.ggml.eos_token_id 1000000 is not a token id (the vocabulary has 300)"),
    "merge-without-space": ({"tokenizer.ggml.merges": (["abc"], VT.ARRAY, VT.STRING)}, (),
                            "tokenizer.ggml.merges entry 0 ('abc') is not two tokens separated by a space"),
}


@pytest.mark.parametrize(("fields", "drop", "says"), BAD_VOCABULARIES.values(), ids=BAD_VOCABULARIES.keys())
def test_a_malformed_vocabulary_is_refused_by_what_is_wrong(tiny, tmp_path, fields, drop, says) -> None:
    message = _refused(rewrite_gguf(tiny, tmp_path / "vocab.gguf", fields, drop), says)
    assert "cannot use" not in message  # named by its own check, not the fallback


def test_an_unknown_token_id_out_of_range_is_refused(tmp_path) -> None:
    from attention_core.loading.gguf.reader import Meta
    from attention_core.loading.gguf.tokenizer import tokenizer_from_gguf
    from tests.gguf_writer import write_tokenizer_only

    spm = write_tokenizer_only(tmp_path / "spm.gguf", "llama", "llama")
    path = rewrite_gguf(spm, tmp_path / "unk.gguf", {"tokenizer.ggml.unknown_token_id": (5000, VT.UINT32)})
    with pytest.raises(ModelLoadError, match=r"tokenizer\.ggml\.unknown_token_id 5000 is not a token id"):
        tokenizer_from_gguf(Meta(read_gguf(path)))
