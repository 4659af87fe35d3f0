"""Token pickers follow the text in a real browser (issue 19, defect 1): with a page open, type a new text in
the sidebar; every token picker then offers the new text's tokens, never the previous text's.

One session walks through every page with pickers and swaps between two texts on each (a fresh page load costs
Chromium ~8 s of CPU on 2 shared cores; one per page made this file ~130 s of the suite)."""

from __future__ import annotations

import pytest

from devtools.browser import wait_rerun_done

pytestmark = pytest.mark.browser

FIRST = "a fluffy blue creature roamed the verdant forest"
SECOND = "the cat sat on the mat because it was tired"
# each text → a word of its own, and the words only it has (so a picker still offering one is stale)
OWN_WORDS = {
    FIRST: ("fluffy", ("fluffy", "creature", "verdant", "forest", "roamed")),
    SECOND: ("cat", ("cat", "sat", "mat", "because", "tired")),
}

# sidebar link → the labels of the page's token pickers (selectboxes and multiselects)
PAGES = {
    "Head finder": ["Query token (the one looking)", "Key tokens (looked at)"],
    "Inside one head": ["Query i (the token that is looking)", "Key j (the token it looks at)"],
    "Embedding shifts": ["Token to explain"],
    "Scores & masking": ["Look at one query's row"],
    "Contribution graph": ["Token whose embedding to explain"],
    "Logit lens": ["Position"],
    "Experiments": ["Predict the token after"],
}


def offered(page, label: str) -> list[str]:
    """What a picker shows closed (its label, value or chips) and the option labels it lists once opened."""
    widget = (
        page.locator("[data-testid='stSelectbox'], [data-testid='stMultiSelect']")
        .filter(has=page.get_by_text(label, exact=True))
        .first
    )
    shown = widget.inner_text().replace(label, "")
    # A selectbox shows its value in an <input>, which inner_text leaves out (a stale value went unseen).
    shown += " ".join(i.input_value() for i in widget.locator("input").all())
    widget.get_by_role("combobox").click()
    page.get_by_role("option").first.wait_for()
    names = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    page.wait_for_timeout(200)
    return [shown, *names]


def test_every_picker_lists_the_new_texts_tokens(mech_page, mech_url) -> None:
    page = mech_page
    page.goto(f"{mech_url}/?text={FIRST.replace(' ', '+')}&layer=3&head=1")
    wait_rerun_done(page)
    shown, other = FIRST, SECOND
    for link in sorted(PAGES):
        page.get_by_test_id("stSidebarNavItems").get_by_role("link", name=link, exact=True).click()  # not a page link
        wait_rerun_done(page)
        for label in PAGES[link]:  # the shown text's tokens, to begin with
            assert any(OWN_WORDS[shown][0] in o for o in offered(page, label)), (link, label)
        box = page.locator("[class*='st-key-text'] textarea")
        box.fill(other)
        box.press("Control+Enter")
        wait_rerun_done(page)
        assert page.locator("[data-testid='stException']").count() == 0, link
        for label in PAGES[link]:
            options = offered(page, label)
            stale = [o for o in options if any(word in o for word in OWN_WORDS[shown][1])]
            assert not stale, (link, label, stale)
            assert any(OWN_WORDS[other][0] in o for o in options), (link, label, options)
        shown, other = other, shown


def test_a_link_opens_on_its_picked_tokens_and_the_address_follows_a_pick(mech_page, mech_url) -> None:
    """The picks travel in the address (ui/url.py TOKEN_PICKERS): a link opens on them, a new pick rewrites it."""
    page = mech_page
    page.goto(f"{mech_url}/inside_head?text={FIRST.replace(' ', '+')}&query=3&key=1")
    wait_rerun_done(page)
    query = offered(page, "Query i (the token that is looking)")[0]
    assert "3: ␣creature" in query and "key=1" in page.url and "query=3" in page.url, (query, page.url)
    widget = page.locator("[data-testid='stSelectbox']").filter(has=page.get_by_text("Query i", exact=False)).first
    widget.get_by_role("combobox").click()
    page.get_by_role("option", name="4: ␣roamed").click()
    wait_rerun_done(page)
    assert "query=4" in page.url and "key=1" in page.url, page.url
