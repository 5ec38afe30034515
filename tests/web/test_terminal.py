"""The hall terminal on its own: without camera and microphone it still joins to receive, it
rides out a dropped network and a server restart by itself, saying "reconnecting", and a
server that is full makes it wait and try again by itself."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

import web
from server import load
from tests.conftest import Org
from tests.web.conftest import TERMINAL_VIEWPORT, Browsers, HttpsApp, Screenshot, startable_slot
from tests.web.pages import api, hears, picture_decodes

pytestmark = pytest.mark.slow

REFUSE_DEVICES = """
navigator.mediaDevices.getUserMedia = () =>
    Promise.reject(new DOMException("Permission denied", "NotAllowedError"));
"""


async def scheduled_meeting(browsers: Browsers, org: Org) -> tuple[int, Page]:
    """A meeting of P with A and B that may start now; and the chair's logged-in page."""
    sec = await browsers.login("sec_p")
    await expect(sec.locator("body")).to_have_attribute("data-ready", "true")
    day, start, end = startable_slot()
    created = await api(sec, "POST", "/api/meetings", {
        "title": "Giao ban đột xuất",
        "start": f"{day}T{start}",
        "end": f"{day}T{end}",
        "chair_hall_id": org.halls["P"],
        "chair_user_id": org.users["chair_p"],
        "invited_hall_ids": [org.halls["A"], org.halls["B"]],
        "auto_record": False,
    })  # fmt: skip
    assert created["status"] == 201, created
    chair = await browsers.login("chair_p")
    await expect(chair).to_have_url(f"{browsers.base_url}/chair")
    return created["body"]["id"], chair


async def terminal(browsers: Browsers, org: Org, hall: str, init_script: str | None = None) -> Page:
    page = await browsers.page(
        f"/terminal#token={org.terminal_tokens[hall]}",
        viewport=TERMINAL_VIEWPORT,
        init_script=init_script,
    )
    await expect(page.locator("#next")).to_have_text("Giao ban đột xuất", timeout=20_000)
    return page


async def three_halls_live(browsers: Browsers, org: Org) -> tuple[int, Page, list[Page]]:
    """A started meeting with the terminals of P, A and B in it, and the chair's console."""
    meeting_id, chair = await scheduled_meeting(browsers, org)
    terms = [await terminal(browsers, org, hall) for hall in ("P", "A", "B")]
    await chair.goto(f"/chair?meeting={meeting_id}")
    await start(chair, meeting_id)
    for term in terms:
        await expect(term.locator("body")).to_have_attribute("data-mode", "meeting", timeout=20_000)
    return meeting_id, chair, terms


async def start(chair: Page, meeting_id: int) -> None:
    started = await api(chair, "POST", f"/api/meetings/{meeting_id}/start")
    assert started["status"] == 200, started


async def test_a_terminal_without_camera_and_microphone_still_joins_to_receive(
    browsers: Browsers, org: Org, screenshot: Screenshot
) -> None:
    meeting_id, chair = await scheduled_meeting(browsers, org)
    term_p = await terminal(browsers, org, "P")
    term_a = await terminal(browsers, org, "A", REFUSE_DEVICES)
    problems = term_a.locator("#devices li.problem")
    await expect(problems).to_have_count(2)
    await expect(problems.nth(0)).to_have_text(
        "Quyền dùng camera bị từ chối. Cho phép camera trong trình duyệt của máy trạm."
    )
    await expect(problems.nth(1)).to_contain_text("Quyền dùng micrô bị từ chối")
    await expect(term_a.locator("#devices li.info")).to_have_text(
        "Điểm cầu vẫn vào họp để nghe và xem."
    )
    await expect(term_a.locator("#preview-empty")).to_be_visible()
    await screenshot(term_a, "terminal-no-devices")

    await start(chair, meeting_id)
    for page in (term_p, term_a):
        await expect(page.locator("body")).to_have_attribute("data-mode", "meeting", timeout=20_000)
    await picture_decodes(term_a, "#large", org.halls["P"])
    await hears(term_a)
    await expect(term_a.locator("#mute")).to_be_disabled()  # nothing to unmute
    await expect(term_a.locator("#self")).to_be_hidden()


async def test_a_terminal_rides_out_a_network_drop_and_a_server_restart(
    browsers: Browsers, org: Org, https_app: HttpsApp
) -> None:
    meeting_id, chair = await scheduled_meeting(browsers, org)
    term_p = await terminal(browsers, org, "P")
    term_a = await terminal(browsers, org, "A")
    await start(chair, meeting_id)
    await picture_decodes(term_a, "#large", org.halls["P"], within=30_000)
    banner = term_a.locator("#reconnecting")
    await expect(banner).to_be_hidden()

    # The hall's network drops: it says so, and is back in by itself when the network is.
    await term_a.context.set_offline(True)
    await expect(banner).to_be_visible(timeout=20_000)
    await expect(banner).to_have_text("Đang kết nối lại…")
    await term_a.context.set_offline(False)
    await expect(banner).to_be_hidden(timeout=20_000)
    await picture_decodes(term_a, "#large", org.halls["P"], within=20_000)

    # The server stops: every terminal says so; it comes back, the meeting carries on.
    await https_app.stop()
    for page in (term_p, term_a):
        await expect(page.locator("#reconnecting")).to_be_visible(timeout=20_000)
    await https_app.start()
    for page in (term_p, term_a):
        await expect(page.locator("#reconnecting")).to_be_hidden(timeout=30_000)
        await expect(page.locator("body")).to_have_attribute("data-mode", "meeting")
    await picture_decodes(term_a, "#large", org.halls["P"], within=20_000)
    await hears(term_a)


@pytest.mark.env(GIAOBAN_MAX_PARTICIPANTS="2")
async def test_a_terminal_refused_by_a_full_server_says_so_and_joins_once_there_is_room(
    browsers: Browsers, org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(load, "RETRY_AFTER", 1.0)  # the page waits 0.5 to 1.5 times this
    meeting_id, chair = await scheduled_meeting(browsers, org)
    term_p = await terminal(browsers, org, "P")
    term_a = await terminal(browsers, org, "A")
    await start(chair, meeting_id)
    for page in (term_p, term_a):
        await expect(page.locator("body")).to_have_attribute("data-mode", "meeting", timeout=20_000)

    # The node carries two participants: the third hall is told to wait, and keeps trying.
    term_b = await terminal(browsers, org, "B")
    await expect(term_b.locator("#message")).to_have_text(
        "Máy chủ đang quá tải, điểm cầu sẽ tự vào họp lại sau ít giây…", timeout=20_000
    )
    await expect(term_b.locator("body")).not_to_have_attribute("data-mode", "meeting")

    # A hall leaves: the waiting hall gets in by itself, with nobody at its terminal.
    await term_a.context.close()
    await expect(term_b.locator("body")).to_have_attribute("data-mode", "meeting", timeout=20_000)
    await expect(term_b.locator("#message")).to_have_text("")
    await picture_decodes(term_b, "#large", org.halls["P"], within=20_000)


async def test_a_hall_opened_twice_keeps_the_newer_page_and_the_older_one_says_so(
    browsers: Browsers, org: Org
) -> None:
    meeting_id, chair = await scheduled_meeting(browsers, org)
    term_p = await terminal(browsers, org, "P")
    await start(chair, meeting_id)
    old = await terminal(browsers, org, "A")
    await expect(old.locator("body")).to_have_attribute("data-mode", "meeting", timeout=20_000)
    # The same hall's page opened on another machine (or window) takes the hall's place.
    new = await browsers.page(
        f"/terminal#token={org.terminal_tokens['A']}", viewport=TERMINAL_VIEWPORT
    )
    await expect(new.locator("body")).to_have_attribute("data-mode", "meeting", timeout=20_000)
    await expect(old.locator("#message")).to_have_text(
        "Điểm cầu này đã được mở ở một cửa sổ hoặc máy khác."
    )
    # And keeps it: the older page does not come back and send the newer one away.
    await picture_decodes(new, "#large", org.halls["P"], within=20_000)
    await expect(new.locator("body")).to_have_attribute("data-mode", "meeting")
    assert await term_p.locator("body").get_attribute("data-mode") == "meeting"


FREEZE_CAMERA = """() => {
  window.__frozen = window.giaoban.media.pc.getSenders()
    .filter((s) => s.track && s.track.kind === 'video').map((s) => [s, s.track]);
  return Promise.all(window.__frozen.map(([s]) => s.replaceTrack(null)));
}"""
THAW_CAMERA = "() => Promise.all(window.__frozen.map(([s, track]) => s.replaceTrack(track)))"


async def test_a_speakers_frozen_picture_gives_way_to_the_chair_hall_on_every_terminal(
    browsers: Browsers, org: Org
) -> None:
    """A's camera stops sending while A speaks (as when its network drops): B's terminal
    shows the chair hall large, badged as the chair, and not twice; A comes back by itself."""
    _, chair, (_, term_a, term_b) = await three_halls_live(browsers, org)
    p_id, a_id = org.halls["P"], org.halls["A"]
    await term_a.click("#hand")
    await chair.click(f"#queue li[data-hall-id='{a_id}'] button")
    await picture_decodes(term_b, "#large", a_id)
    await expect(term_b.locator("#large-badge")).to_have_text("Đang phát biểu")
    await expect(term_b.locator("#small")).to_be_visible()

    await term_a.evaluate(FREEZE_CAMERA)
    await expect(term_b.locator("#large-name")).to_have_text("Hội trường tỉnh P", timeout=10_000)
    await picture_decodes(term_b, "#large", p_id)
    await expect(term_b.locator("#large-badge")).to_have_text("Chủ trì")
    await expect(term_b.locator("#small")).to_be_hidden()
    await expect(term_b.locator("#floor")).to_have_text("Đang phát biểu: Điểm cầu Huyện A")

    await term_a.evaluate(THAW_CAMERA)
    await picture_decodes(term_b, "#large", a_id)
    await expect(term_b.locator("#large-badge")).to_have_text("Đang phát biểu")
    await expect(term_b.locator("#small")).to_be_visible()


async def test_an_upgraded_server_has_the_kiosk_reload_its_pages_but_never_in_a_meeting(
    browsers: Browsers, org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's pages change (an upgrade) during a meeting: the kiosk, back from a network
    drop, stays in the meeting on the pages it has, and reloads them once the meeting ended."""
    meeting_id, chair = await scheduled_meeting(browsers, org)
    term_p = await terminal(browsers, org, "P")
    term_a = await terminal(browsers, org, "A")
    await start(chair, meeting_id)
    await expect(term_a.locator("body")).to_have_attribute("data-mode", "meeting", timeout=20_000)
    await term_a.evaluate("() => { window.__loaded_before = true; }")

    monkeypatch.setattr(web, "fingerprint", lambda: "upgraded")
    await term_a.context.set_offline(True)  # back online, the kiosk asks for its home again
    await expect(term_a.locator("#reconnecting")).to_be_visible(timeout=20_000)
    await term_a.context.set_offline(False)
    await expect(term_a.locator("#reconnecting")).to_be_hidden(timeout=30_000)
    await expect(term_a.locator("body")).to_have_attribute("data-mode", "meeting")
    await picture_decodes(term_a, "#large", org.halls["P"], within=20_000)
    assert await term_a.evaluate("() => window.__loaded_before === true")  # not reloaded

    ended = await api(chair, "POST", f"/api/meetings/{meeting_id}/end")
    assert ended["status"] == 200, ended
    await term_a.wait_for_function("() => window.__loaded_before === undefined", timeout=20_000)
    await expect(term_a.locator("body")).to_have_attribute("data-mode", "waiting")
    await expect(term_a.locator("#next")).to_be_visible()
    # The kiosks go before the pages' fingerprint is put back: they would reload again while
    # the server stops (a teardown that hung twice under the whole suite's load).
    for page in (term_a, term_p):
        await page.close()
