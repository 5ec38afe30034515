"""The login page's ``?next=``: only a path of this site is followed after logging in
(issue 17: ``/%5Cevil.example`` and ``/%09/evil.example`` led to another site)."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import pytest

from tests.web.conftest import Browsers, HttpsApp

pytestmark = pytest.mark.slow

EVIL = [
    "/%5Cevil.example/x",
    "/%09/evil.example",
    "//evil.example",
    "https://evil.example",
    "/\\evil.example",
    "/%5C%5Cevil.example",
    "%2F%2Fevil.example",
    "javascript:alert(1)",
    "/%0A/evil.example",
    " //evil.example",
]


async def test_login_never_leaves_the_site_whatever_next_says(
    browsers: Browsers, https_app: HttpsApp
):
    site = urlsplit(https_app.url)
    for evil in EVIL:
        # As the tester's links carried it: put in the query as it is (decoded once).
        page = await browsers.login("sec_p", f"/?next={evil}")
        await page.wait_for_url(f"{https_app.url}/secretariat")
        landed = urlsplit(page.url)
        assert (landed.scheme, landed.netloc) == (site.scheme, site.netloc), (evil, page.url)
        await page.context.close()
        browsers.contexts.remove(page.context)


async def test_login_follows_a_path_of_the_site(browsers: Browsers, https_app: HttpsApp):
    page = await browsers.login("sec_p", f"/?next={quote('/archive?q=giao ban', safe='')}")
    await page.wait_for_url(f"{https_app.url}/archive?q=giao%20ban")
