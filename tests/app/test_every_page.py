"""Checks that hold on every page as it opens (and on Start here's steps that show a table), each page opened once.

- Every number column of every table has one fixed format: st.dataframe otherwise drops trailing zeros, so 0.012
  stood under 0.0127 in the Experiments page's next-token table, and a reader compares digits that do not line up
  (a %g format drops them too: Inside one head's numbers showed 0.35457 under 0.225334).
- The text a reader sees names the model as they know it ("SmolLM2-135M-Instruct"), not by the app's internal
  registry key: the Parameters page headed its tables "smollm2-135m: every parameter" under a caption that said
  "SmolLM2-135M-Instruct", and the token notes said "as smollm2-135m split them".
- No table column set to Streamlit's "small" width (75 px) has a label longer than that width holds: the Head
  finder's ranking table showed "weight on k", "previous-tol" and "first-token sh" at 1280 px. (The table is drawn
  on a canvas, so this reads the column's width and label from the element rather than from the page.)
- No st.metric value is wider than its column at 1024 px: Streamlit cuts a metric's value with an ellipsis, and the
  Parameters page showed GPT-3's attention count as "57,982,05…" and its per-layer count as "603,979,7…". Nor a
  page link's label: How to read this listed "Attention patter" and "Scores & maskin". Nor a line of an unwrapped
  code block: Inside one head's softmax line ended "Σ_k exp(s_ik − 1.08101" at the window's edge.
"""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from app_pages.registry import PAGE_NAMES
from tests.app.helpers import APP

VIEWS = [{"page": name} for name in PAGE_NAMES] + [
    {"page": "start", "step": step} for step in ("tokens", "softmax", "parameters")
]
SMALL_COLUMN_CHARS = 7  # a "small" column is 75 px; the grid's 14 px header font fits about 7 characters with
# the column's padding (measured on the ranking table: "weight on keys" showed as "weight on k" in ~85 px)
MAIN_WIDTH_PX = 560  # the main column's width in a 1024 px window with the sidebar open (measured on a screenshot)
COLUMN_GAP_PX = 16  # Streamlit's "small" gap between columns
# A metric value is Source Sans at 36 px: measured on the Parameters page at 1024 px, "1,572,864" fitted its
# 177 px column and "603,979,776" did not ("603,979,7…"), so digits and letters ~18 px, commas and the like ~9 px.
# A page link is its icon and 14 px text: "Attention patter" showed in a 128 px column on How to read this.
LINK_PADDING_PX, LINK_CHAR_PX = 36, 7
# A code block is 14 px monospace: Inside one head's softmax line showed 65 characters in the 560 px main column.
CODE_PADDING_PX, CODE_CHAR_PX = 32, 8.1
NARROW_CHARS, WIDE_CHARS = set(",.:;'!|il ()"), set("MWm→×−")
REGISTRY_KEY = "smollm2-135m"  # the default model's key in attention_core.registry (URLs and file names use it)


@pytest.fixture(scope="module", params=VIEWS, ids=lambda p: "-".join(p.values()))
def opened(request) -> AppTest:
    """The view, run once for every check of this module."""
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params.update(request.param)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def unformatted_float_columns(at: AppTest) -> list[str]:
    """[table key: column] for each float column of a drawn table without a fixed number format."""
    found = []
    for table in at.dataframe:
        config = json.loads(table.proto.columns or "{}")
        frame = table.value
        for column in frame.columns:
            fmt = (config.get(str(column)) or {}).get("type_config", {}).get("format")
            if frame[column].dtype.kind == "f" and (not fmt or fmt.endswith("g")):  # %g drops trailing zeros too
                found.append(f"{table.key}: {column}")
    return found


def cut_off_column_labels(at: AppTest) -> list[str]:
    """[table key: label] for each column set to the "small" width whose label is longer than it holds."""
    found = []
    for table in at.dataframe:
        config = json.loads(table.proto.columns or "{}")
        for column, settings in config.items():
            label = settings.get("label") or column
            if settings.get("width") == "small" and len(label) > SMALL_COLUMN_CHARS:
                found.append(f"{table.key}: {label}")
    return found


def value_width_px(text: str) -> int:
    """About how wide a metric's value is drawn (see the measurements above)."""
    return sum(9 if ch in NARROW_CHARS else 27 if ch in WIDE_CHARS else 18 for ch in text)


def laid_out(node: object, width: float = MAIN_WIDTH_PX) -> list[tuple[object, float]]:
    """Every element under `node` with the width of the column it stands in at 1024 px."""
    if type(node).__name__ == "Column":
        width = width * node.weight - COLUMN_GAP_PX * (1 - node.weight)  # the row's gaps, shared out by weight
    children = getattr(node, "children", {}) or {}
    return [(node, width)] + [pair for child in children.values() for pair in laid_out(child, width)]


def cut_off_metric_values(at: AppTest) -> list[str]:
    """[label: value] for each metric whose value is wider than the column it stands in at 1024 px."""
    return [
        f"{element.label}: {element.value}"
        for element, width in laid_out(at.main)
        if type(element).__name__ == "Metric" and value_width_px(element.value) > width
    ]


def cut_off_page_links(at: AppTest) -> list[str]:
    """The label of each page link wider than the column it stands in at 1024 px."""
    return [
        element.proto.label
        for element, width in laid_out(at.main)
        if type(element).__name__ == "PageLink" and LINK_PADDING_PX + LINK_CHAR_PX * len(element.proto.label) > width
    ]


def cut_off_code_lines(at: AppTest) -> list[str]:
    """Each line of an unwrapped code block longer than its column holds at 1024 px (the rest scrolls out of sight)."""
    return [
        line
        for element, width in laid_out(at.main)
        if type(element).__name__ == "Code" and not element.proto.wrap_lines
        for line in element.value.splitlines()
        if len(line) > (width - CODE_PADDING_PX) / CODE_CHAR_PX
    ]


def reader_texts(at: AppTest) -> list[str]:
    """The page's prose, headings, notices and the labels of its buttons and expanders."""
    kinds = ("title", "header", "subheader", "markdown", "caption", "info", "success", "warning", "error")
    texts = [element.value for kind in kinds for element in at.get(kind)]
    return texts + [b.label for b in at.button] + [e.label for e in at.expander]


def test_every_float_column_has_a_format(opened: AppTest) -> None:
    assert unformatted_float_columns(opened) == []


def test_no_small_column_cuts_its_label(opened: AppTest) -> None:
    assert cut_off_column_labels(opened) == []


def test_no_metric_value_is_cut_at_1024_px(opened: AppTest) -> None:
    assert cut_off_metric_values(opened) == []


def test_no_code_line_is_cut_at_1024_px(opened: AppTest) -> None:
    assert cut_off_code_lines(opened) == []


def test_no_page_link_is_cut_at_1024_px(opened: AppTest) -> None:
    assert cut_off_page_links(opened) == []


def test_the_page_names_the_model_by_its_title(opened: AppTest) -> None:
    texts = reader_texts(opened)
    assert texts, "the page showed no text at all"
    assert [t for t in texts if REGISTRY_KEY in str(t)] == []
