"""Token pickers across a text change (issue 19, defect 1): a pick survives only where the same token stands
at the same position; otherwise the page's default is picked. (That the pickers list the new tokens in the
browser is tests/browser/test_token_pickers_browser.py.)"""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.app.helpers import APP, keyed


def inside_head(text: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"text": text})
    at.run()
    at.switch_page("app_pages/inside_head.py").run()
    assert not at.exception, at.exception
    return at


def test_a_pick_survives_only_where_it_still_means_the_same_token() -> None:
    at = inside_head("a fluffy blue creature roamed the verdant forest")
    keyed(at, "selectbox", "mech_cell_query").set_value(3).run()  # "3: ␣creature"
    assert keyed(at, "selectbox", "mech_cell_query").format_func(3) == "3: ␣creature"
    at.text_area(key="text").set_value("a fluffy blue creature slept").run()  # same token at 3: kept
    query = keyed(at, "selectbox", "mech_cell_query")
    assert query.value == 3 and query.options[3] == "3: ␣creature"
    at.text_area(key="text").set_value("the cat sat on the mat").run()  # another token at 3: the default
    query = keyed(at, "selectbox", "mech_cell_query")
    assert query.value == len(query.options) - 1 and "creature" not in " ".join(query.options)
