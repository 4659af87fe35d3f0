"""The library's and the CLI's answers to inputs a review found unguarded: each one a clear line (exit 2 for bad
arguments, 1 for what cannot be done here), never a traceback; long texts cut with a notice; tensor files whose
suffix says what they are; tensor exports that stop before they exhaust memory."""

from __future__ import annotations

import functools
import io
import json
import re
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import attention_viz as av
from attention_viz import cli, export
from attention_viz.export import ExportError, collect, tensor_names
from attention_viz.views import ViewError, check_args
from services.models import AttentionCoreError


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    code = cli.main(argv)
    return code, capsys.readouterr().err


def test_the_lens_of_an_encoder_is_a_bad_argument_not_a_traceback(tmp_path, capsys) -> None:
    out = tmp_path / "lens.svg"
    code, err = run_cli(["export", "--model", "minilm-l6", "--text", "a fluffy creature", "--view", "lens",
                         "-o", str(out)], capsys)  # fmt: skip
    assert code == 2 and "no logit lens" in err and err.count("\n") == 1, err
    assert not out.exists()


@pytest.mark.parametrize(
    ("device", "code", "said"),
    [("tpu", 2, "unknown device 'tpu'"), ("cuda:", 2, "unknown device"), ("cuda", 1, "CUDA")],
)
def test_a_device_this_machine_lacks_is_one_line(tiny_model, tmp_path, capsys, monkeypatch, device, code, said):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the same answer on a machine with a GPU
    argv = ["export", "--model", tiny_model, "--text", "hello there", "--device", device, "-o", str(tmp_path / "x.svg")]
    got, err = run_cli(argv, capsys)
    assert got == code and said in err and err.count("\n") == 1, err


@pytest.mark.parametrize("width", ["0", "-50", "100000"])
def test_an_image_width_out_of_reason_is_refused(tiny_model, tmp_path, capsys, width) -> None:
    out = tmp_path / "x.png"
    code, err = run_cli(["export", "--model", tiny_model, "--text", "hi", "--width", width, "-o", str(out)], capsys)
    assert code == 2 and "--width" in err and err.count("\n") == 1, err
    assert not out.exists()


def test_a_cut_text_is_said_on_stderr_and_in_the_manifest(tiny_model, tmp_path, capsys) -> None:
    text = " ".join(f"word{i}" for i in range(400))  # the tiny model takes 128 positions
    out = tmp_path / "t.npz"
    code, err = run_cli(["trace", "--model", tiny_model, "--text", text, "--out", str(out), "--tensors", "k"], capsys)
    assert code == 0 and "note:" in err and "cut to its first 128 tokens" in err, err
    with np.load(out, allow_pickle=False) as f:
        man = json.loads(str(f["manifest"]))
    assert man["truncated"] is True and man["n_input_tokens"] > 128 == len(man["tokens"])
    short = av.load(tiny_model).trace("hello there")
    assert "cut" not in av.show(short, "head").view.note
    long = av.load(tiny_model).trace(text)
    assert "cut to its first 128 tokens" in av.show(long, "head").view.note


def test_second_text_reads_an_encoders_pair_and_a_decoder_refuses_it(tiny_model, tmp_path, capsys) -> None:
    from tests.tiny_masked_lms import save_tiny_masked_lm
    from viz.figures.layout import PAIR_SPLIT_COLOUR

    save_tiny_masked_lm("bert", tmp_path / "bert")
    out = tmp_path / "pair.npz"
    argv = ["trace", "--text", "the blue creature", "--second-text", "took a mole", "--out", str(out), "--tensors", "k"]
    code, err = run_cli([*argv[:1], "--model", str(tmp_path / "bert"), *argv[1:]], capsys)
    assert code == 0, err
    with np.load(out, allow_pickle=False) as f:
        man = json.loads(str(f["manifest"]))
    assert man["text"] == "the blue creature\ntook a mole"
    first = man["second_text_token"]
    assert man["tokens"][first - 1] == "[SEP]" and set(man["segments"][first:]) == {1} and man["segments"][0] == 0
    code, err = run_cli([*argv[:1], "--model", tiny_model, *argv[1:]], capsys)
    assert code == 2 and "reads one text: a text pair is for an encoder" in err and err.count("\n") == 1, err
    pair = av.load(str(tmp_path / "bert")).trace("the blue creature", second_text="took a mole")
    [figure] = av.show(pair, "head").view.figures
    lines = [s for s in figure.layout.shapes if s.line.dash == "dash"]
    at = pair.segments.second_token - 0.5
    assert sorted((s.x0, s.y0) for s in lines) == sorted([(at, 0), (0, at)])  # the notebook's head view marks it
    for view in ("scores", "steps"):  # and every query × key matrix of the scores and steps views (three panels: 3×)
        for figure in av.show(pair, view).view.figures:
            lines = [s for s in figure.layout.shapes or () if s.line.color == PAIR_SPLIT_COLOUR]
            assert {(s.x0, s.y0) for s in lines} == {(at, 0), (0, at)}, (view, figure.layout.title.text)
    cut = av.load(str(tmp_path / "bert")).trace("the blue creature", second_text="took a mole", max_tokens=6)
    assert "cut to 6 tokens, from the end of the longer text first" in av.show(cut, "head").view.note


def test_save_tensors_writes_what_the_suffix_says(tiny_model, tmp_path) -> None:
    trace = av.load(tiny_model).trace("hello there")
    with pytest.raises(ExportError, match=r"\.npz or \.parquet"):
        av.save_tensors(trace, tmp_path / "t.csv", "k")
    assert not (tmp_path / "t.csv").exists()
    pytest.importorskip("pyarrow")
    av.save_tensors(trace, tmp_path / "t.PARQUET", ["k", "q"])  # any case; a list of names as well as a string
    assert (tmp_path / "t.PARQUET").read_bytes()[:4] == b"PAR1"
    av.save_tensors(trace, tmp_path / "t.npz", "k")
    assert zipfile.is_zipfile(tmp_path / "t.npz")


def test_collect_stops_before_the_tensors_pass_its_memory_bound(tiny_model) -> None:
    trace = av.load(tiny_model).trace("hello there, a few tokens")
    names = tensor_names(trace, ["pattern", "scores"])
    one = np.asarray(trace[names[0]]).nbytes
    assert len(collect(trace, names, max_bytes=one * len(names))) == len(names)
    with pytest.raises(ExportError, match="shorter text"):
        collect(trace, names, max_bytes=one * 2)


@pytest.mark.parametrize(
    ("kwargs", "said"),
    [
        (dict(layer="1"), "layer must be a whole number"),
        (dict(head=1.0), "head must be a whole number"),
        (dict(layer=True), "layer must be a whole number"),
        (dict(orient="diag"), "orient must be 'rows' or 'cols'"),
    ],
)
def test_notebook_arguments_of_the_wrong_kind_are_a_view_error(tiny_model, kwargs, said) -> None:
    trace = av.load(tiny_model).trace("hello there")
    with pytest.raises(ViewError, match=said):
        av.show(trace, "head", **kwargs)
    with pytest.raises(ViewError, match=said):
        check_args(trace, "head", kwargs.get("layer", 0), kwargs.get("head", 0), kwargs.get("orient", "rows"))


def hanging_chromium(tmp_path, monkeypatch) -> Path:
    """$CHROMIUM as a script that never draws: it waits on a child, as Chromium waits on its helper processes; the
    child's process id is written to the file returned."""
    fake, child = tmp_path / "chromium", tmp_path / "child.pid"
    fake.write_text(f"#!/bin/sh\nsleep 30 &\necho $! > {child}\nwait\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CHROMIUM", str(fake))
    monkeypatch.setattr(export, "svg_to_png", functools.partial(export.svg_to_png, timeout=1))
    return child


def running(pid: int) -> bool:
    """Whether the process is alive (a zombie nobody has reaped yet is not)."""
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_a_chromium_that_hangs_is_one_line_not_a_traceback(tiny_model, tmp_path, capsys, monkeypatch) -> None:
    child = hanging_chromium(tmp_path, monkeypatch)
    out = tmp_path / "x.png"
    code, err = run_cli(["export", "--model", tiny_model, "--text", "hello there", "-o", str(out)], capsys)
    assert code == 1 and err.count("\n") == 1, err
    assert "Chromium took over 1 s to draw the PNG; try --format svg or a smaller --width" in err
    assert not out.exists()
    pid = int(child.read_text())
    deadline = time.monotonic() + 3
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(pid), "the browser's helper processes must be stopped with it"


@pytest.mark.parametrize("given", ["text", "model", None])
def test_show_names_what_it_expected_when_given_something_else(tiny_model, given) -> None:
    obj = av.load(tiny_model) if given == "model" else given
    got = {"text": "str", "model": "Model", None: "None"}[given]
    expected = rf"expected a Trace \(from model\.trace\(text\)\) or a Generation, got {got}$"
    with pytest.raises(ViewError, match=expected):
        av.show(obj, "head")
    with pytest.raises(ExportError, match=expected):
        av.save_tensors(obj, "unused.npz", "k")


def test_save_tensors_takes_a_generation_as_its_trace(tiny_model, tmp_path) -> None:
    generated = av.load(tiny_model).generate("hello there", max_new_tokens=2)
    written = av.save_tensors(generated, tmp_path / "g.npz", "pattern")
    with np.load(tmp_path / "g.npz", allow_pickle=False) as f:
        man = json.loads(str(f["manifest"]))
    assert man["tokens"] == list(generated.trace.tokens) and "blocks.0.attn.pattern" in written


@pytest.mark.parametrize(
    ("call", "error", "said"),
    [
        (lambda: av.load(None), AttentionCoreError, "a model is named by a string"),
        (lambda: av.ablate_head("3", 0), AttentionCoreError, "layer must be a whole number, not '3'"),
        (lambda: av.ablate_head(3, 0.5), AttentionCoreError, "head must be a whole number, not 0.5"),
        (lambda: av.ablate_head(3, 0, "half"), AttentionCoreError, "mode must be 'zero' or 'mean', not 'half'"),
    ],
)
def test_load_and_ablate_head_refuse_the_wrong_kind_in_one_line(call, error, said) -> None:
    with pytest.raises(error, match=re.escape(said)) as refused:
        call()
    assert isinstance(refused.value, ValueError) and "\n" not in str(refused.value)


def test_save_tensors_refuses_a_tensor_name_that_is_not_text(tiny_model, tmp_path) -> None:
    trace = av.load(tiny_model).trace("hello there")
    with pytest.raises(ExportError, match=r"tensor names are text .*, not 3$"):
        av.save_tensors(trace, tmp_path / "t.npz", [3])
    assert not (tmp_path / "t.npz").exists()


@pytest.mark.parametrize("width", [-5, 0, 100000, "900", 900.0, True])
def test_a_saved_view_refuses_a_width_out_of_reason_as_the_cli_does(tiny_model, tmp_path, capsys, width) -> None:
    out = tmp_path / "x.svg"
    with pytest.raises(ExportError, match=r"^the width takes 200-6000 px \(a whole number\), not ") as refused:
        av.show(av.load(tiny_model).trace("hello there"), "head").save(out, width=width)
    assert not out.exists()
    if width == -5:  # the CLI says the same sentence
        code, err = run_cli(["export", "--model", tiny_model, "--text", "hi", "--width", "-5", "-o", str(out)], capsys)
        assert code == 2 and str(refused.value) in err and err.count("\n") == 1, err


def manifest_of(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as f:
        return json.loads(str(f["manifest"]))


def test_text_dash_reads_the_text_from_stdin(tiny_model, tmp_path, capsys, monkeypatch) -> None:
    out = tmp_path / "t.npz"
    monkeypatch.setattr("sys.stdin", io.StringIO("hello there, from a pipe\n"))
    code, err = run_cli(["trace", "--model", tiny_model, "--text", "-", "--out", str(out), "--tensors", "k"], capsys)
    assert code == 0, err
    assert manifest_of(out)["text"] == "hello there, from a pipe\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(" \n"))
    code, err = run_cli(["export", "--model", tiny_model, "--text", "-", "-o", str(tmp_path / "x.svg")], capsys)
    assert code == 2 and "--text is empty" in err and err.count("\n") == 1, err


def test_text_that_is_not_utf8_is_read_with_replacement_characters(tiny_model, tmp_path, capsys, monkeypatch) -> None:
    # Bytes that are not UTF-8, from a pipe (stdin's bytes) or an argument (a lone surrogate from the shell's
    # decoding): one U+FFFD each, as the app's tokenizer reads them, in every file; never a traceback.
    out = tmp_path / "t.html"
    pipe = io.TextIOWrapper(io.BytesIO(b"caf\xe9 au lait"), encoding="utf-8", errors="strict")
    monkeypatch.setattr("sys.stdin", pipe)
    code, err = run_cli(["export", "--model", tiny_model, "--text", "-", "-o", str(out)], capsys)
    assert code == 0, err
    assert "caf\ufffd au lait" in out.read_text(encoding="utf-8")
    code, err = run_cli(["export", "--model", tiny_model, "--text", "caf\udce9 au lait", "-o", str(out)], capsys)
    assert code == 0, err
    assert "caf\ufffd au lait" in out.read_text(encoding="utf-8")


def test_max_tokens_cuts_the_text_and_the_engine_checks_it(tiny_model, tmp_path, capsys) -> None:
    out = tmp_path / "t.npz"
    base = ["trace", "--model", tiny_model, "--text", "one two three four five six", "--out", str(out)]
    code, err = run_cli([*base, "--tensors", "k", "--max-tokens", "3"], capsys)
    assert code == 0 and "cut to its first 3 tokens" in err, err
    man = manifest_of(out)
    assert man["truncated"] is True and len(man["tokens"]) == 3 < man["n_input_tokens"]
    out.unlink()
    for bad, said in (("0", "The token cap must be between 1 and 128"), ("x", "invalid int value: 'x'")):
        code, err = run_cli([*base, "--max-tokens", bad], capsys)
        assert code == 2 and said in err and err.count("\n") == 1, err
        assert not out.exists()


def test_export_help_says_each_view_stdin_and_max_tokens(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["export", "--help"])
    assert done.value.code == 0
    said = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for name, what in cli.VIEWS.items():
        if name not in cli.FROM_GENERATION + cli.FROM_PAIR:
            assert f"{name}: {' '.join(what.split())}" in said, name
    assert "--max-tokens" in said and "- reads it from stdin" in said
    assert "the layer (from 0)" in said and "the head (from 0)" in said


def test_what_the_model_says_about_its_file_is_said_on_stderr(tmp_path, capsys, monkeypatch) -> None:
    """A GGUF whose tokenizer split we do not know: the app says so in its sidebar, the CLI on stderr."""
    from gguf import GGUFValueType

    from attention_core.loading.cache import CACHE_ENV
    from tests.gguf_writer import rewrite_gguf, save_tiny_gguf

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    tiny = save_tiny_gguf(tmp_path / "tiny.gguf")
    odd = rewrite_gguf(tiny, tmp_path / "odd.gguf", {"tokenizer.ggml.pre": ("mystery-7b", GGUFValueType.STRING)})
    for model, noted in ((tiny, False), (odd, True)):
        out = tmp_path / f"{model.stem}.npz"
        code, err = run_cli(["trace", "--model", str(model), "--text", "hello there", "--out", str(out)], capsys)
        assert code == 0 and ("note:" in err and "'mystery-7b'" in err) == noted, err
