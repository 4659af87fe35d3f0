"""Corpora for the atlas: a text file (one document per line), JSON Lines with a `text` field, Parquet with a
`text` column, or "default" (assets/corpus/default.jsonl, shipped; sources and licences beside it).

Every document gets a `doc_id`: its 0-based index among the corpus's non-empty documents, in file order, so a
run is reproducible and an example can be found again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from attention_core.errors import InputError

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "assets" / "corpus" / "default.jsonl"


class CorpusError(InputError):
    """A corpus that cannot be read: the message says which file, which line, and what to do."""


@dataclass(frozen=True)
class Document:
    doc_id: int
    text: str


def corpus_path(name: str | Path) -> Path:
    """`default` → the shipped corpus; anything else is a path that must exist."""
    path = DEFAULT_CORPUS if str(name) == "default" else Path(name)
    if not path.is_file():
        raise CorpusError(f"No corpus file at {path}: give a .txt, .jsonl or .parquet file, or 'default'.")
    return path


def _not_utf8(path: Path, line_no: int, where: str = "") -> CorpusError:
    return CorpusError(f"{path} is not UTF-8 text (line {line_no}{where}); save it as UTF-8.")


def _texts_from_jsonl(path: Path) -> list[str]:
    texts = []
    with open(path, "rb") as f:  # bytes, decoded line by line: a bad byte is reported with its line
        for line_no, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise _not_utf8(path, line_no) from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{path}, line {line_no}: not valid JSON ({exc.msg}).") from None
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise CorpusError(f'{path}, line {line_no}: each line must be an object with a string "text" field.')
            texts.append(row["text"])
    return texts


def _texts_from_parquet(path: Path) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, columns=["text"])
    except (pa.ArrowInvalid, OSError) as exc:
        raise CorpusError(f"{path} is not a readable Parquet file with a 'text' column ({exc}).") from None
    except KeyError:
        raise CorpusError(f"{path} has no 'text' column.") from None
    column = table.column("text")
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        raise CorpusError(f"{path}: the 'text' column holds {column.type}, not strings.")
    return [t for t in column.to_pylist() if t is not None]


def _texts_from_lines(path: Path) -> list[str]:
    data = path.read_bytes()
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, data.count(b"\n", 0, exc.start) + 1, f", byte {exc.start}") from None


def read_corpus(name: str | Path, limit: int | None = None) -> list[Document]:
    """The corpus's non-empty documents in order (the first `limit` of them if given)."""
    path = corpus_path(name)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        texts = _texts_from_jsonl(path)
    elif suffix == ".parquet":
        texts = _texts_from_parquet(path)
    else:
        texts = _texts_from_lines(path)
    docs = [t for t in texts if t.strip()]
    if not docs:
        raise CorpusError(f"{path} holds no documents (every line or row is empty).")
    docs = docs[:limit] if limit is not None else docs
    return [Document(i, t) for i, t in enumerate(docs)]
