"""Halls and chairs as real clients: socket.io signalling and aiortc peers with synthetic media.

A :class:`LiveClient` is what a terminal (or a chair's browser) does: it connects with its
token (or login cookie), joins a meeting, offers its camera and microphone with receive slots,
and decodes what it receives. Every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest
import socketio
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy

from rooms.localtime import LOCAL_TZ
from tests.conftest import PASSWORD, Org
from tests.media.media_testkit import (
    BLUE,
    GREEN,
    RED,
    ColourVideoTrack,
    ToneAudioTrack,
    Yuv,
    centre_colour,
)

NAMESPACE = "/live"
TERMINAL_SLOTS = ("main", "chair", "audio", "audio")
RESUME_GAP = 0.5
"""Seconds without a frame after which the next one counts as the picture coming back."""


@dataclass
class SlotReader:
    """Reads one received track; remembers the last colour and counts frames."""

    role: str
    kind: str
    frames: int = 0
    colours: list[tuple[float, Yuv]] = field(default_factory=list)
    """When each run of one colour began, and its colour."""
    task: asyncio.Task[None] | None = None
    last_at: float | None = None
    """When the last frame was decoded (``time.monotonic()``)."""
    resumed: list[float] = field(default_factory=list)
    """When a frame came after none for more than ``RESUME_GAP`` (the first one too)."""

    @property
    def colour(self) -> Yuv | None:
        return self.colours[-1][1] if self.colours else None

    async def run(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                frame = await track.recv()
                self.frames += 1
                now = time.monotonic()
                if self.last_at is None or now - self.last_at > RESUME_GAP:
                    self.resumed.append(now)
                self.last_at = now
                if self.kind == "video":
                    colour = centre_colour(frame)  # type: ignore[arg-type]
                    if not self.colours or self.colours[-1][1] != colour:
                        self.colours.append((now, colour))

    def first_time_of(self, colour: Yuv, after: float = 0.0) -> float | None:
        for at, seen in self.colours:
            if at >= after and seen.close_to(colour):
                return at
        return None


class LiveClient:
    """One terminal (``token``) or one person's browser (``cookie``) in live meetings."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        cookie: str | None = None,
        colour: Yuv | None = None,
        slots: tuple[str, ...] = TERMINAL_SLOTS,
        auto_join: bool = True,
        loud: bool = True,
        thumb: bool = False,
        screen: Yuv | None = None,
        for_hall: int | None = None,
        reconnection: bool = False,
        http_session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.screen = screen
        """A person's browser that presents: the colour of its shared screen."""
        self.for_hall = for_hall
        """The hall a person's browser joins for (a presenter's laptop there)."""
        self.loud = loud
        self.thumb = thumb
        self.url = url
        self.token = token
        self.cookie = cookie
        self.colour = colour
        self.slot_roles = slots
        self.auto_join = auto_join
        # reconnection: as the terminal page's socket.io (web/static/live.js), 0.5 s to 3 s.
        # http_session: the caller's (and its timeouts), closed by the caller.
        extra: dict[str, Any] = {"http_session": http_session} if http_session else {}
        self.sio = socketio.AsyncClient(
            reconnection=reconnection, reconnection_delay=0.5, reconnection_delay_max=3, **extra
        )
        self.state: dict[str, Any] | None = None
        self.slot_labels: dict[str, Any] = {}
        self.readers: dict[str, SlotReader] = {}
        self.pc: RTCPeerConnection | None = None
        self.meeting_id: int | None = None
        self.joined: dict[str, Any] | None = None
        self.events: list[tuple[str, Any]] = []
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.video: ColourVideoTrack | None = None
        self.audio: ToneAudioTrack | None = None
        for name in ("room_state", "slots", "meeting_started", "meeting_ended", "removed",
                     "going_away", "links", "alert", "processing", "readiness_alert",
                     "test_call", "test_call_ended"):  # fmt: skip
            self.sio.on(name, self._handler(name), namespace=NAMESPACE)

    def _handler(self, name: str) -> Callable[[Any], Any]:
        async def handle(data: Any) -> None:
            self.events.append((name, data))
            if name == "room_state":
                self.state = data
            elif name == "slots":
                self.slot_labels = data
            elif name == "meeting_started" and self.auto_join:
                self._spawn(self.enter(data["meeting_id"]))
            elif name in ("meeting_ended", "removed"):
                self._spawn(self.close_media())
            self._changed.set()

        return handle

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def connect(self) -> None:
        headers = {"Cookie": f"giaoban_session={self.cookie}"} if self.cookie else {}
        auth = {"token": self.token} if self.token else None
        await self.sio.connect(
            self.url, namespaces=[NAMESPACE], auth=auth, headers=headers,
            transports=["websocket"], wait_timeout=10,
        )  # fmt: skip

    async def call(self, event: str, data: Any = None) -> dict[str, Any]:
        reply = await self.sio.call(event, data, namespace=NAMESPACE, timeout=15)
        assert isinstance(reply, dict)
        return reply

    async def join(self, meeting_id: int) -> dict[str, Any]:
        self.meeting_id = meeting_id
        data: dict[str, Any] = {"meeting_id": meeting_id}
        if self.for_hall is not None:
            data["hall_id"] = self.for_hall
        reply = await self.call("join", data)
        if reply.get("ok") and not reply.get("lobby"):
            self.joined = reply
            self.state = reply["state"]
        return reply

    async def enter(self, meeting_id: int) -> dict[str, Any]:
        """Join and, once in the live meeting, connect media."""
        reply = await self.join(meeting_id)
        if reply.get("ok") and not reply.get("lobby"):
            await self.negotiate()
        return reply

    async def negotiate(
        self, event: str = "offer", extra: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Offer the camera and microphone (with a colour) and the receive slots; ``event`` and
        ``extra``: a test call's offer (``test_call_offer`` with its ``call_id``)."""
        await self.close_media()
        # max-bundle: aiortc's default (balanced) leaves a third m-line of a kind unconnected
        # when the answer bundles everything (the server always does).
        pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        self.pc = pc
        roles: list[tuple[Any, str, str]] = []
        if self.colour is not None:
            self.video = ColourVideoTrack(self.colour)
            self.audio = ToneAudioTrack(loud=self.loud)
            roles.append((pc.addTransceiver(self.video, direction="sendonly"), "source", "camera"))
            roles.append((pc.addTransceiver(self.audio, direction="sendonly"), "source", "mic"))
            if self.thumb:
                small = ColourVideoTrack(self.colour, width=160, height=120)
                roles.append((pc.addTransceiver(small, direction="sendonly"), "source", "thumb"))
        if self.screen is not None:
            shared = ColourVideoTrack(self.screen)
            roles.append((pc.addTransceiver(shared, direction="sendonly"), "source", "screen"))
        for role in self.slot_roles:
            kind = "audio" if role == "audio" else "video"
            roles.append((pc.addTransceiver(kind, direction="recvonly"), "slot", role))
        offer = await pc.createOffer()
        await pc.setLocalDescription(offer)
        sources = {t.mid: r for t, what, r in roles if what == "source"}
        slots = {t.mid: r for t, what, r in roles if what == "slot"}
        assert pc.localDescription is not None
        reply = await self.call(
            event,
            {"sdp": pc.localDescription.sdp, "sources": sources, "slots": slots, **(extra or {})},
        )
        assert reply["ok"], reply
        await pc.setRemoteDescription(RTCSessionDescription(reply["sdp"], "answer"))
        self.slot_labels = reply.get("slots") or self.slot_labels
        self.readers = {}
        for transceiver, what, role in roles:
            if what != "slot":
                continue
            reader = SlotReader(role, transceiver.kind)
            reader.task = asyncio.ensure_future(reader.run(transceiver.receiver.track))
            self.readers[transceiver.mid] = reader
        return reply

    def slot(self, role: str, index: int = 0) -> SlotReader:
        mids = [mid for mid, r in self.readers.items() if r.role == role]
        return self.readers[mids[index]]

    def slot_mid(self, role: str, index: int = 0) -> str:
        return [mid for mid, r in self.readers.items() if r.role == role][index]

    def hall(self, hall_id: int) -> dict[str, Any]:
        assert self.state is not None
        return next(h for h in self.state["halls"] if h["hall_id"] == hall_id)

    async def until(self, condition: Callable[[], bool], deadline: float = 10.0) -> None:
        """Wait for ``condition`` (re-checked on every event and every 50 ms)."""
        async with asyncio.timeout(deadline):
            while not condition():
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.05)

    async def close_media(self) -> None:
        pc, self.pc = self.pc, None
        for reader in self.readers.values():
            if reader.task is not None:
                reader.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader.task
        if pc is not None:
            await pc.close()

    async def close(self) -> None:
        # Let running joins and closes finish: cancelling aiortc's close() half-way breaks it.
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=15)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.close_media()
        if self.sio.connected:
            await self.sio.disconnect()


COLOURS = {"P": RED, "A": GREEN, "B": BLUE}


def soon(org: Org, minutes: int = 30, **extra: Any) -> dict[str, Any]:
    """A meeting of P with A and B starting in ``minutes`` (so the chair may start it now)."""
    start = (datetime.now(LOCAL_TZ) + timedelta(minutes=minutes)).replace(second=0, microsecond=0)
    body = {
        "title": "Giao ban trực tuyến",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=2)).isoformat(),
        "chair_hall_id": org.halls["P"],
        "chair_user_id": org.users["chair_p"],
        "invited_hall_ids": [org.halls["A"], org.halls["B"]],
        "agenda": [{"title": "Báo cáo tình hình"}, {"title": "Kết luận"}],
    }
    body.update(extra)
    return body


async def until(condition: Callable[[], Awaitable[bool]], deadline: float = 10.0) -> None:
    """Wait for the (async) ``condition``, re-checked every 50 ms, for ``deadline`` seconds."""
    give_up = time.monotonic() + deadline
    while not await condition():
        assert time.monotonic() < give_up, f"not within {deadline} s"
        await asyncio.sleep(0.05)


async def login_cookie(url: str, username: str) -> str:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(
            f"{url}/api/session", json={"username": username, "password": PASSWORD}
        ) as reply:
            assert reply.status == 200
        return next(c.value for c in http.cookie_jar if c.key == "giaoban_session")


class Meeting:
    """A running test meeting: its id, the halls' clients and the chair's."""

    def __init__(self, meeting_id: int, halls: dict[str, LiveClient], chair: LiveClient) -> None:
        self.id = meeting_id
        self.halls = halls
        self.chair = chair


@pytest.fixture
async def live(server, org, clients) -> AsyncIterator[Callable[..., Any]]:
    url = str(server.make_url("")).rstrip("/")
    made: list[LiveClient] = []

    async def client(*, hall: str | None = None, user: str | None = None, **kw: Any) -> LiveClient:
        if hall is not None:
            c = LiveClient(url, token=org.terminal_tokens[hall], colour=COLOURS.get(hall), **kw)
        else:
            assert user is not None
            kw.setdefault("slots", ("main", "chair"))
            c = LiveClient(url, cookie=await login_cookie(url, user), **kw)
        made.append(c)
        await c.connect()
        return c

    async def running(
        halls: tuple[str, ...] = ("P", "A", "B"),
        chair_slots: tuple[str, ...] = ("main", "chair"),
        meeting_id: int | None = None,
    ) -> Meeting:
        """Halls waiting in the lobby, then the chair starts: everyone is in, media flowing."""
        if meeting_id is None:
            sec = await clients("sec_p")
            created = await sec.post("/api/meetings", soon(org))
            assert created.status == 201, created.text
            meeting_id = created.body["id"]
        mid = meeting_id
        terminals = {h: await client(hall=h, thumb=True) for h in halls}
        for terminal in terminals.values():
            waiting = await terminal.join(mid)
            assert waiting["ok"] and waiting["lobby"], waiting
        chair = await client(user="chair_p", slots=chair_slots)
        assert (await chair.join(mid))["lobby"]
        started = await chair.call("start_meeting", {"meeting_id": mid})
        assert started["ok"], started
        # Everyone in the lobby (the chair's browser too) is called in and joins by itself.
        ids = [org.halls[h] for h in halls]
        await chair.until(
            lambda: (
                chair.state is not None
                and all(chair.hall(i)["presence"] == "connected" for i in ids)
            )
        )
        for c in [*terminals.values(), chair]:
            await c.until(lambda c=c: c.pc is not None and bool(c.readers))
        return Meeting(mid, terminals, chair)

    client.running = running  # type: ignore[attr-defined]
    client.server = server  # type: ignore[attr-defined]
    yield client
    for c in made:
        await c.close()


def refused(reply: dict[str, Any], code: str, says: str) -> None:
    """An event answered with the error ``code``, its message saying ``says``."""
    assert reply["ok"] is False, reply
    assert reply["error"]["code"] == code, reply
    assert says in reply["error"]["message"], reply


async def sees(client: LiveClient, role: str, colour: Any, deadline: float = 10.0) -> None:
    """Wait until the client's ``role`` slot shows ``colour``."""

    def showing() -> bool:
        seen = client.slot(role).colour
        return seen is not None and seen.close_to(colour)

    await client.until(showing, deadline)
