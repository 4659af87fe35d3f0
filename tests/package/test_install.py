"""Acceptance (issue 17): the repository pip-installed into a fresh virtualenv outside the repo; `attention-viz export`
then writes a valid SVG whose token labels are <text>, and a standalone HTML file that a browser opens from disk with
the network blocked, with the heatmap drawn and a hover label appearing.

To stay fast the venv gets the package with --no-deps and sees the project's .venv site-packages (torch, plotly, the
model packages ...) through a .pth file; a full `pip install <repo>` was done by hand (docs/notebook.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.package.conftest import ROOT, offline_page

# The installed CLI loads SmolLM2 (make test-fast leaves it out); the venv and the export are built once, on the
# worker of the browser test that opens the HTML.
pytestmark = [pytest.mark.real_model, pytest.mark.one_worker("app-server")]
TEXT = "a fluffy blue creature"
SVG = "{http://www.w3.org/2000/svg}"


def repo_copy(dest: Path) -> Path:
    """The repository's files as git sees them (tracked and new, not ignored): the build leaves nothing in the repo."""
    names = (
        subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, names):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the package installed (no-deps); returns its attention-viz script."""
    base = tmp_path_factory.mktemp("fresh")
    venv.create(base / "venv", with_pip=False)
    py = base / "venv" / "bin" / "python"
    site = Path(
        subprocess.check_output(
            [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    # pip comes from the project's venv, run with --python: creating the venv without pip is several seconds faster.
    (site / "project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    src = repo_copy(base / "src")
    pip = [sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-build-isolation", "-q"]
    done = subprocess.run([*pip, str(src)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    script = base / "venv" / "bin" / "attention-viz"
    assert script.exists()
    where = subprocess.run(
        [py, "-c", "from attention_viz.cli import app_script; print(app_script())"],
        cwd=base,  # not the repository: its folders would shadow the installed packages
        env=clean_env(),
        capture_output=True,
        text=True,
    )
    assert Path(where.stdout.strip()) == site / "app.py", where.stderr  # `attention-viz app` serves the installed app
    assert (site / "assets" / "examples.json").is_file() and (site / "viz" / "figures" / "text_view.js").is_file()
    return script


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing from the repository on the path


def run_cli(script: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(script), *args], cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def exported(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The issue's example, run by the installed command, writing the SVG and the HTML of one trace (one model load;
    `--format svg -o head.svg`, the example's spelling, is checked in test_files.py with a tiny model)."""
    out = tmp_path_factory.mktemp("exported")
    args = ["export", "--model", "smollm2-135m", "--text", TEXT, "--layer", "3", "--head", "0", "--view", "head"]
    done = run_cli(installed, out, *args, "-o", "head.svg", "-o", "head.html")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("wrote") == 2
    return out


def test_installed_cli_writes_vector_svg(exported: Path) -> None:
    root = ET.parse(exported / "head.svg").getroot()
    assert root.tag == f"{SVG}svg"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    for token in ["a", "␣fluffy", "␣blue", "␣creature"]:  # the app's readable labels (␣ = a leading space)
        assert texts.count(token) == 2, (token, texts)
    assert not list(root.iter(f"{SVG}image"))


@pytest.mark.browser
def test_installed_cli_html_works_offline_in_a_browser(exported: Path, browser) -> None:
    with offline_page(browser, (exported / "head.html").as_uri()) as page:
        page.wait_for_selector(".attnviz-figure .heatmaplayer image", state="attached")
        assert page.locator(".attnviz-figure .xtick text").count() == 4
        box = page.locator(".attnviz-figure .nsewdrag").first.bounding_box()
        x, y = box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.9  # query 3, key 0
        page.mouse.move(x, y)
        page.wait_for_timeout(300)
        page.mouse.move(x + 2, y)  # Plotly hovers on mouse moves over a drawn plot: a second one, once it is drawn
        label = page.locator(".hoverlayer .hovertext").first
        label.wait_for()
        hover = label.text_content() or ""
        assert "query 3" in hover and "key 0" in hover and "weight" in hover, hover
