"""The library's `steps`, `scores` and `head` views name each model's score for what it is: T5 does not scale q·k
and adds a relative position bias; Gemma 2 scales by its own query_pre_attn_scalar^-½ (1/√24 here, d_head 16) and
soft-caps the result. Each step's title says what its matrix holds, and no panel adds a term the one before it
did not draw (the titles read "÷ √d_head = ÷ 1" and "÷ √d_head = ÷ 4.899", and "masked scores" silently added
T5's bias or Gemma 2's cap); a plain model (GPT-2) keeps ÷ √d_head."""

from __future__ import annotations

import numpy as np
import pytest

from attention_core import load_model
from attention_viz import build_view
from tests.app.helpers import decode

TEXT = "the blue creature took a mole of the forest"
LAYER, HEAD = 1, 3


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory, tiny_gpt2) -> dict:
    pytest.importorskip("transformers")
    from tests.tiny_models import save_tiny, save_tiny_t5

    root = tmp_path_factory.mktemp("score_labels")
    save_tiny_t5(root / "t5")
    save_tiny("gemma2", root / "gemma2")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ATTN_CACHE_DIR", str(root / "cache"))
        folders = {"t5": root / "t5", "gemma2": root / "gemma2", "gpt2": tiny_gpt2}
        return {name: load_model(str(folder), device="cpu").trace(TEXT) for name, folder in folders.items()}


def panels(view) -> list[tuple[str, np.ndarray]]:
    return [(f.layout.title.text, decode(f.to_plotly_json()["data"][0]["z"])) for f in view.figures]


@pytest.mark.parametrize("name", ["t5", "gemma2", "gpt2"])
def test_each_step_names_its_scale_and_draws_every_term_it_adds(traces, name) -> None:
    trace = traces[name]
    s = trace.head_steps(LAYER, HEAD)
    drawn = panels(build_view(trace, "steps", LAYER, HEAD))
    titles = [t for t, _ in drawn]
    scaled_title = titles[1]
    if name == "t5":
        assert "√d_head" not in scaled_title and "÷ 1" not in scaled_title and "no scale" in scaled_title
    elif name == "gemma2":
        assert "√d_head" not in scaled_title and "0.2041" in scaled_title  # 1/√24, the model's own
        capped = next(z for t, z in drawn if "tanh" in t)
        np.testing.assert_allclose(capped, s.capped, rtol=1e-5, atol=1e-5)
    else:
        assert scaled_title.startswith(f"÷ √d_head = ÷ {np.sqrt(s.d_head):.4g}")
    if name == "t5":
        bias = next(z for t, z in drawn if t.startswith("position bias"))
        np.testing.assert_allclose(bias, s.position_bias, rtol=1e-5, atol=1e-5)
    at = next(i for i, t in enumerate(titles) if t.startswith("masked scores"))
    before, masked = drawn[at - 1][1], drawn[at][1]
    ok = s.mask
    np.testing.assert_allclose(masked[ok], before[ok], rtol=1e-5, atol=1e-5)  # masking adds nothing on seen keys
    np.testing.assert_allclose(before, s.before_mask, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["t5", "gemma2", "gpt2"])
def test_the_scores_view_is_titled_with_what_its_heatmap_holds(traces, name) -> None:
    trace = traces[name]
    view = build_view(trace, "scores", LAYER, HEAD)
    title, z = panels(view)[0]
    ok = trace.mask(LAYER).numpy()
    np.testing.assert_allclose(z[ok], trace.scores(LAYER, HEAD).numpy()[ok], rtol=1e-5, atol=1e-5)
    if name == "gpt2":
        assert "q·k / √d_head" in title
        return
    assert "√d_head" not in title or "not 1/√d_head" in title
    # the panels' own titles, read as one line each (they break into lines to fit side by side)
    subtitles = [a.text.replace("<br>", " ") for f in view.figures for a in f.layout.annotations]
    if name == "t5":
        assert "q·k (this model does not scale it) + relative position bias" in title
        assert "+ relative position bias" in subtitles  # q·k and the bias apart, as the masking page draws them
    else:
        assert "0.2041" in title and "soft-capped" in title
        assert "before the cap: q·k × scale" in subtitles  # before and after the cap, as the masking page


@pytest.mark.parametrize("name", ["t5", "gemma2", "gpt2"])
def test_the_head_views_hover_names_the_score(traces, name) -> None:
    fig = build_view(traces[name], "head", LAYER, HEAD).figures[0]
    hover = fig.data[0].text[-1][0]
    expected = {"t5": "q·k + position bias ", "gemma2": "soft-capped score ", "gpt2": "scaled score "}[name]
    assert expected in hover and (name == "gpt2" or "scaled score" not in hover), hover
