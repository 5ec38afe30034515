"""The minutes and the archive in real browsers.

A short meeting is recorded with aiortc halls (auto_record on) on the same app the browsers
use. Then, each person in their own browser context: the secretariat opens the minutes from the
console, edits a section and saves; the chair approves from the chair console's link; the
archivist finds the meeting (with and without diacritics), plays its recording, seeks by
chapter and by a hall's turn, verifies its integrity (and sees a damaged file named); an admin
places a legal hold and sees the server refuse a disposal.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Page, expect

from rooms.localtime import LOCAL_TZ
from server.settings import Settings
from tests.conftest import PASSWORD, Org
from tests.media.media_testkit import BLUE, GREEN, RED
from tests.server.live_kit import COLOURS, LiveClient, login_cookie, sees, soon
from tests.web.conftest import Browsers, HttpsApp, Screenshot
from tests.web.pages import api, meeting_card

pytestmark = pytest.mark.slow

TITLE = "Họp giao ban trực tuyến: tình hình mưa lũ"
HALL_NAMES = ("Hội trường tỉnh P", "Điểm cầu Huyện A", "Điểm cầu Huyện B")
FLOOR_FRAMES = 60  # each speaker holds the floor while another hall decodes this many frames


async def plain_http(app: HttpsApp) -> str:
    """The same app also on plain HTTP on the loopback, for the Python (aiortc) halls: they do
    not trust the demo certificate the browsers trust by its key."""
    assert app.server is not None and app.server.runner is not None
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(app.server.runner, sock)
    await site.start()  # stopped with the runner when the app stops
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


async def keeps_showing(watcher: LiveClient, colour: Any) -> None:
    """Wait until ``watcher``'s main picture shows ``colour`` and has decoded ``FLOOR_FRAMES``
    more frames (about two seconds at 30 fps): a turn of a known length, without a sleep."""
    await sees(watcher, "main", colour)
    reader = watcher.slot("main")
    mark = reader.frames
    await watcher.until(lambda: reader.frames - mark >= FLOOR_FRAMES, deadline=10)


async def hold_floor(chair: LiveClient, speaker: int, watcher: LiveClient, colour: Any) -> None:
    reply = await chair.call("give_floor", {"hall_id": speaker})
    assert reply["ok"], reply
    await keeps_showing(watcher, colour)


def has_media(client: LiveClient) -> bool:
    return client.pc is not None and bool(client.readers)


async def record_a_meeting(url: str, org: Org) -> int:
    """P chairs, A and B attend; item 1 starts, A then B hold the floor; the chair ends it."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        login = {"username": "sec_p", "password": PASSWORD}
        async with http.post(f"{url}/api/session", json=login) as reply:
            assert reply.status == 200
        async with http.post(f"{url}/api/meetings", json=soon(org, title=TITLE)) as reply:
            assert reply.status == 201, await reply.text()
            meeting_id: int = (await reply.json())["id"]
    halls = {
        key: LiveClient(url, token=org.terminal_tokens[key], colour=COLOURS[key])
        for key in ("P", "A", "B")
    }
    chair = LiveClient(url, cookie=await login_cookie(url, "chair_p"), auto_join=False)
    try:
        for hall in halls.values():
            await hall.connect()
            waiting = await hall.join(meeting_id)
            assert waiting["ok"] and waiting["lobby"], waiting
        await chair.connect()
        assert (await chair.join(meeting_id))["lobby"]
        started = await chair.call("start_meeting", {"meeting_id": meeting_id})
        assert started["ok"], started
        await chair.join(meeting_id)  # the console, without pictures
        ids = [org.halls[key] for key in halls]
        await chair.until(
            lambda: (
                chair.state is not None
                and all(chair.hall(i)["presence"] == "connected" for i in ids)
            ),
            deadline=20,
        )
        for hall in halls.values():
            await hall.until(partial(has_media, hall), deadline=20)
        await keeps_showing(halls["A"], RED)  # the chair hall opens the meeting
        assert (await chair.call("next_agenda_item"))["ok"]
        await hold_floor(chair, org.halls["A"], halls["B"], GREEN)
        await hold_floor(chair, org.halls["B"], halls["A"], BLUE)
        ended = await chair.call("end_meeting", {"meeting_id": meeting_id})
        assert ended["ok"], ended
    finally:
        for client in [chair, *halls.values()]:
            await client.close()
    return meeting_id


async def wait_for_package(page: Page, meeting_id: int, within: float = 60) -> dict[str, Any]:
    """Poll the archive's API (from the page: its login) until the meeting is archived."""
    deadline = time.monotonic() + within
    while True:
        reply = await api(page, "GET", f"/api/archive/meetings/{meeting_id}")
        if reply["status"] == 200:
            body: dict[str, Any] = reply["body"]
            return body
        assert reply["status"] == 404, reply
        if time.monotonic() > deadline:
            raise AssertionError(f"meeting {meeting_id} was not archived in {within} s")
        await asyncio.sleep(0.25)


async def search(page: Page, words: str, **fields: str) -> None:
    """Type the words (and any other field), search, and wait for that very answer."""
    await expect(page.locator("body")).to_have_attribute("data-ready", "true")
    await page.fill("#q", words)
    for selector, value in fields.items():
        await page.fill(f"#{selector}", value)
    expected = urlencode({"q": words})
    async with page.expect_response(
        lambda r: "/api/archive/search?" in r.url and expected in r.url
    ) as answer:
        await page.click("#search")
    assert (await answer.value).status == 200


async def plays_near(page: Page, seconds: float) -> None:
    """The player has jumped to ``seconds`` (within the next second and a half) and plays on."""
    await page.wait_for_function(
        """([at]) => {
            const v = document.querySelector('#video');
            return !v.seeking && v.readyState >= 2 && v.currentTime >= at - 0.1
                && v.currentTime < at + 1.5;
        }""",
        arg=[seconds],
        timeout=10_000,
    )


async def current_time(page: Page) -> float:
    value = await page.evaluate("() => document.querySelector('#video').currentTime")
    return float(value)


def flip_a_byte(path: Path) -> bytes:
    """Change one byte of an archived (read-only) file; returns the original content."""
    original = path.read_bytes()
    os.chmod(path, 0o644)
    damaged = bytearray(original)
    damaged[10] ^= 0x01
    path.write_bytes(bytes(damaged))
    return original


async def test_minutes_are_approved_and_the_meeting_is_found_played_and_proved_in_the_archive(
    browsers: Browsers, https_app: HttpsApp, org: Org, settings: Settings, screenshot: Screenshot
) -> None:
    base = browsers.base_url
    meeting_id = await record_a_meeting(await plain_http(https_app), org)

    # -- the secretariat: from the console's editor to the minutes; edits a section, saves ----
    sec = await browsers.login("sec_p")
    await expect(sec).to_have_url(f"{base}/secretariat")
    await sec.click(meeting_card(meeting_id))
    await expect(sec.locator("#editor-state")).to_have_text("Đã kết thúc")
    await sec.click("#minutes-link")
    await expect(sec).to_have_url(re.compile(rf"/minutes\?meeting={meeting_id}\b"))
    await expect(sec.locator("#versions .version")).to_have_count(1)
    await expect(sec.locator("#version-state")).to_have_text("Bản nháp")
    doc = sec.locator("#doc")
    await expect(doc.locator(".doc-subject")).to_have_text(TITLE)
    for hall in HALL_NAMES:
        await expect(doc.locator(f"table.attendance tr[data-hall='{hall}']")).to_have_count(1)
    first = doc.locator(".doc-section[data-section='0']")
    await expect(first.locator(".section-title")).to_have_text("Báo cáo tình hình")
    await expect(first.locator(".turns")).to_contain_text("Điểm cầu Huyện A (")
    await expect(first.locator(".turns")).to_contain_text("Điểm cầu Huyện B (")
    await expect(sec.locator("#approve-box")).to_be_hidden()  # the chair approves, not them
    await expect(sec.locator("#wait-chair")).to_contain_text("Người dùng chair_p")
    await sec.fill("#f-number", "05/BB-VP")
    await first.locator(".f-content").fill(
        "Huyện A báo cáo tình hình mưa lũ.\nHuyện B báo cáo thiệt hại."
    )
    await first.locator(".f-conclusions").fill("Giao Huyện A, Huyện B khắc phục hậu quả.")
    await sec.fill("#f-general", "Các đơn vị tập trung khắc phục hậu quả mưa lũ.")
    await expect(sec.locator("#dirty")).to_be_visible()
    # In English and back: the words change, what was typed stays.
    await sec.click(".lang-switch button[lang='en']")
    await expect(sec.locator("#save")).to_have_text("Save draft")
    await expect(first.locator(".doc-label").first).to_have_text("Speakers: ")
    await sec.click(".lang-switch button[lang='vi']")
    await expect(sec.locator("#save")).to_have_text("Lưu bản nháp")
    await expect(sec.locator("#f-number")).to_have_value("05/BB-VP")
    await expect(first.locator(".f-conclusions")).to_have_value(
        "Giao Huyện A, Huyện B khắc phục hậu quả."
    )
    async with sec.expect_response(lambda r: r.request.method == "PATCH") as saved:
        await sec.click("#save")
    assert (await saved.value).status == 200
    await expect(sec.locator("#notice")).to_have_text("Đã lưu bản nháp biên bản.")
    await expect(sec.locator("#dirty")).to_be_hidden()
    await sec.evaluate("document.querySelector('#notice').textContent = ''")  # the picture's
    await screenshot(sec, "minutes-editor", full_page=True)

    # -- the chair: the console's link after the meeting, approves in their own context -------
    chair = await browsers.login("chair_p")
    await expect(chair).to_have_url(f"{base}/chair")
    await chair.goto(f"/chair?meeting={meeting_id}")
    await expect(chair.locator("#status")).to_have_text("Đã kết thúc")
    await chair.click("#minutes-link")
    await expect(chair).to_have_url(re.compile(rf"/minutes\?meeting={meeting_id}\b"))
    section = chair.locator("#doc .doc-section[data-section='0']")
    await expect(section).to_contain_text("Huyện A báo cáo tình hình mưa lũ.")  # as saved
    await expect(section).to_contain_text("Giao Huyện A, Huyện B khắc phục hậu quả.")
    await expect(chair.locator("#doc .doc-number")).to_have_text("Số: 05/BB-VP")
    await expect(chair.locator("#save")).to_be_hidden()  # the chair does not edit
    await chair.click("#approve")
    await expect(chair.locator("#approve-confirm")).to_be_visible()
    async with chair.expect_response(lambda r: r.url.endswith("/minutes/1/approve")) as approved:
        await chair.click("#approve-yes")
    assert (await approved.value).status == 200
    await expect(chair.locator("#version-state")).to_have_text("Đã phê duyệt")
    await expect(chair.locator("#approve-box")).to_be_hidden()
    await expect(chair.locator("#pdf")).to_have_attribute(
        "href", f"/api/meetings/{meeting_id}/minutes/1/minutes.pdf"
    )
    await expect(chair.locator("#docx")).to_be_visible()
    magic = await chair.evaluate(
        """async () => {
            const r = await fetch(document.querySelector('#pdf').href);
            return new TextDecoder().decode((await r.arrayBuffer()).slice(0, 5));
        }"""
    )
    assert magic == "%PDF-"

    # The secretariat's page still shows the draft: saving it now is refused, readably.
    await sec.fill("#f-general", "Bổ sung sau khi đã phê duyệt.")
    await sec.click("#save")
    await expect(sec.locator("#form-error")).to_have_text(
        "Không thực hiện được ở trạng thái hiện tại "
        "(an approved version is frozen; make a correction instead)"
    )
    # Reloaded: the approved version, frozen; a correction is a new draft replacing it.
    await sec.reload()
    await expect(sec.locator("#version-state")).to_have_text("Đã phê duyệt")
    await expect(sec.locator("#save")).to_be_hidden()
    await expect(sec.locator("#pdf")).to_be_visible()
    await sec.click("#correct")
    await expect(sec.locator("#versions .version")).to_have_count(2)
    await expect(sec.locator("#version-label")).to_have_text("Phiên bản 2")
    await expect(sec.locator("#version-state")).to_have_text("Bản nháp")
    await expect(sec.locator("#version-meta")).to_contain_text("Điều chỉnh, thay thế phiên bản 1")
    await expect(sec.locator("#doc .doc-replaces")).to_have_text(
        "(Bản điều chỉnh, thay thế phiên bản 1)"
    )
    await expect(sec.locator("#f-general")).to_have_value(
        "Các đơn vị tập trung khắc phục hậu quả mưa lũ."
    )

    # -- the archivist: logs in, lands on the archive, searches -------------------------------
    arch = await browsers.login("arch")
    await expect(arch).to_have_url(f"{base}/archive")
    archived = await wait_for_package(arch, meeting_id)
    local_day = datetime.fromisoformat(archived["meeting"]["start"]).astimezone(LOCAL_TZ)

    await search(arch, "giao ban")
    result = arch.locator(f".result[data-meeting-id='{meeting_id}']")
    await expect(arch.locator(".result")).to_have_count(1)
    await expect(result.locator(".result-title")).to_have_text(TITLE)
    await expect(result.locator(".result-when")).to_contain_text(local_day.strftime("%d/%m/%Y"))
    await expect(result.locator(".result-halls")).to_contain_text(", ".join(HALL_NAMES))
    await expect(result.locator(".duration")).to_contain_text("giây")
    await arch.wait_for_function(
        """(id) => {
            const img = document.querySelector(`.result[data-meeting-id='${id}'] img.poster`);
            return img && img.complete && img.naturalWidth > 0;
        }""",
        arg=meeting_id,
    )
    for words in ("hop giao ban mua lu", "Họp giao ban mưa lũ", "khac phuc hau qua"):
        await search(arch, words)
        await expect(arch.locator(".result")).to_have_count(1)
        await expect(result.locator(".result-title")).to_have_text(TITLE)
    await search(arch, "hỏa hoạn")
    await expect(arch.locator(".result")).to_have_count(0)
    await expect(arch.locator("#count")).to_have_text("Không tìm thấy cuộc họp nào.")
    day = local_day.date().isoformat()
    await search(arch, "giao ban", **{"from": day, "to": day})
    await expect(arch.locator(".result")).to_have_count(1)
    await expect(arch.locator("#count")).to_have_text("Tìm thấy 1 cuộc họp")
    await screenshot(arch, "archive-search")

    # -- the meeting's page: the recording plays, chapters and turns seek -------------------
    video_answers: list[tuple[int, str]] = []
    arch.on(
        "response",
        lambda r: (
            video_answers.append((r.status, r.headers.get("content-range", "")))
            if "/files/composite.mp4" in r.url
            else None
        ),
    )
    await result.locator("a").click()
    await expect(arch).to_have_url(f"{base}/archive?meeting={meeting_id}")
    await expect(arch.locator("#m-title")).to_have_text(TITLE)
    await expect(arch.locator("#m-integrity")).to_have_text("Toàn vẹn")
    chapters = arch.locator("#chapters .chapter")
    await expect(chapters).to_have_count(len(archived["chapters"]))
    assert len(archived["chapters"]) >= 3, archived["chapters"]
    # The chapters WebVTT is the player's <track kind="chapters">, loaded and parsed.
    await arch.wait_for_function(
        """(count) => {
            const track = document.querySelector('#video track');
            const cues = track && track.track.cues;
            return track.kind === 'chapters' && cues && cues.length === count;
        }""",
        arg=len(archived["chapters"]),
    )
    await arch.evaluate("() => document.querySelector('#video').play()")
    await arch.wait_for_function(
        "() => { const v = document.querySelector('#video'); return v.readyState >= 2; }"
    )
    started_at = await current_time(arch)
    await arch.wait_for_function(
        "(t) => document.querySelector('#video').currentTime > t + 0.5", arg=started_at
    )

    last = chapters.last  # "Phát biểu: Điểm cầu Huyện B"
    await expect(last).to_contain_text("Điểm cầu Huyện B")
    b_start = float(await last.get_attribute("data-start") or "nan")
    await last.locator("button").click()
    await plays_near(arch, b_start)
    await expect(last).to_have_class(re.compile(r"\bcurrent\b"))
    turn_a = arch.locator(".hall-turns[data-hall='Điểm cầu Huyện A'] .turn").first
    a_start = float(await turn_a.get_attribute("data-start") or "nan")
    assert a_start + 1.5 < b_start - 0.1, (a_start, b_start)  # a real jump back
    await turn_a.click()
    await plays_near(arch, a_start)
    at = await current_time(arch)
    await arch.wait_for_function(
        "(t) => document.querySelector('#video').currentTime > t + 0.3", arg=at
    )
    assert any(status == 206 and rng.startswith("bytes ") for status, rng in video_answers), (
        video_answers  # the player reads the file by ranges (HTTP Range), which lets it seek
    )
    turns_b = arch.locator(".hall-turns[data-hall='Điểm cầu Huyện B'] .turn")
    await expect(turns_b).to_have_count(len(archived["turns"]["Điểm cầu Huyện B"]))
    await expect(arch.locator("#minutes")).to_contain_text("Huyện A báo cáo tình hình mưa lũ.")
    await expect(arch.locator("#minutes-pdf")).to_have_attribute(
        "href", archived["minutes"]["pdf_url"]
    )
    for hall in HALL_NAMES:
        await expect(arch.locator(f"#attendance tr[data-hall='{hall}']")).to_have_count(1)
    await expect(arch.locator(".package .files tr[data-file='composite.mp4']")).to_have_count(1)
    await expect(arch.locator("#admin")).to_be_hidden()  # archivists do not dispose

    # -- integrity: verified OK; one changed byte is found and the file named ---------------
    async def verify() -> None:
        async with arch.expect_response(lambda r: r.url.endswith("/verify")) as checked:
            await arch.click("#verify")
        assert (await checked.value).status == 200

    result_box = arch.locator("#integrity-card .verify-result")
    await verify()
    await expect(result_box.locator(".verify[data-ok='true']")).to_contain_text(
        "Toàn vẹn: mọi tệp khớp với bản kê"
    )
    await arch.evaluate("() => document.querySelector('#video').pause()")
    await arch.evaluate("window.scrollTo(0, 0)")
    await screenshot(arch, "archive-meeting")
    target = next(settings.archive_dir.rglob("attendance.json"))
    original = flip_a_byte(target)
    try:
        await verify()
        damaged = result_box.locator(".verify[data-ok='false']")
        await expect(damaged.locator("li[data-file='attendance.json']")).to_contain_text(
            "attendance.json: nội dung đã bị thay đổi"
        )
        await expect(arch.locator("#m-integrity")).to_have_text("Bị thay đổi hoặc hư hỏng")
    finally:
        target.write_bytes(original)
    await verify()
    await expect(result_box.locator(".verify[data-ok='true']")).to_be_visible()
    await arch.click(".lang-switch button[lang='en']")
    await expect(arch.locator("#verify")).to_have_text("Check integrity")
    await expect(result_box).to_contain_text("Intact: every file matches the manifest")
    await expect(arch.locator("#m-integrity")).to_have_text("Intact")

    # -- an admin: retention, a legal hold, and a disposal the server refuses --------------
    admin = await browsers.login("admin")
    await expect(admin).to_have_url(f"{base}/secretariat")
    await admin.goto(f"/archive?meeting={meeting_id}")
    await expect(admin.locator("#admin")).to_be_visible()
    await admin.select_option("#retention-class", "20y")
    await admin.click("#set-retention")
    await expect(admin.locator("#retention")).to_contain_text("20 năm")
    await admin.fill("#hold-reason", "Thanh tra tỉnh")
    await admin.click("#hold-place")
    await expect(admin.locator("#hold")).to_have_text("Đang phong tỏa: Thanh tra tỉnh")
    await expect(admin.locator("#m-hold")).to_be_visible()
    await expect(admin.locator("#hold-release")).to_be_visible()
    await admin.fill("#dispose-reason", "Hết hạn lưu trữ")
    await admin.click("#dispose")
    async with admin.expect_response(lambda r: r.url.endswith("/dispose")) as refused:
        await admin.click("#dispose-yes")
    assert (await refused.value).status == 409
    refusal = admin.locator("#admin-result .refusal")
    await expect(refusal).to_contain_text("Máy chủ từ chối hủy gói")
    await expect(refusal).to_contain_text("phong tỏa pháp lý (Thanh tra tỉnh)")
    await expect(refusal.locator(".server-said")).to_contain_text(
        "the package is under a legal hold: Thanh tra tỉnh"
    )
    still = await api(admin, "GET", f"/api/archive/meetings/{meeting_id}")
    assert still["status"] == 200 and still["body"]["package"]["legal_hold"] is True
    await admin.locator("#admin").scroll_into_view_if_needed()
    await screenshot(admin, "archive-legal-hold")
