"""Inside one head: the picked tokens' q, k, v before the full matrices (issue 19). Every number shown is the
engine's: the scaled score equals trace.scores at (query, key), norms and cosines are numpy's on the same vectors
(the engine's step-by-step q, k, v: Trace.head_steps), and the full matrices fold away in an expander."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.helpers import APP, chart, decode, keyed
from viz.views.head_vectors import cosine, picked_vectors

TIMEOUT = 240
# The page's q·k is float64 over the engine's float32 q and k; trace.scores is float32 (scores reach ~17):
# 1e-5 relative, as tests/mechanism/test_pages.py allows for the scaled-score matrix.
SCORE_RTOL = 1e-5
EXACT = 1e-9  # numpy on the very vectors the page shows


def numbers(at: AppTest) -> dict[str, float]:
    table = at.dataframe[1].value
    return dict(zip(table["quantity"], table["value"], strict=True))


def test_the_picked_tokens_vectors_are_the_engines(fluffy) -> None:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"page": "inside_head", "layer": "16", "head": "0"})
    at.run()
    keyed(at, "selectbox", "mech_cell_query").set_value(3).run()
    keyed(at, "selectbox", "mech_cell_key").set_value(2).run()
    assert not at.exception, [e.value for e in at.exception]
    i, j = 3, 2
    steps = fluffy.head_steps(16, 0)
    q_i, k_i, v_i, q_j, k_j, v_j = steps.q[i], steps.k[i], steps.v[i], steps.q[j], steps.k[j], steps.v[j]

    shown = numbers(at)
    assert shown["÷ √64 (the scaled score)"] == pytest.approx(float(fluffy.scores(16, 0)[i, j]), rel=SCORE_RTOL)
    assert shown["q_3 · k_2"] == pytest.approx(float(np.dot(q_i, k_j)), rel=EXACT)
    assert shown["cos(q_3, k_2)"] == pytest.approx(np.dot(q_i, k_j) / np.linalg.norm(q_i) / np.linalg.norm(k_j), EXACT)
    assert shown["cos(v_3, v_2)"] == pytest.approx(np.dot(v_i, v_j) / np.linalg.norm(v_i) / np.linalg.norm(v_j), EXACT)
    assert shown["cos(k_3, k_2)"] == pytest.approx(np.dot(k_i, k_j) / np.linalg.norm(k_i) / np.linalg.norm(k_j), EXACT)

    norms = at.dataframe[0].value
    assert list(norms["token"]) == ["3: ␣creature", "2: ␣blue"]
    for row, (q, k, v) in enumerate(((q_i, k_i, v_i), (q_j, k_j, v_j))):
        for name, vec in (("|q|", q), ("|k|", k), ("|v|", v)):
            assert norms[name][row] == pytest.approx(float(np.linalg.norm(vec)), rel=EXACT)

    # Rows q, k, v of i, then of j. q and k share one colour scale (the score compares them); v has its own: its
    # numbers are ~20x smaller than q's here, so on q's scale every v strip was drawn white.
    figure = chart(at, "mech_vectors")
    by_scale = {t["coloraxis"]: decode(t["z"]) for t in figure["data"]}
    assert len(by_scale) == 2
    strips = np.where(np.isnan(by_scale["coloraxis"]), by_scale["coloraxis2"], by_scale["coloraxis"])
    np.testing.assert_allclose(strips, np.stack([q_i, k_i, v_i, q_j, k_j, v_j]), rtol=1e-6, atol=1e-6)  # float32
    qk_bound = max(np.abs(np.stack([q_i, k_i, q_j, k_j])).max(), 1e-12)
    v_bound = np.abs(np.stack([v_i, v_j])).max()
    assert figure["layout"]["coloraxis"]["cmax"] == pytest.approx(qk_bound, rel=1e-6)
    assert figure["layout"]["coloraxis2"]["cmax"] == pytest.approx(v_bound, rel=1e-6)
    assert figure["layout"]["coloraxis2"]["cmin"] == pytest.approx(-v_bound, rel=1e-6)

    # The vectors come first; the full matrices follow in an expander that can be folded away.
    assert any(e.label.startswith("The full matrices") for e in at.expander)
    keys = [getattr(e, "key", "") for e in at.get("plotly_chart")]
    assert keys.index("mech_vectors") < keys.index("mech_E")


def test_cosine_of_a_zero_vector_is_zero_not_nan() -> None:
    assert cosine(np.zeros(4), np.ones(4)) == 0.0
    assert cosine(np.array([1.0, 0.0]), np.array([-2.0, 0.0])) == pytest.approx(-1.0)


def test_picked_vectors_reads_the_steps_rows() -> None:
    class Steps:  # the fields picked_vectors reads from a HeadSteps
        d_head = 4
        q = np.arange(12.0).reshape(3, 4)
        k = -q
        v = q + 1
        E = q * 2

    pv = picked_vectors(Steps, 2, 0)
    assert pv.dot == pytest.approx(float(np.dot(Steps.q[2], Steps.k[0])))
    assert pv.scaled == pytest.approx(pv.dot / 2)
    assert pv.norms()[0]["|v|"] == pytest.approx(float(np.linalg.norm(Steps.v[2])))
