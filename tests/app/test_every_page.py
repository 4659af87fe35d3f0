"""Checks that hold on every page as it opens (and on each of Start here's steps), each page opened once with the
default decoder and once with the encoder (MiniLM).

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
  Parameters page showed GPT-3's attention count as "57,982,05…" and its per-layer count as "603,979,7…". Nor its
  label: Experiments showed "Mean row entropy, the mod…" beside "Mean row entropy at T = 1". Nor a
  page link's label: How to read this listed "Attention patter" and "Scores & maskin". Nor a line of an unwrapped
  code block: Inside one head's softmax line ended "Σ_k exp(s_ik − 1.08101" at the window's edge. Nor a select box's
  option, in the main column or the sidebar: the Model box read "SmolLM2-135M-Instruct (causal c" at any width.
- A view that draws a Plotly chart is one the chart-text browser test loads, so a new page's titles and tick labels
  are checked at 1280, 1024 and 390 px too.
"""

from __future__ import annotations

import json
import re

import pytest
from streamlit.testing.v1 import AppTest

from app_pages.registry import PAGE_NAMES
from tests.app.fit import (
    cut_off_code_lines,
    cut_off_metric_labels,
    cut_off_metric_values,
    cut_off_page_links,
    cut_off_select_options,
    wrapped_input_labels,
)
from tests.app.helpers import APP
from tests.browser.test_chart_text_fits_browser import PAGES as CHART_TEXT_CHECKED
from viz.views.chapter import SLUGS

VIEWS = (
    [{"page": name} for name in PAGE_NAMES]
    + [{"page": "start", "step": step} for step in SLUGS if step != SLUGS[0]]  # the page opens on the first
    + [{"page": name, "model": "minilm-l6"} for name in PAGE_NAMES]  # an encoder: other notices, other tables
)
SMALL_COLUMN_CHARS = 7  # a "small" column is 75 px; the grid's 14 px header font fits about 7 characters with
# the column's padding (measured on the ranking table: "weight on keys" showed as "weight on k" in ~85 px)
REGISTRY_KEYS = ("smollm2-135m", "minilm-l6")  # the models' keys in attention_core.registry (URLs and file names)


@pytest.fixture(scope="module", params=VIEWS, ids=lambda p: "-".join(p.values()))
def opened(request) -> AppTest:
    """The view, run once for every check of this module."""
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params.update(request.param)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["ctx"].model.name == request.param.get("model", REGISTRY_KEYS[0])  # the view's model ran
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


# A number written as text: a count with separators, a share, a size ("1,572,864", "7.4%", "138.2 kB", "-0.12").
NUMBER_TEXT = re.compile(r"[−+-]?[\d,]+(\.\d+)?( ?(%|[kMGT]?B))?")


def left_aligned_number_text(at: AppTest) -> list[str]:
    """[table key: column] for each column of numbers written as text that is not right-aligned: st.dataframe aligns
    text left, so "9,953,280" stood left of "35,136" and a column of counts did not line up by its digits."""
    found = []
    for table in at.dataframe:
        config = json.loads(table.proto.columns or "{}")
        frame = table.value
        for column in frame.columns:
            values = [v for v in frame[column] if v is not None]
            numbers = values and all(isinstance(v, str) and NUMBER_TEXT.fullmatch(v) for v in values)
            if numbers and (config.get(str(column)) or {}).get("alignment") != "right":
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


def reader_texts(at: AppTest) -> list[str]:
    """The page's prose, headings, notices and the labels of its buttons and expanders."""
    kinds = ("title", "header", "subheader", "markdown", "caption", "info", "success", "warning", "error")
    texts = [element.value for kind in kinds for element in at.get(kind)]
    return texts + [b.label for b in at.button] + [e.label for e in at.expander]


@pytest.mark.parametrize(
    "finds",
    [
        unformatted_float_columns,
        left_aligned_number_text,
        cut_off_column_labels,
        cut_off_metric_values,
        cut_off_metric_labels,
        cut_off_code_lines,
        cut_off_select_options,
        cut_off_page_links,
        wrapped_input_labels,
    ],
    ids=lambda check: check.__name__,
)
def test_the_view_has_none_of(opened: AppTest, finds) -> None:
    """Each check lists what it finds wrong on the opened view (the module docstring says why each matters)."""
    assert finds(opened) == []


def test_the_page_names_the_model_by_its_title(opened: AppTest) -> None:
    texts = reader_texts(opened)
    assert texts, "the page showed no text at all"
    assert [t for t in texts if any(key in str(t) for key in REGISTRY_KEYS)] == []


def test_a_view_with_a_chart_is_one_the_browser_checks_for_cut_text(opened: AppTest, request) -> None:
    """Plotly cuts a title or label that runs past its chart; only a real browser sees it, and the browser test
    (tests/browser/test_chart_text_fits_browser.py) loads the views it lists: a new page or step with a chart must
    be among them."""
    view = request.node.callspec.params["opened"]
    name = view["page"] + (f"&step={view['step']}" if "step" in view else "")
    if opened.get("plotly_chart"):
        assert name in CHART_TEXT_CHECKED
