"""Hostile and malformed input through the whole app (AppTest): no traceback, the right message, and
the invariants of the view that is drawn (rows of the shown pattern sum to 1, one label per token,
labels escaped for Plotly, link values shown literally in the notices).

The engine-level versions of these inputs live in tests/engine/test_hostile.py; these check what the
app makes of them (sidebar text, link parameters, notices, figure specs).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from streamlit.runtime.state.query_params import _parse_query_string
from streamlit.testing.v1 import AppTest

from tests.app.helpers import APP, chart, decode
from tests.engine.test_hostile import HOSTILE
from viz.labels import SPACE_MARK

TIMEOUT = 120
EMPTY_MESSAGE = "The text is empty"
XSS = "<img src=x onerror=alert(1)><script>alert(2)</script>"


def new_app(**params: str | list[str]) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update(params)
    return at.run()


def assert_no_traceback(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def notices(at: AppTest) -> str:
    return " ".join(w.value for w in at.warning)


def strip_tokens(at: AppTest) -> list[str]:
    """The token strip (st.code) split back into its readable tokens (not the ⟂ excerpt of a cut text)."""
    strips = [c.value for c in at.code if "⟂" not in c.value]
    assert strips, "no token strip"
    return strips[0].split(" │ ")


def check_drawn_view(at: AppTest, text: str) -> None:
    """A heatmap is drawn for `text`, or (only for blank text) the empty-text message; never both."""
    assert_no_traceback(at)
    infos = [i.value for i in at.info]
    if not text.strip():
        assert any(EMPTY_MESSAGE in i for i in infos), infos
        assert not at.get("plotly_chart")
        return
    assert not any(EMPTY_MESSAGE in i for i in infos)
    fig = chart(at, "head_heatmap")
    z = decode(fig["data"][0]["z"])
    assert z.ndim == 2 and z.shape[0] == z.shape[1] > 0
    assert np.isfinite(z).all()
    np.testing.assert_allclose(z.sum(axis=1), 1.0, atol=1e-5)  # orientation "rows": each query row sums to 1
    ticks = fig["layout"]["xaxis"]["ticktext"]
    assert len(ticks) == len(fig["layout"]["xaxis"]["tickvals"]) <= z.shape[1]  # long texts label every k-th
    grid = fig["data"][0]["text"]
    assert (len(grid), len(grid[0])) == z.shape  # one hover label per drawn cell
    hover = [cell for row in grid for cell in row]
    for label in [*ticks, *hover]:
        assert "<" not in label.replace("<br>", ""), label  # Plotly would read it as markup
    assert len(strip_tokens(at)) == z.shape[0]


@pytest.fixture(scope="module")
def app() -> AppTest:
    """One session reused across texts (each rerun costs ~1 s; a fresh app ~3 s), on the patterns page."""
    at = new_app(page="patterns")
    assert_no_traceback(at)
    return at


# A lone surrogate cannot cross the browser → server protocol (protobuf strings are UTF-8): browsers
# send U+FFFD instead. The engine's own test feeds the surrogate directly.
SIDEBAR_TEXTS = {k: v for k, v in HOSTILE.items() if k not in ("lone-surrogate", "huge")}
SIDEBAR_TEXTS["replacement-char"] = "bad \ufffd half"
SIDEBAR_TEXTS["script"] = "<script>alert(2)</script>"
SIDEBAR_TEXTS["markdown"] = "![x](https://example.com/p.png) [log in](https://example.com) $x^2$ :red[alarm]"


@pytest.mark.parametrize("name", list(SIDEBAR_TEXTS))
def test_hostile_sidebar_text(app: AppTest, name: str) -> None:
    text = SIDEBAR_TEXTS[name]
    app.text_area(key="text").set_value(text).run()
    check_drawn_view(app, text)
    if text.strip():
        assert app.text_area(key="text").value == text
        assert app.query_params["text"] == text  # the shareable link carries the text as it is


def test_html_text_is_shown_literally_and_escaped_for_plotly(app: AppTest) -> None:
    app.text_area(key="text").set_value(XSS).run()
    check_drawn_view(app, XSS)
    tokens = strip_tokens(app)
    assert "".join(tokens).replace(SPACE_MARK, " ") == XSS  # st.code: the literal characters, in order
    ticks = chart(app, "head_heatmap")["layout"]["xaxis"]["ticktext"]
    assert "".join(ticks).replace(SPACE_MARK, " ") == XSS.replace("&", "&amp;").replace("<", "&lt;").replace(
        ">", "&gt;"
    )


def test_100k_characters_are_cut_at_the_operator_cap(monkeypatch) -> None:
    monkeypatch.setenv("ATTN_MAX_TOKENS", "64")  # an operator's per-request cap ($ATTN_MAX_TOKENS)
    at = new_app(page="patterns")
    assert at.number_input(key="max_tokens").value == 64
    huge = HOSTILE["huge"]
    assert len(huge) == 100_000
    at.text_area(key="text").set_value(huge).run()
    check_drawn_view(at, huge)
    assert decode(chart(at, "head_heatmap")["data"][0]["z"]).shape == (64, 64)
    assert "keeps the first 64" in notices(at)
    assert "text" not in at.query_params  # too long for a link; the sidebar says so
    assert any("too long for the page address" in c.value for c in at.caption)


# No shrinking: each example is a ~1 s app rerun, and shrinking one failure can take many minutes.
# Hypothesis still prints the failing text (and a seed to reproduce it).
@settings(
    max_examples=15,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow],
)
@given(text=st.text(max_size=40))
def test_arbitrary_unicode_through_the_app(app: AppTest, text: str) -> None:
    app.text_area(key="text").set_value(text).run()
    assert_no_traceback(app)
    if not text.strip():
        check_drawn_view(app, text)
        return
    charts = app.get("plotly_chart")
    if not charts:  # only text the tokenizer reduces to nothing may be refused, and it must say so
        assert any("no tokens" in i.value for i in app.info), [i.value for i in app.info]
        return
    check_drawn_view(app, text)


# ── Link parameters ─────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "params, says",
    [
        ({"model": "/etc"}, "Unknown model"),
        ({"model": "../../../etc/passwd"}, "Unknown model"),
        ({"model": "file:///etc/passwd"}, "Unknown model"),
        ({"model": "smollm2-135m/../../etc"}, "Unknown model"),
        ({"model": ""}, "Unknown model"),
        ({"page": "../../etc/passwd"}, "Unknown page"),
        ({"page": "nope"}, "Unknown page"),
        ({"layer": "1e9"}, "not a number"),
        ({"layer": ""}, "not a number"),
        ({"head": "-1"}, "out of range"),
        ({"layer": "30"}, "does not exist in SmolLM2-135M-Instruct"),
        ({"head": "99999999999999999999"}, "does not exist in SmolLM2-135M-Instruct"),
        ({"mask": "maybe"}, "neither 'on' nor 'off'"),
        ({"orient": "diagonal"}, "neither 'rows' nor 'cols'"),
        ({"text": "x" * 4001}, "only the first 4000"),
    ],
)
def test_bad_link_values_fall_back_to_defaults_with_a_notice(params: dict, says: str, monkeypatch) -> None:
    from services import models as engine

    monkeypatch.setenv("ATTN_MAX_TOKENS", "32")  # the 4001-character text: quick, and not what is tested
    before = {name for name, *_ in engine._models}  # other tests in this process may have loaded tiny models
    at = new_app(**params)
    assert_no_traceback(at)
    assert says in notices(at), notices(at)
    assert at.title[0].value == "Start here"  # the default page
    assert at.selectbox(key="model").value == "smollm2-135m"
    assert (at.slider(key="layer").value, at.slider(key="head").value) == (0, 0)
    assert at.query_params["model"] == "smollm2-135m" and at.query_params["page"] == "start"
    loaded = {name for name, *_ in engine._models} - before
    assert loaded <= set(engine.MODEL_NAMES), loaded  # the link loaded nothing but the default


def test_link_values_are_shown_literally_not_as_markdown() -> None:
    """A crafted link must not put an image or a link into the app's own warning.

    Streamlit renders warnings as Markdown (with GitHub autolinks); the value must sit in a code span,
    where nothing is markup. The browser test checks the DOM; this checks the Markdown source.
    """
    evil = "![pwn](x)[log in](https://example.com)<b>`www.example.org`"
    at = new_app(model=evil, page=evil, mask=evil, orient=evil, layer=evil)
    assert_no_traceback(at)
    assert len(at.warning) == 5
    for w in at.warning:
        assert f"`` {evil!r} ``" in w.value, w.value  # the whole value, fenced past its own backticks
        outside = re.sub(r"(`+) .*? \1", "", w.value)
        assert not re.search(r"[\[\]<>!`]|https?:|www\.", outside), outside


def test_invalid_utf8_and_encoded_surrogates_in_the_link() -> None:
    # What Streamlit's server makes of the raw query string (invalid UTF-8 → U+FFFD), fed to the app.
    raw = "text=%FF%FE%ED%A0%80abc&model=%ED%A0%80&layer=%C3&page=%F0%9F"
    params = {k: v[-1] for k, v in _parse_query_string(raw).items()}
    assert "\ufffd" in params["text"]
    at = new_app(**params)
    assert_no_traceback(at)
    text = at.text_area(key="text").value
    assert text.endswith("abc") and "\ufffd" in text
    assert at.title[0].value == "Start here"  # the unknown page fell back to the default
    said = notices(at)
    at.switch_page("app_pages/patterns.py").run()
    check_drawn_view(at, text)
    assert "Unknown model" in said and "not a number" in said and "Unknown page" in said


def test_repeated_parameters_use_the_last_value() -> None:
    at = new_app(layer=["2", "evil"], head=["1", "3"])
    assert_no_traceback(at)
    assert "not a number" in notices(at)
    assert (at.slider(key="layer").value, at.slider(key="head").value) == (0, 3)


def test_typed_sentences_in_mechanism_warnings_are_literal() -> None:
    """Embedding shifts names a sentence that lacks the word: as typed, not as a Markdown image or link."""
    evil = "![x](https://example.com/p.png) [log in](https://example.com) www.example.org"
    at = new_app(page="embedding_shifts")
    at.text_area(key="mech_sentences").set_value(f"one mole of carbon\ntake a biopsy of the mole\n{evil}").run()
    assert_no_traceback(at)
    said = [w.value for w in at.warning if "does not occur" in w.value]
    assert len(said) == 1 and f"` {evil!r} `" in said[0], said
    assert not re.search(r"[\[\]<>!`]|https?:|www\.", re.sub(r"(`+) .*? \1", "", said[0]))
