"""What a live Room needs from outside, declared here and implemented by the layers above."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import media
from rooms.models import TimelineKind


@dataclass(frozen=True)
class TimelineEntry:
    """One event as the Room reports it."""

    meeting_id: int
    at: datetime
    kind: TimelineKind
    hall_id: int | None = None
    actor: str = "system"
    data: dict[str, Any] = field(default_factory=dict)


class Timeline(Protocol):
    """Stores a meeting's events durably, in order (the Room awaits each one)."""

    def submit(self, entry: TimelineEntry) -> Awaitable[None]:
        """Take ``entry`` now, in order; the result is done once it is stored."""

    async def append(self, entry: TimelineEntry) -> None:
        """Store ``entry`` (``submit`` and wait)."""


class Notifier(Protocol):
    """Tells connected clients what changed. Must not raise; a slow client must not block."""

    async def room_state(self, meeting_id: int, state: dict[str, Any]) -> None:
        """The whole room as every participant may see it."""

    async def slots(self, participant_id: str, slots: dict[str, Any]) -> None:
        """What each of this participant's receive slots now carries (by m-line mid)."""

    async def links(self, meeting_id: int, links: dict[str, Any]) -> None:
        """The halls' link reports (loss, round-trip time), by hall id."""

    async def alert(self, meeting_id: int, code: str, message: str) -> None:
        """Something the chair must know (recording stopped for lack of disk space…)."""

    async def removed(self, participant_id: str, code: str, reason: str) -> None:
        """This participant is out of the room: ``code`` ``replaced`` (a newer connection of
        its hall took its place) or ``removed`` (the chair removed the hall)."""


class RecordingRefused(Exception):
    """Recording cannot start; the message says why (shown to the chair)."""


class Recorder(Protocol):
    """The hidden subscriber that records a meeting's halls (see ``recordings``)."""

    active: bool

    def attach(self, hall_id: int, camera: media.Source | None, mic: media.Source | None) -> None:
        """The hall's current sources (it joined or reconnected); a new segment while active."""

    def detach(self, hall_id: int) -> None:
        """The hall left: close its segment."""

    def attach_content(self, hall_id: int | None, source: media.Source | None) -> None:
        """The content (a shared screen) presented now from ``hall_id``'s side, or None
        (source None: nobody presents); a new content segment while active."""

    async def start(self) -> None:
        """Start recording every hall; raise :class:`RecordingRefused` when it cannot."""

    async def stop(self, reason: str) -> None:
        """Stop recording; open segments are closed before this returns."""

    async def close(self) -> None:
        """Stop and release everything (the meeting ended, or the server stops)."""


RecorderFactory = Callable[[int, Callable[[str], Awaitable[None]]], Recorder]
"""Makes the recorder of a meeting, given its id and what to call when recording fails."""


PeerFactory = Callable[[int, int | None, media.VideoCodec], Awaitable[media.Connection]]
"""Makes a participant's connection, given the meeting's id (media workers keep a meeting's
peers together), the participant's hall (a district's halls may have their media on the
district's machine; none for a person's browser) and the video codec; default: a
:class:`media.Peer` in this process."""
