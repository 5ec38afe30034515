"""A test call (issue 13, readiness): before a meeting, the secretariat calls one hall's terminal
to see and hear it, and be seen and heard by it if its browser has devices.

Two sides, ``office`` (the secretariat's browser) and ``hall`` (the terminal); each offers one
peer connection (``media.Connection``) with what it sends (camera, mic) and what it receives
(main, audio); each side's camera and microphone are forwarded to the other's slots as they
come, without transcoding, exactly as in a meeting. It belongs to no meeting: nothing goes to a
timeline, nothing is recorded. It ends when either side hangs up or leaves, or after
``limit`` seconds. No aiohttp, no socket.io: the server layer says who is on which side and
is told when a call ends (``on_end``).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import media
from media.tasks import cancel_and_wait
from rooms.errors import StateError
from rooms.offers import SLOT_KINDS, SOURCE_KINDS, answer, check_offer
from rooms.slots import SlotRole, SourceRole

log = logging.getLogger("giaoban.test_call")

DEFAULT_LIMIT = 300.0
"""Seconds a test call lasts at most."""

FEEDS = {SlotRole.MAIN: SourceRole.CAMERA, SlotRole.AUDIO: SourceRole.MIC}
"""Which of the other side's sources each slot receives."""


class Side(enum.StrEnum):
    OFFICE = "office"
    HALL = "hall"

    @property
    def other(self) -> Side:
        return Side.HALL if self is Side.OFFICE else Side.OFFICE


@dataclass
class End:
    peer: media.Connection | None = None
    sources: dict[SourceRole, media.Source] = field(default_factory=dict)
    slots: dict[str, tuple[SlotRole, media.Slot]] = field(default_factory=dict)


PeerMaker = Callable[[], media.Connection]
EndHandler = Callable[["TestCall", str], Awaitable[None]]


class TestCall:
    """One test call between the office and a hall."""

    __test__ = False  # not a pytest class

    def __init__(
        self,
        hall_id: int,
        hall_name: str,
        by: str,
        make_peer: PeerMaker,
        video_codec: media.VideoCodec = media.VideoCodec.VP8,
    ) -> None:
        self.id = uuid.uuid4().hex
        self.hall_id = hall_id
        self.hall_name = hall_name
        self.by = by
        self._make_peer = make_peer
        self.video_codec = video_codec
        self.ends = {Side.OFFICE: End(), Side.HALL: End()}
        self.ended = False
        self._lock = asyncio.Lock()
        self.timer: asyncio.Task[None] | None = None

    async def negotiate(
        self,
        side: Side,
        offer_sdp: str,
        sources: dict[str, SourceRole],
        slots: dict[str, SlotRole],
    ) -> str:
        """Answer one side's offer (a new offer replaces that side's connection)."""
        if self.ended:
            raise StateError("the test call has ended")
        check_offer(
            offer_sdp,
            sources,
            slots,
            video_codec=self.video_codec,
            max_bytes=media.PeerSettings().max_sdp_bytes,
        )
        end = self.ends[side]
        old, end.peer = end.peer, None
        if old is not None:
            await old.close()
        peer = self._make_peer()
        answered = await answer(peer, offer_sdp)
        async with self._lock:
            if self.ended:
                await peer.close()
                raise StateError("the test call has ended")
            end.peer = peer
            end.sources = {}
            for source in peer.sources:
                role = sources.get(source.mid or "")
                if (
                    role is not None
                    and role in FEEDS.values()
                    and SOURCE_KINDS[role] is source.kind
                ):
                    end.sources[role] = source
            end.slots = {}
            for track in peer.outgoing:
                slot = slots.get(track.mid or "")
                if slot is not None and slot in FEEDS and SLOT_KINDS[slot] is track.media_kind:
                    end.slots[track.mid or ""] = (slot, track)
            self._rewire()
        return answered

    def _rewire(self) -> None:
        for side, end in self.ends.items():
            other = self.ends[side.other]
            for slot_role, track in end.slots.values():
                source = other.sources.get(FEEDS[slot_role])
                if track.source is source:
                    continue
                try:
                    track.switch_source(source)
                except media.IncompatibleSourceError:
                    track.switch_source(None)

    def labels(self, side: Side) -> dict[str, dict[str, object]]:
        """What each of the side's slots shows (the other side), as meetings label slots."""
        end = self.ends[side]
        other = side.other
        return {
            mid: {
                "role": role.value,
                "hall_id": self.hall_id if other is Side.HALL else None,
                "name": self.hall_name if other is Side.HALL else None,
            }
            for mid, (role, _) in end.slots.items()
        }

    def receiving(self, side: Side) -> bool:
        """Whether ``side`` gets the other side's camera now (for tests and diagnostics)."""
        other = self.ends[side.other].sources.get(SourceRole.CAMERA)
        slots = self.ends[side].slots.values()
        return other is not None and any(t.source is other for _, t in slots)

    async def close(self) -> None:
        async with self._lock:
            self.ended = True
            peers = [e.peer for e in self.ends.values() if e.peer is not None]
            for end in self.ends.values():
                end.peer = None
                end.sources = {}
                end.slots = {}
        await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)


class TestCalls:
    """The test calls under way on this node, at most one per hall."""

    __test__ = False

    def __init__(
        self,
        on_end: EndHandler,
        *,
        make_peer: PeerMaker | None = None,
        video_codec: media.VideoCodec = media.VideoCodec.VP8,
        limit: float = DEFAULT_LIMIT,
    ) -> None:
        self._on_end = on_end
        self.video_codec = video_codec
        self._make_peer = make_peer or (
            lambda: media.Peer(media.PeerSettings(), video_codec=video_codec)
        )
        self.limit = limit
        self._calls: dict[str, TestCall] = {}

    def get(self, call_id: str) -> TestCall | None:
        return self._calls.get(call_id)

    def of_hall(self, hall_id: int) -> TestCall | None:
        return next((c for c in self._calls.values() if c.hall_id == hall_id), None)

    def __len__(self) -> int:
        return len(self._calls)

    def start(self, hall_id: int, hall_name: str, by: str) -> TestCall:
        if self.of_hall(hall_id) is not None:
            raise StateError("a test call with this hall is already under way", field="hall_id")
        call = TestCall(hall_id, hall_name, by, self._make_peer, self.video_codec)
        self._calls[call.id] = call
        call.timer = asyncio.create_task(self._expire(call), name=f"test call {call.id}")
        log.info("test call %s with hall %s started by %s", call.id, hall_id, by)
        return call

    async def _expire(self, call: TestCall) -> None:
        await asyncio.sleep(self.limit)
        await self.end(call.id, "time limit")  # its own timer is not cancelled (current task)

    async def end(self, call_id: str, reason: str) -> bool:
        """End the call (safe twice); the other side is told through ``on_end``."""
        call = self._calls.pop(call_id, None)
        if call is None:
            return False
        await cancel_and_wait(call.timer)
        await call.close()
        log.info("test call %s with hall %s ended: %s", call.id, call.hall_id, reason)
        await self._on_end(call, reason)
        return True

    async def close(self) -> None:
        for call_id in list(self._calls):
            await self.end(call_id, "server stopping")
