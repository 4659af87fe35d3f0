"""Issue 19, defect 11: quick clicks on different heads each select their head. Plotly counts a second mousedown
within `doubleClickDelay` of the first (500 ms in Streamlit's Plotly) as a double click, and a double click on a
chart whose clicks select clears the selection instead of selecting the clicked point: two thumbnails clicked
within half a second left the first head selected. Every chart whose click selects a head turns that off."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.helpers import APP

TIMEOUT = 180


def _selecting_charts(at: AppTest) -> dict[str, dict]:
    """key → Plotly config of every chart on the page whose clicks select."""
    return {
        element.key: json.loads(element.proto.config)
        for element in at.get("plotly_chart")
        if list(element.proto.selection_mode)
    }


@pytest.mark.parametrize(
    ("page", "expected"),
    [("patterns", {"heads_L", "overview_L"}), ("head_finder", {"mech_find_grid"}), ("atlas", {"atlas_grid"})],
)
def test_every_chart_whose_click_selects_has_no_double_click(page: str, expected: set[str]) -> None:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page(f"app_pages/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    charts = _selecting_charts(at)
    assert {prefix for prefix in expected if any(key.startswith(prefix) for key in charts)} == expected, charts.keys()
    for key, config in charts.items():
        assert config.get("doubleClickDelay") == 0, key
