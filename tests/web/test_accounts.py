"""A person's account seen from their browser: deactivated by the admin while chairing, the
console leaves the meeting for the login page at once, and the login is refused."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from playwright.async_api import Page, expect

from tests.conftest import Org
from tests.web.conftest import Browsers
from tests.web.pages import api
from tests.web.test_terminal import scheduled_meeting, start, terminal

pytestmark = pytest.mark.slow


async def chairing(browsers: Browsers, org: Org) -> Page:
    """The chair's console in a live meeting, its socket in (the chair hall shown connected)."""
    meeting_id, chair = await scheduled_meeting(browsers, org)
    await terminal(browsers, org, "P")
    await start(chair, meeting_id)
    await chair.goto(f"/chair?meeting={meeting_id}")
    await expect(chair.get_by_text("Đã kết nối").first).to_be_visible(timeout=20_000)
    return chair


async def deactivate_the_chair(browsers: Browsers, org: Org) -> None:
    admin = await browsers.login("admin")
    await expect(admin).not_to_have_url(f"{browsers.base_url}/")
    done = await api(admin, "POST", f"/api/users/{org.users['chair_p']}/deactivate")
    assert done["status"] == 200, done


async def test_a_chair_deactivated_mid_meeting_is_sent_to_the_login_page(
    browsers: Browsers, org: Org
) -> None:
    chair = await chairing(browsers, org)

    await deactivate_the_chair(browsers, org)
    await expect(chair).to_have_url(f"{browsers.base_url}/")
    await expect(chair.locator("#login")).to_be_visible()
    await expect(chair.locator("#reconnecting")).to_have_count(0)


async def test_a_console_whose_login_ended_while_it_was_offline_goes_to_the_login_page(
    browsers: Browsers, org: Org
) -> None:
    chair = await chairing(browsers, org)
    # The console's network drops; meanwhile the admin deactivates the chair, whose login
    # ends. Back online, its socket is refused: it says so by going to the login page rather
    # than trying again for ever.
    await chair.context.set_offline(True)
    await expect(chair.locator("#reconnecting")).to_be_visible(timeout=20_000)
    await deactivate_the_chair(browsers, org)
    await chair.context.set_offline(False)
    await expect(chair).to_have_url(f"{browsers.base_url}/", timeout=20_000)
    await expect(chair.locator("#login")).to_be_visible()


@pytest.mark.env(GIAOBAN_CREDENTIALS_CHECK_SECONDS="1")
async def test_a_presenters_page_whose_login_ended_elsewhere_goes_to_the_login_page(
    browsers: Browsers, org: Org
) -> None:
    """Hall A's laptop is in the meeting; its login is ended in another tab (logged out). The
    server notices at its next check of the sockets' logins and the page asks to log in again,
    coming back to the same meeting and hall afterwards."""
    meeting_id, chair = await scheduled_meeting(browsers, org)
    await terminal(browsers, org, "P")
    await start(chair, meeting_id)
    laptop = await browsers.login("sec_a")
    await expect(laptop).to_have_url(f"{browsers.base_url}/secretariat")
    path = f"/present?meeting={meeting_id}&hall={org.halls['A']}"
    await laptop.goto(path)
    await expect(laptop.locator("#hall")).to_have_value(str(org.halls["A"]))
    await laptop.click("#enter")
    await expect(laptop.locator("#share")).to_be_visible(timeout=20_000)

    other_tab = await laptop.context.new_page()
    await other_tab.goto(f"{browsers.base_url}/secretariat")
    status = await other_tab.evaluate(
        "async () => (await fetch('/api/session', {method: 'DELETE'})).status"
    )
    assert status in (200, 204)
    await expect(laptop).to_have_url(f"{browsers.base_url}/?next={quote(path, safe='')}")
    await expect(laptop.locator("#login")).to_be_visible()
