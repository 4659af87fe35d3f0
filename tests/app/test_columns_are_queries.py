"""The sidebar's orientation on Inside one head and Experiments (issue 19, defect 6): with "columns are queries"
their query × key matrices are drawn transposed, with the axis titles and captions to match."""

from __future__ import annotations

import numpy as np
from streamlit.testing.v1 import AppTest

from tests.app.helpers import APP, chart, decode

TIMEOUT = 240  # five agents share two cores
ATOL = 1e-6  # the page's float64 softmax against the engine's float32 one (tests/mechanism/test_pages.py)


def open_page(page: str, **params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"page": page, **params})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_inside_one_head_draws_queries_as_columns(fluffy) -> None:
    at = open_page("inside_head", layer="3", head="2", orient="cols")
    pattern = fluffy.pattern(3, 2).numpy()
    for key, engine in (("mech_pattern", pattern), ("mech_scaled", fluffy.scores(3, 2).numpy())):
        fig = chart(at, key)
        np.testing.assert_allclose(decode(fig["data"][0]["z"]), engine.T, rtol=1e-5, atol=1e-5)
        assert fig["layout"]["xaxis"]["title"]["text"] == "query"
        assert fig["layout"]["yaxis"]["title"]["text"] == "key"
    drawn = decode(chart(at, "mech_pattern")["data"][0]["z"])
    np.testing.assert_allclose(drawn.sum(axis=0), 1.0, atol=ATOL)  # each drawn column is one query's weights
    captions = " ".join(c.value for c in at.caption)
    assert "Columns are queries" in captions and "each column (one query's weights) still sums to 1" in captions
    # The red frame sits on (key j, query i) as drawn: the default pick is query n−1, key 0.
    frame = chart(at, "mech_pattern")["layout"]["shapes"][0]
    assert (frame["x0"] + 0.5, frame["y0"] + 0.5) == (pattern.shape[0] - 1, 0)


def test_inside_one_head_keeps_queries_as_rows_by_default(fluffy) -> None:
    at = open_page("inside_head", layer="3", head="2")
    fig = chart(at, "mech_pattern")
    np.testing.assert_allclose(decode(fig["data"][0]["z"]), fluffy.pattern(3, 2).numpy(), atol=ATOL)
    assert fig["layout"]["xaxis"]["title"]["text"] == "key"
    assert any("each row (one query's weights) still sums to 1" in c.value for c in at.caption)


def test_experiments_temperature_draws_queries_as_columns(fluffy) -> None:
    at = open_page("experiments", layer="5", head="1", orient="cols")
    fig = chart(at, "exp_temperature")
    drawn = decode(fig["data"][0]["z"])
    np.testing.assert_allclose(drawn, fluffy.pattern(5, 1).numpy().T, atol=ATOL)
    np.testing.assert_allclose(drawn.sum(axis=0), 1.0, atol=1e-5)
    assert fig["data"][1]["orientation"] == "v"  # one entropy bar under each column (query)
    assert fig["layout"]["xaxis2"]["title"]["text"] == "query"  # the shared x axis, titled under the bars
    assert any("each column sums to 1" in a["text"] for a in fig["layout"]["annotations"])  # its axis: "query"
    assert any("a column of the pattern below" in c.value for c in at.caption)
    assert any(m.label == "Mean entropy at T = 1" and "over the pattern's columns" in m.proto.help for m in at.metric)
