"""Scheduling: meetings and series, the rule that no hall is double-booked, and meeting states.

Every write goes through :class:`Scheduler`, which serialises the check for conflicts and the
write that follows it (an in-process lock, and a transaction-scoped advisory lock on PostgreSQL
so that several server nodes agree).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from rooms.access import Access, OrgTree
from rooms.db import utcnow
from rooms.errors import Conflict, Invalid, NotFound, StateError
from rooms.localtime import to_local
from rooms.models import (
    AgendaItem,
    Hall,
    Meeting,
    MeetingState,
    RoleName,
    Series,
    SeriesState,
    Unit,
    User,
    meeting_halls,
)
from rooms.recurrence import occurrences, parse_rule
from rooms.schemas import (
    MAX_MEETING,
    AgendaItemIn,
    MeetingIn,
    MeetingPatch,
    SeriesIn,
    SeriesPatch,
)

log = logging.getLogger("giaoban.meetings")

BUSY_STATES = (MeetingState.SCHEDULED, MeetingState.LIVE)
REWRITABLE_STATES = (MeetingState.SCHEDULED, MeetingState.CANCELLED)
SCHEDULE_LOCK_KEY = 0x6769_616F  # "giao": the advisory lock every scheduling write takes
MAX_LIST = 2000
MAX_LIST_RANGE = timedelta(days=400)
LIVE_EDITABLE = {"title", "description", "agenda", "end", "auto_record"}


async def load_tree(session: AsyncSession) -> OrgTree:
    rows = (await session.execute(sa.select(Unit.id, Unit.parent_id, Unit.name))).all()
    return OrgTree(parent={r.id: r.parent_id for r in rows}, names={r.id: r.name for r in rows})


@dataclass(frozen=True)
class Resolved:
    unit_id: int
    chair_hall: Hall
    chair_user: User
    halls: list[Hall]
    """Every hall taking part, the chair hall included."""


def local_day(value: datetime) -> date:
    return to_local(value).date()


def fmt_local(value: datetime) -> str:
    return to_local(value).strftime("%H:%M %d/%m/%Y")


class Scheduler:
    """Creates, changes, cancels, starts and ends meetings and series."""

    def __init__(
        self,
        horizon_days: int = 366,
        *,
        start_early: timedelta = timedelta(hours=1),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.horizon_days = horizon_days
        self.start_early = start_early
        self.clock = clock
        self._lock = asyncio.Lock()

    # -- reading -------------------------------------------------------------------------

    async def get(self, session: AsyncSession, access: Access, meeting_id: int) -> Meeting:
        meeting = await session.get(Meeting, meeting_id, populate_existing=True)
        if meeting is None or not access.sees_meeting(meeting, [h.unit_id for h in meeting.halls]):
            raise NotFound(f"no meeting {meeting_id}")
        return meeting

    async def list(
        self,
        session: AsyncSession,
        access: Access,
        *,
        start: datetime,
        end: datetime,
        unit_id: int | None = None,
        hall_id: int | None = None,
        state: MeetingState | None = None,
        series_id: int | None = None,
    ) -> Sequence[Meeting]:
        """Meetings overlapping ``[start, end)`` that the actor may see, earliest first."""
        if end <= start:
            raise Invalid("'to' must be after 'from'", field="to")
        if end - start > MAX_LIST_RANGE:
            raise Invalid(f"ask for at most {MAX_LIST_RANGE.days} days at a time", field="to")
        query = (
            sa.select(Meeting)
            .where(Meeting.start_at < end, Meeting.end_at > start)
            .order_by(Meeting.start_at, Meeting.id)
            .limit(MAX_LIST)
        )
        if state is not None:
            query = query.where(Meeting.state == state)
        if series_id is not None:
            query = query.where(Meeting.series_id == series_id)
        if hall_id is not None:
            query = query.where(Meeting.halls.any(Hall.id == hall_id))
        if unit_id is not None:
            query = query.where(
                sa.or_(Meeting.unit_id == unit_id, Meeting.halls.any(Hall.unit_id == unit_id))
            )
        actor = access.actor
        if actor.hall_id is not None:  # a terminal
            query = query.where(Meeting.halls.any(Hall.id == actor.hall_id))
        else:
            visible = access.visible_units()
            if visible is not None:
                query = query.where(
                    sa.or_(
                        Meeting.unit_id.in_(visible), Meeting.halls.any(Hall.unit_id.in_(visible))
                    )
                )
        return (await session.scalars(query)).all()

    async def list_for_hall(
        self, session: AsyncSession, hall_id: int, start: datetime, end: datetime
    ) -> Sequence[Meeting]:
        """Every meeting of a hall overlapping ``[start, end)``, cancelled ones included."""
        return (
            await session.scalars(
                sa.select(Meeting)
                .where(
                    Meeting.start_at < end,
                    Meeting.end_at > start,
                    Meeting.halls.any(Hall.id == hall_id),
                )
                .order_by(Meeting.start_at, Meeting.id)
                .limit(MAX_LIST)
            )
        ).all()

    async def get_series(self, session: AsyncSession, access: Access, series_id: int) -> Series:
        series = await session.get(Series, series_id, populate_existing=True)
        if series is None or not access.sees_unit(series.unit_id):
            raise NotFound(f"no series {series_id}")
        return series

    async def series_occurrences(self, session: AsyncSession, series_id: int) -> Sequence[Meeting]:
        return (
            await session.scalars(
                sa.select(Meeting)
                .where(Meeting.series_id == series_id)
                .order_by(Meeting.start_at, Meeting.id)
            )
        ).all()

    # -- meetings ------------------------------------------------------------------------

    async def create(self, session: AsyncSession, access: Access, data: MeetingIn) -> Meeting:
        access.require_user("Scheduling a meeting")
        async with self._writing(session):
            resolved = await self._resolve(
                session, access, data.unit_id, data.chair_hall_id, data.chair_user_id,
                data.invited_hall_ids, action="Scheduling a meeting",
            )  # fmt: skip
            self._require_future(data.end)
            await self._refuse_conflicts(session, [(data.start, data.end)], resolved.halls, set())
            meeting = Meeting(
                unit_id=resolved.unit_id,
                title=data.title,
                description=data.description,
                start_at=data.start,
                end_at=data.end,
                chair_hall_id=resolved.chair_hall.id,
                chair_user_id=resolved.chair_user.id,
                auto_record=data.auto_record,
                created_by_id=access.actor.user_id,
                halls=resolved.halls,
                agenda=_agenda(data.agenda),
            )
            session.add(meeting)
            await session.commit()
        log.info("meeting %s created by %s: %r", meeting.id, access.actor.label, meeting.title)
        return await self.get(session, access, meeting.id)

    async def update(
        self, session: AsyncSession, access: Access, meeting_id: int, patch: MeetingPatch
    ) -> Meeting:
        async with self._writing(session):
            meeting = await self.get(session, access, meeting_id)
            access.require_manage_meeting(meeting, "Changing a meeting")
            given = patch.model_fields_set
            if meeting.state is MeetingState.LIVE:
                frozen = sorted(given - LIVE_EDITABLE)
                if frozen:
                    raise StateError(
                        f"a live meeting's {', '.join(frozen)} cannot change", field=frozen[0]
                    )
            elif meeting.state is not MeetingState.SCHEDULED:
                raise StateError(f"the meeting is {meeting.state.value} and cannot change")
            start = patch.start or meeting.start_at
            end = patch.end or meeting.end_at
            _check_span(start, end)
            if {"start", "end"} & given:
                self._require_future(end)
            resolved = await self._resolve(
                session,
                access,
                meeting.unit_id,
                patch.chair_hall_id or meeting.chair_hall_id,
                patch.chair_user_id or meeting.chair_user_id,
                patch.invited_hall_ids
                if patch.invited_hall_ids is not None
                else [h.id for h in meeting.halls],
                action="Changing a meeting",
            )
            if {"start", "end", "chair_hall_id", "invited_hall_ids"} & given:
                await self._refuse_conflicts(session, [(start, end)], resolved.halls, {meeting.id})
            meeting.start_at, meeting.end_at = start, end
            meeting.chair_hall_id = resolved.chair_hall.id
            meeting.chair_user_id = resolved.chair_user.id
            meeting.halls = resolved.halls
            for name in ("title", "description", "auto_record"):
                if name in given:
                    setattr(meeting, name, getattr(patch, name))
            if patch.agenda is not None:
                meeting.agenda = _agenda(patch.agenda)
            meeting.sequence += 1
            if meeting.series_id is not None:
                meeting.is_exception = True
            await session.commit()
        log.info("meeting %s changed by %s: %s", meeting_id, access.actor.label, sorted(given))
        return await self.get(session, access, meeting_id)

    async def cancel(
        self, session: AsyncSession, access: Access, meeting_id: int, reason: str
    ) -> Meeting:
        async with self._writing(session):
            meeting = await self.get(session, access, meeting_id)
            access.require_manage_meeting(meeting, "Cancelling a meeting")
            if meeting.state is not MeetingState.SCHEDULED:
                raise StateError(
                    f"the meeting is {meeting.state.value}; only a scheduled one can be cancelled"
                )
            meeting.state = MeetingState.CANCELLED
            meeting.cancel_reason = reason
            meeting.sequence += 1
            if meeting.series_id is not None:
                meeting.is_exception = True
            await session.commit()
        log.info("meeting %s cancelled by %s", meeting_id, access.actor.label)
        return await self.get(session, access, meeting_id)

    async def start(self, session: AsyncSession, access: Access, meeting_id: int) -> Meeting:
        """The chair starts the meeting: from an hour before its start until its end."""
        async with self._writing(session):
            meeting = await self.get(session, access, meeting_id)
            access.require_chair(meeting, "Starting a meeting")
            if meeting.state is not MeetingState.SCHEDULED:
                raise StateError(f"the meeting is {meeting.state.value} and cannot be started")
            now = self.clock()
            if now < meeting.start_at - self.start_early:
                raise StateError(
                    f"the meeting starts at {fmt_local(meeting.start_at)}; it can be started "
                    f"from {int(self.start_early.total_seconds() // 60)} minutes before"
                )
            if now >= meeting.end_at:
                raise StateError("the meeting's scheduled end has passed; move it first")
            meeting.state = MeetingState.LIVE
            meeting.started_at = now
            await session.commit()
        log.info("meeting %s started by %s", meeting_id, access.actor.label)
        return await self.get(session, access, meeting_id)

    async def end(self, session: AsyncSession, access: Access, meeting_id: int) -> Meeting:
        async with self._writing(session):
            meeting = await self.get(session, access, meeting_id)
            access.require_chair(meeting, "Ending a meeting")
            if meeting.state is not MeetingState.LIVE:
                raise StateError(f"the meeting is {meeting.state.value}; only a live one can end")
            meeting.state = MeetingState.ENDED
            meeting.ended_at = self.clock()
            await session.commit()
        log.info("meeting %s ended by %s", meeting_id, access.actor.label)
        return await self.get(session, access, meeting_id)

    # -- series --------------------------------------------------------------------------

    async def create_series(self, session: AsyncSession, access: Access, data: SeriesIn) -> Series:
        access.require_user("Scheduling a series")
        rule = parse_rule(data.rrule)
        all_starts, until = occurrences(rule, data.start, self.horizon_days)
        duration = data.end - data.start
        now = self.clock()
        starts = [s for s in all_starts if s + duration > now]
        if not starts:
            raise Invalid("every occurrence of this series is in the past", field="rrule")
        async with self._writing(session):
            resolved = await self._resolve(
                session, access, data.unit_id, data.chair_hall_id, data.chair_user_id,
                data.invited_hall_ids, action="Scheduling a series",
            )  # fmt: skip
            await self._refuse_conflicts(
                session, [(s, s + duration) for s in starts], resolved.halls, set()
            )
            series = Series(
                unit_id=resolved.unit_id,
                title=data.title,
                description=data.description,
                rrule=data.rrule,
                first_start_at=all_starts[0],
                duration_minutes=int(duration.total_seconds() // 60),
                until_at=until,
                chair_hall_id=resolved.chair_hall.id,
                chair_user_id=resolved.chair_user.id,
                agenda=[item.model_dump() for item in data.agenda],
                auto_record=data.auto_record,
                created_by_id=access.actor.user_id,
                halls=resolved.halls,
            )
            session.add(series)
            await session.flush()
            for s in starts:
                session.add(self._occurrence(series, s, resolved))
            await session.commit()
        log.info(
            "series %s created by %s: %r, %d occurrences",
            series.id, access.actor.label, series.title, len(starts),
        )  # fmt: skip
        return await self.get_series(session, access, series.id)

    async def update_series(
        self, session: AsyncSession, access: Access, series_id: int, patch: SeriesPatch
    ) -> Series:
        """Apply a change to the future occurrences that were not changed on their own."""
        given = patch.model_fields_set
        async with self._writing(session):
            series = await self.get_series(session, access, series_id)
            access.require_user("Changing a series")
            access.require(RoleName.SECRETARIAT, series.unit_id, "Changing a series")
            if series.state is not SeriesState.ACTIVE:
                raise StateError("the series is cancelled and cannot change")
            start = patch.start or series.first_start_at
            end = patch.end or (
                start + timedelta(minutes=series.duration_minutes)
                if patch.start is not None
                else series.first_start_at + timedelta(minutes=series.duration_minutes)
            )
            _check_span(start, end)
            rule_text = patch.rrule or series.rrule
            rule = parse_rule(rule_text)
            starts, until = occurrences(rule, start, self.horizon_days)
            duration = end - start
            resolved = await self._resolve(
                session,
                access,
                series.unit_id,
                patch.chair_hall_id or series.chair_hall_id,
                patch.chair_user_id or series.chair_user_id,
                patch.invited_hall_ids
                if patch.invited_hall_ids is not None
                else [h.id for h in series.halls],
                action="Changing a series",
            )
            now = self.clock()
            # An occurrence is known by its local date (a rule gives at most one a day), so a
            # change of time keeps it, and the days changed on their own stay as they are.
            replaceable: dict[date, Meeting] = {}
            frozen_days: set[date] = set()
            for m in await self.series_occurrences(session, series.id):
                day = local_day(m.occurrence_key or m.start_at)
                # Scheduled, or cancelled by an earlier change of the series itself.
                follows_series = not m.is_exception and m.state in REWRITABLE_STATES
                if follows_series and m.start_at > now:
                    replaceable[day] = m
                else:
                    frozen_days.add(day)
            targets = [s for s in starts if s > now and local_day(s) not in frozen_days]
            await self._refuse_conflicts(
                session,
                [(s, s + duration) for s in targets],
                resolved.halls,
                {m.id for m in replaceable.values()},
            )
            series.title = patch.title if patch.title is not None else series.title
            if patch.description is not None:
                series.description = patch.description
            if patch.agenda is not None:
                series.agenda = [item.model_dump() for item in patch.agenda]
            if patch.auto_record is not None:
                series.auto_record = patch.auto_record
            series.rrule = rule_text
            series.first_start_at = starts[0]
            series.duration_minutes = int(duration.total_seconds() // 60)
            series.until_at = until
            series.chair_hall_id = resolved.chair_hall.id
            series.chair_user_id = resolved.chair_user.id
            series.halls = resolved.halls
            target_days = {local_day(s) for s in targets}
            for day, meeting in replaceable.items():
                if day not in target_days and meeting.state is MeetingState.SCHEDULED:
                    meeting.state = MeetingState.CANCELLED
                    meeting.cancel_reason = "removed from the series"
                    meeting.sequence += 1
            for s in targets:
                meeting = replaceable.get(local_day(s)) or self._occurrence(series, s, resolved)
                self._apply_series(meeting, series, s, resolved)
                session.add(meeting)
            await session.commit()
        log.info("series %s changed by %s: %s", series_id, access.actor.label, sorted(given))
        return await self.get_series(session, access, series_id)

    async def cancel_series(
        self, session: AsyncSession, access: Access, series_id: int, reason: str
    ) -> Series:
        """Cancel the series and every future occurrence still scheduled."""
        async with self._writing(session):
            series = await self.get_series(session, access, series_id)
            access.require_user("Cancelling a series")
            access.require(RoleName.SECRETARIAT, series.unit_id, "Cancelling a series")
            if series.state is not SeriesState.ACTIVE:
                raise StateError("the series is already cancelled")
            series.state = SeriesState.CANCELLED
            now = self.clock()
            for meeting in await self.series_occurrences(session, series.id):
                if meeting.state is MeetingState.SCHEDULED and meeting.start_at > now:
                    meeting.state = MeetingState.CANCELLED
                    meeting.cancel_reason = reason
                    meeting.sequence += 1
            await session.commit()
        log.info("series %s cancelled by %s", series_id, access.actor.label)
        return await self.get_series(session, access, series_id)

    # -- helpers -------------------------------------------------------------------------

    @asynccontextmanager
    async def _writing(self, session: AsyncSession) -> Any:
        async with self._lock:
            try:
                if session.get_bind().dialect.name == "postgresql":
                    await session.execute(
                        sa.select(sa.func.pg_advisory_xact_lock(SCHEDULE_LOCK_KEY))
                    )
                yield
            finally:
                await session.rollback()  # a no-op after commit; undoes a refused change

    def _require_future(self, end: datetime) -> None:
        if end <= self.clock():
            raise Invalid("the meeting would end in the past", field="end")

    async def _resolve(
        self,
        session: AsyncSession,
        access: Access,
        unit_id: int | None,
        chair_hall_id: int,
        chair_user_id: int,
        invited_hall_ids: Sequence[int],
        *,
        action: str,
    ) -> Resolved:
        chair_hall = await session.get(Hall, chair_hall_id)
        if chair_hall is None or not chair_hall.active:
            raise Invalid(f"no active hall {chair_hall_id}", field="chair_hall_id")
        unit_id = unit_id if unit_id is not None else chair_hall.unit_id
        if await session.get(Unit, unit_id) is None:
            raise Invalid(f"no unit {unit_id}", field="unit_id")
        access.require(RoleName.SECRETARIAT, unit_id, action)

        wanted = list(dict.fromkeys([chair_hall.id, *invited_hall_ids]))
        halls = (await session.scalars(sa.select(Hall).where(Hall.id.in_(wanted)))).all()
        by_id = {h.id: h for h in halls}
        missing = [i for i in wanted if i not in by_id or not by_id[i].active]
        if missing:
            raise Invalid(
                f"no active hall {', '.join(map(str, missing))}", field="invited_hall_ids"
            )
        tree = access.tree
        outside = [by_id[i] for i in wanted if not tree.covers(unit_id, by_id[i].unit_id)]
        if outside:
            names = ", ".join(f"'{h.name}'" for h in outside)
            raise Invalid(
                f"hall {names} is outside unit '{tree.name(unit_id)}'",
                field="chair_hall_id" if outside[0].id == chair_hall.id else "invited_hall_ids",
            )

        chair_user = await session.get(User, chair_user_id)
        if chair_user is None or not chair_user.active:
            raise Invalid(f"no active user {chair_user_id}", field="chair_user_id")
        if not any(
            r.role is RoleName.ADMIN
            or (r.role is RoleName.CHAIR and tree.covers(r.unit_id, unit_id))
            for r in chair_user.roles
        ):
            raise Invalid(
                f"user '{chair_user.full_name}' is not a chair of unit '{tree.name(unit_id)}'",
                field="chair_user_id",
            )
        return Resolved(unit_id, chair_hall, chair_user, [by_id[i] for i in wanted])

    async def _refuse_conflicts(
        self,
        session: AsyncSession,
        slots: Sequence[tuple[datetime, datetime]],
        halls: Sequence[Hall],
        exclude: set[int],
    ) -> None:
        """Raise :class:`Conflict` naming each meeting and hall that a slot would double-book.

        Meetings that merely touch (one ends when the other starts) do not conflict.
        """
        if not slots:
            return
        lo = min(s for s, _ in slots)
        hi = max(e for _, e in slots)
        query = (
            sa.select(
                Meeting.id,
                Meeting.title,
                Meeting.start_at,
                Meeting.end_at,
                Hall.id.label("hall_id"),
                Hall.name.label("hall_name"),
            )
            .join(meeting_halls, meeting_halls.c.meeting_id == Meeting.id)
            .join(Hall, Hall.id == meeting_halls.c.hall_id)
            .where(
                Meeting.state.in_(BUSY_STATES),
                Meeting.start_at < hi,
                Meeting.end_at > lo,
                Hall.id.in_([h.id for h in halls]),
            )
            .order_by(Meeting.start_at, Hall.id)
        )
        if exclude:
            query = query.where(Meeting.id.not_in(exclude))
        found: list[dict[str, Any]] = []
        ordered = sorted(slots)
        for row in (await session.execute(query)).all():
            for s, e in ordered:
                if s < row.end_at and row.start_at < e:
                    found.append(
                        {
                            "meeting_id": row.id,
                            "title": row.title,
                            "start": to_local(row.start_at).isoformat(),
                            "end": to_local(row.end_at).isoformat(),
                            "hall_id": row.hall_id,
                            "hall_name": row.hall_name,
                            "requested_start": to_local(s).isoformat(),
                        }
                    )
        if found:
            first = found[0]
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            start = datetime.fromisoformat(first["start"])
            raise Conflict(
                f"hall '{first['hall_name']}' is already in '{first['title']}' at "
                f"{fmt_local(start)}{more}",
                conflicts=found,
            )

    def _occurrence(self, series: Series, start: datetime, resolved: Resolved) -> Meeting:
        meeting = Meeting(
            series_id=series.id, occurrence_key=start, created_by_id=series.created_by_id
        )
        self._apply_series(meeting, series, start, resolved)
        return meeting

    @staticmethod
    def _apply_series(
        meeting: Meeting, series: Series, start: datetime, resolved: Resolved
    ) -> None:
        if meeting.id is not None:
            meeting.sequence += 1
        meeting.unit_id = series.unit_id
        meeting.title = series.title
        meeting.description = series.description
        meeting.start_at = start
        meeting.end_at = start + timedelta(minutes=series.duration_minutes)
        meeting.chair_hall_id = resolved.chair_hall.id
        meeting.chair_user_id = resolved.chair_user.id
        meeting.auto_record = series.auto_record
        meeting.halls = list(resolved.halls)
        meeting.agenda = _agenda([AgendaItemIn.model_validate(a) for a in series.agenda])


def _agenda(items: Sequence[AgendaItemIn]) -> list[AgendaItem]:
    return [
        AgendaItem(
            position=i, title=a.title, presenter=a.presenter, planned_minutes=a.planned_minutes
        )
        for i, a in enumerate(items, start=1)
    ]


def _check_span(start: datetime, end: datetime) -> None:
    if end <= start:
        raise Invalid("end must be after start", field="end")
    if end - start > MAX_MEETING:
        raise Invalid("a meeting lasts at most 24 hours", field="end")
