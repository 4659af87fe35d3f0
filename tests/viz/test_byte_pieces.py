"""Byte pieces named by their character (issue 19, defect 9): an emoji or a Hebrew letter that the byte-level
tokenizer splits shows as '⟨❤·1/3⟩', never as a bare '\\xe2'."""

from __future__ import annotations

import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app_pages.registry import PAGES
from tests.app.helpers import APP, chart, figure_spec, keyed
from viz.labels import byte_piece_note, name_byte_pieces, predicted_byte_note, predicted_token_label

TEXT = "I ❤ שלום 🦊!"
BARE_BYTE = re.compile(r"\\x[89a-f][0-9a-f]")  # how a byte piece shows unnamed (viz.labels.readable_token)


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
    assert byte_piece_note(named) is not None


def test_byte_fallback_pieces_are_named_too() -> None:
    # A SentencePiece vocabulary with byte fallback (Llama 2, Mistral, Gemma GGUF files) spells a character it
    # lacks as byte tokens '<0xE2>' '<0x9D>' '<0xA4>'; the tokenizer gives each the character's span, as here
    # (the tiny GGUF vocabulary of tests/gguf_writer.py on "the ❤ cat 🦊!").
    text = "the ❤ cat 🦊!"
    tokens = [" the", " ", "<0xE2>", "<0x9D>", "<0xA4>", " c", "at", " ", "<0xF0>", "<0x9F>", "<0xA6>", "<0x8A>"]
    tokens.append("<0x21>")  # '!', a character the tiny vocabulary lacks too
    offsets = [(0, 3), (3, 4), (4, 5), (4, 5), (4, 5), (5, 7), (7, 9), (9, 10), *[(10, 11)] * 4, (11, 12)]
    named = name_byte_pieces(tokens, offsets, text)
    assert named[2:5] == ["⟨❤·1/3⟩", "⟨❤·2/3⟩", "⟨❤·3/3⟩"]
    assert named[8:] == ["⟨🦊·1/4⟩", "⟨🦊·2/4⟩", "⟨🦊·3/4⟩", "⟨🦊·4/4⟩", "⟨!·1/1⟩"]
    assert named[:2] == [" the", " "] and named[5:8] == tokens[5:8]
    assert predicted_byte_note(["<0xF0>"]) is not None and predicted_byte_note(["<0x21>", "<s>"]) is None


def test_the_note_explains_a_piece_of_the_users_own_text() -> None:
    # The note's example is the text's first byte piece, not a character the text does not have.
    robot = byte_piece_note(["The", " bot", " ⟨🤖·1–2/4⟩", "⟨🤖·3/4⟩", "⟨🤖·4/4⟩"])
    assert robot is not None and robot.startswith("⟨🤖·1–2/4⟩ is a token that holds bytes 1 and 2 of the 4 UTF-8 bytes")
    assert "❤" not in robot and "🦊" not in robot
    hebrew = byte_piece_note(["⟨U+05E9·2/2⟩", "ל"])
    assert hebrew is not None
    assert hebrew.startswith("⟨U+05E9·2/2⟩ is a token that holds byte 2 of the 2 UTF-8 bytes of ש (U+05E9)")
    assert byte_piece_note(["I", " like", " ⟨this⟩"]) is None
    bang = byte_piece_note(["⟨!·1/1⟩"])  # a byte-fallback token for an ASCII character the vocabulary lacks
    assert bang is not None and bang.startswith("⟨!·1/1⟩ is a token that holds the single UTF-8 byte of !:")


def test_the_app_names_byte_pieces_and_says_what_they_are() -> None:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"page": "patterns", "text": TEXT})
    at.run()
    assert not at.exception, at.exception
    strip = at.code[0].value
    assert "⟨❤·1/3⟩" in strip and "⟨🦊·1–2/4⟩" in strip and "\\x" not in strip
    assert any(c.value == byte_piece_note(strip.split(" │ ")) for c in at.caption)
    ticks = chart(at, "head_heatmap")["layout"]["yaxis"]["ticktext"]
    assert any("⟨🦊·4/4⟩" in t for t in ticks) and not any("\\x" in t for t in ticks)


def _position_labels(at: AppTest) -> list[str]:
    """Every label a page puts on a text position: token strips, select box options, tables, captions, and the
    tick labels of its charts (not the cells' own text: a lens cell or a candidate bar may be a predicted byte
    piece, which no character of the text names; so may the logit lens's final answer)."""
    predictions = ("final answer is", "predicted byte piece")  # the lens's answer, and what a predicted piece is
    captions = [c.value for c in at.caption if not any(p in c.value for p in predictions)]
    labels = [c.value for c in at.code] + captions + [m.value for m in at.markdown]
    labels += [str(o) for box in at.selectbox for o in box.options]
    labels += [str(v) for frame in at.dataframe for v in frame.value.astype(str).to_numpy().ravel()]
    for element in at.get("plotly_chart"):
        if str(element.key or "").startswith("gen_candidates"):
            continue  # the step's candidates: the model's predictions, not positions of the text
        layout = figure_spec(element)["layout"]
        labels += [str(t) for name, axis in layout.items() if "axis" in name for t in axis.get("ticktext", [])]
    return labels


@pytest.mark.parametrize("page", [p.name for p in PAGES if p.section in ("One text", "Layer by layer")])
def test_every_page_names_byte_pieces_the_same_way(page: str) -> None:
    # A position is one token wherever it is shown: the patterns page's '⟨🦊·4/4⟩' must not be '\xa6' on the
    # logit lens, the contribution graph or the generation page.
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"page": page, "text": TEXT})
    at.run()
    assert not at.exception, at.exception
    labels = _position_labels(at)
    assert labels, "the page showed no labels at all"
    raw = [label for label in labels if BARE_BYTE.search(label)]
    assert not raw, f"{page}: bare byte escapes in {raw[:5]}"


def test_cross_attention_names_the_pieces_of_its_own_texts() -> None:
    # The Cross-attention page traces a prompt of its own (its two text boxes), not the sidebar's text.
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"page": "cross_attention"})
    at.run()
    at.text_input(key="mech_cross_source").set_value("The 🦊 sleeps on the mat.")
    at.text_input(key="mech_cross_target").set_value("Le 🦊 dort sur le tapis.").run()
    assert not at.exception, at.exception
    labels = _position_labels(at)
    assert any("⟨🦊·" in label for label in labels), labels
    assert not [label for label in labels if BARE_BYTE.search(label)]


@pytest.mark.parametrize("page", ["logit_lens", "generate", "experiments"])
def test_predicted_byte_pieces_are_explained(page: str) -> None:
    # A prediction that is a byte piece is named by its bytes ('␣⟨0xD7·1/2⟩': no character names it before the bytes
    # after it exist); on the generation page the one written is also named in the text ('␣⟨U+05E9·1/2⟩'). The page says
    # why the two differ. SmolLM2 continues TEXT in Hebrew, so both pages predict byte pieces.
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"page": page, "text": TEXT})
    at.run()
    assert not at.exception, at.exception
    notes = [c.value for c in at.caption if "predicted byte piece" in c.value]
    assert len(notes) == 1, [c.value for c in at.caption]
    # Every page names a predicted piece by its bytes (viz.labels.predicted_token_label), never a bare '\xd7': the
    # lens and Generate showed the escape with a note while Experiments named it.
    assert "0x" in notes[0] and not BARE_BYTE.search(notes[0]), notes[0]
    if page == "generate":
        assert "⟨U+05E9·1/2⟩" in notes[0]  # the written one, named as the pills name it


def test_a_predicted_piece_is_named_by_its_bytes() -> None:
    # No character names a predicted piece (the bytes after it are not written), so its bytes and their place in a
    # UTF-8 character do: ' \xd7' (byte 1 of a 2-byte letter), '\xe5\xae' (bytes 1-2 of 3), '\x9d\xa4' (bytes
    # that continue one); a byte-fallback '<0xE2>' the same way. The rest of the token stays readable_token's.
    assert predicted_token_label(" \\xd7") == "␣⟨0xD7·1/2⟩"
    assert predicted_token_label("\\xe5\\xae") == "⟨0xE5 0xAE·1–2/3⟩"
    assert predicted_token_label("\\x9d\\xa4") == "⟨…0x9D 0xA4⟩"
    assert predicted_token_label("ש\\xd7") == "ש⟨0xD7·1/2⟩"
    assert predicted_token_label("\\xa9\\xd7") == "⟨…0xA9⟩⟨0xD7·1/2⟩"
    assert predicted_token_label("<0xE2>") == "⟨0xE2·1/3⟩" and predicted_token_label("<0x21>") == "<0x21>"
    assert predicted_token_label(" Paris\n") == "␣Paris\\n" and predicted_token_label("\x07") == "\\x07"
    assert predicted_byte_note([predicted_token_label(" \\xd7")]) is not None
    assert predicted_byte_note([predicted_token_label(" Paris")]) is None


def test_experiments_names_its_predicted_byte_pieces() -> None:
    # SmolLM2's top 10 after '中文的' are mostly byte pieces of Chinese characters ('\xe5\xae', '\xe6', …): the
    # chosen-token box, the table and the bars named them by a bare '\xe5' (readable_token), the text's pieces ⟨…⟩.
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"page": "experiments", "text": "中文的"})
    at.run()
    assert not at.exception, at.exception
    options = [str(o) for o in keyed(at, "selectbox", "exp_token_").options]
    table = [str(v) for frame in at.dataframe if "token" in frame.value for v in frame.value["token"]]
    ticks = [str(t) for t in chart(at, "exp_next")["layout"]["yaxis"]["ticktext"]]
    captions = [c.value for c in at.caption if "Chosen token" in c.value]
    labels = options + table + ticks + captions + [str(m.value) for m in at.metric] + [str(m.label) for m in at.metric]
    assert any("⟨0xE5 0xAE·1–2/3⟩" in label for label in options + table + ticks), table
    assert not [label for label in labels if BARE_BYTE.search(label)], labels


def test_no_byte_note_without_predicted_byte_pieces() -> None:
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"page": "generate", "text": "one mole of carbon"})
    at.run()
    assert not at.exception, at.exception
    assert not [c.value for c in at.caption if "byte piece" in c.value]


def test_a_head_atlas_example_names_the_pieces_of_its_document(smollm) -> None:
    # An atlas stores only an example's window of tokens; the service re-reads its document's offsets, so a
    # user's own corpus with an emoji shows '⟨🦊·3/4⟩' in the strip and the caption, as every page does. The
    # window starts mid-character here (the emoji's first piece is outside it), and its pieces keep their numbers.
    from attention_core.atlas.documents import _example
    from services.atlas import example_document
    from viz.views.atlas import example_row

    text = "The fox 🦊 ran. " * 3
    trace = smollm.trace(text)
    pieces = [i for i, t in enumerate(trace.tokens) if "\\x" in t]
    query = pieces[-1] + 3
    row = np.zeros(trace.n_tokens)
    row[pieces[-2]] = 0.75  # the strongest key: the second-last piece of the last 🦊 (its 3rd byte)
    row[0] = 0.25
    example = _example(trace, row, doc_id=7, kind="text", query=query, value=0.75, focus=pieces[-2])
    example["window_start"] = pieces[-2]  # cut the window after the emoji's first piece
    lo = example["window_start"]
    example["tokens"], example["weights"] = trace.tokens[lo : query + 1], list(row[lo : query + 1])

    shown = example_row(example, example_document(smollm, example, 4096))
    assert shown.readable[0] == f"{lo}: ⟨🦊·3/4⟩" and shown.readable[1] == f"{lo + 1}: ⟨🦊·4/4⟩"
    assert "⟨🦊·3/4⟩" in shown.caption
    assert not [label for label in shown.readable + shown.plotly + [shown.caption] if BARE_BYTE.search(label)]
    assert example_document(smollm, {**example, "kind": "induction"}, 4096) is None  # no text to read


@pytest.mark.parametrize(
    ("token", "label"),
    [
        ("\\xc0", "⟨0xC0·not UTF-8⟩"),  # was '⟨…0xC0⟩': "continues a character begun before", which it never does
        (" \\xff", "␣⟨0xFF·not UTF-8⟩"),
        ("\\xf5\\x80", "⟨0xF5·not UTF-8⟩⟨…0x80⟩"),  # the byte after it belongs to no character begun in the token
        ("\\xc1\\xc1", "⟨0xC1·not UTF-8⟩⟨0xC1·not UTF-8⟩"),
        ("\\xd7\\xc0", "⟨0xD7·1/2⟩⟨0xC0·not UTF-8⟩"),  # a lead byte's character is not filled by one
    ],
)
def test_a_byte_that_is_never_utf8_is_named_so(token: str, label: str) -> None:
    assert predicted_token_label(token) == label
    assert predicted_byte_note([label]) is not None  # still recognised as a predicted byte piece
