"""A whole meeting in real browsers: the secretariat schedules it in the console, two hall
terminals wait for it, the chair starts and runs it, and the halls see, hear and answer."""

from __future__ import annotations

import base64
import time

import pytest
from playwright.async_api import Page, expect

from tests.conftest import Org
from tests.server.document_kit import pdf
from tests.web.conftest import TERMINAL_VIEWPORT, Browsers, Screenshot, startable_slot
from tests.web.pages import hall_row, hears, meeting_card, picture_decodes

pytestmark = pytest.mark.slow


async def schedule_in_console(browsers: Browsers, org: Org, title: str) -> int:
    """sec_p logs in, lands on the secretariat console and schedules a meeting of P with A, B."""
    sec = await browsers.login("sec_p")
    await expect(sec).to_have_url(f"{browsers.base_url}/secretariat")
    await sec.click("#new-meeting")
    date, start, end = startable_slot()
    await sec.fill("#f-title", title)
    await sec.fill("#f-date", date)
    await sec.fill("#f-start", start)
    await sec.fill("#f-end", end)
    await sec.select_option("#f-chair-hall", str(org.halls["P"]))
    await sec.select_option("#f-chair-user", str(org.users["chair_p"]))
    for hall in ("A", "B"):
        await sec.check(f"#f-halls input[value='{org.halls[hall]}']")
    await sec.fill("#f-agenda tr:nth-child(1) .a-title", "Báo cáo tình hình kinh tế - xã hội")
    await sec.fill("#f-agenda tr:nth-child(1) .a-presenter", "Sở Kế hoạch và Đầu tư")
    await sec.click("#agenda-add")
    await sec.fill("#f-agenda tr:nth-child(2) .a-title", "Kết luận của Chủ tịch")
    await sec.uncheck("#f-auto-record")  # the chair starts the recording in this meeting
    async with sec.expect_response(lambda r: r.url.endswith("/api/meetings")) as created:
        await sec.click("#save")
    reply = await created.value
    assert reply.status == 201, await reply.text()
    meeting_id: int = (await reply.json())["id"]
    await expect(sec.locator(meeting_card(meeting_id))).to_contain_text(title)
    # A document goes out with it (attached as the editor does: the body is the file).
    status = await sec.evaluate(
        """async ([id, b64]) => (await fetch(
            `/api/meetings/${id}/documents?filename=${encodeURIComponent("Tài liệu họp.pdf")}`,
            {method: "POST", body: Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))})).status""",
        [meeting_id, base64.b64encode(pdf("Tài liệu họp")).decode()],
    )
    assert status == 201
    return meeting_id


async def open_terminal(browsers: Browsers, org: Org, hall: str) -> Page:
    """A hall's kiosk, opened once with its pairing link."""
    page = await browsers.page(
        f"/terminal#token={org.terminal_tokens[hall]}", viewport=TERMINAL_VIEWPORT
    )
    return page


async def test_a_meeting_runs_end_to_end_in_the_browsers(
    browsers: Browsers, org: Org, screenshot: Screenshot
) -> None:
    title = "Giao ban trực tuyến tuần 20"
    meeting_id = await schedule_in_console(browsers, org, title)
    p_id, a_id, b_id = org.halls["P"], org.halls["A"], org.halls["B"]

    # Two halls' terminals wait: hall name, clock, the next meeting and its countdown.
    term_p = await open_terminal(browsers, org, "P")
    term_a = await open_terminal(browsers, org, "A")
    for term, hall in ((term_p, "Hội trường tỉnh P"), (term_a, "Điểm cầu Huyện A")):
        await expect(term.locator("#hall")).to_have_text(hall)
        await expect(term.locator("#next")).to_have_text(title)
        await expect(term.locator("#countdown")).not_to_be_empty()
        await expect(term.locator("#devices li.ok")).to_have_count(2)  # camera and microphone
        assert "token=" not in term.url  # the token left the address bar
    # The level meter moves with the (fake) microphone's sound.
    await term_a.wait_for_function(
        "() => Number(document.querySelector('#meter').ariaValueNow) > 0"
    )
    await screenshot(term_a, "terminal-waiting")

    # The chair logs in, is routed to the console's chooser, and opens the meeting.
    chair = await browsers.login("chair_p")
    await expect(chair).to_have_url(f"{browsers.base_url}/chair")
    await chair.click(f"a[href='/chair?meeting={meeting_id}']")
    await expect(chair.locator("#status")).to_have_text("Chờ bắt đầu")
    await expect(chair.locator("#docs li a")).to_have_text("Tài liệu họp.pdf")
    await expect(chair.locator(hall_row(a_id))).to_contain_text("Đang chờ")
    await chair.click("#start")

    # The terminals join by themselves; the chair sees them connected, B still waiting.
    for term in (term_p, term_a):
        await expect(term.locator("body")).to_have_attribute("data-mode", "meeting", timeout=20_000)
    await expect(chair.locator("#status")).to_have_text("Đang họp")
    await expect(chair.locator(f"{hall_row(p_id)} .presence")).to_contain_text("Đã kết nối")
    await expect(chair.locator(f"{hall_row(a_id)} .presence")).to_contain_text("Đã kết nối")
    await expect(chair.locator(f"{hall_row(b_id)} .presence")).to_contain_text("Đang chờ")

    # A sees and hears the chair hall (nobody has the floor: the chair hall is the main picture).
    await picture_decodes(term_a, "#large", p_id)
    await expect(term_a.locator("#large-name")).to_have_text("Hội trường tỉnh P")
    await hears(term_a)
    await expect(term_a.locator("#mic")).to_have_text("Micrô đang tắt")  # halls join muted

    # Link quality from the terminals' WebRTC stats reaches the chair console.
    for hall_id in (p_id, a_id):
        await expect(chair.locator(f"{hall_row(hall_id)} .link")).to_contain_text(
            "RTT", timeout=15_000
        )

    # A raises its hand: it appears in the chair's queue, in order.
    await term_a.click("#hand")
    await expect(term_a.locator("#hand")).to_have_text("Hủy xin phát biểu")
    await expect(chair.locator("#queue li")).to_have_count(1)
    await expect(chair.locator(f"#queue li[data-hall-id='{a_id}']")).to_contain_text(
        "Điểm cầu Huyện A"
    )
    await expect(chair.locator(f"{hall_row(a_id)} .hand")).to_contain_text("Xin phát biểu")

    # The chair gives A the floor from the queue: both terminals' large picture is A now.
    await chair.click(f"#queue li[data-hall-id='{a_id}'] button")
    await expect(chair.locator("#queue li")).to_have_count(0)
    for term in (term_p, term_a):
        await picture_decodes(term, "#large", a_id)
        await expect(term.locator("#large-name")).to_have_text("Điểm cầu Huyện A")
        await expect(term.locator("#large-badge")).to_have_text("Đang phát biểu")
    await expect(term_a.locator("#floor")).to_have_text("Điểm cầu này đang phát biểu")
    await expect(term_a.locator("#mic")).to_have_text("Micrô đang bật")  # the floor opens it
    await expect(term_p.locator("#floor")).to_have_text("Đang phát biểu: Điểm cầu Huyện A")
    # Each terminal decodes the other: P sees A large; A sees P (the chair hall) small.
    await picture_decodes(term_a, "#small", p_id)
    await expect(term_a.locator("#small-name")).to_have_text("Hội trường tỉnh P")
    await hears(term_p)  # A's microphone is open: P hears it
    await picture_decodes(chair, "#main", a_id)
    await screenshot(term_p, "terminal-meeting")

    # The agenda moves on; the terminals show the current item.
    await chair.click("#next-item")
    for term in (term_p, term_a):
        await expect(term.locator("#agenda")).to_have_text(
            "Nội dung 1/2: Báo cáo tình hình kinh tế - xã hội"
        )

    # Roll call: each terminal is asked, answers, and the chair sees the live tally.
    await chair.click("#rollcall")
    await expect(chair.locator("#rollcall")).to_have_text("Kết thúc điểm danh")
    for term, delegates in ((term_p, "12"), (term_a, "5")):
        await expect(term.locator("#rollcall")).to_be_visible()
        await expect(term.locator("#rollcall-title")).to_have_text("Điểm danh")
        await term.fill("#delegates", delegates)
        await term.click("#present")
        await expect(term.locator("#rollcall")).to_be_hidden()
        await expect(term.locator("#rollcall-done")).to_have_text(
            f"Đã điểm danh: {delegates} đại biểu"
        )
    await expect(chair.locator("#tally .tally-line")).to_have_text(
        "Đã trả lời 2/3 · Có mặt 2 điểm cầu · Số đại biểu 17"
    )
    await expect(chair.locator(f"{hall_row(a_id)} .answer")).to_have_text("Có mặt · 5 đại biểu")
    await screenshot(chair, "chair-console", full_page=True)
    await chair.click("#rollcall")
    await expect(chair.locator("#tally .tally-title")).to_have_text("Kết quả điểm danh")
    await expect(chair.locator("#tally .tally-line")).to_have_text(
        "Đã trả lời 2/3 · Có mặt 2 điểm cầu · Số đại biểu 17"
    )
    await expect(term_a.locator("#rollcall-done")).to_be_hidden()

    # Mute, voice-activated mode and recording marks reach the halls.
    await chair.click(f"{hall_row(a_id)} button.mute")
    await expect(term_a.locator("#mic")).to_have_text("Micrô đang tắt")
    await expect(chair.locator(f"{hall_row(a_id)} .mic")).to_have_text("Tắt")
    await term_a.click("#mute")  # the hall may open its own microphone again
    await expect(chair.locator(f"{hall_row(a_id)} .mic")).to_have_text("Bật")
    await chair.click("#mute-all")
    await expect(term_a.locator("#mic")).to_have_text("Micrô đang tắt")
    await expect(term_p.locator("#mic")).to_have_text("Micrô đang bật")  # not the chair hall
    await chair.click("#unmute-all")
    await expect(term_a.locator("#mic")).to_have_text("Micrô đang bật")
    await chair.click("#voice")
    await expect(chair.locator("#voice")).to_have_attribute("aria-pressed", "true")
    await chair.click("#voice")
    await expect(chair.locator("#voice")).to_have_attribute("aria-pressed", "false")
    await expect(term_p.locator("#rec")).to_be_hidden()
    await chair.click("#record")
    await expect(term_p.locator("#rec")).to_be_visible()
    await expect(chair.locator("#rec")).to_be_visible()
    await chair.click("#record")
    await expect(term_p.locator("#rec")).to_be_hidden()

    # A's page is reloaded mid-meeting: it is back in within seconds, floor and all.
    reloaded_at = time.monotonic()
    await term_a.reload()
    await expect(term_a.locator("body")).to_have_attribute("data-mode", "meeting", timeout=15_000)
    await picture_decodes(term_a, "#small", p_id, within=15_000)
    await picture_decodes(term_p, "#large", a_id, within=15_000)
    back_in = time.monotonic() - reloaded_at
    assert back_in < 10, f"the reloaded terminal took {back_in:.1f} s to be back in"
    await expect(chair.locator(f"{hall_row(a_id)} .presence")).to_contain_text("Đã kết nối")
    await expect(term_a.locator("#floor")).to_have_text("Điểm cầu này đang phát biểu")

    # The chair takes the floor back, then ends the meeting: the halls go back to waiting.
    await chair.click("#take-floor")
    await picture_decodes(term_a, "#large", p_id)
    await chair.click("#end")
    await chair.click("#end-yes")
    for term in (term_p, term_a):
        await expect(term.locator("body")).to_have_attribute("data-mode", "waiting")
        await expect(term.locator("#next")).to_have_text("Chưa có cuộc họp sắp tới")
    await expect(chair.locator("#status")).to_have_text("Đã kết thúc")
