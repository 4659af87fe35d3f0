"""Token pickers follow the text in a real browser (issue 19, defect 1): with a page open, type a new text in
the sidebar; every token picker then offers the new text's tokens, never the previous text's."""

from __future__ import annotations

import pytest

from devtools.browser import wait_rerun_done

pytestmark = pytest.mark.browser

FIRST = "a+fluffy+blue+creature+roamed+the+verdant+forest"
SECOND = "the cat sat on the mat because it was tired"
OLD_ONLY = ("fluffy", "creature", "verdant", "forest", "roamed")  # tokens of the first text, not the second

# sidebar link → the labels of the page's token pickers (selectboxes and multiselects)
PAGES = {
    "Head finder": ["Query token (the one looking)", "Key tokens (looked at)"],
    "Inside one head": ["Query i (the token that is looking)", "Key j (the token it looks at)"],
    "Embedding shifts": ["Token to explain"],
    "Scores & masking": ["Look at one query's row"],
    "Contribution graph": ["Token whose embedding to explain"],
    "Logit lens": ["Position"],
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


@pytest.mark.parametrize("link", sorted(PAGES))
def test_every_picker_lists_the_new_texts_tokens(mech_page, mech_url, link: str) -> None:
    page = mech_page
    page.goto(f"{mech_url}/?text={FIRST}&layer=3&head=1")
    page.get_by_role("link", name=link).wait_for()
    wait_rerun_done(page)
    page.get_by_role("link", name=link).click()
    wait_rerun_done(page)
    for label in PAGES[link]:
        assert any("fluffy" in o for o in offered(page, label)), label  # the first text's tokens, to begin with
    box = page.locator("[class*='st-key-text'] textarea")
    box.fill(SECOND)
    box.press("Control+Enter")
    wait_rerun_done(page)
    assert page.locator("[data-testid='stException']").count() == 0
    for label in PAGES[link]:
        options = offered(page, label)
        stale = [o for o in options if any(word in o for word in OLD_ONLY)]
        assert not stale, (label, stale)
        assert any("cat" in o for o in options), (label, options)
