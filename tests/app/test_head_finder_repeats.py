"""The head finder's induction and duplicate-token heads of the user's own text (AppTest, SmolLM2): the columns, the
top-heads tables with their query counts, and the words said instead of a score when nothing repeats."""

from __future__ import annotations

import json

import numpy as np
from streamlit.testing.v1 import AppTest

from tests.app.helpers import APP, open_page
from viz.views.heads import REPEAT_COLUMNS, REPEAT_EXAMPLE, STAT_COLUMNS

REPEATED = "Mr and Mrs Dursley were proud to say that they were perfectly normal. Mr and Mrs Dursley were proud."


def head_finder(text: str) -> AppTest:
    return open_page("app_pages/head_finder.py", text)


def tables(at: AppTest) -> dict[str, object]:
    return {str(t.key): t.value for t in at.dataframe}


def test_a_repeated_text_gets_induction_and_duplicate_token_columns_and_top_heads(smollm) -> None:
    at = head_finder(REPEATED)
    found = tables(at)
    stats = found["mech_head_stats"]
    assert len(stats) == 30 * 9
    assert list(stats.columns[-len(REPEAT_COLUMNS) :]) == list(REPEAT_COLUMNS.values())
    for label in REPEAT_COLUMNS.values():
        values = stats[label].to_numpy()
        assert np.isfinite(values).all() and (values >= 0).all() and (values <= 1).all(), label
    top = found["mech_find_induction"]
    assert len(top) == 10 and top[REPEAT_COLUMNS["induction"]].is_monotonic_decreasing
    best = top.iloc[0]
    row = int(best["layer"]) * 9 + int(best["head"])
    assert stats[REPEAT_COLUMNS["induction"]][row] == best[REPEAT_COLUMNS["induction"]]
    assert best[REPEAT_COLUMNS["induction"]] > 0.5  # SmolLM2 has induction heads (layers 17-18 on this text)
    assert "mech_find_duplicate" in found
    ids = smollm.trace(REPEATED).token_ids
    copied = sum(ids[i] in ids[1:i] for i in range(1, len(ids)))  # an earlier copy after the first token
    followed = sum(ids[i] in ids[: i - 1] for i in range(1, len(ids)))  # a copy whose follower comes before i
    headings = [m.value for m in at.markdown]
    assert f"**Top 10 by induction share, each over {followed} queries**" in headings
    assert f"**Top 10 by duplicate-token share, each over {copied} queries**" in headings
    config = json.loads(next(t for t in at.dataframe if t.key == "mech_head_stats").proto.columns)
    assert config[REPEAT_COLUMNS["induction"]]["help"].endswith(f"Here over {followed} queries.")
    # Entropy here is in bits; the atlas's is scaled to 0-1, so the header keeps its unit and the caption says so.
    assert config[STAT_COLUMNS["entropy"]]["label"] == "entropy (bits)"
    caption = next(c.value for c in at.caption if c.value.startswith("Averaged over this text's queries"))
    assert "the head atlas divides it by log₂ of the keys a query sees" in caption
    assert not at.info  # enough queries: nothing to excuse
    assert not [b for b in at.button if b.key == "mech_find_repeat_example"]
    assert at.subheader[-1].value == "Induction and duplicate-token heads of this text"


def test_a_text_without_repeats_says_so_and_offers_one(smollm) -> None:
    at = head_finder("a fluffy blue creature roamed the verdant forest")
    found = tables(at)
    assert not set(REPEAT_COLUMNS.values()) & set(found["mech_head_stats"].columns)  # no column of NaN or zeros
    assert set(STAT_COLUMNS.values()) <= set(found["mech_head_stats"].columns)
    assert "mech_find_induction" not in found and "mech_find_duplicate" not in found
    (info,) = at.info
    assert info.value.startswith("No token repeats in this text, so there is no duplicate-token or induction score")
    (button,) = [b for b in at.button if b.key == "mech_find_repeat_example"]
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["text"] == REPEAT_EXAMPLE
    assert not [i for i in at.info if "score" in i.value] and "mech_find_induction" in tables(at)


def test_a_sliding_window_layer_is_counted_apart(private_models) -> None:
    """A tiny Gemma 2 (layer 0 in a 4-token window): no earlier copy is within 4 tokens, so layer 0 has no score, the
    headings say so beside layer 1's 15 queries, and a note says why."""
    from tests.gguf_writer import save_tiny_gguf

    path = save_tiny_gguf(private_models / "models" / "tiny-gemma2.gguf", arch="gemma2")
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"page": "head_finder", "text": "abcdefgh abcdefgh abcdefgh"})
    at.run()
    at.text_input(key="model_request").set_value(str(path))
    at = at.button(key="model_load").click().run()
    assert not at.exception, [e.value for e in at.exception]
    stats = tables(at)["mech_head_stats"]
    for label in REPEAT_COLUMNS.values():
        assert stats[label][:2].isna().all() and stats[label][2:].notna().all(), label  # layer 0's 2 heads: none
    headings = [m.value for m in at.markdown]
    assert "**Top 2 by induction share, each over 15 queries (none in the sliding-window layers)**" in headings
    assert "**Top 2 by duplicate-token share, each over 15 queries (none in the sliding-window layers)**" in headings
    assert [i.value.split(" lies inside")[0] for i in at.info] == [
        "In the sliding-window layers no token that followed an earlier copy of a query's token",
        "In the sliding-window layers no earlier copy of a query's token",
    ]
    assert not [b for b in at.button if b.key == "mech_find_repeat_example"]  # the text does repeat a phrase
