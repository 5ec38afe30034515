"""Hall readiness (issue 13): terminals' self-tests over the socket, the readiness board, the
offline alert 15 minutes before the start, and test calls with real aiortc clients."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rooms import readiness
from rooms.models import HallStatus
from server.state import SERVICES
from tests.media.media_testkit import GREEN, RED
from tests.server.live_kit import live, refused, sees, soon, until

__all__ = ["live"]  # the fixture

GOOD = {
    "camera": "ok",
    "microphone": "ok",
    "camera_label": "fake_device_0",
    "mic_label": "Fake Default Audio Input",
    "mic_level": 42,
    "version": "0.1.0",
    "user_agent": "Chromium kiosk",
    "link": {"loss": 0.01, "rtt_ms": 35.5},
}


async def board(clients: Any, meeting_id: int, who: str = "sec_p") -> dict[str, Any]:
    reply = await (await clients(who)).get(f"/api/meetings/{meeting_id}/readiness")
    assert reply.status == 200, reply.text
    return reply.body


def row(body: dict[str, Any], hall_id: int) -> dict[str, Any]:
    return next(h for h in body["halls"] if h["hall_id"] == hall_id)


async def a_meeting(clients: Any, org: Any, minutes: int = 30) -> int:
    created = await (await clients("sec_p")).post("/api/meetings", soon(org, minutes))
    assert created.status == 201, created.text
    return created.body["id"]


# -- terminal_status ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"camera": "broken"}, "camera"),
        ({"microphone": None}, "microphone"),
        ({"version": "v" * 65}, "version"),
        ({"version": ""}, "version"),
        ({"camera_label": "x" * 201}, "camera_label"),
        ({"mic_level": 101}, "mic_level"),
        ({"link": {"loss": 2, "rtt_ms": 10}}, "link.loss"),
        ({"link": {"loss": 0, "rtt_ms": -1}}, "link.rtt_ms"),
        ({"extra": 1}, "extra"),
    ],
)
async def test_terminal_status_is_validated(live, change, field):
    terminal = await live(hall="A")
    reply = await terminal.call("terminal_status", {**GOOD, **change})
    assert reply["ok"] is False, reply
    assert reply["error"]["code"] == "validation", reply
    assert reply["error"]["field"] == field, reply
    assert terminal.sio.connected  # a bad event never drops the connection


async def test_terminal_status_is_only_taken_from_a_terminal(live):
    person = await live(user="sec_p")
    refused(await person.call("terminal_status", GOOD), "forbidden", "terminal")
    terminal = await live(hall="A")
    assert (await terminal.call("terminal_status", GOOD))["ok"]
    assert (await terminal.call("probe"))["ok"]


async def test_the_board_shows_a_terminal_online_with_its_self_test_then_offline(
    live, clients, org
):
    meeting_id = await a_meeting(clients, org)
    before = await board(clients, meeting_id)
    assert [h["hall_id"] for h in before["halls"]] == [org.halls[k] for k in "PAB"]  # chair first
    assert not any(h["online"] for h in before["halls"])
    assert row(before, org.halls["A"])["last_seen"] is None

    terminal = await live(hall="A")
    assert (await terminal.call("terminal_status", GOOD))["ok"]
    seen = row(await board(clients, meeting_id), org.halls["A"])
    assert seen["online"] is True
    assert seen["camera"] == "ok" and seen["microphone"] == "ok"
    assert seen["camera_label"] == "fake_device_0" and seen["mic_level"] == 42
    assert seen["link"] == {"loss": 0.01, "rtt_ms": 35.5}
    assert seen["quality"] == "good"
    assert seen["version"] == "0.1.0"
    assert seen["ready"] is True
    assert seen["last_seen"].endswith("+07:00")
    b = row(await board(clients, meeting_id), org.halls["B"])
    assert b["online"] is False and b["ready"] is False

    # A camera refused and a poor link: online, not ready.
    bad = {**GOOD, "camera": "refused", "link": {"loss": 0.2, "rtt_ms": 900}}
    assert (await terminal.call("terminal_status", bad))["ok"]
    seen = row(await board(clients, meeting_id), org.halls["A"])
    assert seen["online"] is True and seen["ready"] is False
    assert seen["camera"] == "refused" and seen["quality"] == "poor"

    await terminal.sio.disconnect()

    async def offline() -> bool:
        return row(await board(clients, meeting_id), org.halls["A"])["online"] is False

    await until(offline, deadline=10)
    gone = row(await board(clients, meeting_id), org.halls["A"])
    assert gone["camera"] == "refused"  # the last self-test stays on the board
    assert gone["last_seen"] is not None


async def test_a_second_socket_of_the_hall_keeps_it_online(live, clients, org):
    meeting_id = await a_meeting(clients, org)
    first = await live(hall="A")
    second = await live(hall="A")
    await first.sio.disconnect()
    await asyncio.sleep(0.3)  # the first socket's disconnect is handled in a task of its own
    assert row(await board(clients, meeting_id), org.halls["A"])["online"] is True
    await second.sio.disconnect()

    async def offline() -> bool:
        return row(await board(clients, meeting_id), org.halls["A"])["online"] is False

    await until(offline)


# -- who sees the board ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("sec_p", 200),  # the meeting's unit's secretariat
        ("chair_p", 200),  # its chair
        ("admin", 200),
        ("sec_a", 403),  # sees the meeting (its hall is invited), not the board
        ("arch", 403),  # reads, does not run meetings
        ("sec_b", 403),
        (None, 401),
    ],
)
async def test_who_may_see_the_readiness_board(clients, org, who, status):
    meeting_id = await a_meeting(clients, org)
    reply = await (await clients(who)).get(f"/api/meetings/{meeting_id}/readiness")
    assert reply.status == status, reply.text
    if status != 200:
        assert reply.body["error"]["code"] in ("forbidden", "unauthenticated"), reply.body


async def test_the_board_is_not_for_terminals_nor_unknown_meetings(clients, org):
    meeting_id = await a_meeting(clients, org)
    terminal = await clients(terminal="A")
    assert (await terminal.get(f"/api/meetings/{meeting_id}/readiness")).status == 403
    sec = await clients("sec_p")
    assert (await sec.get("/api/meetings/99999/readiness")).status == 404


async def test_watching_a_board_needs_its_rights(live, clients, org):
    meeting_id = await a_meeting(clients, org)
    refused(await (await live(user="sec_a")).call("watch_readiness", {"meeting_id": meeting_id}),
            "forbidden", "readiness")  # fmt: skip
    refused(await (await live(hall="A")).call("watch_readiness", {"meeting_id": meeting_id}),
            "forbidden", "readiness")  # fmt: skip
    assert (await (await live(user="chair_p")).call(
        "watch_readiness", {"meeting_id": meeting_id}))["ok"]  # fmt: skip


# -- the 15-minute alert -------------------------------------------------------------------------


async def test_offline_halls_alert_from_15_minutes_before_the_start(
    live, clients, org, clock, server
):
    meeting_id = await a_meeting(clients, org, minutes=30)
    terminal = await live(hall="A")
    assert (await terminal.call("terminal_status", GOOD))["ok"]
    watcher = await live(user="chair_p")
    assert (await watcher.call("watch_readiness", {"meeting_id": meeting_id}))["ok"]
    check = server.app[SERVICES].readiness.check

    clock.offset = timedelta(minutes=10)  # about 20 minutes before: no alert yet
    assert [a for a in await check() if a["meeting_id"] == meeting_id] == []
    body = await board(clients, meeting_id)
    assert body["alerting"] is False
    assert not any(h["alert"] for h in body["halls"])

    clock.offset = timedelta(minutes=16)  # under 15 minutes before the start
    alerts = [a for a in await check() if a["meeting_id"] == meeting_id]
    assert {a["hall_id"] for a in alerts} == {org.halls["P"], org.halls["B"]}  # A is online
    assert all(a["minutes_left"] <= 15 for a in alerts)
    assert {a["hall_name"] for a in alerts} == {"Hội trường tỉnh P", "Điểm cầu Huyện B"}
    await watcher.until(
        lambda: (
            {d["hall_id"] for n, d in watcher.events if n == "readiness_alert"}
            == {org.halls["P"], org.halls["B"]}
        )
    )
    body = await board(clients, meeting_id)
    assert body["alerting"] is True
    assert row(body, org.halls["B"])["alert"] is True
    assert row(body, org.halls["A"])["alert"] is False

    # The hall comes online: its alert stops.
    late = await live(hall="B")
    alerts = [a for a in await check() if a["meeting_id"] == meeting_id]
    assert {a["hall_id"] for a in alerts} == {org.halls["P"]}
    await late.sio.disconnect()

    # Started: no alert any more.
    chair = await live(user="chair_p")
    assert (await chair.call("start_meeting", {"meeting_id": meeting_id}))["ok"]
    assert [a for a in await check() if a["meeting_id"] == meeting_id] == []


@pytest.mark.env(GIAOBAN_READINESS_CHECK_SECONDS="0.2")
async def test_the_alert_check_runs_by_itself(live, clients, org, clock):
    meeting_id = await a_meeting(clients, org, minutes=10)  # inside the window already
    watcher = await live(user="sec_p")
    assert (await watcher.call("watch_readiness", {"meeting_id": meeting_id}))["ok"]
    await watcher.until(
        lambda: any(
            n == "readiness_alert" and d["hall_id"] == org.halls["A"] for n, d in watcher.events
        )
    )
    alert = next(d for n, d in watcher.events if n == "readiness_alert")
    assert alert["meeting_id"] == meeting_id and alert["start"].endswith("+07:00")


def test_quality_words():
    assert readiness.quality(0.0, 20) is readiness.Quality.GOOD
    assert readiness.quality(0.05, 20) is readiness.Quality.FAIR
    assert readiness.quality(0.0, 300) is readiness.Quality.FAIR
    assert readiness.quality(0.1, 20) is readiness.Quality.POOR
    assert readiness.quality(0.0, 500) is readiness.Quality.POOR
    assert readiness.quality(None, None) is None


def test_minutes_left_rounds_up():
    start = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
    assert readiness.minutes_left(start, start - timedelta(minutes=14, seconds=30)) == 15
    assert readiness.minutes_left(start, start + timedelta(minutes=1)) == 0


async def test_rows_of_a_dead_node_and_of_this_node_before_a_restart_are_offline(
    db, org, server, clients
):
    meeting_id = await a_meeting(clients, org)
    now = datetime.now(UTC)
    async with db.session() as session:
        session.add(
            HallStatus(hall_id=org.halls["A"], online=True, node_id="gone", last_seen_at=now)
        )
        session.add(
            HallStatus(hall_id=org.halls["B"], online=True, node_id="embedded", last_seen_at=now)
        )
        await session.commit()
    body = await board(clients, meeting_id)
    assert row(body, org.halls["A"])["online"] is False  # its node is not alive
    assert row(body, org.halls["B"])["online"] is True  # this node ("embedded") says so
    async with db.session() as session:
        assert await readiness.clear_node(session, "embedded") == 1  # what a start-up does
    assert row(await board(clients, meeting_id), org.halls["B"])["online"] is False


# -- test calls ---------------------------------------------------------------------------------


async def test_a_test_call_needs_the_halls_secretariat_and_an_online_idle_terminal(live, org):
    refused(await (await live(user="sec_p")).call("start_test_call", {"hall_id": org.halls["A"]}),
            "invalid_state", "not online")  # fmt: skip
    await live(hall="A")
    refused(await (await live(user="chair_p")).call("start_test_call", {"hall_id": org.halls["A"]}),
            "forbidden", "secretariat")  # fmt: skip
    refused(await (await live(user="sec_b")).call("start_test_call", {"hall_id": org.halls["A"]}),
            "not_found", "hall")  # fmt: skip
    refused(await (await live(hall="B")).call("start_test_call", {"hall_id": org.halls["A"]}),
            "forbidden", "person")  # fmt: skip
    bad = await (await live(user="sec_p")).call("start_test_call", {"hall_id": "A"})
    assert bad["error"]["code"] == "validation" and bad["error"]["field"] == "hall_id"
    bad = await (await live(user="sec_p")).call("test_call_offer", {"call_id": "x", "sdp": "v=0"})
    assert bad["error"]["code"] == "validation" and bad["error"]["field"] == "call_id"
    sec = await live(user="sec_a")  # the district's own secretariat may call its hall
    started = await sec.call("start_test_call", {"hall_id": org.halls["A"]})
    assert started["ok"], started
    refused(await (await live(user="sec_p")).call("start_test_call", {"hall_id": org.halls["A"]}),
            "invalid_state", "already")  # fmt: skip


@pytest.mark.slow
async def test_the_office_sees_and_hears_the_hall_in_a_test_call_and_either_hangs_up(live, org):
    hall = await live(hall="A", slots=("main", "audio"))  # sends GREEN
    office = await live(user="sec_p", colour=RED, slots=("main", "audio"))
    started = await office.call("start_test_call", {"hall_id": org.halls["A"]})
    assert started["ok"], started
    call_id = started["call_id"]
    assert started["hall_name"] == "Điểm cầu Huyện A"
    await hall.until(lambda: any(n == "test_call" for n, _ in hall.events))
    assert next(d for n, d in hall.events if n == "test_call")["call_id"] == call_id

    await hall.negotiate("test_call_offer", {"call_id": call_id})
    answer = await office.negotiate("test_call_offer", {"call_id": call_id})
    assert answer["slots"][office.slot_mid("main")]["hall_id"] == org.halls["A"]
    await sees(office, "main", GREEN)  # the hall's camera, forwarded
    await sees(hall, "main", RED)  # the office's camera
    video, audio = office.slot("main"), office.slot("audio")
    before = (video.frames, audio.frames)
    started_at = time.monotonic()
    await office.until(lambda: time.monotonic() - started_at > 1.5, deadline=5)
    assert video.frames - before[0] > 15, "the hall's video does not reach the office"
    assert audio.frames - before[1] > 30, "the hall's microphone does not reach the office"

    # Someone else cannot offer into the call.
    other = await live(user="admin", slots=("main",))
    stray = {"call_id": call_id, "sdp": "v=0", "sources": {}, "slots": {}}
    refused(await other.call("test_call_offer", stray), "not_found", "test call")

    assert (await hall.call("end_test_call"))["ok"]
    await office.until(lambda: any(n == "test_call_ended" for n, _ in office.events))
    ended = next(d for n, d in office.events if n == "test_call_ended")
    assert ended["call_id"] == call_id and "terminal" in ended["reason"]
    refused(await office.call("test_call_offer", stray), "not_found", "test call")
    # The hall can be called again at once.
    again = await office.call("start_test_call", {"hall_id": org.halls["A"]})
    assert again["ok"], again


@pytest.mark.env(GIAOBAN_TEST_CALL_SECONDS="0.5")
async def test_a_test_call_ends_by_itself_and_when_a_side_leaves(live, org):
    hall = await live(hall="A")
    office = await live(user="sec_p")
    assert (await office.call("start_test_call", {"hall_id": org.halls["A"]}))["ok"]
    for side in (hall, office):
        await side.until(lambda s=side: any(n == "test_call_ended" for n, _ in s.events))
    assert "time limit" in next(d for n, d in hall.events if n == "test_call_ended")["reason"]

    office.events.clear()
    again = await office.call("start_test_call", {"hall_id": org.halls["A"]})
    assert again["ok"], again
    await hall.sio.disconnect()
    await office.until(lambda: any(n == "test_call_ended" for n, _ in office.events))


async def test_a_hall_in_a_live_meeting_is_not_called_and_a_meeting_ends_a_test_call(
    live, clients, org
):
    meeting_id = await a_meeting(clients, org)
    hall = await live(hall="A")
    office = await live(user="sec_p")
    assert (await office.call("start_test_call", {"hall_id": org.halls["A"]}))["ok"]
    chair = await live(user="chair_p")
    assert (await chair.call("start_meeting", {"meeting_id": meeting_id}))["ok"]
    joined = await hall.join(meeting_id)
    assert joined["ok"] and not joined["lobby"], joined
    await office.until(lambda: any(n == "test_call_ended" for n, _ in office.events))
    refused(await office.call("start_test_call", {"hall_id": org.halls["A"]}),
            "invalid_state", "live meeting")  # fmt: skip
