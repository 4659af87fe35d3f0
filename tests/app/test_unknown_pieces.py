"""What the model made of the text: pieces its vocabulary lacks became one unknown token each (MiniLM's WordPiece
reads an emoji as [UNK]), and the sidebar says which, quoted as text; a byte-level vocabulary (SmolLM2's) lacks
nothing, so it says nothing."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.app.helpers import open_page
from viz.views.common import UNKNOWN_SHOWN, unknown_sentence

TEXT = "a fluffy 🐉 creature ☃ roamed the 🐉 forest"


def notes(at: AppTest) -> str:
    return " ".join(w.value for w in at.sidebar.warning)


def test_the_sidebar_names_the_pieces_minilm_reads_as_unknown() -> None:
    at = open_page("app_pages/patterns.py", TEXT, model="minilm-l6")
    said = notes(at)
    assert "3 pieces of the text are not in this model's vocabulary: `🐉`, `☃`." in said, said
    assert "It reads each as one `[UNK]` token, all it sees of it." in said


def test_a_byte_level_vocabulary_lacks_nothing() -> None:
    at = open_page("app_pages/patterns.py", TEXT)  # SmolLM2
    assert "not in this model's vocabulary" not in notes(at)


def test_the_sentence_quotes_pieces_as_code_and_counts_the_rest() -> None:
    assert unknown_sentence([], "[UNK]") is None
    said = unknown_sentence(["*x*", "*x*", "`"], "<unk>")
    assert said.startswith("3 pieces of the text are not in this model's vocabulary: `*x*`, `` ` ``.")
    assert "It reads each as one `<unk>` token" in said
    many = [chr(0x1F600 + i) for i in range(UNKNOWN_SHOWN + 2)]
    assert "and 2 more." in unknown_sentence(many, "[UNK]")
    assert unknown_sentence(["☃"], "[UNK]").startswith("1 piece of the text is not")
