"""The parts of a SentencePiece model file (spm.model, spiece.model) a tokenizer is built from, read without the
sentencepiece package.

The file is one protobuf message, ModelProto (sentencepiece_model.proto): its pieces (field 1: text, score, kind),
its trainer's settings (field 2: the model type, the unknown token's id) and its normaliser (field 3: the
precompiled character map). Protobuf's wire format is a list of (field number, wire type, value); fields read
here are found by number, the rest are skipped. tests/engine/test_slow_tokenizer.py checks every field against
sentencepiece's own reader.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelLoadError

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6  # SentencePiece.Type
UNIGRAM, BPE = 1, 2  # TrainerSpec.ModelType

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5  # protobuf wire types


@dataclass(frozen=True)
class Piece:
    text: str
    score: float
    kind: int  # NORMAL, CONTROL (<s>, [CLS]: special), USER_DEFINED (matched whole), UNKNOWN, …


@dataclass(frozen=True)
class SentencePieceModel:
    pieces: list[Piece]
    model_type: int  # UNIGRAM or BPE
    unk_id: int
    precompiled_charsmap: bytes  # the normaliser's table (NFKC and the like); empty when none


def read_sentencepiece(path: Path) -> SentencePieceModel:
    try:
        fields = _fields(path.read_bytes())
        pieces = [_piece(value) for number, value in fields if number == 1]
        trainer = dict(_fields(next((v for n, v in fields if n == 2), b"")))
        normalizer = dict(_fields(next((v for n, v in fields if n == 3), b"")))
        charsmap = normalizer.get(2, b"")
        if not isinstance(charsmap, bytes):
            raise ValueError("the normaliser's character map is not bytes")
        model = SentencePieceModel(pieces, _number(trainer.get(3, UNIGRAM)), _int32(trainer.get(40, 0)), charsmap)
    except (ValueError, IndexError, UnicodeDecodeError, struct.error) as exc:
        raise ModelLoadError(f"{path.name} is not a readable SentencePiece model: {exc}") from exc
    if not model.pieces:
        raise ModelLoadError(f"{path.name} is not a readable SentencePiece model: it holds no pieces.")
    return model


def _piece(message: int | bytes) -> Piece:
    found = dict(_fields(_as_bytes(message)))
    score = found.get(2, 0)
    return Piece(
        text=_as_bytes(found.get(1, b"")).decode("utf-8"),
        score=struct.unpack("<f", score)[0] if isinstance(score, bytes) else 0.0,
        kind=_number(found.get(3, NORMAL)),
    )


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) in file order: a varint as an int; bytes, a nested message or a fixed32 as bytes."""
    out: list[tuple[int, int | bytes]] = []
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, at = _varint(data, at)
        elif wire == _BYTES:
            size, at = _varint(data, at)
            value, at = data[at : at + size], at + size
        elif wire in (_FIXED32, _FIXED64):
            size = 4 if wire == _FIXED32 else 8
            value, at = data[at : at + size], at + size
        else:
            raise ValueError(f"wire type {wire} of field {number} is not one protobuf writes")
        if at > len(data):
            raise ValueError("the file ends inside a field (truncated?)")
        out.append((number, value))
    return out


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[at]  # IndexError past the end: a truncated file
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at
        if shift > 63:
            raise ValueError("a varint longer than 10 bytes")


def _number(value: int | bytes) -> int:
    if not isinstance(value, int):
        raise ValueError("a field holds bytes where a number belongs")
    return value


def _int32(value: int | bytes) -> int:
    """A protobuf int32 (a negative one is written as a 64-bit two's complement varint)."""
    number = _number(value)
    return number - (1 << 64) if number >= 1 << 63 else number


def _as_bytes(value: int | bytes) -> bytes:
    if not isinstance(value, bytes):
        raise ValueError("a field holds a number where a message or text belongs")
    return value
