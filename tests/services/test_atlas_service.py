"""Computing an atlas in the background for a model that has none: the CLI runs as a child process on local
Ray, reports progress, and the finished atlas is found and loaded."""

from __future__ import annotations

import functools
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from attention_core.api import load_model
from attention_core.atlas.__main__ import main as atlas_cli
from attention_core.atlas.corpus import CorpusError
from services import atlas
from tests.tiny_models import save_tiny_gpt2


@pytest.mark.ray
def test_start_atlas_computes_finds_and_loads_the_atlas(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_ATLAS_DIR", str(tmp_path / "atlases"))
    save_tiny_gpt2(tmp_path / "tiny")
    model = load_model(str(tmp_path / "tiny"))
    assert atlas.atlas_path(model) is None
    run = atlas.start_atlas(model, max_tokens=32, limit=12)
    assert atlas.start_atlas(model) is run  # one job per model at a time
    deadline = time.monotonic() + 600
    while run.running and time.monotonic() < deadline:
        time.sleep(1)
    assert not run.running and run.error() is None, run.log.read_text()
    assert run.progress() == (12 + 32, 12 + 32)  # the documents and the 32 induction sequences
    found = atlas.atlas_path(model)
    assert found == atlas.computed_path(model)
    data = atlas.load_atlas(found)
    assert data.values.shape == (7, 2, 4) and not np.isnan(data.values[0]).any()
    assert data.settings["n_documents"] == 12 and data.settings["runner"].startswith("ray")


def test_a_failed_job_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_ATLAS_DIR", str(tmp_path / "atlases"))
    save_tiny_gpt2(tmp_path / "tiny")
    model = load_model(str(tmp_path / "tiny"))
    run = atlas.start_atlas(model, corpus=str(tmp_path / "missing.txt"))
    run.process.wait(timeout=300)
    assert "No corpus file" in (run.error() or "")


# ── a corpus of one's own ──────────────────────────────────────────────────────────────────────────────────
CORPUS = b'{"text": "the cat sat on the mat"}\n{"text": "a dog ran in the park"}\n\n{"text": "birds sing"}\n'


def test_an_uploaded_corpus_is_kept_by_content_and_counted(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_ATLAS_DIR", str(tmp_path / "atlases"))
    stored = atlas.store_corpus("notes.jsonl", CORPUS)
    assert stored.name == "notes.jsonl" and stored.n_documents == 3
    assert stored.path.read_bytes() == CORPUS and stored.path.parent == tmp_path / "atlases" / "corpora"
    assert atlas.store_corpus("copy.jsonl", CORPUS).path == stored.path  # the same bytes are kept once


@pytest.mark.parametrize(
    ("filename", "data", "message"),
    [
        ("notes.docx", b"x", "give a .txt file"),
        ("notes.jsonl", b'{"text": "ok"}\n{"txt": 1}\n', "notes.jsonl, line 2: each line must be an object"),
        ("notes.jsonl", b"{not json\n", "notes.jsonl, line 1: not valid JSON"),
        ("notes.txt", b"\n  \n", "notes.txt holds no documents"),
        ("notes.txt", b"\xff\xfe bad", "notes.txt is not UTF-8"),
        ("notes.jsonl", b'{"text": "caf\xe9"}\n', "notes.jsonl is not UTF-8 text (line 1)"),
        ("notes.parquet", b"not parquet", "notes.parquet is not a readable Parquet file"),
        ("../../etc/notes.txt", b"x" * 2_100_000, "notes.txt is 2.1 MB; corpora up to 2 MB"),
    ],
)
def test_a_bad_corpus_is_refused_with_its_own_name_and_nothing_kept(tmp_path, monkeypatch, filename, data, message):
    monkeypatch.setenv("ATTN_ATLAS_DIR", str(tmp_path / "atlases"))
    monkeypatch.setenv("ATTN_MAX_CORPUS_MB", "2")
    with pytest.raises(CorpusError, match=re.escape(message)) as refused:
        atlas.store_corpus(filename, data)
    assert str(tmp_path) not in str(refused.value)  # the user's file name, never the server's path
    assert not list((tmp_path / "atlases").rglob("*.*"))


def test_an_uploaded_corpus_gets_its_own_atlas_listed_after_the_default_one(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_ATLAS_DIR", str(tmp_path / "atlases"))
    save_tiny_gpt2(tmp_path / "tiny")
    model = load_model(str(tmp_path / "tiny"))
    stored = atlas.store_corpus("notes.jsonl", CORPUS)
    assert atlas.atlas_choices(model) == []
    for out, corpus in ((atlas.computed_path(model), "default"), (atlas.computed_path(model, stored), stored)):
        args = ["--model", str(tmp_path / "tiny"), "--max-tokens", "16", "--limit", "3", "--in-process",
                "--induction-sequences", "2", "--induction-period", "4", "--out", str(out)]  # fmt: skip
        if corpus == "default":
            args += ["--corpus", "default"]
        else:
            args += ["--corpus", str(stored.path), "--corpus-name", stored.name]
        assert atlas_cli(args) == 0
    choices = atlas.atlas_choices(model)
    assert [c.label for c in choices] == ["the default corpus (3 documents)", "notes.jsonl (3 documents)"]
    assert choices[1].path == atlas.computed_path(model, stored) != choices[0].path


def test_start_atlas_runs_the_cli_on_an_uploaded_corpus_under_its_name(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_ATLAS_DIR", str(tmp_path / "atlases"))
    save_tiny_gpt2(tmp_path / "tiny")
    model = load_model(str(tmp_path / "tiny"))
    stored = atlas.store_corpus("notes.jsonl", CORPUS)
    started = []

    class FakeProcess:
        def __init__(self, cmd, **_):
            started.append(cmd)

        def poll(self):
            return 0

    monkeypatch.setattr(atlas.subprocess, "Popen", FakeProcess)
    run = atlas.start_atlas(model, stored, max_tokens=64, limit=2)
    cmd = started[0]
    assert cmd[cmd.index("--corpus") + 1] == str(stored.path) and cmd[cmd.index("--corpus-name") + 1] == "notes.jsonl"
    assert cmd[cmd.index("--out") + 1] == str(atlas.computed_path(model, stored)) and "--limit" in cmd
    assert run.corpus_name == "notes.jsonl"


def test_the_atlas_cli_answers_ctrl_c_even_when_started_ignoring_it():
    from attention_core.atlas.__main__ import answer_ctrl_c

    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        answer_ctrl_c()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, before)


def test_a_public_server_takes_no_corpus_unless_its_operator_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_ATLAS_DIR", str(tmp_path / "atlases"))
    monkeypatch.setenv("ATTN_PUBLIC", "1")
    monkeypatch.delenv("ATTN_MAX_CORPUS_MB", raising=False)
    assert atlas.max_corpus_mb() == 0
    with pytest.raises(CorpusError, match="turned off"):
        atlas.store_corpus("notes.jsonl", CORPUS)
    monkeypatch.setenv("ATTN_MAX_CORPUS_MB", "5")
    assert atlas.store_corpus("notes.jsonl", CORPUS).n_documents == 3


def test_a_stopped_job_ends_writes_nothing_and_is_no_failure(tmp_path):
    # A child that, like the CLI, answers Ctrl-C whatever it inherited and ends through its handlers (it prints,
    # then exits). Under `make test` a worker passed on an ignored SIGINT: without the CLI's answer_ctrl_c the child
    # ignored the stop, was killed after the grace, and wrote nothing.
    script = "\n".join([
        "import signal, sys, time", "signal.signal(signal.SIGINT, signal.default_int_handler)",  # answer_ctrl_c
        "try:", "    print('sleeping', flush=True)", "    time.sleep(120)",
        "except KeyboardInterrupt:", "    sys.exit('interrupted')",
    ])  # fmt: skip
    log = tmp_path / "job.log"
    with open(log, "w") as sink:
        # Started ignoring SIGINT, as such a worker starts it (preexec_fn: this test's own child, no threads to mind).
        ignoring = functools.partial(signal.signal, signal.SIGINT, signal.SIG_IGN)
        process = subprocess.Popen([sys.executable, "-c", script], stdout=sink, stderr=subprocess.STDOUT,
                                   preexec_fn=ignoring)  # fmt: skip
    run = atlas.AtlasRun("m", tmp_path / "out.parquet", log, process, "notes.jsonl")
    # Wait until the child is inside its try: a Ctrl-C during a loaded machine's slow interpreter start-up (a fixed
    # 1 s wait was not always enough under `make test`) ends it before any handler exists, and it writes nothing.
    deadline = time.monotonic() + 60
    while "sleeping" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert run.running and not run.stopped and "sleeping" in log.read_text()
    run.stop(grace=20)
    assert not run.running and run.stopped and run.error() is None
    assert "interrupted" in log.read_text()  # it got Ctrl-C (its handlers ran), not a kill
    assert not run.out.exists()


def test_the_default_corpus_says_what_it_is_made_of():
    """The atlas page's provenance line: the shipped corpus's documents by source, counted from the file itself (the
    same 946 documents the shipped atlases read), and its content hash as the atlas recorded it."""
    import hashlib
    import json

    from attention_core.atlas.corpus import DEFAULT_CORPUS

    rows = [json.loads(line) for line in DEFAULT_CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    got = atlas.corpus_sources()
    assert {s.source for s in got} == {r["source"] for r in rows}
    assert sum(s.n_documents for s in got) == len(rows) == 946
    assert sum(s.n_chars for s in got) == sum(len(r["text"]) for r in rows)
    shipped = atlas.load_atlas(atlas.SHIPPED / "smollm2-135m.parquet").settings["corpus_sha256"]
    assert shipped == hashlib.sha256(DEFAULT_CORPUS.read_bytes()).hexdigest()


def test_a_job_asks_no_more_tokens_than_the_models_context(tmp_path, monkeypatch):
    """"Compute the atlas" passed 256 tokens (and the default 40-token induction period) to every model: a model
    with a shorter context was refused by the CLI before the job began."""
    from dataclasses import replace

    save_tiny_gpt2(tmp_path / "tiny")
    model = load_model(str(tmp_path / "tiny"))
    cmd = atlas.atlas_command(model, "default", tmp_path / "a.parquet", 256, 2, None)
    assert cmd[cmd.index("--max-tokens") + 1] == str(model.config.n_ctx) == "128"
    assert "--induction-period" not in cmd  # 2 × 40 + 2 fits 128
    monkeypatch.setattr(model, "config", replace(model.config, n_ctx=64))
    cmd = atlas.atlas_command(model, "default", tmp_path / "a.parquet", 256, 2, 5)
    assert cmd[cmd.index("--max-tokens") + 1] == "64" and cmd[cmd.index("--induction-period") + 1] == "30"
    assert cmd[cmd.index("--limit") + 1] == "5"
