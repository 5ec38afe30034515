"""Content sharing in live meetings, with real aiortc peers: one presenter at a time, granted by
the chair like the floor; every hall receives the content on its ``screen`` slot, forwarded as
it was sent; the timeline records who presented."""

from __future__ import annotations

from typing import Any

import pytest

from tests.media.media_testkit import GREEN, EncoderSpy, Yuv
from tests.server.live_kit import LiveClient, live, refused, sees

__all__ = ["live"]  # the fixture

pytestmark = pytest.mark.slow

YELLOW = Yuv(210, 16, 146)
MAGENTA = Yuv(106, 202, 222)
TERMINAL = ("main", "chair", "screen", "audio", "audio")


async def content_events(clients: Any, meeting_id: int) -> list[tuple[str, int | None, Any]]:
    sec = await clients("sec_p")
    reply = await sec.get(f"/api/meetings/{meeting_id}/timeline")
    assert reply.status == 200, reply.text
    events = reply.body["events"] if isinstance(reply.body, dict) else reply.body
    return [
        (e["kind"], e["hall_id"], e["data"])
        for e in events
        if e["kind"] in ("content_started", "content_stopped")
    ]


async def presenter(live: Any, meeting_id: int, user: str, colour: Yuv, **kw: Any) -> LiveClient:
    """A person's browser in the live meeting, offering its (not yet forwarded) screen."""
    client: LiveClient = await live(user=user, screen=colour, slots=(), **kw)
    joined = await client.join(meeting_id)
    assert joined["ok"] and not joined["lobby"], joined
    await client.negotiate()
    return client


async def test_the_chair_presents_and_every_hall_sees_the_content_as_it_was_sent(
    live, org, clients, monkeypatch
):
    spy = EncoderSpy().install(monkeypatch)
    meeting = await live.running(chair_slots=("main", "chair", "screen"))
    chair = meeting.chair
    a, b = meeting.halls["A"], meeting.halls["B"]
    for hall in (a, b):
        hall.slot_roles = TERMINAL
        await hall.negotiate()
    # The chair's console presents from the chair hall's side, without asking anyone.
    await chair.close_media()
    chair.screen = YELLOW
    await chair.negotiate()
    assert (await chair.call("request_content")) == {"ok": True, "granted": True}
    for hall in (a, b):
        await sees(hall, "screen", YELLOW)
        label = hall.slot_labels[hall.slot_mid("screen")]
        assert label["hall_id"] == org.halls["P"]
        assert label["presenter"] == "Người dùng chair_p"
    await sees(a, "main", Yuv(81, 90, 240))  # the speaker (the chair hall) beside it
    content = chair.state["content"] if chair.state else None
    assert content is not None and content["presenter"] == "Người dùng chair_p"
    assert content["since"].endswith("+07:00")
    assert spy.server_encode_calls == 0, "the server re-encoded the content"
    assert (await chair.call("stop_content"))["ok"]
    await a.until(lambda: a.state is not None and a.state["content"] is None)
    await a.until(lambda: a.slot_labels[a.slot_mid("screen")]["hall_id"] is None)
    assert await content_events(clients, meeting.id) == [
        ("content_started", org.halls["P"],
         {"presenter": "Người dùng chair_p", "participant": content["participant_id"]}),
        ("content_stopped", org.halls["P"], {"reason": "stopped"}),
    ]  # fmt: skip


async def test_a_presenter_in_a_hall_asks_and_the_chair_switches_presenters(live, org, clients):
    meeting = await live.running()
    chair, b = meeting.chair, meeting.halls["B"]
    b.slot_roles = TERMINAL
    await b.negotiate()
    first = await presenter(live, meeting.id, "sec_a", YELLOW, for_hall=org.halls["A"])
    second = await presenter(live, meeting.id, "chair_a", MAGENTA, for_hall=org.halls["A"])
    # Asking is not presenting: the chair sees the requests in order.
    assert (await first.call("request_content")) == {"ok": True, "granted": False}
    assert (await second.call("request_content")) == {"ok": True, "granted": False}
    await chair.until(lambda: len(chair.state["content_requests"]) == 2)
    asked = chair.state["content_requests"]
    assert [r["presenter"] for r in asked] == ["Người dùng sec_a", "Người dùng chair_a"]
    assert asked[0]["hall_id"] == org.halls["A"]
    assert asked[0]["hall_name"] == "Điểm cầu Huyện A"
    assert b.slot_labels[b.slot_mid("screen")]["hall_id"] is None
    # The chair lets the first present, then the second: the halls follow.
    first_id = first.joined["participant_id"]
    second_id = second.joined["participant_id"]
    assert (await chair.call("give_content", {"participant_id": first_id}))["ok"]
    await sees(b, "screen", YELLOW)
    await chair.until(lambda: [r["participant_id"] for r in chair.state["content_requests"]]
                      == [second_id])  # fmt: skip
    assert (await chair.call("give_content", {"participant_id": second_id}))["ok"]
    await sees(b, "screen", MAGENTA)
    await chair.until(lambda: chair.state["content"]["participant_id"] == second_id)
    assert chair.state["content_requests"] == []
    # The presenter's laptop closes: the content stops by itself.
    await second.close()
    await b.until(lambda: b.state is not None and b.state["content"] is None)
    kinds = [(k, d.get("presenter") or d.get("reason")) for k, _, d in
             await content_events(clients, meeting.id)]  # fmt: skip
    assert kinds == [
        ("content_started", "Người dùng sec_a"),
        ("content_stopped", "taken"),
        ("content_started", "Người dùng chair_a"),
        ("content_stopped", "left"),
    ]


async def test_the_chair_takes_the_content_back(live, org):
    meeting = await live.running()
    chair = meeting.chair
    laptop = await presenter(live, meeting.id, "sec_b", GREEN, for_hall=org.halls["B"])
    await laptop.call("request_content")
    await chair.until(lambda: bool(chair.state["content_requests"]))
    assert (await chair.call("give_content", {"participant_id": laptop.joined["participant_id"]}))[
        "ok"
    ]
    await laptop.until(lambda: laptop.state["content"] is not None)
    assert (await chair.call("take_content"))["ok"]
    await laptop.until(lambda: laptop.state["content"] is None)


async def test_who_may_present_and_grant_is_checked_with_reasons(live, org):
    meeting = await live.running()
    chair, a = meeting.chair, meeting.halls["A"]
    # A hall's terminal does not present (a kiosk has nobody to pick a window), nor grants.
    refused(await a.call("request_content"), "forbidden", "present")
    refused(await a.call("give_content", {"participant_id": "x"}), "forbidden", "chair")
    refused(await a.call("take_content"), "forbidden", "chair")
    # A person's browser that joined for no hall watches only.
    watcher = await live(user="sec_b", slots=("main",))
    assert (await watcher.join(meeting.id))["ok"]
    refused(await watcher.call("request_content"), "forbidden", "present")
    refused(
        await chair.call("give_content", {"participant_id": watcher.joined["participant_id"]}),
        "invalid", "cannot present",
    )  # fmt: skip
    missing = await chair.call("give_content", {"participant_id": "no-such-participant"})
    refused(missing, "not_found", "participant")
    assert missing["error"]["field"] == "participant_id"
    bad = await chair.call("give_content", {"participant_id": 5})
    assert bad["error"]["code"] == "validation" and bad["error"]["field"] == "participant_id"
    # Joining for a hall: one of the meeting, which the person's roles reach; not a terminal.
    outsider = await live(user="sec_b")
    refused(await outsider.call("join", {"meeting_id": meeting.id, "hall_id": org.halls["A"]}),
            "forbidden", "unit")  # fmt: skip
    unknown = await outsider.call("join", {"meeting_id": meeting.id, "hall_id": 999_999})
    refused(unknown, "not_found", "hall")
    assert unknown["error"]["field"] == "hall_id"
    refused(await a.call("join", {"meeting_id": meeting.id, "hall_id": org.halls["B"]}),
            "invalid", "own hall")  # fmt: skip
