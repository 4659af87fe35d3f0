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


def open_link(**params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"text": "a fluffy blue creature roamed the verdant forest", **params})
    at.run()
    assert not at.exception, at.exception
    return at


def test_a_link_opens_on_the_tokens_it_picked_and_the_address_follows_a_new_pick() -> None:
    """A shared link to Inside one head opened on the last query and the first key, whatever the sender had picked:
    the picks were not in the address."""
    at = open_link(page="inside_head", query="3", key="1")
    query, key = keyed(at, "selectbox", "mech_cell_query"), keyed(at, "selectbox", "mech_cell_key")
    assert (query.value, key.value) == (3, 1) and query.format_func(3) == "3: ␣creature"
    assert (at.query_params["query"], at.query_params["key"]) == ("3", "1")
    keyed(at, "selectbox", "mech_cell_query").set_value(5).run()
    assert at.query_params["query"] == "5" and not at.warning
    at.switch_page("app_pages/patterns.py").run()
    assert "query" not in at.query_params  # a page without that picker does not carry it


def test_a_linked_token_the_text_does_not_have_falls_back_with_a_warning() -> None:
    at = open_link(page="logit_lens", position="40")
    position = keyed(at, "selectbox", "lens_position")
    assert position.value == len(position.options) - 1  # the page's own default: the last position
    assert any("token 40" in w.value and "positions 0–9" in w.value for w in at.warning), [w.value for w in at.warning]
    assert at.query_params["position"] == "9"  # the address says what is shown
