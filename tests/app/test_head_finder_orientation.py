"""Issue 19, defect 6: the head finder's query × key matrix follows the sidebar's orientation (on main the page drew
no such matrix, so these fail there)."""

from __future__ import annotations

import numpy as np
from streamlit.testing.v1 import AppTest

from tests.app.helpers import APP, chart, decode

TIMEOUT = 180  # the machine's 2 cores are shared


def _open(orient: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.radio(key="orient").set_value(orient).run()
    at.switch_page("app_pages/head_finder.py")
    return at.run()


def test_head_finder_matrix_follows_the_orientation(fluffy) -> None:
    at = _open("cols")
    assert not at.exception, [e.value for e in at.exception]
    fig = chart(at, "mech_find_focus")
    assert fig["layout"]["xaxis"]["title"]["text"] == "query" and fig["layout"]["yaxis"]["title"]["text"] == "key"
    # "creature" (3) ← "fluffy", "blue": the best head is layer 16, head 0 (tests/mechanism/test_pages.py)
    drawn = decode(fig["data"][0]["z"])
    expected = fluffy.pattern(16, 0).numpy()
    np.testing.assert_allclose(drawn, expected.T, atol=1e-6)  # columns are queries: each column sums to 1
    np.testing.assert_allclose(np.nansum(drawn, axis=0), 1.0, atol=1e-5)
    frame = fig["layout"]["shapes"][0]
    assert (frame["x0"], frame["x1"]) == (2.5, 3.5)  # the query's column is framed
    assert any("Columns are queries" in c.value for c in at.caption)
    at.radio(key="orient").set_value("rows").run()
    fig = chart(at, "mech_find_focus")
    assert fig["layout"]["xaxis"]["title"]["text"] == "key"
    np.testing.assert_allclose(decode(fig["data"][0]["z"]), expected, atol=1e-6)
    frame = fig["layout"]["shapes"][0]
    assert (frame["y0"], frame["y1"]) == (2.5, 3.5)  # now the query's row


def test_the_statistics_caption_names_queries_not_rows(smollm) -> None:
    """With columns as queries a "row" is a key: the statistics' caption says whose entropy it is instead."""
    at = _open("cols")
    said = next(c.value for c in at.caption if "Averaged over this text's queries" in c.value)
    assert "each row" not in said and "entropy of each query's weights" in said
