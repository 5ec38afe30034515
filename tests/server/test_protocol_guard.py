"""The signalling holds against any client (issue 16, in part): socket.io's reserved event
names, events the protocol does not name, extra arguments, repeated joins, and loose types
are all answered, change nothing, and log no traceback."""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender
from aiortc.rtcconfiguration import RTCBundlePolicy

from tests.media.media_testkit import RED
from tests.server.live_kit import LiveClient, live, refused, sees

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


async def an_offer(
    lines: list[tuple[str, str]],
    *,
    policy: RTCBundlePolicy = RTCBundlePolicy.MAX_BUNDLE,
    audio_codec: str | None = None,
) -> tuple[str, list[str]]:
    """An aiortc client's offer of ``(kind, direction)`` m-lines, and their mids in order."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=policy))
    try:
        transceivers = [pc.addTransceiver(kind, direction=d) for kind, d in lines]
        if audio_codec is not None:
            codecs = RTCRtpSender.getCapabilities("audio").codecs
            for t in transceivers:
                if t.kind == "audio":
                    t.setCodecPreferences([c for c in codecs if c.mimeType == audio_codec])
        await pc.setLocalDescription(await pc.createOffer())
        assert pc.localDescription is not None
        return pc.localDescription.sdp, [str(t.mid) for t in transceivers]
    finally:
        await pc.close()


SEND_RECV = [
    ("video", "sendonly"),
    ("audio", "sendonly"),
    ("video", "recvonly"),
    ("audio", "recvonly"),
]


@pytest.mark.parametrize(
    ("case", "field", "says"),
    [
        ("a source names no m-line", "sources.9", "no m-line 9"),
        ("a slot names no m-line", "slots.9", "no m-line 9"),
        ("a source on a receiving m-line", "sources.2", "recvonly"),
        ("a slot on a sending m-line", "slots.0", "sendonly"),
        ("a camera on the audio m-line", "sources.1", "camera is video, m-line 1 is audio"),
        ("an m-line in both maps", "slots.0", "both a source and a slot"),
    ],
)
async def test_an_offer_whose_roles_do_not_fit_its_m_lines_is_refused_with_the_field(
    live, case, field, says
):
    meeting = await live.running(halls=("P", "A"))
    a = meeting.halls["A"]
    await sees(a, "main", RED)  # its media flows (the chair hall on main)
    sdp, mids = await an_offer(SEND_RECV)
    assert mids == ["0", "1", "2", "3"]
    sources = {"0": "camera", "1": "mic"}
    slots = {"2": "main", "3": "audio"}
    if case == "a source names no m-line":
        sources["9"] = "thumb"
    elif case == "a slot names no m-line":
        slots["9"] = "thumb"
    elif case == "a source on a receiving m-line":
        sources["2"] = "thumb"
        del slots["2"]
    elif case == "a slot on a sending m-line":
        slots["0"] = "main"
        del sources["0"]
    elif case == "a camera on the audio m-line":
        sources["1"] = "camera"
    else:
        slots["0"] = "main"
    reply = await a.call("offer", {"sdp": sdp, "sources": sources, "slots": slots})
    refused(reply, "invalid", says)
    assert reply["error"]["field"] == field, reply
    # The refused offer changed nothing: the hall's connection still carries its media.
    assert a.pc is not None and a.pc.connectionState == "connected"
    assert meeting.chair.hall(meeting.halls["A"].joined["hall_id"])["presence"] == "connected"


async def test_an_offer_without_its_maps_is_refused(live):
    meeting = await live.running(halls=("P", "A"))
    sdp, _ = await an_offer(SEND_RECV)
    reply = await meeting.halls["A"].call("offer", {"sdp": sdp, "slots": {"2": "main"}})
    refused(reply, "validation", "")
    assert reply["error"]["field"] == "sources"
    reply = await meeting.halls["A"].call("offer", {"sdp": sdp, "sources": {"0": "camera"}})
    assert reply["error"]["field"] == "slots", reply


async def test_an_offer_that_cannot_work_is_refused_with_the_real_reason(live, caplog):
    meeting = await live.running(halls=("P", "A"))
    a = meeting.halls["A"]
    await sees(a, "main", RED)
    maps = {"sources": {"0": "camera", "1": "mic"}, "slots": {"2": "main", "3": "audio"}}
    # A 'balanced' bundle policy puts audio and video on two transports: the answer bundles
    # everything on one, so the audio would never arrive.
    balanced, _ = await an_offer(SEND_RECV, policy=RTCBundlePolicy.BALANCED)
    reply = await a.call("offer", {"sdp": balanced, **maps})
    refused(reply, "invalid", "max-bundle")
    assert reply["error"]["field"] == "sdp"
    # Not an SDP at all: said so, not that it lacks a bundle.
    reply = await a.call("offer", {"sdp": "hello, server", **maps})
    refused(reply, "invalid", "not a session description")
    assert "bundle" not in reply["error"]["message"].lower()
    # Audio in PCMU only: the audio m-line is named, not the video.
    pcmu, _ = await an_offer(SEND_RECV, audio_codec="audio/PCMU")
    reply = await a.call("offer", {"sdp": pcmu, **maps})
    refused(reply, "invalid", "m-line 1 (audio) offers PCMU")
    assert "opus" in reply["error"]["message"] and "VP8" not in reply["error"]["message"]
    assert a.pc is not None and a.pc.connectionState == "connected"
    assert "Traceback" not in caplog.text


class RawSocket:
    """A socket.io client written by hand over one WebSocket: it sends any text it likes."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.next_id = 0

    async def receive(self) -> str:
        while True:
            message = await self.ws.receive(timeout=10)
            assert message.type is aiohttp.WSMsgType.TEXT, message
            if message.data == "2":  # engine.io ping
                await self.ws.send_str("3")
                continue
            return str(message.data)

    async def ack(self, body: str) -> Any:
        """Send ``42/live,<id><body>`` and return the acknowledgement's data."""
        self.next_id += 1
        await self.ws.send_str(f"42/live,{self.next_id}{body}")
        prefix = f"43/live,{self.next_id}"
        while True:
            text = await self.receive()
            if text.startswith(prefix):
                return json.loads(text[len(prefix) :])[0]


async def test_deep_or_broken_json_is_answered_and_the_connection_stays(live, org, caplog):
    caplog.set_level(logging.INFO)
    meeting = await live.running(halls=("P", "A"))
    url = meeting.halls["A"].url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        async with http.ws_connect(url) as ws:
            raw = RawSocket(ws)
            assert (await raw.receive()).startswith("0{")  # engine.io open
            await ws.send_str("40/live," + json.dumps({"token": org.terminal_tokens["B"]}))
            assert (await raw.receive()).startswith("40/live,{")
            deep = await raw.ack('["raise_hand",' + "[" * 50_000 + "]" * 50_000 + "]")
            refused(deep, "validation", "nested too deeply")
            assert deep["error"]["field"] == "data"
            broken = await raw.ack('["raise_hand", {"a": ]')
            refused(broken, "validation", "not valid JSON")
            # Still connected, still the same hall: an event goes through.
            assert (await raw.ack('["probe",{}]'))["ok"]
            # A connection whose auth cannot be read is refused, not crashed.
        async with http.ws_connect(url) as ws:
            raw = RawSocket(ws)
            await raw.receive()
            await ws.send_str("40/live," + "[" * 50_000)
            assert (await raw.receive()).startswith("44/live,")  # connect_error
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
