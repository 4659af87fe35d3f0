"""Byte pieces named by their character (issue 19, defect 9): an emoji or a Hebrew letter that the byte-level
tokenizer splits shows as '⟨❤·1/3⟩', never as a bare '\\xe2'."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.app.helpers import APP, chart
from viz.labels import BYTE_PIECE_NOTE, has_byte_pieces, name_byte_pieces

TEXT = "I ❤ שלום 🦊!"


def test_pieces_are_named_by_character_and_byte_range() -> None:
    # What SmolLM2's tokenizer gives for TEXT (tokens and character offsets, checked in the AppTest below).
    tokens = [
        "I",
        " \\xe2",
        "\\x9d",
        "\\xa4",
        " \\xd7",
        "\\xa9",
        "ל",
        "ו",
        "\\xd7",
        "\\x9d",
        " \\xf0\\x9f",
        "\\xa6",
        "\\x8a",
        "!",
    ]
    offsets = [
        (0, 1),
        (1, 3),
        (2, 3),
        (2, 3),
        (3, 5),
        (4, 5),
        (5, 6),
        (6, 7),
        (7, 8),
        (7, 8),
        (8, 10),
        (9, 10),
        (9, 10),
        (10, 11),
    ]
    named = name_byte_pieces(tokens, offsets, TEXT)
    assert named == [
        "I",
        " ⟨❤·1/3⟩",
        "⟨❤·2/3⟩",
        "⟨❤·3/3⟩",
        " ⟨U+05E9·1/2⟩",
        "⟨U+05E9·2/2⟩",
        "ל",
        "ו",
        "⟨U+05DD·1/2⟩",
        "⟨U+05DD·2/2⟩",
        " ⟨🦊·1–2/4⟩",
        "⟨🦊·3/4⟩",
        "⟨🦊·4/4⟩",
        "!",
    ]
    assert has_byte_pieces(named) and not has_byte_pieces(["I", " like", " ⟨this⟩"])


def test_the_app_names_byte_pieces_and_says_what_they_are() -> None:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"page": "patterns", "text": TEXT})
    at.run()
    assert not at.exception, at.exception
    strip = at.code[0].value
    assert "⟨❤·1/3⟩" in strip and "⟨🦊·1–2/4⟩" in strip and "\\x" not in strip
    assert any(BYTE_PIECE_NOTE in c.value for c in at.caption)
    ticks = chart(at, "head_heatmap")["layout"]["yaxis"]["ticktext"]
    assert any("⟨🦊·4/4⟩" in t for t in ticks) and not any("\\x" in t for t in ticks)
