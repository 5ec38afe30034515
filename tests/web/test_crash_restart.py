"""kill -9 of the embedded server in the middle of a recorded meeting, and a restart: the hall
terminals' pages come back into the meeting by themselves, the timeline keeps every event
stored before the kill, and the segments written before it are repaired and processed into
the composite with the ones recorded after the restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import av
import pytest
from playwright.async_api import Page, async_playwright, expect

from server.settings import Settings
from tests.conftest import Org
from tests.recordings.test_crash import ServerProcess, json_of, session_for, until_writing_for
from tests.server.live_kit import LiveClient, soon
from tests.web.conftest import CHROMIUM_FLAGS, TERMINAL_VIEWPORT, Browsers, chromium_path
from tests.web.pages import picture_decodes

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture
async def chromium() -> AsyncIterator[Browsers]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path(), args=list(CHROMIUM_FLAGS)
        )
        made = Browsers(browser, "")
        try:
            yield made
        finally:
            await made.close()
    assert not made.errors, "errors in the pages:\n" + "\n".join(made.errors)


def stored(events: list[dict[str, Any]]) -> list[tuple[str, int | None, str]]:
    return [(e["kind"], e["hall_id"], e["at"]) for e in events]


async def test_kill_9_mid_recording_terminals_come_back_and_nothing_saved_is_lost(
    org: Org, settings: Settings, tmp_path: Any, chromium: Browsers
) -> None:
    log = tmp_path / "server.log"
    first = ServerProcess(settings, log)
    await first.start()
    url = first.url
    p_id = org.halls["P"]
    console: LiveClient | None = None
    sec = await session_for(url, "sec_p")
    try:
        meeting = await json_of(sec, "POST", f"{url}/api/meetings", json=soon(org))
        mid = meeting["id"]
        pages: dict[str, Page] = {}
        for key in ("P", "A"):
            pages[key] = await chromium.page(
                f"{url}/terminal#token={org.terminal_tokens[key]}", viewport=TERMINAL_VIEWPORT
            )
            await expect(pages[key].locator("#next")).to_have_text("Giao ban trực tuyến")
        chair = await session_for(url, "chair_p")
        cookie = next(c.value for c in chair.cookie_jar if c.key == "giaoban_session")
        await chair.close()
        console = LiveClient(url, cookie=cookie, slots=("main",))
        await console.connect()
        assert (await console.join(mid))["lobby"]
        assert (await console.call("start_meeting", {"meeting_id": mid}))["ok"]
        for page in pages.values():
            await expect(page.locator("body")).to_have_attribute(
                "data-mode", "meeting", timeout=30_000
            )
        await picture_decodes(pages["A"], "#large", p_id, within=30_000)
        await console.until(lambda: bool(console.state and console.state["recording"]))
        # Kill while segments are being written (more than a second of them on the disk).
        await until_writing_for(settings, mid, 1.3)
        before = stored(await json_of(sec, "GET", f"{url}/api/meetings/{mid}/timeline"))
        await first.kill()
        killed_at = datetime.now().astimezone()
    finally:
        if console is not None:
            await console.close()
        await sec.close()

    # The same address again, as a supervisor (systemd) restarts the service.
    for page in pages.values():
        await expect(page.locator("#reconnecting")).to_be_visible(timeout=20_000)
    second = ServerProcess(settings, log, port=first.port)
    await second.start()
    restarted = time.monotonic()
    sec = await session_for(url, "sec_p")
    try:
        # Nobody touches the terminals: both are back in the meeting, the chair hall's picture
        # decoding again on the district's screen.
        for page in pages.values():
            await expect(page.locator("#reconnecting")).to_be_hidden(timeout=45_000)
            await expect(page.locator("body")).to_have_attribute("data-mode", "meeting")
        await picture_decodes(pages["A"], "#large", p_id, within=30_000)
        print(f"terminals back in the meeting {time.monotonic() - restarted:.1f} s after restart")

        after = stored(await json_of(sec, "GET", f"{url}/api/meetings/{mid}/timeline"))
        assert after[: len(before)] == before, "an event stored before the kill was lost"
        kinds = [kind for kind, _, _ in after[len(before) :]]
        assert kinds.count("reconnect") >= 2, kinds  # both halls, back by themselves
        # Recording carried on after the restart; then the meeting ends and is processed.
        await until_writing_for(settings, mid, 1.0)
        chair = await session_for(url, "chair_p")
        try:
            await json_of(chair, "POST", f"{url}/api/meetings/{mid}/end")
            deadline = time.monotonic() + 180
            while True:
                body = await json_of(chair, "GET", f"{url}/api/meetings/{mid}/recording")
                if body["job"] and body["job"]["state"] in ("done", "failed"):
                    break
                assert time.monotonic() < deadline, body
                await asyncio.sleep(0.5)
        finally:
            await chair.close()
    finally:
        await sec.close()
        for page in pages.values():
            await page.close()
        await second.stop()

    assert body["job"]["state"] == "done", body["job"]["error"]
    segments = body["segments"]
    states = [s["state"] for s in segments]
    assert "writing" not in states
    assert states.count("repaired") >= 2, [s["note"] for s in segments]  # P's and A's
    after_restart = [s for s in segments if datetime.fromisoformat(s["started_at"]) > killed_at]
    assert {s["hall_id"] for s in after_restart} == {p_id, org.halls["A"]}
    t0 = datetime.fromisoformat(next(at for kind, _, at in before if kind == "meeting_started"))
    composite = settings.recordings_dir / str(mid) / "output" / "composite.mp4"
    with av.open(str(composite)) as container:
        assert container.duration / 1e6 > (killed_at - t0).total_seconds()
    assert "Traceback" not in log.read_text(encoding="utf-8")
