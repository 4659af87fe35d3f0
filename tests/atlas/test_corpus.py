"""Corpora in every accepted format, and the clear errors for bad ones."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from attention_core.atlas.corpus import DEFAULT_CORPUS, CorpusError, read_corpus


def test_text_jsonl_and_parquet_give_the_same_documents_and_skip_empty_ones(tmp_path):
    texts = ["the first document", "a second one", "and a third"]
    (tmp_path / "c.txt").write_text("\n".join([texts[0], "", texts[1], "   ", texts[2]]) + "\n", encoding="utf-8")
    (tmp_path / "c.jsonl").write_text("".join(json.dumps({"text": t, "id": i}) + "\n" for i, t in enumerate(texts)))
    pq.write_table(pa.table({"text": texts, "other": [1, 2, 3]}), tmp_path / "c.parquet")
    for name in ("c.txt", "c.jsonl", "c.parquet"):
        docs = read_corpus(tmp_path / name)
        assert [d.text for d in docs] == texts and [d.doc_id for d in docs] == [0, 1, 2], name
    assert [d.text for d in read_corpus(tmp_path / "c.txt", limit=2)] == texts[:2]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.jsonl", '{"text": "fine"}\n{"text": broken\n', "line 2: not valid JSON"),
        ("nofield.jsonl", '{"body": "no text field"}\n', 'string "text" field'),
        ("empty.txt", "\n\n   \n", "holds no documents"),
        ("latin.txt", b"fine\ncaf\xe9\n", r"latin.txt is not UTF-8 text \(line 2"),
        ("latin.jsonl", b'{"text": "fine"}\n{"text": "caf\xe9"}\n', r"latin.jsonl is not UTF-8 text \(line 2\)"),
        ("bad.parquet", b"PAR1 this is not parquet", "not a readable Parquet file"),
    ],
)
def test_corrupt_or_empty_corpora_give_a_clear_error(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(CorpusError, match=message):
        read_corpus(path)


def test_missing_file_and_parquet_without_text_column(tmp_path):
    with pytest.raises(CorpusError, match="No corpus file"):
        read_corpus(tmp_path / "nothing.txt")
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "x.parquet")
    with pytest.raises(CorpusError, match="text"):
        read_corpus(tmp_path / "x.parquet")


def test_the_default_corpus_is_large_varied_and_named():
    docs = read_corpus("default")
    assert sum(len(d.text) for d in docs) >= 500_000
    sources = {json.loads(line)["source"] for line in DEFAULT_CORPUS.read_text(encoding="utf-8").splitlines()}
    assert sources == {"kjv", "python-docs", "wordnet"}
    licences = (DEFAULT_CORPUS.parent / "SOURCES.md").read_text(encoding="utf-8")
    assert all(s in licences for s in ("Public domain", "PSF License", "WordNet 3.0 licence"))
