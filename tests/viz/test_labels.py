"""Token labels: readable (spaces and control characters drawn) and safe for Plotly (markup escaped)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from viz import labels


def test_readable_token_shows_spaces_and_control_characters() -> None:
    assert labels.readable_token(" ver") == "␣ver"
    assert labels.readable_token("\n") == "\\n"
    assert labels.readable_token("a\tb") == "a\\tb"
    assert labels.readable_token("\x07") == "\\x07"
    assert labels.readable_token("\u200b") == "\\u200b"  # zero-width space must not vanish
    # A no-break space (U+00A0) and a C1 control (U+0085) are characters: drawn with a \\x code they would read as
    # the byte pieces 0xa0 and 0x85 of a split character ('\\xa0', the only form those take).
    assert labels.readable_token("\u00a0") == "\\u00a0"
    assert labels.readable_token("\x85") == "\\u0085"
    assert labels.predicted_byte_note([labels.readable_token("\u00a0")]) is None
    assert labels.predicted_byte_note(["\\xa0"]) is not None
    assert labels.predicted_byte_note([labels.readable_token("\x07")]) is None  # BEL is no byte piece
    assert labels.readable_token("") == "∅"


def test_plotly_token_escapes_markup() -> None:
    assert labels.plotly_token("<br>") == "&lt;br&gt;"
    assert labels.plotly_token(" <b>&") == "␣&lt;b&gt;&amp;"


@given(st.text(max_size=12))
def test_labels_never_contain_raw_markup_or_invisible_characters(token: str) -> None:
    out = labels.plotly_token(token)
    assert "<" not in out and ">" not in out
    assert " " not in out and "\n" not in out and "\t" not in out
    assert out  # never an empty, invisible tick label


def test_position_labels_number_repeated_tokens() -> None:
    toks = ["the", " <b>", "the"]
    assert labels.plotly_token_labels(toks) == ["0: the", "1: ␣&lt;b&gt;", "2: the"]
    assert labels.readable_token_labels(toks) == ["0: the", "1: ␣<b>", "2: the"]
    assert labels.axis_labels(toks) == (labels.readable_token_labels(toks), labels.plotly_token_labels(toks))


def test_a_name_as_a_code_span_holds_any_backticks() -> None:
    from viz.labels import markdown_code

    assert markdown_code("org/model") == "`org/model`"
    assert markdown_code("a`b") == "``a`b``" and markdown_code("a``b") == "```a``b```"
    assert markdown_code("`x`") == "`` `x` ``"  # an edge backtick needs the space to stay inside
    assert markdown_code("x" * 500).endswith("…`") and len(markdown_code("x" * 500)) < 500


LRI, PDI = "\u2066", "\u2069"  # left-to-right isolate and its end


def test_token_strip_keeps_right_to_left_tokens_in_their_order() -> None:
    """In a left-to-right line the bidi algorithm reverses a run of Hebrew or Arabic, and the neutral '│' and '##'
    between them join the run: 'שלום' split by WordPiece was drawn '[CLS] │ ם## │ ל## │ ו## │ ש'. Each token
    with a right-to-left character is isolated left to right, so the tokens stay in order and '##' stays in front;
    st.code shows the strip as plain text, so '<b>' stays the characters it is."""
    strip = labels.token_strip(["[CLS]", "ש", "##ל", "<b>", " שלום", "٣", "hello"])
    assert strip.split(" │ ") == [
        "[CLS]", f"{LRI}ש{PDI}", f"{LRI}##ל{PDI}", "<b>", f"{LRI}␣שלום{PDI}", f"{LRI}٣{PDI}", "hello"
    ]  # fmt: skip
    assert labels.token_strip(["ab", "<0xD7>"]) == "ab │ <0xD7>"  # left-to-right text: no invisible characters
    # A typed isolate or embedding mark is named (\u2069), so it cannot end the strip's own isolate early.
    assert labels.token_strip(["\u2069א\u202e"]) == f"{LRI}\\u2069א\\u202e{PDI}"


@given(st.lists(st.text(max_size=6), max_size=6))
def test_token_strip_isolates_are_balanced_and_invisible(tokens: list[str]) -> None:
    strip = labels.token_strip(tokens)
    marks = [c for c in strip if c in (LRI, PDI)]
    assert marks == [LRI, PDI] * (len(marks) // 2)  # each isolate opened once and closed
    assert strip.replace(LRI, "").replace(PDI, "") == " │ ".join(labels.readable_tokens(tokens))


@pytest.mark.parametrize(
    ("share", "decimals", "shown"),
    [
        (0.9394, 1, "93.9%"),
        (0.9995, 1, "99.95%"),  # not 100.0%: a share below 1 never reads as all of it
        (0.99999, 0, "99.999%"),
        (1.0, 1, "100.0%"),
        (0.0004, 1, "0.04%"),  # not 0.0%: a share above 0 never reads as none
        (0.0, 0, "0%"),
        (1e-12, 1, "0.0000%"),  # past PERCENT_MAX_DECIMALS the usual rounding is kept
    ],
)
def test_percent_never_rounds_a_part_to_all_or_none(share: float, decimals: int, shown: str) -> None:
    assert labels.percent(share, decimals) == shown


def test_escape_note_says_what_each_drawn_escape_stands_for() -> None:
    """Review (Generate): a token drawn as "\\n" was left for the reader to guess."""
    assert labels.escape_note(["a", " b"]) is None
    note = labels.escape_note(["Roses", ",\n", "\t"])
    assert note is not None and "\\n is a line break" in note and "\\t a tab" in note and "\\r" not in note
    assert labels.escape_note(["x\r\n"]) == "In the tokens, \\n is a line break and \\r a carriage return."


def test_escape_note_names_a_character_drawn_by_its_code_point() -> None:
    """Review (Logit lens): SmolLM2 predicts a no-break space, drawn "\\u00a0" in the grid with no word on it."""
    assert labels.escape_note(["\u00a0"]) == "In the tokens, \\u00a0 is the character U+00A0 (no-break space)."
    note = labels.escape_note(["\n", "x\u200b"])
    assert note == "In the tokens, \\n is a line break and \\u200b the character U+200B (zero width space)."
    assert labels.escape_note(["\x07"]) == "In the tokens, \\x07 is the character U+0007 (a control character)."
