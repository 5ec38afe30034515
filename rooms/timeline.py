"""The meeting timeline: stored events and the attendance derived from them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rooms.models import TimelineEvent, TimelineKind
from rooms.ports import TimelineEntry


class DbTimeline:
    """The :class:`rooms.ports.Timeline` kept in the database.

    One writer stores the events in the order they were submitted; the events submitted
    while a commit is under way go together in the next one (a group commit), so thirty
    halls joining at once cost a few commits, not thirty in a row. Each event's future
    resolves once it is committed.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._pending: list[tuple[TimelineEntry, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    def submit(self, entry: TimelineEntry) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        saved: asyncio.Future[None] = loop.create_future()
        self._pending.append((entry, saved))
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._write(), name="timeline-writer")
        return saved

    async def append(self, entry: TimelineEntry) -> None:
        await asyncio.shield(self.submit(entry))

    async def _write(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                async with self._sessions() as session:
                    session.add_all(
                        TimelineEvent(
                            meeting_id=entry.meeting_id,
                            at=entry.at,
                            kind=entry.kind,
                            hall_id=entry.hall_id,
                            actor=entry.actor,
                            data=entry.data,
                        )
                        for entry, _ in batch
                    )
                    await session.commit()
            except Exception as exc:
                for _, saved in batch:
                    if not saved.done():
                        saved.set_exception(exc)
            else:
                for _, saved in batch:
                    if not saved.done():
                        saved.set_result(None)


async def events_of(session: AsyncSession, meeting_id: int) -> Sequence[TimelineEvent]:
    return (
        await session.scalars(
            sa.select(TimelineEvent)
            .where(TimelineEvent.meeting_id == meeting_id)
            .order_by(TimelineEvent.at, TimelineEvent.id)
        )
    ).all()


@dataclass
class HallAttendance:
    """A hall's presence in one meeting, as the minutes report it."""

    hall_id: int
    first_join: datetime | None = None
    last_leave: datetime | None = None
    connected_seconds: float = 0.0
    joins: int = 0
    drops: int = 0
    present: bool | None = None
    """The last roll-call answer (None: never answered)."""
    delegates: int | None = None
    roll_call_answers: list[dict[str, object]] = field(default_factory=list)


def attendance(
    events: Iterable[TimelineEvent], hall_ids: Iterable[int], until: datetime
) -> list[HallAttendance]:
    """Per hall: first join, last leave, total connected time, roll-call answers.

    A hall still connected at ``until`` (the meeting's end, or now) counts up to it.
    """
    halls = {h: HallAttendance(h) for h in hall_ids}
    since: dict[int, datetime] = {}
    for event in events:
        if event.hall_id is None or event.hall_id not in halls:
            continue
        hall = halls[event.hall_id]
        if event.kind in (TimelineKind.JOIN, TimelineKind.RECONNECT):
            hall.joins += 1
            hall.first_join = hall.first_join or event.at
            since.setdefault(event.hall_id, event.at)
        elif event.kind in (TimelineKind.LEAVE, TimelineKind.REMOVED):
            start = since.pop(event.hall_id, None)
            if start is not None:
                hall.connected_seconds += (event.at - start).total_seconds()
                hall.last_leave = event.at
            if event.data.get("reason") == "dropped":
                hall.drops += 1
        elif event.kind is TimelineKind.ROLL_CALL_ANSWER:
            hall.present = bool(event.data.get("present"))
            delegates = event.data.get("delegates")
            hall.delegates = int(delegates) if isinstance(delegates, int) else None
            hall.roll_call_answers.append(
                {"at": event.at, "present": hall.present, "delegates": hall.delegates}
            )
    for hall_id, start in since.items():
        halls[hall_id].connected_seconds += max(0.0, (until - start).total_seconds())
    return list(halls.values())
