"""Issue 19, defect 3: at ~1,000 tokens the embedding-shifts, head-finder and patterns pages draw readable views:
a bounded number of arrows, bars, labels and cells, a notice where a view shows a subset, the token strip folded
away, and numbers that are still the engine's. One 1,000-token trace for the module (not timings: those are
bench/app_latency.py's)."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.helpers import APP, chart, decode, keyed
from viz.figures.long_text import LOG_DECADES, POOLED_X_LABELS
from viz.views.head_focus import FOCUS_SIZE
from viz.views.head_window import STEPS_WINDOW_SIZE, step_positions
from viz.views.heads import STAT_COLUMNS, head_statistics
from viz.views.shifts import ARROW_MAX, SOURCE_MAX

TIMEOUT = 600  # a 1,000-token trace and every page's first run on 2 shared cores
N = 1000
SENTENCE = "The keeper climbed the stairs of the lighthouse every night to light the lamp. "
pytestmark = pytest.mark.one_worker  # one 1,000-token app session for the module


@pytest.fixture(scope="module")
def at() -> AppTest:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.run()
    app.number_input(key="max_tokens").set_value(N)
    app.text_area(key="text").set_value(SENTENCE * 70)  # ~1,150 tokens: cut to 1,000
    app.run()
    assert app.session_state["ctx"].trace.n_tokens == N
    return app


def open_page(at: AppTest, script: str) -> AppTest:
    at.switch_page(f"app_pages/{script}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_embedding_shifts_draws_a_bounded_readable_subset_and_says_so(at: AppTest) -> None:
    open_page(at, "embedding_shifts")
    trace = at.session_state["ctx"].trace
    arrows = chart(at, "mech_arrows")
    assert len(arrows["layout"]["annotations"]) == ARROW_MAX  # one arrow per drawn token, not 999
    assert all(len(decode(trace_["x"])) == ARROW_MAX for trace_ in arrows["data"])
    assert any(f"arrows for {ARROW_MAX} of them" in i.value for i in at.info)
    share = chart(at, "mech_share")
    assert len(share["data"][0]["y"]) == SOURCE_MAX
    assert any(f"draw the {SOURCE_MAX} with the largest contribution" in i.value for i in at.info)
    # Each bar is named by its true position, and its value is the full table's value for that source.
    table = at.dataframe[0].value
    assert len(table) == N  # the table keeps every source
    first = share["data"][0]["y"][0]
    pos = int(first.split(":")[0])
    assert decode(share["data"][0]["x"])[0] == pytest.approx(table["share of Δe"][pos], rel=1e-6)
    assert any(e.label.startswith(f"The {N} tokens") for e in at.expander)  # the strip is folded away
    assert trace.n_tokens == N


def test_head_finder_at_1000_tokens_keeps_the_engine_statistics_and_a_small_matrix(at: AppTest) -> None:
    open_page(at, "head_finder")
    trace = at.session_state["ctx"].trace
    focus = chart(at, "mech_find_focus")
    assert decode(focus["data"][0]["z"]).shape == (FOCUS_SIZE, FOCUS_SIZE)
    assert any(e.label.startswith(f"The {N} tokens") for e in at.expander)
    stats = at.dataframe[1].value
    assert len(stats) == trace.n_layers * trace.n_heads
    for layer, head in [(0, 0), (17, 5)]:  # chunked statistics == statistics of the whole pattern
        expected = head_statistics(trace.pattern(layer, head).numpy()[None, None], causal=trace.causal)
        row = layer * trace.n_heads + head
        for key, label in STAT_COLUMNS.items():
            assert stats[label][row] == pytest.approx(float(expected[key][0, 0]), abs=1e-5)


def test_patterns_long_view_has_a_structure_scale_and_thinned_labels(at: AppTest) -> None:
    open_page(at, "patterns")
    pooled = chart(at, "head_heatmap")
    assert "log scale" in pooled["data"][0]["colorbar"]["title"]["text"]
    assert len(pooled["layout"]["xaxis"]["tickvals"]) <= POOLED_X_LABELS
    at.radio(key="long_scale").set_value("row").run()
    z = decode(chart(at, "head_heatmap")["data"][0]["z"])
    np.testing.assert_allclose(np.nanmax(z, axis=1), 1.0)  # rows = queries on the default orientation
    assert "per row" in chart(at, "head_window")["data"][0]["colorbar"]["title"]["text"]
    # The layer's thumbnails and the overview take the same scale (they looked empty on a linear one).
    for prefix in ("heads_L", "overview_L"):
        heat = chart(at, prefix)["data"][0]
        assert (heat["zmin"], heat["zmax"]) == (0.0, 1.0), prefix
    at.radio(key="long_scale").set_value("log").run()
    heat = chart(at, "heads_L")["data"][0]
    assert heat["zmax"] < 0 and heat["zmin"] == pytest.approx(heat["zmax"] - LOG_DECADES)


def test_inside_head_at_1000_tokens_draws_the_picked_cells_window(at: AppTest) -> None:
    open_page(at, "inside_head")
    ctx = at.session_state["ctx"]
    trace, layer, head = ctx.trace, ctx.layer, ctx.head
    pos = step_positions(N, N - 1, 0)  # the page's default pick: the last query and the first key
    assert pos.size == STEPS_WINDOW_SIZE and {0, N - 1} <= set(pos.tolist())
    full = trace.pattern(layer, head).numpy()
    pattern = chart(at, "mech_pattern")
    # The window's weights are the full pattern's (not renormalised), with the picked cell framed in red.
    np.testing.assert_allclose(decode(pattern["data"][0]["z"]), full[np.ix_(pos, pos)], atol=1e-6)
    frame = pattern["layout"]["shapes"][0]
    assert (frame["y0"] + 0.5, frame["x0"] + 0.5) == (STEPS_WINDOW_SIZE - 1, 0)
    rows_cols = decode(pattern["data"][0]["customdata"]).reshape(STEPS_WINDOW_SIZE, STEPS_WINDOW_SIZE, 2)
    np.testing.assert_array_equal(rows_cols[:, 0, 0], pos)  # hover gives true positions
    for key in ("mech_E", "mech_Q_pre", "mech_K_pre", "mech_Q", "mech_K", "mech_V", "mech_z", "mech_delta"):
        assert decode(chart(at, key)["data"][0]["z"]).shape[0] == STEPS_WINDOW_SIZE, key
    for key in ("mech_dots", "mech_scaled", "mech_masked", "mech_pattern"):
        assert decode(chart(at, key)["data"][0]["z"]).shape == (STEPS_WINDOW_SIZE, STEPS_WINDOW_SIZE), key
    assert any("tokens 0–23 and 976–999" in i.value for i in at.info)
    assert any(e.label.startswith(f"The {N} tokens") for e in at.expander)  # the strip is folded away
    # Another pick moves the window, which again holds it.
    keyed(at, "selectbox", "mech_cell_query").set_value(500).run()
    keyed(at, "selectbox", "mech_cell_key").set_value(470).run()
    pos = step_positions(N, 500, 470)
    z = decode(chart(at, "mech_pattern")["data"][0]["z"])
    np.testing.assert_allclose(z, full[np.ix_(pos, pos)], atol=1e-6)
    assert z[list(pos).index(500), list(pos).index(470)] == pytest.approx(float(full[500, 470]), abs=1e-6)
