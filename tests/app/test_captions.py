"""Captions say only what applies to the model on screen (issue 19, defect 8): ␣ is explained where the
tokenizer keeps spaces (SmolLM2's byte-level BPE), not for MiniLM's WordPiece, which never shows one."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.helpers import APP


def token_caption(model: str) -> str:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"model": model, "text": "a fluffy blue creature roamed the verdant forest"})
    at.run()
    assert not at.exception, at.exception
    return next(c.value for c in at.caption if "split them" in c.value)


def test_minilm_caption_does_not_explain_a_mark_it_never_shows() -> None:
    caption = token_caption("minilm-l6")
    assert "␣" not in caption and '"##" marks a piece' in caption


def test_smollm_caption_explains_the_space_mark() -> None:
    caption = token_caption("smollm2-135m")
    assert "␣ is a space that belongs to the token" in caption
    assert "added by the tokenizer" not in caption  # SmolLM2 adds no token of its own


def test_minilm_caption_says_which_tokens_the_tokenizer_added() -> None:
    """Review (Start here, MiniLM): [CLS] and [SEP] stood first and last in every table with no word on them."""
    caption = token_caption("minilm-l6")
    assert "`[CLS]` and `[SEP]` are added by the tokenizer" in caption


def page_text(model: str, page: str) -> str:
    """Every caption, subheader and chart title of a page, as one string."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"model": model, "page": page, "text": "a fluffy blue creature roamed the verdant forest"})
    at.run()
    assert not at.exception, at.exception
    titles = [e.proto.spec for e in at.get("plotly_chart")]  # the figures' JSON, titles included
    return " ".join([c.value for c in at.caption] + [h.value for h in at.subheader] + titles)


def test_the_output_bias_is_named_only_for_a_model_that_has_one() -> None:
    """SmolLM2 (llama) has no b_O: Embedding shifts and Inside one head said "+ b_O" and "sums to … with b_O"."""
    for page in ("embedding_shifts", "inside_head"):
        assert "b_O" not in page_text("smollm2-135m", page), page
    assert "b_O" in page_text("minilm-l6", "embedding_shifts")  # BERT adds an output bias once per layer


def test_a_one_token_text_says_why_the_previous_token_column_is_empty() -> None:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"page": "head_finder", "text": "a"})
    at.run()
    assert not at.exception, at.exception
    stats = at.dataframe[-1].value
    assert stats["previous-token share"].isna().all()  # no previous token to share: shown as None
    assert stats["first-token share"].isna().all()  # counted over the queries after the first: none
    assert "With one token there is no previous token" in " ".join(c.value for c in at.caption)


def test_a_one_token_text_is_counted_in_the_singular() -> None:
    """'n = 1 tokens' and 'keys 0–0' read as slips; one token and one key are said as such."""
    assert "n = 1 token," in page_text_of("a", "inside_head")
    masking = page_text_of("a", "masking")
    assert "of its weight on key 0. With the mask that key is all it has" in masking and "0–0" not in masking


def page_text_of(text: str, page: str) -> str:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"page": page, "text": text})
    at.run()
    assert not at.exception, at.exception
    return " ".join(c.value for c in at.caption)


def test_embedding_shifts_names_the_heads_its_mean_weight_is_over(fluffy) -> None:
    """The table's mean attention weight is over every head of the layer, beside a per-head chart: the header says so
    (it read "mean attention weight", as if it were one head's)."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"text": "a fluffy blue creature roamed the verdant forest", "layer": "0"})
    at.run()
    at.switch_page("app_pages/embedding_shifts.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    column = "mean weight over the layer's 9 heads"  # SmolLM2: 9 query heads a layer
    assert column in table.columns, list(table.columns)
    weights = [float(fluffy.pattern(0, h)[3, 1]) for h in range(9)]  # "creature" (the page's query) → "fluffy"
    assert table[column][1] == pytest.approx(sum(weights) / 9, abs=1e-6)
