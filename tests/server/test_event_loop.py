"""The event loop is a setting (GIAOBAN_EVENT_LOOP, uvloop by default): a node on uvloop, its
media worker too, carries a live meeting as on asyncio's own loop (which the in-process tests
run on)."""

from __future__ import annotations

import aiohttp
import pytest

from server.settings import Settings, SettingsError
from tests.media.media_testkit import GREEN, RED
from tests.recordings.test_crash import ServerProcess, json_of, session_for
from tests.server.live_kit import LiveClient, sees, soon


def test_an_unknown_event_loop_is_refused_naming_the_variable(tmp_path):
    with pytest.raises(SettingsError, match="GIAOBAN_EVENT_LOOP"):
        Settings.from_env({"GIAOBAN_VAR_DIR": str(tmp_path), "GIAOBAN_EVENT_LOOP": "trio"})
    assert Settings.from_env({"GIAOBAN_VAR_DIR": str(tmp_path)}).event_loop == "uvloop"


@pytest.mark.slow
async def test_a_node_on_uvloop_with_a_media_worker_carries_a_meeting(org, settings, tmp_path):
    node = ServerProcess(settings, tmp_path / "server.log")
    node.env.update({"GIAOBAN_MEDIA_WORKERS": "1"})  # uvloop: the default
    await node.start()
    halls: list[LiveClient] = []
    sec = await session_for(node.url, "sec_p")
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{node.url}/api/health") as r:
            health = await r.json()
        assert health["event_loop"] == "uvloop"
        assert [w["alive"] for w in health["media_workers"]] == [True]
        meeting = await json_of(sec, "POST", f"{node.url}/api/meetings", json=soon(org))
        chair = await session_for(node.url, "chair_p")
        cookie = next(c.value for c in chair.cookie_jar if c.key == "giaoban_session")
        await chair.close()
        for key, colour in (("P", RED), ("A", GREEN)):
            hall = LiveClient(node.url, token=org.terminal_tokens[key], colour=colour)
            halls.append(hall)
            await hall.connect()
            assert (await hall.join(meeting["id"]))["lobby"]
        console = LiveClient(node.url, cookie=cookie, slots=("main",))
        halls.append(console)
        await console.connect()
        await console.join(meeting["id"])
        assert (await console.call("start_meeting", {"meeting_id": meeting["id"]}))["ok"]
        for hall in halls:
            await hall.until(lambda h=hall: h.pc is not None and bool(h.readers), deadline=20)
        await sees(halls[1], "main", RED, deadline=20)  # the chair hall, through the worker
        assert (await console.call("give_floor", {"hall_id": org.halls["A"]}))["ok"]
        await sees(halls[0], "main", GREEN, deadline=10)
    finally:
        for hall in halls:
            await hall.close()
        await sec.close()
        await node.stop()
    log = (tmp_path / "server.log").read_text(encoding="utf-8")
    assert "Traceback" not in log
    # Stopped whole: the worker closed by its server, not cut by the loop's end (which cut
    # a database commit too, now and then).
    assert "media worker w1" in log and "exited" not in log
    assert log.rstrip().endswith("INFO giaoban: stopped"), log[-2000:]
    assert node.proc is not None and node.proc.returncode == 0
