"""Acceptance (issue 17): examples/quickstart.ipynb runs in a kernel and its outputs hold the interactive figures; the
views it shows in one kernel are independent on one page (a click in one redraws only its own head figure); the
overview's click selects a head in a standalone file too."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from tests.package.conftest import ROOT, offline_page

NOTEBOOK = ROOT / "examples" / "quickstart.ipynb"
pytestmark = pytest.mark.one_worker("app-server")  # the notebook runs once, on its browser tests' worker


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """The quickstart run top to bottom by nbclient in a fresh kernel (working folder: a temporary one)."""
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    out = tmp_path_factory.mktemp("quickstart")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", str(ROOT))  # the kernel imports attention_viz from this checkout
        nbclient.NotebookClient(
            nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(out)}}
        ).execute()
    return nb, out


def html_outputs(nb: dict) -> list[str]:
    return [
        o["data"]["text/html"]
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "text/html" in o.get("data", {})
    ]


def test_quickstart_is_committed_without_outputs() -> None:
    nb = json.loads(NOTEBOOK.read_text())
    assert all(
        not c.get("outputs") and c.get("execution_count") is None for c in nb["cells"] if c["cell_type"] == "code"
    )


@pytest.mark.real_model  # the kernel loads SmolLM2
def test_quickstart_runs_and_shows_interactive_figures(executed) -> None:
    nb, out = executed
    views = html_outputs(nb)
    assert len(views) == 5  # head, layer, scores, the ablated head, the logit lens
    for html in views:
        spec = re.search(r'<script type="application/json" id="attnviz-[0-9a-f]+-data">(.*?)</script>', html, re.S)
        assert spec, "each view embeds its figures"
        figures = json.loads(spec.group(1))["figures"]
        assert any(t["type"] == "heatmap" for f in figures for t in f["data"])
        assert "Plotly.newPlot" in html and "window.Plotly" in html  # drawn by the plotly.js inside the output
    layer_view = json.loads(re.search(r'-data">(.*?)</script>', views[1], re.S).group(1))
    assert sorted(layer_view["heads"]) == [f"3,{h}" for h in range(9)], "every head of the layer is clickable"
    assert (out / "head.svg").read_text().startswith("<svg") and (out / "head.html").stat().st_size > 1e6
    with np.load(out / "trace.npz", allow_pickle=False) as f:
        assert "blocks.3.attn.pattern" in f.files and "manifest" in f.files
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "largest change in layer 4, head 0's pattern" in printed and "next token" in printed
    assert next_tokens(printed)["plain"] != next_tokens(printed)["ablated"], "the markdown says the prediction changes"


def next_tokens(printed: str) -> dict[str, str]:
    """The ablation cell's "plain    next token: ','" lines: run → the token printed."""
    return dict(re.findall(r"^(plain|ablated) +next token: ('.*?')", printed, re.M))


def head_titles(page) -> list[str]:
    """The title of each view's last figure, as Plotly holds it on the drawn element."""
    return page.evaluate(
        """() => [...document.querySelectorAll('.attnviz')].map(v => {
            const figs = v.querySelectorAll('.attnviz-figure');
            const t = figs[figs.length - 1].layout.title;
            return (t && t.text) || '';
        })"""
    )


@pytest.mark.browser
@pytest.mark.real_model
def test_views_in_one_kernel_are_independent(executed, browser, tmp_path: Path) -> None:
    """The outputs on one page, as a notebook shows them: each draws its own figures, and a click on head 5 in the
    layer view redraws that view's head figure only."""
    nb, _ = executed
    page_file = tmp_path / "notebook.html"
    page_file.write_text("<!DOCTYPE html><meta charset='utf-8'><body>" + "\n<hr>\n".join(html_outputs(nb)) + "</body>")
    with offline_page(browser, page_file.as_uri()) as page:
        views = page.locator(".attnviz")
        assert views.count() == 5
        for i in range(5):
            views.nth(i).locator(".main-svg").first.wait_for(state="attached")
        before = head_titles(page)
        assert before[0] == before[1] == "Layer 3, head 0" and before[3] == "Layer 4, head 0", before
        assert before[4].startswith("after ‘"), before  # the logit lens's last figure: the last position
        grid = views.nth(1).locator(".attnviz-figure").first
        grid.scroll_into_view_if_needed()
        box = grid.locator(".annotation-text", has_text="head 5").bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] + 25  # on the thumbnail under its label
        page.mouse.move(x, y)
        page.wait_for_timeout(300)
        page.mouse.click(x, y)
        views.nth(1).locator("[id$=-selected]", has_text="head 5").wait_for()
        after = head_titles(page)
        assert after[1] == "Layer 3, head 5"
        frame_x, target_x = page.evaluate(
            """el => [(el.layout.shapes[0].x0 + el.layout.shapes[0].x1) / 2, el.data[1].x[5]]""", grid.element_handle()
        )
        assert frame_x == pytest.approx(target_x), "the grid's red frame moved to head 5"
        assert after[0] == before[0] and after[2:] == before[2:], (before, after)


@pytest.mark.browser
def test_overview_click_selects_a_head_in_a_standalone_file(tiny_model, browser, tmp_path: Path) -> None:
    """Every layer × head of a tiny model (2 × 4): a click on layer 1, head 2 draws that head; its hover numbers are
    the trace's."""
    from attention_viz import load, show

    trace = load(tiny_model).trace("hello there")  # as a notebook loads a folder of its own
    out = show(trace, "overview", layer=0, head=0).save(tmp_path / "overview.html")
    with offline_page(browser, out.as_uri()) as page:
        view = page.locator(".attnviz")
        mosaic = view.locator(".attnviz-figure").first
        mosaic.locator(".main-svg").first.wait_for(state="attached")
        x, y = page.evaluate(
            """el => { const xa = el._fullLayout.xaxis, ya = el._fullLayout.yaxis, pts = el.data[1];
                const i = 1 * 4 + 2;  // the click targets run layer by layer (viz.figures.overview)
                const r = el.querySelector('.nsewdrag').getBoundingClientRect();
                return [r.left + xa.l2p(pts.x[i]), r.top + ya.l2p(pts.y[i])]; }""",
            mosaic.element_handle(),
        )
        page.mouse.move(x, y)
        page.wait_for_timeout(300)
        page.mouse.click(x, y)
        view.locator("[id$=-selected]", has_text="Layer 1, head 2").wait_for()
        assert head_titles(page) == ["Layer 1, head 2"]
        drawn = page.evaluate("el => el.data[0].z", view.locator(".attnviz-figure").last.element_handle())
        assert np.allclose(np.asarray(drawn, dtype=float), np.asarray(trace.pattern(1, 2)), atol=1e-6)
