"""What the browser shows around the app (issue 19, defect 8): the favicon comes from this server (a Material
icon or an emoji would be fetched from the network, which fails offline), and users see no "Deploy" button."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.browser


def open_home(page, app_url: str) -> None:
    page.goto(app_url)
    page.get_by_role("heading", name="Start here").wait_for()
    page.wait_for_timeout(1000)


def test_favicon_is_served_by_the_app(page, app_url) -> None:
    open_home(page, app_url)
    icons = page.locator("link[rel~='icon'], link[rel='shortcut icon']")
    hrefs = [icons.nth(i).get_attribute("href") or "" for i in range(icons.count())]
    assert hrefs, "no favicon link"
    for href in hrefs:
        host = urlparse(page.evaluate("h => new URL(h, document.baseURI).href", href)).netloc
        assert href.startswith("data:") or host == urlparse(app_url).netloc, href


def test_no_deploy_button(page, app_url) -> None:
    open_home(page, app_url)
    assert page.get_by_text("Deploy", exact=True).count() == 0


@pytest.mark.parametrize(("path", "title"), [("start", "Start here"), ("patterns", "Attention patterns")])
def test_every_page_name_is_also_its_path(page, app_url, path: str, title: str) -> None:
    """/patterns opens the patterns page; /start, the default page's name, showed Streamlit's "Page not found" (the
    default page lives at /), though every link names it (?page=start)."""
    page.goto(f"{app_url}/{path}?text=a+fluffy+blue+creature")
    page.get_by_role("heading", name=title).wait_for()
    page.wait_for_timeout(2500)  # the dialog comes with the first rerun
    assert page.get_by_text("Page not found").count() == 0
    assert page.get_by_role("heading", name=title).count() == 1
    assert "text=a+fluffy+blue+creature" in page.url  # the link's state survives the way in
