"""Token strings → labels a reader can trust.

Separate concerns:
* *readable*: a leading space is the difference between " ver" (a word start) and "ver" (a word
  continuation), so spaces, newlines and other invisible characters must be drawn, not hidden;
* *safe*: Plotly interprets a subset of HTML (<b>, <br>, <a href>, entities) in tick and hover text,
  so a token like "<br>" would silently become a line break. We escape `&`, `<`, `>` for Plotly only;
  Streamlit elements that show plain text (st.code, st.dataframe) get the readable form unescaped.
* *literal in Markdown*: st.warning, st.caption and st.info render Markdown, so a value from a link
  such as `![x](https://…)` or `[log in](https://…)` would become an image or a link inside the app's
  own notice. `markdown_literal` puts such values in a code span, where Markdown acts on nothing.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence

SPACE_MARK = "␣"

# Whitespace with a conventional escape reads better than a \x code.
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def counted(n: int, noun: str) -> str:
    """'1 token', '9 tokens': a count with its noun (a regular plural), for captions."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


PERCENT_MAX_DECIMALS = 4  # percent() adds decimals up to this many to keep a part from reading as all or none


def percent(share: float, decimals: int = 1) -> str:
    """A share in [0, 1] as a percentage with `decimals` decimals, or more where those would round a part to
    all or none: 0.9995 is "99.95%", not "100.0%" beside a table's 0.9995 (up to PERCENT_MAX_DECIMALS)."""
    for places in range(decimals, PERCENT_MAX_DECIMALS + 1):
        shown = f"{share:.{places}%}"
        rounded = round(share * 100, places)
        if (rounded < 100 or share >= 1) and (rounded > 0 or share <= 0):
            return shown
    return shown


def joined(items: Sequence[str]) -> str:
    """Items as a sentence lists them: 'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


_NAMED_MEANINGS = {"\n": "a line break", "\t": "a tab", "\r": "a carriage return"}


def escape_note(tokens: Sequence[str]) -> str | None:
    """What the escapes drawn for these (raw) tokens stand for ('In the tokens, \\n is a line break.'): the named
    ones in _NAMED's order, then the first character drawn by its code point (\\u00a0); None when there is none."""
    found = [ch for ch in _NAMED if any(ch in t for t in tokens)]
    coded = next((ch for t in tokens for ch in t if ch not in _NAMED and ch != " " and _char_name(ch) != ch), None)
    meanings = [(_NAMED[ch], _NAMED_MEANINGS[ch]) for ch in found]
    if coded is not None:  # e.g. SmolLM2's predicted no-break space, drawn \u00a0
        control = unicodedata.category(coded) == "Cc"  # control characters have no Unicode name
        name = unicodedata.name(coded, "").lower() or ("a control character" if control else "unassigned")
        meanings.append((_char_name(coded), f"the character U+{ord(coded):04X} ({name})"))
    if not meanings:
        return None
    said = [f"{drawn} is {meaning}" if i == 0 else f"{drawn} {meaning}" for i, (drawn, meaning) in enumerate(meanings)]
    return f"In the tokens, {joined(said)}."


def readable_token(token: str) -> str:
    """A token with spaces shown as ␣ and control/invisible characters as escapes (\\n, \\x07, \\u200b)."""
    if token == "":
        return "∅"  # an empty token would be an invisible tick label
    return "".join(SPACE_MARK if ch == " " else _char_name(ch) for ch in token)


def _char_name(ch: str) -> str:
    """A character as the labels draw it: itself, or its escape when it would show as nothing or as a box."""
    if ch in _NAMED:
        return _NAMED[ch]
    if unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp", "Zs", "Co", "Cn"}:
        # Control, format (zero-width), separators and unassigned code points all render as
        # nothing or as a box; the code point is the only honest label. \x is kept for ASCII: a \x code of
        # 0x80 or more is what a byte piece of a split character looks like (byte_level_text).
        code = ord(ch)
        return f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}"
    return ch


def readable_text(text: str) -> str:
    """Running text with its invisible characters named as readable_token names them, but its layout kept: spaces,
    tabs, newlines and the \\r of a \\r\\n line end stay themselves (the Text view draws the text as typed; a lone
    \\r, which a browser draws as nothing, is named)."""
    out: list[str] = []
    for i, ch in enumerate(text):
        layout = ch in " \t\n" or (ch == "\r" and text[i + 1 : i + 2] == "\n")
        out.append(ch if layout else _char_name(ch))
    return "".join(out)


def plotly_escape(text: str) -> str:
    """Escape the characters Plotly would read as markup; Plotly renders the entities back as text."""
    return html.escape(text, quote=False)


MAX_SHOWN_CHARS = 80


def markdown_literal(value: object, limit: int = MAX_SHOWN_CHARS) -> str:
    """`repr(value)` for a Markdown message, as an inline code span: shown literally, cut at `limit`.

    Backslash escapes are not enough: GitHub-style autolinks (www.x.com, https://…) see through
    them. Inside a code span nothing is markup: no links, images, HTML, math or :color[...]. The
    fence is longer than any run of backticks in the value; the spaces around it are dropped.
    """
    shown = repr(value) if isinstance(value, str) else str(value)
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    fence = _fence(shown)
    return f"{fence} {shown} {fence}"


def _fence(text: str) -> str:
    """A run of backticks longer than any in `text`: a code span fenced by it cannot be closed from inside."""
    return "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)


def markdown_code(text: str, limit: int = MAX_SHOWN_CHARS) -> str:
    """`text` as an inline code span, without markdown_literal's quotes: for a name that reads as a name (a model
    folder or hub id) and may hold anything; the fence is longer than any run of backticks in it."""
    shown = text if len(text) <= limit else text[: limit - 1] + "…"
    fence = _fence(shown)
    pad = " " if shown.startswith("`") or shown.endswith("`") else ""  # a space keeps an edge backtick inside
    return f"{fence}{pad}{shown}{pad}{fence}"


def plotly_token(token: str) -> str:
    """Readable and safe for Plotly tick and hover text."""
    return plotly_escape(readable_token(token))


def readable_tokens(tokens: Sequence[str]) -> list[str]:
    return [readable_token(t) for t in tokens]


def plotly_tokens(tokens: Sequence[str]) -> list[str]:
    return [plotly_token(t) for t in tokens]


# Left-to-right isolate … pop directional isolate: the plain-text twin of <bdi dir="ltr">.
_LRI, _PDI = "\u2066", "\u2069"
_RIGHT_TO_LEFT = {"R", "AL", "AN"}  # Hebrew, Arabic letters and Arabic-Indic digits: what reorders a line


def token_strip(tokens: Sequence[str]) -> str:
    """One line of plain text showing how the model split the input, for st.code (no markup).

    In a left-to-right line the bidi algorithm draws a run of right-to-left tokens backwards, the neutral ' │ ' and
    '##' between them taken into the run ('ש', '##ל' came out 'ל## │ ש'). A token holding a right-to-left character
    is isolated left to right, so the tokens keep their order and a '##' stays in front; typed isolates and marks
    are named by readable_token, so they cannot close ours. Left-to-right tokens get nothing: no invisible
    characters to copy with them."""
    return " │ ".join(_isolated(t) for t in readable_tokens(tokens))


def _isolated(label: str) -> str:
    if any(unicodedata.bidirectional(ch) in _RIGHT_TO_LEFT for ch in label):
        return f"{_LRI}{label}{_PDI}"
    return label


def plotly_token_labels(tokens: Sequence[str]) -> list[str]:
    """Plotly-safe labels with positions ("3: ␣creature"): tokens repeat, positions do not."""
    return [f"{i}: {t}" for i, t in enumerate(plotly_tokens(tokens))]


def readable_token_labels(tokens: Sequence[str]) -> list[str]:
    """The same labels as plain text, for widgets (selectboxes show text, never markup)."""
    return [f"{i}: {t}" for i, t in enumerate(readable_tokens(tokens))]


def axis_labels(tokens: Sequence[str]) -> tuple[list[str], list[str]]:
    """(readable, plotly-safe) position labels at once: widgets take the first, figures the second."""
    return readable_token_labels(tokens), plotly_token_labels(tokens)


# A byte-level token that holds part of a character's UTF-8 bytes comes from the engine as escapes ("\\xe2").
_BYTE_ESCAPE = re.compile(r"\\x[89a-f][0-9a-f]")  # 0x80-0xff: a byte of a multi-byte character
# A SentencePiece vocabulary with byte fallback (Llama 2, Mistral, Gemma) has one token per byte: '<0xE2>'.
_BYTE_TOKEN = re.compile(r"<0x[0-9A-F]{2}>")
_MULTIBYTE_TOKEN = re.compile(r"<0x[89A-F][0-9A-F]>")
_NAMED_PIECE = re.compile(r"⟨(.|U\+[0-9A-F]{4,6})·(\d+)(?:–(\d+))?/(\d+)⟩")


def byte_piece_note(tokens: Sequence[str]) -> str | None:
    """What a named byte piece is, told on the text's own first one ('⟨🤖·1–2/4⟩ is a token that holds bytes 1 and
    2 of the 4 UTF-8 bytes of 🤖: …'); None when the tokens have none."""
    found = next((m for t in tokens if (m := _NAMED_PIECE.search(t))), None)
    if found is None:
        return None
    label, first, last, total = found.groups()
    char = f"{chr(int(label[2:], 16))} ({label})" if label.startswith("U+") else label
    if last is None:
        held = f"byte {first}"
    else:
        held = f"bytes {first} and {last}" if int(last) == int(first) + 1 else f"bytes {first} to {last}"
    if total == "1":  # byte fallback spelling out an ASCII character the vocabulary lacks
        what = f"the single UTF-8 byte of {char}: the vocabulary has no token for it, so the tokenizer spells it"
        what += " in byte pieces"
    else:
        what = f"{held} of the {total} UTF-8 bytes of {char}: the tokenizer split that character (an emoji, a Hebrew"
        what += " letter, …) into byte pieces"
    return (
        f"{found.group(0)} is a token that holds {what}, and the model sees each piece as a token of its own. A "
        "right-to-left letter is named by its code point (⟨U+05E9·1/2⟩ is ש)."
    )


def predicted_byte_note(predictions: Sequence[str], written: str | None = None) -> str | None:
    """Why a prediction shows a bare byte ('␣\\xd7') where the text's tokens show ⟨…⟩ names: None when no
    prediction in `predictions` is a byte piece. `written`: the text's name for the token the model wrote."""
    pieces = (_BYTE_ESCAPE, _MULTIBYTE_TOKEN, _PREDICTED_PIECE)
    found = next((p for p in predictions if any(piece.search(p) for piece in pieces)), None)
    if found is None:
        return None
    also = f" The one written here is {written} in the text." if written and _NAMED_PIECE.search(written) else ""
    shown = "shown as its bytes"
    if _PREDICTED_PIECE.search(found):  # predicted_token_label's name
        shown = "named by its bytes (·1–2/3: bytes 1 and 2 of a character's 3; ⟨…⟩: bytes that continue a character)"
    return (
        f"‘{found}’ is a predicted byte piece, {shown}: a byte piece makes a character only with the "
        "bytes next to it in the text; once written into the text, a piece is named by its character (⟨…⟩)."
        + also
    )


_BYTE_RUN = re.compile(r"(?:\\x[89a-f][0-9a-f])+")  # a token's run of byte escapes (byte-level BPE)
_PREDICTED_PIECE = re.compile(r"⟨…?0x[89A-F][0-9A-F]")  # predicted_token_label's name for one


def predicted_token_label(token: str) -> str:
    """A predicted token as readable_token shows it, its byte pieces named by their bytes and their place in a
    character, since no character of the text names them: ' \\xd7' → '␣⟨0xD7·1/2⟩' (byte 1 of a 2-byte character),
    '\\xe5\\xae' → '⟨0xE5 0xAE·1–2/3⟩', '\\x9d\\xa4' → '⟨…0x9D 0xA4⟩' (bytes that continue one), a byte-fallback
    '<0xE2>' → '⟨0xE2·1/3⟩'. The text's own pieces are name_byte_pieces' ('⟨❤·1/3⟩')."""
    if _MULTIBYTE_TOKEN.fullmatch(token):
        return _bytes_label(bytes([int(token[3:5], 16)]))
    return _BYTE_RUN.sub(lambda m: _bytes_label(bytes.fromhex(m.group(0).replace("\\x", ""))), readable_token(token))


def _bytes_label(data: bytes) -> str:
    """Bytes of 0x80 or more, one ⟨…⟩ per character they belong to: a lead byte opens one (0xC2-0xF4: of 2, 3 or 4
    bytes), continuation bytes (0x80-0xBF) fill it or continue one begun before the token (⟨…⟩). 0xC0, 0xC1 and
    0xF5-0xFF occur in no UTF-8 text (a byte-level vocabulary still has them): named so, each on its own."""
    groups: list[tuple[list[int], int]] = []  # (bytes, the character's length; 0: begun before; -1: not UTF-8)
    for b in data:
        total = 2 if 0xC2 <= b <= 0xDF else 3 if 0xE0 <= b <= 0xEF else 4 if 0xF0 <= b <= 0xF4 else 0
        total = -1 if b >= 0xC0 and total == 0 else total
        last = groups[-1] if groups else None
        if total == 0 and last is not None and (last[1] == 0 or 0 < len(last[0]) < last[1]):
            last[0].append(b)
        else:
            groups.append(([b], total))
    out = []
    for held, total in groups:
        shown = " ".join(f"0x{b:02X}" for b in held)
        where = "1" if len(held) == 1 else f"1–{len(held)}"
        out.append(f"⟨{shown}·not UTF-8⟩" if total < 0 else f"⟨{shown}·{where}/{total}⟩" if total else f"⟨…{shown}⟩")
    return "".join(out)


def name_byte_pieces(tokens: Sequence[str], offsets: Sequence[tuple[int, int]], text: str) -> list[str]:
    """Tokens with byte pieces named by their character: ' \\xe2', '\\x9d', '\\xa4' (byte-level BPE) or '<0xE2>',
    '<0x9D>', '<0xA4>' (byte fallback) → ' ⟨❤·1/3⟩', '⟨❤·2/3⟩', '⟨❤·3/3⟩' (no spaces inside: a drawn ␣ means a
    space that belongs to the token). The character is the last one of the token's span in `text` (the
    tokenizer's offsets give a byte piece its whole character); other tokens are returned unchanged."""
    out, shown = [], {}  # shown: a character's end offset → how many of its bytes the earlier pieces held
    for token, (start, end) in zip(tokens, offsets, strict=True):
        pieces = [token] if _BYTE_TOKEN.fullmatch(token) else _BYTE_ESCAPE.findall(token)
        if not pieces or not 0 <= start < end <= len(text):
            out.append(token)
            continue
        char = text[end - 1]
        total = len(char.encode("utf-8"))
        shown_as = char_label(char)
        first = shown.get(end, 0) + 1
        last = min(total, first + len(pieces) - 1)
        shown[end] = last
        where = f"{first}" if first == last else f"{first}–{last}"
        out.append(f"{_BYTE_TOKEN.sub('', _BYTE_ESCAPE.sub('', token))}⟨{shown_as}·{where}/{total}⟩")
    return out


def char_label(char: str) -> str:
    """A character as a byte piece's label names it: itself, or its code point for a right-to-left letter (drawn
    itself, a Hebrew or Arabic letter would reorder the label's digits and brackets around it)."""
    if unicodedata.bidirectional(char) in ("R", "AL"):
        return f"U+{ord(char):04X}"
    return char
