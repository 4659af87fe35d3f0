"""T5's relative position bias is shown beside q·k, not folded into it: a tiny T5 (tests/tiny_models.py) loaded
through *Another model* shows q·k, the bias and their sum as three panels on the masking page, adds the bias
as its own line in Inside one head's worked entry, draws its cross-attention, and the sidebar names the bias."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.fit import CODE_LINE_CHARS
from tests.app.helpers import chart, decode

pytest.importorskip("transformers")

APP = str(Path(__file__).resolve().parents[2] / "app.py")
TEXT = "the blue creature took a mole of the forest, and the quick brown fox jumps over the lazy dog"


@pytest.fixture
def t5(private_models) -> Path:
    from tests.tiny_models import save_tiny_t5

    folder = private_models / "models" / "tiny-t5"
    save_tiny_t5(folder)
    return folder


def load(page: str, folder: Path, layer: int = 0, head: int = 0) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"page": page, "text": TEXT})
    at.run()
    at.text_input(key="model_request").set_value(str(folder))
    at = at.button(key="model_load").click().run()
    if (layer, head) != (0, 0):  # a new model starts at layer 0, head 0
        at.sidebar.slider(key="layer").set_value(layer)
        at = at.sidebar.slider(key="head").set_value(head).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["model"] == str(folder)
    return at


def test_masking_page_shows_qk_and_the_bias_apart(t5) -> None:
    from attention_core import load_model

    at = load("masking", t5, layer=1, head=2)
    said = " ".join(c.value for c in at.sidebar.caption)
    assert "relative position bias" in said and "bidirectional in the encoder, causal in the decoder" in said
    ctx = at.session_state["ctx"]
    trace = load_model(str(t5), device="cpu").trace(TEXT)
    assert trace.n_tokens > 16 and (ctx.layer, ctx.head) == (1, 2)
    qk, bias, total = (decode(panel["z"]) for panel in chart(at, "position_bias")["data"])
    np.testing.assert_allclose(qk, trace.scores(1, 2, with_bias=False).numpy(), atol=1e-5)
    np.testing.assert_allclose(bias, trace.position_bias(1, 2).numpy(), atol=1e-6)
    np.testing.assert_allclose(total, trace.scores(1, 2).numpy(), atol=1e-5)
    assert np.abs(bias).max() > 0.5  # the bias is a real term here, not a rounding error
    words = " ".join(c.value for c in at.caption)
    assert "The scores above are q·k plus this bias" in words and "keys before and after the query" in words
    assert any("q·k (this model does not scale it) + relative position bias" in h.value for h in at.subheader)


def test_inside_one_head_adds_the_bias_as_its_own_step(t5) -> None:
    at = load("inside_head", t5, layer=0, head=1)
    worked = next(c.value for c in at.code if "q_i · k_j" in c.value)
    assert "no scale" in worked and "√d_head" not in worked
    ctx = at.session_state["ctx"]
    n = ctx.trace.n_tokens
    cell = ctx.trace.head_steps(ctx.layer, ctx.head).cell(n - 1, 0)  # the default pick: last query, first key
    assert f"+ position bias = {cell['capped']:.6g} + {cell['bias']:.6g}" in worked
    assert f"(the bias of offset {-(n - 1):+d}" in worked
    assert f"exp({cell['capped'] + cell['bias']:.6g} −" in worked
    assert max(map(len, worked.splitlines())) <= CODE_LINE_CHARS  # the bias step's note on a line of its own
    keys = [str(getattr(c, "key", "") or "") for c in at.get("plotly_chart")]
    assert any("mech_bias" in k for k in keys)


def test_cross_attention_page_draws_t5s_cross_attention(t5) -> None:
    at = load("cross_attention", t5)
    assert not at.exception
    assert len(at.get("plotly_chart")) > 0


@pytest.mark.parametrize("page", ["generate", "logit_lens", "experiments"])
def test_an_encoder_decoder_is_not_called_an_encoder(t5, page) -> None:
    """T5 predicts tokens (its decoder); the pages that need a next-token prediction of the sidebar's text said it
    "is an encoder … has no next-token head" and that "this checkpoint ships without its masked-language-model
    head (no `cls.predictions` weights)"."""
    at = load(page, t5)
    said = " ".join(i.value for i in at.info)
    assert "is an encoder-decoder" in said and "cls.predictions" not in said, said
    assert not re.search(r"an? encoder(?!-decoder)(?! reads)", said.replace("its encoder", "")), said


def test_start_heres_masking_step_says_the_encoder_of_an_encoder_decoder(t5) -> None:
    at = load("start", t5)
    at.query_params["step"] = "masking"
    at.switch_page("app_pages/start_here.py")
    at.session_state["start_step"] = "masking"
    at.run()
    prose = " ".join(m.value for m in at.markdown)
    assert "is an **encoder**:" not in prose and "is an **encoder-decoder**" in prose, prose[:600]


def test_the_cross_attention_page_of_an_encoder_decoder_does_not_say_it_has_none(t5) -> None:
    at = load("cross_attention", t5)
    said = " ".join(c.value for c in at.caption)
    assert "has no separate cross-attention" not in said and "one prompt" not in said, said
    assert "its own cross-attention" in said


def test_an_encoder_decoders_label_counts_both_stacks(t5) -> None:
    """The label said "2 layers × 4 heads" for a model with 2 encoder and 2 decoder layers."""
    from attention_core import load_model

    cfg = load_model(str(t5), device="cpu").config
    at = load("patterns", t5)
    label = at.session_state["ctx"].model_label
    assert f"{cfg.n_layers} encoder + {cfg.n_decoder_layers} decoder layers × {cfg.n_heads} heads" in label, label


def test_the_parameter_step_counts_every_attention_sublayer_of_an_encoder_decoder(t5) -> None:
    """Step 13 counted the encoder's attention only (a third of T5's): the decoder has self- and cross-attention."""
    from attention_core import load_model

    counts = load_model(str(t5), device="cpu").parameter_counts()  # from the tensors: T5 has no attention biases
    at = load("start", t5)
    at.session_state["start_step"] = "parameters"
    at.run()
    total = sum(n for name, n in counts.items() if name.split(".")[0] in ("attention", "cross_attention")
                and name.split(".")[1] in ("W_Q", "W_K", "W_V", "W_O"))  # fmt: skip
    said = " ".join(c.value for c in at.caption)
    assert f"{total:,} attention parameters by this count" in said and "cross-attention" in said, said


def test_start_heres_scores_are_named_for_what_t5_adds(t5) -> None:
    """Start here's softmax table had a "scaled score" column and its heatmaps' hover said "scaled score" for
    T5, whose scores are unscaled q·k plus the position bias."""
    at = load("start", t5)
    at.session_state["start_step"] = "softmax"
    at.run()
    columns = list(at.dataframe[0].value.columns)
    assert "scaled score" not in columns and "q·k + position bias" in columns, columns
    at.session_state["start_step"] = "pattern"
    at.run()
    spec = chart(at, "start_pattern")["data"][0]
    hover = str(spec.get("text")) + str(spec.get("customdata")) + str(spec.get("hovertemplate"))
    assert "q·k + position bias" in hover and "scaled score" not in hover, hover[:300]


def test_the_parameters_page_counts_every_attention_sublayer_of_an_encoder_decoder(t5) -> None:
    """The calculator's "model shape" preset and the context chart counted the encoder's layers alone."""
    from attention_core import load_model

    counts = load_model(str(t5), device="cpu").parameter_counts()
    at = load("parameters", t5)
    at.button(key="mech_preset_loaded").click().run()
    total = sum(n for name, n in counts.items() if name.split(".")[0] in ("attention", "cross_attention")
                and name.split(".")[1] in ("W_Q", "W_K", "W_V", "W_O"))  # fmt: skip
    table = at.dataframe[0].value
    assert table["all layers"].iloc[-1] == f"{total:,}", table
    said = " ".join(c.value for c in at.caption)
    assert "cross-attention" in said, said


def test_inside_one_heads_vector_table_does_not_call_t5s_q_k_scaled(t5) -> None:
    at = load("inside_head", t5)
    quantities = [q for df in at.dataframe if "quantity" in df.value.columns for q in df.value["quantity"]]
    assert "× 1 (this model does not scale q·k)" in quantities, quantities
    assert "× 1 (the scaled score)" not in quantities, quantities


def test_the_head_finders_focus_hover_names_t5s_score(t5) -> None:
    at = load("head_finder", t5)
    picker = next(m for m in at.multiselect if str(m.key).startswith("mech_find_keys"))
    picker.set_value([1]).run()  # a key: the default question finds none in this text
    spec = chart(at, "mech_find_focus")["data"][0]
    hover = str(spec.get("text")) + str(spec.get("customdata")) + str(spec.get("hovertemplate"))
    assert "q·k + position bias" in hover, hover[:300]


def test_the_cross_attention_page_draws_the_decoders_own_causal_self_attention(t5) -> None:
    """An encoder-decoder's decoder self-attention was drawn nowhere ("not shown here"): beside the chosen
    cross-attention head, the same decoder layer and head's self-attention over the target, causal."""
    from attention_core import load_model
    from viz.views.cross import DEFAULT_SOURCE, DEFAULT_TARGET

    at = load("cross_attention", t5)
    layer, head = at.selectbox(key="mech_cross_encdec_head").value
    pair = load_model(str(t5), device="cpu").trace_pair(DEFAULT_SOURCE, DEFAULT_TARGET)
    z = decode(chart(at, "mech_cross_encdec_self")["data"][0]["z"])
    expected = pair.decoder.pattern(layer, head).numpy()
    np.testing.assert_allclose(z.reshape(expected.shape), expected, atol=1e-6)
    assert np.all(np.triu(expected, 1) == 0) and expected.shape[0] > 3
