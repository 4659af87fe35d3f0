"""Unit tests of the shell's URL state (ui.url). The label, figure and view-model tests are in tests/viz/."""

from __future__ import annotations

import pytest

from app_pages.registry import PAGE_NAMES
from ui import url as state
from viz.labels import markdown_literal

# ── URL state ─────────────────────────────────────────────────────────────────────────────────
MODELS = ["smollm2-135m", "minilm-l6"]


def test_parse_params_accepts_a_full_valid_link() -> None:
    got = state.parse_params(
        {"model": "minilm-l6", "text": "one mole", "layer": "2", "head": "5", "mask": "on", "orient": "cols",
         "page": "masking"},
        MODELS,
        "smollm2-135m",
        PAGE_NAMES,
    )
    assert (got.model, got.text, got.layer, got.head, got.causal, got.orient, got.page) == (
        "minilm-l6", "one mole", 2, 5, True, "cols", "masking")
    assert got.warnings == []


@pytest.mark.parametrize(
    ("params", "field", "default"),
    [
        ({"model": "gpt-9"}, "model", "smollm2-135m"),
        ({"layer": "three"}, "layer", 0),
        ({"head": "-1"}, "head", 0),
        ({"mask": "maybe"}, "causal", None),
        ({"orient": "diagonal"}, "orient", "rows"),
        ({"page": "secret"}, "page", "start"),
        ({"step": "99"}, "step", None),
        ({"step": "<b>softmax</b>"}, "step", None),
    ],
)
def test_parse_params_falls_back_with_a_warning(params: dict, field: str, default: object) -> None:
    got = state.parse_params(params, MODELS, "smollm2-135m", PAGE_NAMES)
    assert getattr(got, field) == default
    assert len(got.warnings) == 1


def test_clamp_layer_head_out_of_range() -> None:
    assert state.clamp_layer_head(3, 2, 30, 9, "m") == (3, 2, [])
    layer, head, warnings = state.clamp_layer_head(30, 9, 30, 9, "m")
    assert (layer, head) == (0, 0) and len(warnings) == 2
    assert warnings[0] == "Layer 30 does not exist in m (layers 0–29); showing layer 0."
    # A model switch keeps the reader as close as the smaller model allows, and says so in the same words.
    assert state.clamp_layer_head(18, 6, 6, 12, "m", nearest=True) == (
        5, 6, ["Layer 18 does not exist in m (layers 0–5); showing layer 5."]
    )


def test_params_round_trip() -> None:
    params = state.to_params("minilm-l6", "a & b", 1, 2, False, "cols", "guide")
    got = state.parse_params(params, MODELS, "smollm2-135m", PAGE_NAMES)
    assert (got.model, got.text, got.layer, got.head, got.causal, got.orient, got.page) == (
        "minilm-l6", "a & b", 1, 2, False, "cols", "guide")


def test_parse_params_accepts_pages_registered_by_the_shell() -> None:
    got = state.parse_params({"page": "head_finder"}, MODELS, "smollm2-135m", pages=PAGE_NAMES)
    assert got.page == "head_finder" and got.warnings == []


@pytest.mark.parametrize(
    ("raw", "slug"), [("softmax", "softmax"), ("SOFTMAX ", "softmax"), ("1", "tokens"), ("14", "cross-attention")]
)
def test_a_step_is_read_by_name_or_number(raw: str, slug: str) -> None:
    got = state.parse_params({"step": raw}, MODELS, "smollm2-135m", PAGE_NAMES)
    assert got.step == slug and got.warnings == []


def test_only_the_start_page_carries_its_step() -> None:
    assert state.to_params("m", "t", 0, 0, True, "rows", "start", "softmax")["step"] == "softmax"
    assert "step" not in state.to_params("m", "t", 0, 0, True, "rows", "patterns", "softmax")
    assert "step" not in state.to_params("m", "t", 0, 0, True, "rows", "start")
    assert state.DEFAULT_PAGE == "start" == PAGE_NAMES[0]


def test_the_atlas_page_carries_the_corpus_of_an_uploaded_atlas() -> None:
    params = state.to_params("m", "t", 0, 0, True, "rows", "atlas", stat="self", corpus="0123456789ab")
    assert params["corpus"] == "0123456789ab" and params["stat"] == "self"
    assert "corpus" not in state.to_params("m", "t", 0, 0, True, "rows", "patterns", corpus="0123456789ab")
    assert "corpus" not in state.to_params("m", "t", 0, 0, True, "rows", "atlas")  # the default corpus: no field
    got = state.parse_params({"corpus": "0123456789ab"}, MODELS, "smollm2-135m", PAGE_NAMES)
    assert got.corpus == "0123456789ab" and got.warnings == []


@pytest.mark.parametrize("raw", ["../../etc/passwd", "0123456789AB", "0123", "*"])
def test_a_corpus_that_is_no_atlas_tag_falls_back_with_a_warning(raw: str) -> None:
    got = state.parse_params({"corpus": raw}, MODELS, "smollm2-135m", PAGE_NAMES)
    assert got.corpus is None and len(got.warnings) == 1 and "default corpus" in got.warnings[0]


def test_an_unknown_model_names_the_built_in_ones() -> None:
    """A link with a near miss (the MiniLM's own name) says which names the link may use, not only that it failed."""
    got = state.parse_params({"model": "all-minilm-l6-v2"}, MODELS, "smollm2-135m", PAGE_NAMES)
    assert got.model == "smollm2-135m" and len(got.warnings) == 1
    assert "'smollm2-135m'" in got.warnings[0] and "'minilm-l6'" in got.warnings[0], got.warnings


def test_a_bad_page_or_step_in_a_link_keeps_the_page_of_the_address() -> None:
    """/patterns?page=../../x showed Start here (the unknown page= won over the address's path), and
    /masking?step=abc warned about a step of Start here on the masking page."""
    got = state.parse_params({"page": "../../x"}, MODELS, "smollm2-135m", PAGE_NAMES, shown_page="patterns")
    assert got.page == "patterns" and len(got.warnings) == 1 and "Unknown page" in got.warnings[0]
    assert "Start here" not in got.warnings[0]
    assert state.parse_params({"step": "abc"}, MODELS, "smollm2-135m", PAGE_NAMES, shown_page="masking").warnings == []
    assert state.parse_params({"step": "abc", "page": "masking"}, MODELS, "smollm2-135m", PAGE_NAMES).warnings == []
    on_start = state.parse_params({"step": "abc"}, MODELS, "smollm2-135m", PAGE_NAMES, shown_page="start")
    assert len(on_start.warnings) == 1 and on_start.step is None
    assert state.parse_params({"step": "masking"}, MODELS, "smollm2-135m", PAGE_NAMES, shown_page="masking").step == (
        "masking"
    )  # a good step is kept for a later visit to Start here


def test_a_text_left_out_of_the_link_is_marked_and_the_recipient_told() -> None:
    """A link past MAX_TEXT_CHARS left `text=` out silently: the recipient saw the default sentence, no notice."""
    long = state.to_params("m", "x" * (state.MAX_TEXT_CHARS + 1), 0, 0, True, "rows", "patterns")
    assert "text" not in long and long[state.TEXT_OMITTED] == "1"
    assert state.TEXT_OMITTED not in state.to_params("m", "hi", 0, 0, True, "rows", "patterns")
    got = state.parse_params(long | {"model": "minilm-l6"}, MODELS, "smollm2-135m", PAGE_NAMES)
    assert got.text == state.DEFAULT_TEXT and len(got.warnings) == 1
    assert "too long to share in a URL" in got.warnings[0] and "paste it into the sidebar" in got.warnings[0]
    assert state.parse_params({"text": "hi"}, MODELS, "smollm2-135m", PAGE_NAMES).warnings == []


def test_a_second_text_travels_as_second_and_only_when_there_is_one() -> None:
    params = state.to_params("minilm-l6", "Is it raining?", 0, 0, False, "rows", "patterns", second_text="a & b")
    assert params["second"] == "a & b"
    got = state.parse_params(params, MODELS, "smollm2-135m", PAGE_NAMES)
    assert (got.text, got.second_text, got.warnings) == ("Is it raining?", "a & b", [])
    assert "second" not in state.to_params("minilm-l6", "hi", 0, 0, False, "rows", "patterns")
    assert state.parse_params({"text": "hi"}, MODELS, "smollm2-135m", PAGE_NAMES).second_text == ""
    long = "y" * (state.MAX_TEXT_CHARS + 5)
    got = state.parse_params({"text": "hi", "second": long}, MODELS, "smollm2-135m", PAGE_NAMES)
    assert got.second_text == long[: state.MAX_TEXT_CHARS]
    assert got.warnings == [f"The second text in the link was {len(long)} characters; only the first "
                            f"{state.MAX_TEXT_CHARS} are used."]  # fmt: skip
    left_out = state.to_params("m", "hi", 0, 0, True, "rows", "patterns", second_text=long)
    assert "text" not in left_out and "second" not in left_out and left_out[state.TEXT_OMITTED] == state.OMITTED_SECOND


# ── Picked token positions ──────────────────────────────────────────────────────────────────────
def test_a_link_carries_the_tokens_picked_on_its_page() -> None:
    """A shared link reopened Inside one head on the last token, whatever query and key the sender had picked."""
    picks = {"mech_cell_query": 3, "mech_cell_key": 1}
    params = state.to_params("minilm-l6", "t", 0, 0, True, "rows", "inside_head", picks=picks)
    assert (params["query"], params["key"]) == ("3", "1")
    got = state.parse_params(params, MODELS, "smollm2-135m", PAGE_NAMES)
    assert got.picks == {"mech_cell_query": 3, "mech_cell_key": 1} and got.warnings == []
    assert state.parse_params({"query": "3"}, MODELS, "smollm2-135m", PAGE_NAMES, shown_page="inside_head").picks == {
        "mech_cell_query": 3
    }  # the page of the address


def test_only_the_pickers_of_the_links_page_are_read_and_written() -> None:
    picks = {"mech_cell_query": 3, "lens_position": 5}
    assert "query" not in state.to_params("m", "t", 0, 0, True, "rows", "patterns", picks=picks)  # no picker there
    assert state.to_params("m", "t", 0, 0, True, "rows", "logit_lens", picks=picks)["position"] == "5"
    got = state.parse_params({"page": "logit_lens", "query": "3", "position": "5"}, MODELS, "m", PAGE_NAMES)
    assert got.picks == {"lens_position": 5} and got.warnings == []


# 5,000 digits: past int()'s limit (a ValueError, not a notice); full-width digits pass str.isdigit
@pytest.mark.parametrize("raw", ["three", "-1", "1e9", "<b>2</b>", "9" * 5000, "１２"])
def test_a_picked_token_that_is_no_position_falls_back_with_a_warning(raw: str) -> None:
    got = state.parse_params({"page": "inside_head", "key": raw}, MODELS, "smollm2-135m", PAGE_NAMES)
    assert got.picks == {} and len(got.warnings) == 1
    assert got.warnings[0].startswith(f"Key token {markdown_literal(raw)} in the link"), got.warnings  # as text


def test_every_token_picker_of_the_pages_is_in_the_link() -> None:
    """A picker added to a page without a URL field would not travel with a link (ui/url.py TOKEN_PICKERS)."""
    import re

    from app_pages.registry import PAGES_DIR

    keys = set()
    for script in [*PAGES_DIR.glob("*.py"), *(PAGES_DIR.parent / "ui").glob("*.py")]:
        for call in re.finditer(r"token_picker\((.*?)\)\s*(?:#.*)?$", script.read_text(), re.S | re.M):
            keys.update(re.findall(r'"((?:mech|start|lens|flow|exp|masking)_[a-z_]+)"', call.group(1)))
    registered = {key for fields in state.TOKEN_PICKERS.values() for key in fields.values()}
    assert keys and keys == registered, (sorted(keys), sorted(registered))


def test_the_atlas_end_travels_only_on_the_atlas_page():
    params = state.to_params("m", "t", 0, 0, True, "rows", "atlas", stat="entropy", lowest=True)
    assert params["end"] == "lowest"
    assert "end" not in state.to_params("m", "t", 0, 0, True, "rows", "atlas", stat="entropy")
    assert "end" not in state.to_params("m", "t", 0, 0, True, "rows", "patterns", lowest=True)
    assert state.parse_params(params, MODELS, "smollm2-135m", PAGE_NAMES).lowest is True
    assert state.parse_params({"end": "highest"}, MODELS, "smollm2-135m", PAGE_NAMES).lowest is False
    bad = state.parse_params({"end": "<i>up</i>", "page": "atlas"}, MODELS, "smollm2-135m", PAGE_NAMES)
    assert bad.lowest is None and "`" in bad.warnings[0] and "<i>up</i>" in bad.warnings[0]
