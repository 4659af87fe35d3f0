"""The pages name each model's score for what it is, and Inside one head's RoPE note names the model and its true
pairing. Tiny models (tests/tiny_models.py) loaded through *Another model*: T5 (no scale, a relative position
bias), Gemma 2 (its own scale 1/√24, soft-cap 5) and GPT-NeoX (RoPE on 4 of each head's 16 dimensions)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.helpers import chart, decode

pytest.importorskip("transformers")

APP = str(Path(__file__).resolve().parents[2] / "app.py")
TEXT = "the blue creature took a mole of the forest"


def build(private_models: Path, kind: str) -> Path:
    from tests.tiny_models import save_tiny, save_tiny_t5

    folder = private_models / "models" / f"tiny-{kind}"
    if kind == "t5":
        save_tiny_t5(folder)
    else:
        folder.mkdir(parents=True)
        save_tiny(kind, folder)
    return folder


def load(page: str, folder: Path, layer: int = 1, head: int = 3) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"page": page, "text": TEXT, "layer": str(layer), "head": str(head)})
    at.run()
    at.text_input(key="model_request").set_value(str(folder))
    at = at.button(key="model_load").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["model"] == str(folder)
    return at


@pytest.mark.parametrize(("kind", "name"), [("t5", "q·k + position bias"), ("gemma2", "soft-capped score")])
def test_the_patterns_hover_names_the_score_the_trace_holds(private_models, kind, name) -> None:
    at = load("patterns", build(private_models, kind))
    caption = next(c.value for c in at.caption if "Hover a cell" in c.value)
    assert "q·k/√d_head" not in caption and name in caption, caption
    fig = chart(at, "head_heatmap")
    hover = fig["data"][0]["text"][-1][0]  # the last query, the first key: seen in every masking
    ctx = at.session_state["ctx"]
    score = float(ctx.trace.scores(ctx.layer, ctx.head)[-1, 0])
    assert f"{name} {score:.4g}" in hover and "scaled score" not in hover, hover


def test_the_masking_tables_score_column_is_named_for_t5s_sum(private_models) -> None:
    at = load("masking", build(private_models, "t5"))
    table = at.dataframe[0].value
    assert "scaled score" not in table.columns and "q·k + position bias" in table.columns, list(table.columns)


def test_inside_one_head_draws_gemma_2s_soft_cap_as_its_own_step(private_models) -> None:
    at = load("inside_head", build(private_models, "gemma2"), layer=0, head=1)
    ctx = at.session_state["ctx"]
    s = ctx.trace.head_steps(ctx.layer, ctx.head)
    capped = chart(at, "mech_capped")
    assert "tanh" in capped["layout"]["title"]["text"]
    np.testing.assert_allclose(decode(capped["data"][0]["z"]), s.capped, rtol=1e-5, atol=1e-5)
    scaled = chart(at, "mech_scaled")["layout"]["title"]["text"]
    assert "0.2041" in scaled and "√d_head" not in scaled, scaled


def test_the_rope_note_names_the_model_and_its_partial_rotary_pairs(private_models) -> None:
    """Tiny GPT-NeoX: rotary_pct 0.25 of d_head 16 → dims 0–3 rotate as pairs (i, i + 2); 4–15 do not."""
    folder = build(private_models, "neox")
    at = load("inside_head", folder)
    ctx = at.session_state["ctx"]
    assert (ctx.config.rotary_dim, ctx.config.d_head) == (4, 16)
    note = next(c.value for c in at.caption if c.value.startswith("RoPE:"))
    assert "SmolLM2" not in note and ctx.model_title in note, note
    assert "i and i + 2" in note and "d_head/2" not in note and "the other 12" in note, note
