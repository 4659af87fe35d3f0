"""What the SVG writer must not lose (a review found each of these missing): the logit lens's tokens in its cells and
its block numbers (a `dtick` axis), the generation view's end-of-prompt line, and every figure of a multi-figure view.
Synthetic arrays through the app's own figure builders: no model."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import plotly.graph_objects as go
import pytest

from attention_viz.export import view_bytes
from attention_viz.svg import SvgError, to_svg
from attention_viz.views import View
from viz.figures.heatmaps import mask_comparison, scores_heatmap
from viz.figures.lens import lens_grid_figure, lens_track_figure, step_attention_figure
from viz.figures.overview import overview_mosaic
from viz.figures.shifts import shift_arrows
from viz.views.generation import StepAttention
from viz.views.lens import LensGrid, LensTrack

SVG = "{http://www.w3.org/2000/svg}"
TOKENS = ["The", " cat", " sat", " down"]


def lens_grid(n_layers: int, n: int = 4) -> LensGrid:
    rng = np.random.default_rng(0)
    prob = rng.uniform(size=(n_layers, n))
    prob[0, 0], prob[-1, -1] = 0.0, 1.0  # the lightest and the darkest cell of "Blues"
    text = [[f"t{layer}_{j}" for j in range(n)] for layer in range(n_layers)]
    text[0][1] = "&lt;b&gt;"  # Plotly-escaped as the view model writes it: the SVG must say "<b>"
    zeros = np.zeros(n, dtype=int)
    return LensGrid(text, prob, text, TOKENS[:n], zeros, zeros)


def svg_of(fig: go.Figure) -> ET.Element:
    return ET.fromstring(to_svg(fig))


def texts(root: ET.Element, cls: str | None = None) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text") if cls is None or cls in (t.get("class") or "").split()]


def test_lens_cells_carry_their_tokens_in_a_readable_colour() -> None:
    root = svg_of(lens_grid_figure(lens_grid(6)))
    cells = {t.text: t for t in root.iter(f"{SVG}text") if "cell" in (t.get("class") or "")}
    expected = {f"t{layer}_{j}" for layer in range(6) for j in range(4)} - {"t0_1"} | {"<b>"}
    assert set(cells) == expected
    assert cells["t0_0"].get("fill") == "#444", "dark text on the lightest cell"
    assert cells["t5_3"].get("fill") == "#fff", "light text on the darkest cell"
    assert cells["t0_0"].get("font-size") == "10", "the trace's textfont size"


def test_a_lens_cell_of_punctuation_is_large_and_bold_in_the_svg_too() -> None:
    """The browser writes a comma's cell at MARK_PX, bold (viz/figures/lens.py); the SVG says the same."""
    from viz.figures.lens import MARK_PX

    grid = lens_grid(2)
    grid.cell_text[1][2] = ","
    cells = {t.text: t for t in svg_of(lens_grid_figure(grid)).iter(f"{SVG}text") if "cell" in (t.get("class") or "")}
    assert cells[","].get("font-size") == str(MARK_PX) and cells[","].get("font-weight") == "bold"
    assert cells["t1_1"].get("font-size") == "10" and cells["t1_1"].get("font-weight") is None


def test_lens_cell_text_sits_in_its_cell() -> None:
    fig = lens_grid_figure(lens_grid(6))
    root = svg_of(fig)
    label = next(t for t in root.iter(f"{SVG}text") if t.text == "t5_3")  # block 5 (top row), last column
    tops = [float(t.get("y")) for t in root.iter(f"{SVG}text") if t.text and t.text.startswith("t5_")]
    bottoms = [float(t.get("y")) for t in root.iter(f"{SVG}text") if t.text and t.text.startswith("t0_")]
    assert max(tops) < min(bottoms), "block 0 is drawn at the bottom"
    lefts = [float(t.get("x")) for t in root.iter(f"{SVG}text") if t.text and t.text.endswith("_0")]
    assert float(label.get("x")) > max(lefts)


def test_cells_get_no_text_without_a_texttemplate() -> None:
    """The mask comparison's `text` is its hover: Plotly writes cell text only when a texttemplate asks."""
    p = np.tril(np.full((4, 4), 0.25))
    root = svg_of(mask_comparison(p, p, TOKENS))
    assert not [t for t in root.iter(f"{SVG}text") if "cell" in (t.get("class") or "")]


def test_hidden_tick_labels_stay_hidden() -> None:
    """The mask comparison labels its rows once, on the first panel (showticklabels=False on the others)."""
    p = np.tril(np.full((4, 4), 0.25))
    root = svg_of(mask_comparison(p, p, TOKENS))
    assert texts(root, "y") == TOKENS
    assert len(texts(root, "x")) == 3 * len(TOKENS)


def test_x_title_sits_under_its_labels_on_a_square_plot() -> None:
    """The overview's cells are square, so its plot ends well above the figure's bottom: "layer" goes under the
    layer numbers, not at the bottom of the figure."""
    pooled = np.random.default_rng(3).uniform(size=(30, 9, 4, 4))  # 30 layers × 9 heads: a wide plot
    root = svg_of(overview_mosaic(pooled, (0, 0)))
    labels = max(float(t.get("y")) for t in root.iter(f"{SVG}text") if "tick x" in (t.get("class") or ""))
    title = next(float(t.get("y")) for t in root.iter(f"{SVG}text") if t.text == "layer")
    assert labels < title < labels + 40


def test_texttemplate_formats_z() -> None:
    fig = go.Figure(go.Heatmap(z=[[0.12345, 0.5]], texttemplate="%{z:.2f}!"))
    assert texts(svg_of(fig), "cell") == ["0.12!", "0.50!"]


def test_dtick_axis_writes_its_numbers() -> None:
    root = svg_of(lens_grid_figure(lens_grid(12)))
    assert texts(root, "y") == [str(k) for k in range(12)], "block numbers 0..11, one per row (dtick 1)"


def test_axis_without_tick_settings_gets_plain_numbers() -> None:
    """Past 32 layers the lens leaves the y axis to Plotly's own ticks: 0, 10, 20, ... on a tall figure."""
    root = svg_of(lens_grid_figure(lens_grid(40, n=2)))
    numbers = [int(s) for s in texts(root, "y")]
    assert numbers[:2] == [0, 5] or numbers[:2] == [0, 10], numbers
    assert numbers == sorted(numbers) and numbers[-1] >= 30


def test_tick0_and_tickformat() -> None:
    fig = go.Figure(go.Heatmap(z=np.zeros((5, 2))))
    fig.update_yaxes(tick0=1, dtick=2, tickformat=".0%")
    fig.update_xaxes(showticklabels=False)
    root = svg_of(fig)
    assert texts(root, "y") == ["100%", "300%"]
    assert texts(root, "x") == [], "showticklabels=False hides them, as in the browser"


def step_view() -> StepAttention:
    rng = np.random.default_rng(1)
    keys = ["a", " fluffy", " blue", " creature", " is", " very"]
    return StepAttention(rng.uniform(size=(3, 6)), [" is", " very", " soft"], keys, n_prompt=4)


def test_generation_draws_the_end_of_prompt_line() -> None:
    fig = step_attention_figure(step_view(), 3, 0)
    root = svg_of(fig)
    lines = list(root.iter(f"{SVG}line"))
    assert len(lines) == 1
    line = lines[0]
    assert line.get("stroke") == "crimson" and line.get("stroke-width") == "2"
    assert line.get("stroke-dasharray") == "3,3", "Plotly's dot: max(width, 3) on, the same off"
    xs = [float(t.get("x")) for t in root.iter(f"{SVG}text") if "tick x" in (t.get("class") or "")]
    x = float(line.get("x1"))
    assert line.get("x1") == line.get("x2") and xs[3] < x < xs[4], "between the prompt's last key and the next"
    cells = [r for r in root.iter(f"{SVG}rect") if r.get("fill", "").startswith("rgb")][:18]
    top = min(float(r.get("y")) for r in cells)
    bottom = max(float(r.get("y")) + float(r.get("height")) for r in cells)
    y1, y2 = sorted((float(line.get("y1")), float(line.get("y2"))))
    assert y1 == pytest.approx(top, abs=1) and y2 == pytest.approx(bottom, abs=1), "yref 'y domain': full height"


def test_line_in_paper_coordinates_spans_the_plot() -> None:
    fig = go.Figure(go.Heatmap(z=np.zeros((2, 2))))
    fig.add_shape(type="line", xref="paper", yref="paper", x0=0, x1=1, y0=0.5, y1=0.5, line=dict(color="#0a0"))
    fig.add_shape(type="line", x0=-0.5, x1=1.5, y0=-0.5, y1=1.5)  # data coordinates: the plot's diagonal
    root = svg_of(fig)
    paper, data = list(root.iter(f"{SVG}line"))
    assert paper.get("stroke") == "#0a0" and "stroke-dasharray" not in paper.attrib
    assert float(paper.get("y1")) == pytest.approx(float(data.get("y1")) / 2 + float(data.get("y2")) / 2, abs=0.5)
    assert float(paper.get("x1")) == pytest.approx(float(data.get("x1")), abs=0.5)
    assert float(paper.get("x2")) == pytest.approx(float(data.get("x2")), abs=0.5)
    assert data.get("stroke") == "#444" and data.get("stroke-width") == "2", "Plotly's defaults for a shape"


def scores_view() -> View:
    rng = np.random.default_rng(2)
    s = rng.normal(size=(4, 4))
    m = np.tril(np.ones((4, 4), dtype=bool))
    p = np.where(m, np.exp(s), 0)
    p /= p.sum(1, keepdims=True)
    figs = [scores_heatmap(s, m, TOKENS, title="Scaled scores"), mask_comparison(p, np.full((4, 4), 0.25), TOKENS)]
    return View("scores", figs, 0, 0)


def test_a_multi_figure_view_writes_every_figure_stacked() -> None:
    view = scores_view()
    root = ET.fromstring(view_bytes(view, "svg", "t"))
    nested = [e for e in root if e.tag == f"{SVG}svg"]
    heights = [int(f.layout.height) for f in view.figures]
    assert len(nested) == 2
    assert [float(e.get("y")) for e in nested] == [0, heights[0]]
    assert [int(e.get("height")) for e in nested] == heights
    assert int(root.get("height")) == sum(heights) and root.get("viewBox") == f"0 0 900 {sum(heights)}"
    all_texts = texts(root)
    assert "Scaled scores" in all_texts and "with − without" in all_texts, "both figures' own titles"


def test_a_view_of_one_figure_is_that_figure() -> None:
    p = np.tril(np.full((4, 4), 0.25))
    fig = mask_comparison(p, p, TOKENS)
    assert view_bytes(View("head", [fig], 0, 0), "svg", "t").decode() == to_svg(fig)


def test_a_figure_with_no_heatmap_is_left_out_with_a_note() -> None:
    track = LensTrack([" x", " y"], np.full((6, 2), 0.5), np.zeros((6, 2), dtype=int))
    fig = lens_track_figure(track, "after ‘down’ (position 3)")
    grid = lens_grid_figure(lens_grid(6))
    root = ET.fromstring(view_bytes(View("lens", [grid, fig], 0, 0), "svg", "t"))
    assert len([e for e in root if e.tag == f"{SVG}svg"]) == 1
    note = [t for t in texts(root, "left-out")]
    assert len(note) == 1 and "after ‘down’ (position 3)" in note[0] and "HTML" in note[0], note
    assert int(root.get("height")) > int(grid.layout.height)


def test_a_view_with_no_heatmap_at_all_is_refused() -> None:
    pts = np.zeros((2, 2))
    arrows = shift_arrows(["a", "b"], pts, pts + 1, 0, np.array([0.5, 0.5]))
    with pytest.raises(SvgError, match="no heatmap"):
        view_bytes(View("shifts", [arrows, arrows], 0, 0), "svg", "t")


def test_stacked_svg_sizes_the_png() -> None:
    """svg_to_png reads the first width/height it finds: the outer <svg>'s, which must be the whole stack."""
    svg = view_bytes(scores_view(), "svg", "t").decode()
    first = re.search(r'width="(\d+)" height="(\d+)"', svg)
    assert first is not None and int(first.group(2)) == sum(int(f.layout.height) for f in scores_view().figures)


NOTE = (
    "The text is 702 tokens; it was cut to its first 512 tokens (the model's limit, or the max_tokens asked), and "
    "everything shown is of those. A key <sat> & one \x1b escape."
)


@pytest.mark.parametrize("stacked", [False, True])
def test_a_view_s_note_is_written_under_its_figures_as_text(stacked) -> None:
    """docs/notebook.md: every view says a cut text (or the sent view's sink, the lens's caption) under its figures;
    the SVG (and the PNG drawn from it) too, word for word, markup and control characters shown as text."""
    view = scores_view() if stacked else View("head", scores_view().figures[:1], 0, 0)
    view.note = NOTE
    root = ET.fromstring(view_bytes(view, "svg", "t"))  # a raw ESC would not even parse as XML
    lines = [t for t in root.iter(f"{SVG}text") if "note" in (t.get("class") or "").split()]
    assert len(lines) > 1, "a note wider than the figure is wrapped"
    said = " ".join(t.text for t in lines)
    assert said == NOTE.replace("\x1b", "\\x1b")
    heights = sum(int(f.layout.height) for f in view.figures)
    assert int(root.get("height")) > heights and max(float(t.get("y")) for t in lines) > heights
    assert all(len(t.text) * 7 < 900 for t in lines)
