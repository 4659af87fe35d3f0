"""The atlas CLI's refusals: a bad option, a setting the model cannot take or an output it cannot write is one line
on stderr and exit 2, found before the job runs (and before Ray starts), so nobody waits for a job bound to fail;
and a failed write leaves the previous atlas whole."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from attention_core.atlas import job, tables
from attention_core.atlas.__main__ import main as cli
from tests.tiny_models import CORPUS, save_tiny_gpt2, wordpiece


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("tiny-gpt2")  # 128 positions, a tokenizer that adds no special tokens
    save_tiny_gpt2(folder)
    return str(folder)


@pytest.fixture
def corpus(tmp_path) -> Path:
    path = tmp_path / "c.txt"
    path.write_text("\n".join(CORPUS[:3]), encoding="utf-8")
    return path


@pytest.fixture
def no_job(monkeypatch):
    """Fails the test if the job starts, in-process or on Ray: the refusal must come first."""

    def started(*args, **kwargs):
        raise AssertionError("the job ran")

    monkeypatch.setattr(job, "run_in_process", started)
    monkeypatch.setattr(job, "run_on_ray", started)


def _args(tiny: str, corpus: Path, out: Path, *extra: str) -> list[str]:
    # On Ray (the default); the tiny model takes 128 tokens, fewer than the default cap of 256.
    return ["--model", tiny, "--corpus", str(corpus), "--out", str(out), "--max-tokens", "32", *extra]


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--workers", "0", "must be a whole number of 1 or more"),
        ("--batch-size", "0", "must be a whole number of 1 or more"),
        ("--limit", "0", "must be a whole number of 1 or more"),
        ("--limit", "-1", "must be a whole number of 1 or more"),
        ("--max-tokens", "0", "must be a whole number of 1 or more"),
        ("--induction-period", "1", "must be a whole number of 2 or more"),
        ("--induction-sequences", "-1", "must be a whole number of 0 or more"),
        ("--seed", "-1", "must be a whole number of 0 or more"),
        ("--workers", "two", "must be a whole number of 1 or more"),
    ],
)
def test_option_values_that_cannot_work_are_refused_by_the_parser(
    tiny, corpus, tmp_path, capsys, no_job, option, value, said
):
    with pytest.raises(SystemExit) as ended:
        cli(_args(tiny, corpus, tmp_path / "a.parquet", option, value))
    err = capsys.readouterr().err
    assert ended.value.code == 2 and f"argument {option}: {value!r} {said}" in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--max-tokens", "1000"], "--max-tokens 1000 is more than"),
        (["--induction-period", "70"], "--induction-period 70 makes induction sequences of 140 tokens"),
    ],
)
def test_settings_the_model_cannot_take_are_refused_before_ray_starts(
    tiny, corpus, tmp_path, capsys, no_job, extra, said
):
    assert cli(_args(tiny, corpus, tmp_path / "a.parquet", *extra)) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("error: ") and said in line and "128 tokens" in line, line


def test_a_model_that_is_not_there_is_refused_before_ray_starts(corpus, tmp_path, capsys, no_job):
    assert cli(_args(str(tmp_path / "no" / "model"), corpus, tmp_path / "a.parquet")) == 2
    assert "Unknown model" in _one_line(capsys.readouterr().err)


def test_the_induction_period_counts_the_special_tokens_the_tokenizer_adds(tiny, corpus, tmp_path, capsys, no_job):
    framed = tmp_path / "framed"  # the tiny model's config with a BERT-style tokenizer: [CLS] … [SEP]
    framed.mkdir()
    shutil.copy(Path(tiny) / "config.json", framed / "config.json")
    wordpiece(300).save(str(framed / "tokenizer.json"))
    assert job.model_limits(str(framed)) == job.ModelLimits("framed", n_ctx=128, n_special=2)
    assert cli(_args(str(framed), corpus, tmp_path / "a.parquet", "--induction-period", "64")) == 2
    line = _one_line(capsys.readouterr().err)
    assert "130 tokens" in line and "at most 63" in line, line


def test_an_output_the_atlas_cannot_be_written_to_is_refused_before_the_job_runs(
    tiny, corpus, tmp_path, capsys, no_job
):
    (tmp_path / "taken.parquet").mkdir()
    (tmp_path / "ex.examples.parquet").mkdir()
    (tmp_path / "file").write_text("not a folder")
    for out, said in (
        (tmp_path / "taken.parquet", "taken.parquet is a folder"),
        (tmp_path / "ex.parquet", "ex.examples.parquet is a folder"),
        (tmp_path / "file" / "a.parquet", f"cannot write in {tmp_path / 'file'}"),
    ):
        assert cli(_args(tiny, corpus, out)) == 2
        line = _one_line(capsys.readouterr().err)
        assert line.startswith("error: --out: ") and said in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt", "ex.examples.parquet", "file", "taken.parquet"]


def test_a_table_that_cannot_be_put_in_place_leaves_the_previous_pair_or_none(tmp_path, monkeypatch):
    """The statistics table is renamed into place last; when that fails, the examples file is put back as it
    was, so no new examples file is left beside an old or missing table."""
    out = tmp_path / "a.parquet"
    row, example = {"layer": 0, "head": 0, "statistic": "self", "value": 0.5, "n_queries": 3}, {"rank": 0, "text": "x"}
    tables.write_atlas([row], [example], out, {"run": 1})
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real_replace = os.replace

    def table_fails(src, dst):
        if Path(dst).name.endswith(".parquet") and not Path(dst).name.endswith(".examples.parquet"):
            raise OSError("no space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(tables.os, "replace", table_fails)
    with pytest.raises(OSError, match="no space"):
        tables.write_atlas([{**row, "value": 0.25}], [{**example, "text": "new"}], out, {"run": 2})
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # the previous pair, nothing else
    fresh = tmp_path / "fresh" / "b.parquet"
    with pytest.raises(OSError, match="no space"):
        tables.write_atlas([row], [example], fresh, {"run": 3})
    assert list(fresh.parent.iterdir()) == []  # no pair before, none after


def test_a_write_that_fails_at_the_end_is_one_line_not_a_traceback(tiny, corpus, tmp_path, capsys, monkeypatch):
    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tables.pq, "write_table", disk_full)
    args = ["--in-process", "--max-tokens", "16", "--induction-sequences", "1", "--induction-period", "4"]
    assert cli(_args(tiny, corpus, tmp_path / "a.parquet", *args)) == 1
    err = capsys.readouterr().err
    assert "error: could not write the atlas to " in err and "No space left on device" in err
    assert "Traceback" not in err and not (tmp_path / "a.parquet").exists()
