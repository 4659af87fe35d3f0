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


def test_the_head_finder_keys_fall_back_to_the_default_when_none_is_left_after_a_text_change() -> None:
    """The key picker (several tokens) emptied on a new text whose tokens differ at the picked positions: the page
    then showed "Pick at least one key token" instead of its default keys, as the one-token pickers do."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"text": "a fluffy blue creature roamed the verdant forest"})
    at.run()
    at.switch_page("app_pages/head_finder.py").run()
    assert not at.exception, at.exception
    first = keyed(at, "multiselect", "mech_find_keys")
    assert first.value, "the default keys"
    at.text_area(key="text").set_value("the cat sat on the mat").run()
    assert not at.exception, at.exception
    keys = keyed(at, "multiselect", "mech_find_keys")
    assert keys.value, [w.value for w in at.warning] + [i.value for i in at.info]
    assert "fluffy" not in " ".join(keys.options)
