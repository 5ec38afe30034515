"""What a live Room needs from outside, declared here and implemented by the layers above."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

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

    async def append(self, entry: TimelineEntry) -> None: ...


class Notifier(Protocol):
    """Tells connected clients what changed. Must not raise; a slow client must not block."""

    async def room_state(self, meeting_id: int, state: dict[str, Any]) -> None:
        """The whole room as every participant may see it."""

    async def slots(self, participant_id: str, slots: dict[str, Any]) -> None:
        """What each of this participant's receive slots now carries (by m-line mid)."""

    async def links(self, meeting_id: int, links: dict[str, Any]) -> None:
        """The halls' link reports (loss, round-trip time), by hall id."""

    async def removed(self, participant_id: str, reason: str) -> None:
        """This participant is out of the room (removed by the chair, replaced, ended)."""
