"""The text a reader sees names the model as they know it ("SmolLM2-135M-Instruct"), not by the app's internal
registry key: the Parameters page headed its tables "smollm2-135m: every parameter" under a caption that said
"SmolLM2-135M-Instruct", and the token notes said "as smollm2-135m split them"."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from app_pages.registry import PAGE_NAMES
from tests.app.helpers import APP

REGISTRY_KEY = "smollm2-135m"  # the default model's key in attention_core.registry (URLs and file names use it)


def reader_texts(at: AppTest) -> list[str]:
    """The page's prose, headings, notices and the labels of its buttons and expanders."""
    kinds = ("title", "header", "subheader", "markdown", "caption", "info", "success", "warning", "error")
    texts = [element.value for kind in kinds for element in at.get(kind)]
    return texts + [b.label for b in at.button] + [e.label for e in at.expander]


@pytest.mark.parametrize("page", PAGE_NAMES)
def test_pages_name_the_model_by_its_title(page: str) -> None:
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params.update({"page": page})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    texts = reader_texts(at)
    assert texts, "the page showed no text at all"
    assert [t for t in texts if REGISTRY_KEY in str(t)] == []
