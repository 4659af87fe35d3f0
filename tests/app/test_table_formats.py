"""Every number column of every table has one fixed format: st.dataframe otherwise drops trailing zeros, so 0.012
stood under 0.0127 in the Experiments page's next-token table, and a reader compares digits that do not line up
(a %g format drops them too: Inside one head's numbers showed 0.35457 under 0.225334)."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from app_pages.registry import PAGE_NAMES
from tests.app.helpers import APP

# Every page as it opens, and the Start-here steps that show a table.
VIEWS = [{"page": name} for name in PAGE_NAMES] + [
    {"page": "start", "step": step} for step in ("tokens", "softmax", "parameters")
]


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


@pytest.mark.parametrize("params", VIEWS, ids=lambda p: "-".join(p.values()))
def test_every_float_column_has_a_format(params: dict[str, str]) -> None:
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params.update(params)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert unformatted_float_columns(at) == []
