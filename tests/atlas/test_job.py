"""The atlas job on a tiny random GPT-2: in-process and on a local 2-worker Ray give the same table (to 1e-12:
both add the same float64 batch sums exactly), a killed worker loses and double-counts nothing, the numbers
match statistics computed by hand from the trace, and the CLI writes both tables atomically."""

from __future__ import annotations

import os
import signal
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import psutil
import pytest

from attention_core.api import load_model
from attention_core.atlas import job, tables
from attention_core.atlas.__main__ import main as cli
from attention_core.atlas.corpus import Document
from tests.tiny_models import CORPUS, save_tiny_gpt2

TOL = 1e-12


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-gpt2")
    save_tiny_gpt2(folder)
    return str(folder)


def _settings(tiny: str, batch_size: int = 4) -> job.AtlasSettings:
    return job.AtlasSettings(
        tiny, max_tokens=64, seed=3, induction_sequences=3, induction_period=4, batch_size=batch_size
    )


def _docs(n: int) -> list[Document]:
    return [Document(i, f"{CORPUS[i % 5]} {CORPUS[(i * 3) % 5]}") for i in range(n)]


def _table(batches, n_docs, settings):
    stats, examples = job.reduce_rows(batches, n_docs, settings.induction_sequences)
    return {(r["layer"], r["head"], r["statistic"]): (r["value"], r["n_queries"]) for r in stats}, examples


def test_in_process_values_equal_the_statistics_computed_by_hand(tiny):
    settings, docs = _settings(tiny), _docs(5)
    got, examples = _table(job.run_in_process(job.work_items(docs, settings), settings), len(docs), settings)
    model = load_model(tiny)
    sums = counts = 0
    for d in docs:  # previous_token of L1H2 by hand: mean of A[i, i-1] over every i ≥ 1 of every text
        pattern = model.trace(d.text, max_tokens=64).pattern(1, 2).numpy()
        sums += float(np.diagonal(pattern, offset=-1).sum())
        counts += pattern.shape[0] - 1
    value, n = got[(1, 2, "previous_token")]
    assert n == counts and value == pytest.approx(sums / counts, abs=1e-6)
    assert got[(0, 0, "induction")][1] == settings.induction_sequences * settings.induction_period
    head = [e for e in examples if (e["layer"], e["head"], e["statistic"]) == (1, 2, "previous_token")]
    best, least = ([e for e in head if e["end"] == end] for end in ("highest", "lowest"))
    assert [e["rank"] for e in best] == [0, 1, 2] and best[0]["value"] >= best[1]["value"] >= best[2]["value"]
    assert [e["rank"] for e in least] == [0, 1, 2] and least[0]["value"] <= least[1]["value"] <= least[2]["value"]


def test_a_worker_tracing_documents_on_two_threads_gives_the_one_thread_rows(tiny, monkeypatch):
    """Two threads each trace their own documents; the rows (sums, counts, examples) equal one thread's exactly,
    and the caller's torch thread count comes back."""
    import torch

    settings, docs = _settings(tiny, batch_size=6), _docs(5)
    items = job.work_items(docs, settings)
    before = torch.get_num_threads()
    runs = {}
    for threads in ("1", "2"):
        monkeypatch.setenv("ATLAS_WORKER_THREADS", threads)
        runs[threads] = job.run_in_process(items, settings)
        assert torch.get_num_threads() == before
    assert len(runs["1"]) == len(runs["2"]) == 2  # 5 documents and 3 induction sequences: batches of 6 and 2
    for one, two in zip(runs["1"], runs["2"], strict=True):
        assert one.keys() == two.keys()
        for column in one:
            assert list(one[column]) == list(two[column]), column


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray with two CPUs for both Ray tests: on two shared cores its start, its actors' start and its
    shutdown are most of a Ray test's time (tests/conftest.py keeps the tests that use it on one worker)."""
    import ray

    job.start_ray(None, workers=2)
    yield
    ray.shutdown()


@pytest.mark.ray
def test_ray_with_two_workers_equals_the_in_process_loop_and_survives_a_killed_worker(tiny, local_ray):
    """A worker is killed mid-job, and the table still equals the in-process loop's, each number counted once."""
    settings, docs = _settings(tiny, batch_size=1), _docs(40)  # 43 one-document batches: time to kill mid-job
    items = job.work_items(docs, settings)
    clean, _ = _table(job.run_in_process(items, settings), len(docs), settings)
    killed: list[int] = []

    def kill_one_worker(done: int, total: int) -> None:
        if not killed and done < total // 2:
            workers = [
                p for p in psutil.process_iter(["cmdline"]) if "AtlasWorker" in " ".join(p.info["cmdline"] or [])
            ]
            if workers:  # Ray titles an actor's process "ray::AtlasWorker…"
                os.kill(workers[0].pid, signal.SIGKILL)
                killed.append(done)

    with warnings.catch_warnings(record=True) as caught:  # Ray's own "module" filter would show each once
        warnings.simplefilter("always")
        on_ray, _ = _table(job.run_on_ray(items, settings, workers=2, progress=kill_one_worker), len(docs), settings)
    ours = [str(w.message) for w in caught if w.filename == job.__file__]
    assert ours == []  # e.g. `ray_remote_args`, removed in Ray 2.64: the job passes named parameters only
    assert killed, "no worker was killed mid-job: the test did not test anything"
    assert on_ray.keys() == clean.keys()
    for key, (value, n) in clean.items():
        assert on_ray[key][1] == n and (on_ray[key][0] == pytest.approx(value, abs=TOL) or np.isnan(value)), key


@pytest.mark.ray
def test_a_worker_error_on_ray_comes_back_as_the_engines_own_sentence(tiny, local_ray):
    """A model that cannot load (the actor's constructor fails) and a setting a text cannot take (a batch fails):
    the job ends with the engine's own message, not Ray's wrapping of it (ActorDiedError after actor restarts,
    a UserCodeException ending in retry advice), which is what the CLI and the app's page would show."""
    docs = _docs(3)
    failing = [
        (replace(_settings(tiny), model=str(Path(tiny) / "no-such-model")), "Unknown model"),
        (replace(_settings(tiny), max_tokens=1000), "The token cap must be between 1 and 128"),
    ]
    for settings, said in failing:
        with pytest.raises(job.WorkerError, match=said) as ended:
            job.run_on_ray(job.work_items(docs, settings), settings, workers=1)
        assert "\n" not in str(ended.value) and "retry" not in str(ended.value)


def test_cli_writes_both_tables_and_a_failed_write_leaves_the_previous_atlas(tiny, tmp_path, monkeypatch):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(CORPUS[:6]), encoding="utf-8")
    out = tmp_path / "atlas.parquet"
    args = ["--model", tiny, "--corpus", str(corpus), "--out", str(out), "--in-process", "--max-tokens", "32",
            "--induction-sequences", "2", "--induction-period", "4"]  # fmt: skip
    assert cli(args) == 0
    stats, examples, meta = tables.read_atlas(out)
    assert set(tables.STATS_COLUMNS) <= set(stats.column_names) and stats.num_rows == 2 * 4 * 7
    assert {"doc_id", "query", "tokens", "weights", "top_keys"} <= set(examples.column_names)
    assert meta["n_documents"] == 6 and meta["max_tokens"] == 32
    before = out.read_bytes()

    def broken_write(table, where, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(tables.pq, "write_table", broken_write)
    assert cli(args) == 1  # not bad input: the disk's error, on one line (tests/atlas/test_cli.py)
    assert out.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == [
        "atlas.examples.parquet", "atlas.parquet", "c.txt"]  # fmt: skip


def test_cli_says_what_is_wrong_with_a_bad_corpus(tiny, tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    assert cli(["--model", tiny, "--corpus", str(empty), "--out", str(tmp_path / "a.parquet"), "--in-process"]) == 2
    assert "holds no documents" in capsys.readouterr().err
    assert not (tmp_path / "a.parquet").exists()


def test_previous_and_first_token_examples_are_not_chosen_where_the_two_are_the_same_key(tiny):
    """At query 1 the previous token IS the first token, so weight there shows neither statistic; examples
    start at query 2 (the statistic itself still counts query 1, as docs/atlas.md defines it)."""
    settings, docs = _settings(tiny), _docs(5)
    _, examples = _table(job.run_in_process(job.work_items(docs, settings), settings), len(docs), settings)
    chosen = [e for e in examples if e["statistic"] in ("previous_token", "first_token")]
    assert chosen and all(e["query"] >= 2 for e in chosen)


def test_an_input_error_without_a_message_still_ends_the_job(monkeypatch):
    """The Ray actor returns an input error as a row whose `error` is its message; an empty message read as no
    error, and the job then failed on that row with json's "Expecting value"."""

    def fails(_settings):
        raise ValueError()

    monkeypatch.setattr(job, "AtlasWorker", fails)
    assert job.RayAtlasWorker({}).error == "ValueError"


def test_a_hybrids_atlas_has_rows_for_its_attention_layers_alone(tmp_path):
    """LFM2 (tests.tiny_models_hybrid): layers 0 and 2 are short convolutions, without heads, so without rows; the
    attention layers' values are their patterns' own."""
    from tests.tiny_models_hybrid import save_tiny_lfm2

    save_tiny_lfm2(tmp_path)
    settings, docs = _settings(str(tmp_path)), _docs(3)
    got, _ = _table(job.run_in_process(job.work_items(docs, settings), settings), len(docs), settings)
    assert {layer for layer, _, _ in got} == {1, 3}
    model = load_model(str(tmp_path))
    sums = counts = 0
    for d in docs:
        pattern = model.trace(d.text, max_tokens=64).pattern(3, 1).numpy()
        sums, counts = sums + float(np.diagonal(pattern, offset=-1).sum()), counts + pattern.shape[0] - 1
    assert got[(3, 1, "previous_token")] == (pytest.approx(sums / counts, abs=1e-6), counts)
