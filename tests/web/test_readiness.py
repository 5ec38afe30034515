"""Hall readiness in the browser (issue 13): the secretariat's board shows a terminal online with
its self-test, the offline alert, the terminal going offline within 10 s of its page closing;
the chair console shows the board before the start; a test call shows the hall's picture on
the secretariat's page and the office's on the terminal."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from playwright.async_api import Page, expect

from rooms.localtime import LOCAL_TZ
from tests.conftest import Org
from tests.web.conftest import TERMINAL_VIEWPORT, Browsers, Screenshot
from tests.web.pages import api

pytestmark = pytest.mark.slow


async def meeting_in(browsers: Browsers, org: Org, minutes: int) -> tuple[int, Page]:
    """A meeting of P with A and B starting in ``minutes``; and the secretariat's page."""
    sec = await browsers.login("sec_p")
    await expect(sec.locator("body")).to_have_attribute("data-ready", "true")
    start = (datetime.now(LOCAL_TZ) + timedelta(minutes=minutes)).replace(second=0, microsecond=0)
    created = await api(sec, "POST", "/api/meetings", {
        "title": "Giao ban sáng thứ Hai",
        "start": start.replace(tzinfo=None).isoformat(timespec="minutes"),
        "end": (start + timedelta(hours=1)).replace(tzinfo=None).isoformat(timespec="minutes"),
        "chair_hall_id": org.halls["P"],
        "chair_user_id": org.users["chair_p"],
        "invited_hall_ids": [org.halls["A"], org.halls["B"]],
        "auto_record": False,
    })  # fmt: skip
    assert created["status"] == 201, created
    return created["body"]["id"], sec


async def terminal(browsers: Browsers, org: Org, hall: str) -> Page:
    page = await browsers.page(
        f"/terminal#token={org.terminal_tokens[hall]}", viewport=TERMINAL_VIEWPORT
    )
    # A kiosk opening under load (the whole suite on two cores) may take more than 5 s.
    await expect(page.locator("#next")).to_have_text("Giao ban sáng thứ Hai", timeout=20_000)
    return page


def row(hall_id: int) -> str:
    return f"#ready-table tr[data-hall-id='{hall_id}']"


async def frames_shown(page: Page, selector: str, need: int = 15, within: float = 20_000) -> None:
    """The video element ``selector`` presents ``need`` more frames (requestVideoFrameCallback):
    a picture that plays, not a still one."""
    await page.evaluate(
        """(selector) => {
            window.__frames = window.__frames || {};
            window.__frames[selector] = 0;
            const video = document.querySelector(selector);
            const count = () => {
                window.__frames[selector] += 1;
                video.requestVideoFrameCallback(count);
            };
            video.requestVideoFrameCallback(count);
        }""",
        selector,
    )
    await page.wait_for_function(
        """([selector, need]) => {
            const video = document.querySelector(selector);
            return window.__frames[selector] >= need && video.videoWidth > 0;
        }""",
        arg=[selector, need],
        timeout=within,
        polling=200,
    )


async def test_the_board_shows_terminals_their_self_tests_the_alert_and_a_closed_terminal_offline(
    browsers: Browsers, org: Org, screenshot: Screenshot
) -> None:
    meeting_id, sec = await meeting_in(browsers, org, minutes=10)
    term_a = await terminal(browsers, org, "A")
    await terminal(browsers, org, "P")
    await sec.locator("#tab-readiness").click()
    await expect(sec.locator("#ready-meeting")).to_have_value(str(meeting_id))

    a = sec.locator(row(org.halls["A"]))
    await expect(a).to_have_attribute("data-online", "true", timeout=15_000)
    await expect(a).to_have_attribute("data-ready", "true", timeout=15_000)
    await expect(a.locator("td.online")).to_have_text("Trực tuyến")
    await expect(a.locator("td.device").nth(0)).to_have_text("Tốt")  # camera
    await expect(a.locator("td.device").nth(1)).to_have_text("Tốt")  # microphone
    await expect(a.locator("td.link")).to_contain_text("Tốt")  # a probe on this machine
    await expect(a.locator("td.ready")).to_have_text("✓ Sẵn sàng")
    version = await api(sec, "GET", "/api/health")
    await expect(a.locator("td.version")).to_have_text(version["body"]["version"])
    await expect(sec.locator(row(org.halls["P"]))).to_have_attribute("data-ready", "true")

    # Hall B has no terminal open, ten minutes before the start: highlighted, and the banner.
    b = sec.locator(row(org.halls["B"]))
    await expect(b).to_have_attribute("data-online", "false")
    await expect(b).to_have_class("not-ready alert")
    banner = sec.locator("#ready-banner")
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("Điểm cầu Huyện B chưa trực tuyến, còn")
    await expect(banner).to_contain_text("phút")
    await expect(sec.locator("#ready-summary")).to_have_text("2/3 điểm cầu sẵn sàng")
    await screenshot(sec, "readiness-board")

    # The chair console shows the same board before the start.
    chair = await browsers.login("chair_p", f"/chair?meeting={meeting_id}")
    await expect(chair.locator("#readiness-card")).to_be_visible()
    await expect(chair.locator(row(org.halls["A"]))).to_have_attribute("data-ready", "true")
    await expect(chair.locator("#ready-banner")).to_contain_text("Điểm cầu Huyện B")

    # The hall's kiosk page is closed: offline on the board within 10 seconds.
    await term_a.context.close()
    closed = time.monotonic()
    await expect(a).to_have_attribute("data-online", "false", timeout=10_000)
    assert time.monotonic() - closed < 10
    await expect(a.locator("td.online")).to_have_text("Ngoại tuyến")
    await expect(banner).to_contain_text("Điểm cầu Huyện A chưa trực tuyến")
    await expect(chair.locator(row(org.halls["A"]))).to_have_attribute(
        "data-online", "false", timeout=10_000
    )


async def test_a_test_call_shows_the_hall_on_the_secretariats_page_and_the_office_on_the_terminal(
    browsers: Browsers, org: Org, screenshot: Screenshot
) -> None:
    meeting_id, sec = await meeting_in(browsers, org, minutes=40)
    term_a = await terminal(browsers, org, "A")
    await sec.locator("#tab-readiness").click()
    await expect(sec.locator("#ready-meeting")).to_have_value(str(meeting_id))
    a = sec.locator(row(org.halls["A"]))
    await expect(a).to_have_attribute("data-online", "true", timeout=15_000)

    await a.locator("button.test-call").click()
    dialog = sec.locator("#test-call")
    await expect(dialog).to_be_visible()
    await expect(sec.locator("#tc-title")).to_have_text("Gọi thử: Điểm cầu Huyện A")
    await expect(term_a.locator("#testcall")).to_be_visible()
    await expect(term_a.locator("#testcall-title")).to_have_text("Đang gọi thử với văn phòng")
    await frames_shown(sec, "#tc-hall-video")  # the hall's camera, through the server
    await frames_shown(term_a, "#tc-office-video")  # the office's camera (a fake device too)
    await expect(sec.locator("#tc-status")).to_contain_text("Đang gọi thử")
    await screenshot(sec, "readiness-test-call")

    # The hall hangs up: both ends close.
    await term_a.locator("#tc-end").click()
    await expect(term_a.locator("#testcall")).to_be_hidden()
    await expect(sec.locator("#tc-status")).to_contain_text("Cuộc gọi thử đã kết thúc")
    await sec.locator("#tc-hangup").click()
    await expect(dialog).to_be_hidden()

    # Called again, the office hangs up this time.
    await a.locator("button.test-call").click()
    await expect(term_a.locator("#testcall")).to_be_visible()
    await frames_shown(sec, "#tc-hall-video", need=5)
    await sec.locator("#tc-hangup").click()
    await expect(term_a.locator("#testcall")).to_be_hidden()


@pytest.mark.env(GIAOBAN_READINESS_CHECK_SECONDS="1")
async def test_the_secretariat_is_told_of_an_offline_hall_on_any_tab_and_led_to_the_board(
    browsers: Browsers, org: Org
) -> None:
    """Ten minutes before the start, the secretariat is in its calendar, not on the board: the
    hall still offline is named at the top of the page, and one click shows its board."""
    meeting_id, sec = await meeting_in(browsers, org, minutes=10)
    await terminal(browsers, org, "P")
    await terminal(browsers, org, "A")
    await sec.reload()  # the page looks for meetings starting soon as it opens, then every 30 s
    await expect(sec.locator("body")).to_have_attribute("data-ready", "true")
    await expect(sec.locator("#calendar-view")).to_be_visible()
    alert = sec.locator("#offline-alert")
    await expect(alert).to_be_visible(timeout=15_000)
    await expect(alert).to_contain_text("Điểm cầu Huyện B chưa trực tuyến, còn")
    await expect(alert).to_contain_text("Giao ban sáng thứ Hai")
    await expect(alert.locator(f"[data-hall-id='{org.halls['A']}']")).to_have_count(0)

    await alert.get_by_role("button", name="Xem bảng sẵn sàng").click()
    await expect(sec.locator("#readiness-view")).to_be_visible()
    await expect(sec.locator("#ready-meeting")).to_have_value(str(meeting_id))
    await expect(sec.locator("#ready-banner")).to_contain_text("Điểm cầu Huyện B")
    await expect(alert).to_be_hidden()  # the board says it there
