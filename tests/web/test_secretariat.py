"""The secretariat's console in a real browser: the week calendar, the meeting and series
editor with immediate conflict warnings, cancelling, .ics, and pairing and revoking terminals."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import Page, expect

from rooms.localtime import LOCAL_TZ
from tests.conftest import Org
from tests.server.document_kit import pdf
from tests.web.conftest import TERMINAL_VIEWPORT, Browsers, Screenshot
from tests.web.pages import api, meeting_card

pytestmark = pytest.mark.slow


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


async def turn_weeks(page: Page, shown: date, wanted: date) -> None:
    """Turn the calendar from the week of ``shown`` to the week of ``wanted``."""
    weeks = (monday(wanted) - monday(shown)).days // 7
    for _ in range(abs(weeks)):
        await page.click("#next-week" if weeks > 0 else "#prev-week")
    await expect(page.locator(f".day[data-date='{wanted.isoformat()}']")).to_have_count(1)


async def create(page: Page, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Schedule through the API, from the logged-in page."""
    reply = await api(page, "POST", path, body)
    assert reply["status"] == 201, reply
    result: dict[str, Any] = reply["body"]
    return result


def meeting(org: Org, day: date, start: str, end: str, title: str, halls: list[str]) -> dict:
    return {
        "title": title,
        "start": f"{day.isoformat()}T{start}",
        "end": f"{day.isoformat()}T{end}",
        "chair_hall_id": org.halls["P"],
        "chair_user_id": org.users["chair_p"],
        "invited_hall_ids": [org.halls[h] for h in halls],
        "agenda": [{"title": "Báo cáo tình hình", "presenter": "Văn phòng", "planned_minutes": 30}],
    }


async def test_the_secretariat_schedules_edits_and_cancels_in_the_week_calendar(
    browsers: Browsers, org: Org, screenshot: Screenshot
) -> None:
    sec = await browsers.login("sec_p")
    await expect(sec).to_have_url(f"{browsers.base_url}/secretariat")
    await expect(sec.locator("body")).to_have_attribute("data-ready", "true")
    today = datetime.now(LOCAL_TZ).date()
    d1, d2 = today + timedelta(days=1), today + timedelta(days=2)
    busy = await create(sec, "/api/meetings", meeting(
        org, d1, "08:00", "10:00", "Giao ban kinh tế - xã hội", ["A", "B"]))  # fmt: skip
    storm = await create(sec, "/api/meetings", meeting(
        org, d1, "14:00", "16:00", "Họp Ban chỉ đạo phòng chống thiên tai", ["A1"]))  # fmt: skip
    districts = await create(sec, "/api/meetings", meeting(
        org, d2, "09:00", "11:00", "Họp trực tuyến với các huyện", ["A"]))  # fmt: skip
    await sec.reload()  # the calendar shows what others scheduled meanwhile
    await expect(sec.locator("body")).to_have_attribute("data-ready", "true")
    await turn_weeks(sec, today, d1)
    card = sec.locator(meeting_card(busy["id"]))
    await expect(card).to_contain_text("08:00–10:00")
    await expect(card).to_contain_text("Giao ban kinh tế - xã hội")
    await expect(sec.locator(f".day[data-date='{d1.isoformat()}'] .meeting-card")).to_have_count(2)

    # A new meeting: the conflict shows while editing, before anything is saved.
    await sec.click("#new-meeting")
    await sec.fill("#f-title", "Họp chuyên đề chuyển đổi số")
    await sec.fill("#f-date", d1.isoformat())
    await sec.fill("#f-start", "08:30")
    await sec.fill("#f-end", "09:30")
    await sec.select_option("#f-chair-hall", str(org.halls["A1"]))
    await sec.select_option("#f-chair-user", str(org.users["chair_p"]))
    await sec.check(f"#f-halls input[value='{org.halls['B']}']")
    await sec.fill("#f-agenda tr:nth-child(1) .a-title", "Triển khai chính quyền số")
    conflicts = sec.locator("#conflicts")
    await expect(conflicts).to_be_visible()
    await expect(conflicts).to_contain_text("Điểm cầu Huyện B")
    await expect(conflicts).to_contain_text("Giao ban kinh tế - xã hội")
    await expect(conflicts).to_contain_text("08:00–10:00")
    await expect(conflicts.locator("li")).to_have_count(1)  # A1 itself is free at that time
    await screenshot(sec, "meeting-editor-conflict")
    # Saving anyway is refused by the server, which names the conflict too.
    await sec.click("#save")
    await expect(sec.locator("#form-error")).to_contain_text("Trùng lịch điểm cầu")
    # Without hall B the warning goes away; weekly for four weeks: a series is scheduled.
    await sec.uncheck(f"#f-halls input[value='{org.halls['B']}']")
    await expect(conflicts).to_be_hidden()
    await sec.select_option("#f-repeat", "weekly")
    await sec.fill("#f-until", (d1 + timedelta(days=21)).isoformat())
    async with sec.expect_response(lambda r: r.url.endswith("/api/series")) as created:
        await sec.click("#save")
    series = await (await created.value).json()
    assert (await created.value).status == 201, series
    assert series["rrule"].startswith("FREQ=WEEKLY;BYDAY=")
    assert len(series["occurrences"]) == 4
    await expect(sec.locator("#editor")).to_be_hidden()
    first = sec.locator(meeting_card(series["occurrences"][0]["meeting_id"]))
    await expect(first).to_contain_text("Họp chuyên đề chuyển đổi số")
    await expect(first.locator(".series")).to_have_count(1)

    # Edit the whole series from one occurrence.
    await first.click()
    await expect(sec.locator("#scope-box")).to_be_visible()
    await sec.check("input[name=scope][value=series]")
    await sec.fill("#f-title", "Họp chuyên đề chuyển đổi số (định kỳ)")
    async with sec.expect_response(lambda r: "/api/series/" in r.url) as changed:
        await sec.click("#save")
    assert (await changed.value).status == 200, await (await changed.value).text()
    await expect(first).to_contain_text("Họp chuyên đề chuyển đổi số (định kỳ)")

    # Edit one meeting.
    await turn_weeks(sec, d1, d2)
    await sec.click(meeting_card(districts["id"]))
    await expect(sec.locator("#f-title")).to_have_value("Họp trực tuyến với các huyện")
    await expect(sec.locator("#f-start")).to_have_value("09:00")
    await expect(sec.locator("#f-agenda tr")).to_have_count(1)
    await sec.fill("#f-title", "Họp trực tuyến với các huyện về ngân sách")
    await sec.click("#save")
    await expect(sec.locator(meeting_card(districts["id"]))).to_contain_text("về ngân sách")
    await turn_weeks(sec, d2, d1)

    # Download the meeting as iCalendar.
    await sec.click(meeting_card(busy["id"]))
    async with sec.expect_download() as download_info:
        await sec.click("#ics")
    download = await download_info.value
    assert download.suggested_filename == f"meeting-{busy['id']}.ics"
    ics = (await download.path()).read_text(encoding="utf-8")
    assert "BEGIN:VCALENDAR" in ics and "Giao ban kinh tế - xã hội" in ics
    await sec.click("#editor-close")

    # Cancel a meeting, with a reason.
    await sec.click(meeting_card(storm["id"]))
    await sec.click("#cancel-meeting")
    await sec.fill("#cancel-reason", "Dời sang tuần sau")
    await sec.click("#cancel-yes")
    cancelled = sec.locator(meeting_card(storm["id"]))
    await expect(cancelled).to_contain_text("Đã hủy")
    await expect(cancelled).to_have_class(re.compile("state-cancelled"))
    await screenshot(sec, "secretariat-calendar")


async def test_the_secretariat_pairs_and_revokes_a_terminal(
    browsers: Browsers, org: Org, screenshot: Screenshot
) -> None:
    sec = await browsers.login("sec_p")
    await expect(sec.locator("body")).to_have_attribute("data-ready", "true")
    await sec.click("#tab-terminals")
    cards = sec.locator(".hall-card")
    await expect(cards).to_have_count(4)  # P and the halls below it: A, B, A1
    hall = sec.locator(f".hall-card[data-hall-id='{org.halls['A1']}']")
    await expect(hall.locator("tbody tr")).to_have_count(1)
    await expect(hall.locator("tbody tr")).to_contain_text("T-A1")

    await hall.locator(".pair-label").fill("Máy trạm hội trường xã")
    await hall.locator("button.pair").click()
    dialog = sec.locator("#paired")
    await expect(dialog).to_be_visible()
    await expect(sec.locator("#paired-hall")).to_have_text(
        "Điểm cầu Xã A1 · Máy trạm hội trường xã"
    )
    link = await sec.locator("#paired-link").input_value()
    assert re.fullmatch(re.escape(browsers.base_url) + r"/terminal#token=gbt_[\w-]+", link), link
    await expect(sec.locator("#qr img")).to_be_visible()
    await screenshot(sec, "terminals-pairing")
    await sec.click("#paired-close")
    await expect(hall.locator("tbody tr")).to_have_count(2)

    # The link pairs a kiosk: it shows its hall and waits.
    kiosk = await browsers.page(link.removeprefix(browsers.base_url), viewport=TERMINAL_VIEWPORT)
    await expect(kiosk.locator("#hall")).to_have_text("Điểm cầu Xã A1")
    await expect(kiosk.locator("#next")).to_have_text("Chưa có cuộc họp sắp tới")

    # Revoked, it is told so (on its next look at the server).
    row = hall.locator("tbody tr", has_text="Máy trạm hội trường xã")
    await row.get_by_role("button", name="Thu hồi", exact=True).click()
    await row.get_by_role("button", name="Xác nhận thu hồi").click()
    await expect(row.locator(".tstate")).to_have_text("Đã thu hồi")
    await kiosk.reload()
    await expect(kiosk.locator("#error")).to_contain_text("đã bị thu hồi")


async def test_the_language_switch_changes_the_pages_and_is_remembered(browsers: Browsers) -> None:
    sec = await browsers.login("sec_p")
    await expect(sec.locator("body")).to_have_attribute("data-ready", "true")
    await expect(sec.locator("#tab-calendar")).to_have_text("Lịch họp")
    await sec.click(".lang-switch button[lang=en]")
    await expect(sec.locator("#tab-calendar")).to_have_text("Meetings")
    await expect(sec.locator("html")).to_have_attribute("lang", "en")
    await sec.reload()
    await expect(sec.locator("#tab-calendar")).to_have_text("Meetings")
    await expect(sec.locator("#week-label")).to_contain_text("Week")
    await sec.click(".lang-switch button[lang=vi]")
    await expect(sec.locator("#tab-calendar")).to_have_text("Lịch họp")
    await expect(sec.locator("#week-label")).to_contain_text("Tuần")


async def test_the_secretariat_attaches_documents_and_a_hall_downloads_them(
    browsers: Browsers, org: Org, screenshot: Screenshot, tmp_path: Any
) -> None:
    sec = await browsers.login("sec_p")
    await expect(sec.locator("body")).to_have_attribute("data-ready", "true")
    tomorrow = datetime.now(LOCAL_TZ).date() + timedelta(days=1)
    booked = await create(sec, "/api/meetings", meeting(
        org, tomorrow, "08:00", "10:00", "Giao ban tháng 12", ["A", "B"]))  # fmt: skip
    await sec.reload()
    await expect(sec.locator("body")).to_have_attribute("data-ready", "true")
    await turn_weeks(sec, datetime.now(LOCAL_TZ).date(), tomorrow)
    await sec.click(meeting_card(booked["id"]))
    await expect(sec.locator("#docs-none")).to_be_visible()

    report = tmp_path / "Báo cáo tháng 12.pdf"
    report.write_bytes(pdf("Báo cáo tháng 12"))
    await sec.set_input_files("#f-doc-file", str(report))
    await sec.select_option("#f-doc-item", str(booked["agenda"][0]["id"]))
    await sec.click("#doc-add")
    listed = sec.locator("#f-docs li")
    await expect(listed).to_have_count(1)
    await expect(listed).to_contain_text("Báo cáo tháng 12.pdf")
    await expect(listed).to_contain_text("Báo cáo tình hình")  # its agenda item
    # Not a document: refused, with the reason, and nothing added.
    fake = tmp_path / "thư mời.pdf"
    fake.write_text("chỉ là văn bản", encoding="utf-8")
    await sec.set_input_files("#f-doc-file", str(fake))
    await sec.click("#doc-add")
    await expect(sec.locator("#form-error")).to_contain_text("Không phải tệp PDF, DOCX hoặc XLSX")
    await expect(listed).to_have_count(1)
    await screenshot(sec, "meeting-documents")
    async with sec.expect_download() as got:
        await listed.locator("a").click()
    download = await got.value
    assert download.suggested_filename == "Báo cáo tháng 12.pdf"
    assert (await download.path()).read_bytes() == report.read_bytes()

    # Hall A's laptop (the presenter's page, logged in for the hall) lists it and downloads it.
    laptop = await browsers.login("sec_a")
    await expect(laptop).to_have_url(f"{browsers.base_url}/secretariat")
    await laptop.goto(f"/present?meeting={booked['id']}&hall={org.halls['A']}")
    offered = laptop.locator("#docs li")
    await expect(offered).to_have_count(1)
    await expect(offered).to_contain_text("Báo cáo tháng 12.pdf")
    async with laptop.expect_download() as got:
        await offered.locator("a").click()
    download = await got.value
    assert download.suggested_filename == "Báo cáo tháng 12.pdf"
    assert (await download.path()).read_bytes() == report.read_bytes()
