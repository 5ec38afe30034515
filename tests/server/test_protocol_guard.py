"""The signalling holds against any client (issue 16, in part): socket.io's reserved event
names, events the protocol does not name, extra arguments, repeated joins, and loose types
are all answered, change nothing, and log no traceback."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.server.live_kit import LiveClient, live, refused

__all__ = ["live"]  # the fixture

pytestmark = pytest.mark.slow


async def emitted(client: LiveClient, event: str, *args: Any) -> Any:
    """An event sent with an acknowledgement and any arguments, as a raw client would."""
    data = args if len(args) != 1 else args[0]
    return await client.sio.call(event, data, namespace="/live", timeout=10)


async def timeline(clients: Any, meeting_id: int) -> list[dict[str, Any]]:
    sec = await clients("sec_p")
    reply = await sec.get(f"/api/meetings/{meeting_id}/timeline")
    assert reply.status == 200
    events: list[dict[str, Any]] = reply.body
    return events


async def test_reserved_and_unknown_events_are_refused_and_change_nothing(
    live, org, clients, caplog
):
    caplog.set_level(logging.INFO)
    meeting = await live.running()
    a = meeting.halls["A"]
    before = await timeline(clients, meeting.id)
    # A client's "disconnect" is not a disconnection: the hall stays in the meeting.
    reply = await emitted(a, "disconnect", {})
    refused(reply, "invalid", "socket.io's own event")
    assert reply["error"]["field"] == "event"
    # A client's "connect" with another hall's token does not make the socket that hall.
    refused(await emitted(a, "connect", {"token": org.terminal_tokens["B"]}), "invalid", "own")
    refused(await emitted(a, "connect"), "invalid", "own")
    assert (await a.call("raise_hand"))["ok"]  # still hall A, still in the meeting
    await meeting.chair.until(lambda: org.halls["A"] in meeting.chair.state["hands"])
    assert meeting.chair.hall(org.halls["A"])["presence"] == "connected"
    # Events the protocol does not name, and extra arguments, are answered too.
    unknown = await emitted(a, "no_such_event", {"x": 1})
    refused(unknown, "not_found", "no such event")
    assert unknown["error"]["field"] == "event"
    two = await emitted(a, "raise_hand", {}, {})
    refused(two, "validation", "one argument")
    assert two["error"]["field"] == "data"
    after = await timeline(clients, meeting.id)
    new = [e["kind"] for e in after[len(before) :]]
    assert new == ["hand"], new  # the raised hand, and no leave, join or reconnect
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_repeated_join_is_answered_the_same_and_stores_nothing(live, org, clients):
    meeting = await live.running()
    a = meeting.halls["A"]
    first = a.joined
    assert first is not None
    before = await timeline(clients, meeting.id)
    for _ in range(20):
        again = await a.call("join", {"meeting_id": meeting.id})
        assert again["ok"] and again["participant_id"] == first["participant_id"], again
    after = await timeline(clients, meeting.id)
    assert after == before
    sec = await clients("sec_p")
    attendance = (await sec.get(f"/api/meetings/{meeting.id}/attendance")).body
    row = next(r for r in attendance if r["hall_id"] == org.halls["A"])
    assert row["joins"] == 1, row
    # Its media still flows: the join did not replace its connection.
    assert a.pc is not None and a.pc.connectionState == "connected"


@pytest.mark.parametrize(
    ("event", "data", "field"),
    [
        ("give_floor", {"hall_id": True}, "hall_id"),
        ("give_floor", {"hall_id": "2"}, "hall_id"),
        ("join", {"meeting_id": True}, "meeting_id"),
        ("mute_hall", {"hall_id": 2, "muted": "yes"}, "muted"),
        ("mute_hall", {"hall_id": 2, "muted": 1}, "muted"),
        ("set_voice_activated", {"enabled": 0}, "enabled"),
        ("answer_roll_call", {"present": True, "delegates": True}, "delegates"),
    ],
)
async def test_ids_and_flags_take_their_own_types_only(live, org, event, data, field):
    meeting = await live.running(halls=("P", "A"))
    reply = await meeting.chair.call(event, data)
    refused(reply, "validation", field)
    assert reply["error"]["field"] == field
    assert meeting.chair.state["floor_hall_id"] is None  # nothing was given to hall 1
