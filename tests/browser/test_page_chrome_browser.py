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
