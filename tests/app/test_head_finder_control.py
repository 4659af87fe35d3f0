"""The head finder's control sentence answers one question, "creature" ← "fluffy" + "blue": it is offered, and its
numbers compared with the page's, only when the page asks that question (a practitioner's review: on another text
the warning promised "the adjectives one word away" where there were none, and the control set 5.5% for the
adjectives against 95.8% for river → piano)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.app.helpers import open_page
from viz.views.heads import asks_control_question

OTHER = "ant zebra cloud piano river ant zebra cloud piano river"


def head_finder(text: str) -> AppTest:
    return open_page("app_pages/head_finder.py", text)


def test_another_question_gets_no_adjective_control(smollm) -> None:
    at = head_finder(OTHER)
    warning = " ".join(w.value for w in at.warning)
    # The default question on this text is the last "river" ← the "piano" just before it: a previous-token head.
    assert "previous-token head" in warning
    assert "adjectives one word away" not in warning and "creature" in warning  # says which question the control is for
    assert not [e for e in at.expander if "Control" in e.label]
    said = " ".join(c.value for c in at.caption)
    assert "on this page's text" not in said and "best head for the control" not in said


def test_the_default_question_keeps_its_control(smollm) -> None:
    at = head_finder("a fluffy blue creature roamed the verdant forest")
    assert "adjectives one word away" in " ".join(w.value for w in at.warning)
    assert [e for e in at.expander if "Control" in e.label]
    assert any("on this page's text" in c.value for c in at.caption)


def test_which_questions_the_control_answers() -> None:
    tokens = ["a", " fluffy", " blue", " creature", " roamed"]
    assert asks_control_question(tokens, 3, [1, 2]) and asks_control_question(tokens, 3, [2, 1])
    assert not asks_control_question(tokens, 3, [2])  # one adjective: another question
    assert not asks_control_question(tokens, 4, [3])
    assert not asks_control_question(["ant", " piano", " river"], 2, [1])
