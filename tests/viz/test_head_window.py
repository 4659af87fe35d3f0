"""Inside one head on a long text (issue 19, defect 3): the positions drawn hold the picked query and key, and
every windowed matrix is the full matrix's slice (viz.views.head_window). Synthetic steps: pure numpy."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from viz.views.head_window import (
    QUERY_KEY,
    STEPS_WINDOW_SIZE,
    TOKEN_ROWS,
    describe_positions,
    step_positions,
    steps_window,
)


def fake_steps(n: int, seed: int = 0) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    arrays = {name: rng.standard_normal((n, 7)) for name in TOKEN_ROWS}
    arrays |= {name: rng.standard_normal((n, n)) for name in QUERY_KEY}
    return SimpleNamespace(n=n, **arrays)


@pytest.mark.parametrize(
    ("n", "query", "key"), [(1000, 999, 0), (1000, 500, 480), (1000, 10, 990), (60, 59, 0), (30, 3, 2), (1000, 47, 0)]
)
def test_positions_hold_the_picked_cell_and_stay_small(n: int, query: int, key: int) -> None:
    pos = step_positions(n, query, key)
    assert query in pos and key in pos
    assert pos.size == min(n, STEPS_WINDOW_SIZE)
    assert np.all(np.diff(pos) > 0) and pos[0] >= 0 and pos[-1] < n


def test_close_picks_share_one_span_and_far_ones_get_a_span_each() -> None:
    assert describe_positions(step_positions(1000, 500, 480)) == "tokens 467–514"
    assert describe_positions(step_positions(1000, 999, 0)) == "tokens 0–23 and 976–999"
    assert describe_positions(step_positions(20, 19, 0)) == "tokens 0–19"


def test_a_window_is_the_full_matrices_slice() -> None:
    steps = fake_steps(200)
    pos = step_positions(200, 150, 3)
    w = steps_window(steps, pos)
    for name in TOKEN_ROWS:
        np.testing.assert_array_equal(w[name], getattr(steps, name)[pos])
    for name in QUERY_KEY:
        np.testing.assert_array_equal(w[name], getattr(steps, name)[np.ix_(pos, pos)])
    assert w["pattern"][w.index(150), w.index(3)] == steps.pattern[150, 3]  # the picked cell, at its place
    assert w.gaps == [int(np.flatnonzero(pos == 150 - 11)[0])] and not w.complete
    with pytest.raises(ValueError, match="not in the window"):
        w.index(100)


def test_a_short_text_keeps_every_token() -> None:
    steps = fake_steps(12)
    w = steps_window(steps, step_positions(12, 11, 0))
    assert w.complete and w.gaps == []
    np.testing.assert_array_equal(w["pattern"], steps.pattern)


def test_bad_positions_are_refused() -> None:
    with pytest.raises(ValueError):
        step_positions(10, 10, 0)
    with pytest.raises(ValueError):
        steps_window(fake_steps(10), np.array([3, 2]))


def test_a_position_bias_is_cut_like_the_other_query_key_matrices() -> None:
    """T5's bias panels (step 3b) show the same positions as the scores beside them."""
    steps = fake_steps(300)
    steps.position_bias = np.random.default_rng(1).standard_normal((300, 300))
    steps.before_mask = steps.capped + steps.position_bias
    pos = step_positions(300, 250, 3)
    w = steps_window(steps, pos)
    for name in ("position_bias", "before_mask"):
        np.testing.assert_array_equal(w[name], getattr(steps, name)[np.ix_(pos, pos)])
    assert "position_bias" not in steps_window(fake_steps(300), pos).arrays  # no bias, no panel
