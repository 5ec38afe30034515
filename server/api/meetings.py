"""Meetings and series: schedule, change, cancel, start, end; and their calendars."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlparse

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from rooms import ical, org
from rooms.errors import NotFound, StateError
from rooms.localtime import LOCAL_TZ, to_local
from rooms.models import Hall, MeetingState
from rooms.schemas import (
    CancelIn,
    Id,
    LocalDateTime,
    MeetingIn,
    MeetingPatch,
    SeriesIn,
    SeriesPatch,
)
from rooms.timeline import attendance, events_of
from server.api.routing import Auth, Call, Endpoint
from server.api.schemas import (
    AttendanceOut,
    FeedOut,
    MeetingOut,
    RollCallAnswerOut,
    SeriesOut,
    TimelineEventOut,
)

FEED_PAST = timedelta(days=31)


class MeetingQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: LocalDateTime | None = Field(
        default=None, alias="from", description="Default: today 00:00 (Asia/Ho_Chi_Minh)"
    )
    end: LocalDateTime | None = Field(default=None, alias="to", description="Default: 7 days on")
    unit_id: Id | None = Field(default=None, description="Meetings of this unit or its halls")
    hall_id: Id | None = None
    state: MeetingState | None = None
    series_id: Id | None = None


class FeedQuery(BaseModel):
    key: Annotated[str, StringConstraints(max_length=64)] | None = None


async def list_meetings(call: Call) -> list[MeetingOut]:
    q: MeetingQuery = call.query
    today = datetime.combine(to_local(call.services.scheduler.clock()).date(), time(), LOCAL_TZ)
    start = q.start or today
    end = q.end or start + timedelta(days=7)
    meetings = await call.services.scheduler.list(
        call.session, await call.access(), start=start, end=end, unit_id=q.unit_id,
        hall_id=q.hall_id, state=q.state, series_id=q.series_id,
    )  # fmt: skip
    return [MeetingOut.of(m) for m in meetings]


async def create_meeting(call: Call) -> MeetingOut:
    scheduler = call.services.scheduler
    return MeetingOut.of(await scheduler.create(call.session, await call.access(), call.body))


async def get_meeting(call: Call) -> MeetingOut:
    scheduler = call.services.scheduler
    meeting = await scheduler.get(call.session, await call.access(), call.path_id("meeting_id"))
    return MeetingOut.of(meeting)


async def update_meeting(call: Call) -> MeetingOut:
    meeting = await call.services.scheduler.update(
        call.session, await call.access(), call.path_id("meeting_id"), call.body
    )
    return MeetingOut.of(meeting)


async def cancel_meeting(call: Call) -> MeetingOut:
    meeting = await call.services.scheduler.cancel(
        call.session, await call.access(), call.path_id("meeting_id"), call.body.reason
    )
    return MeetingOut.of(meeting)


async def start_meeting(call: Call) -> MeetingOut:
    access = await call.access()
    meeting = await call.services.scheduler.start(call.session, access, call.path_id("meeting_id"))
    await call.services.live.started(meeting, access.actor.label)
    return MeetingOut.of(meeting)


async def end_meeting(call: Call) -> MeetingOut:
    access = await call.access()
    meeting = await call.services.scheduler.end(call.session, access, call.path_id("meeting_id"))
    await call.services.live.ended(meeting.id, access.actor.label)
    return MeetingOut.of(meeting)


async def _series_out(call: Call, series_id: int) -> SeriesOut:
    scheduler = call.services.scheduler
    series = await scheduler.get_series(call.session, await call.access(), series_id)
    return SeriesOut.of(series, list(await scheduler.series_occurrences(call.session, series.id)))


async def create_series(call: Call) -> SeriesOut:
    series = await call.services.scheduler.create_series(
        call.session, await call.access(), call.body
    )
    return await _series_out(call, series.id)


async def get_series(call: Call) -> SeriesOut:
    return await _series_out(call, call.path_id("series_id"))


async def update_series(call: Call) -> SeriesOut:
    series = await call.services.scheduler.update_series(
        call.session, await call.access(), call.path_id("series_id"), call.body
    )
    return await _series_out(call, series.id)


async def cancel_series(call: Call) -> SeriesOut:
    series = await call.services.scheduler.cancel_series(
        call.session, await call.access(), call.path_id("series_id"), call.body.reason
    )
    return await _series_out(call, series.id)


async def meeting_timeline(call: Call) -> list[TimelineEventOut]:
    meeting = await call.services.scheduler.get(
        call.session, await call.access(), call.path_id("meeting_id")
    )
    return [
        TimelineEventOut(at=e.at, kind=e.kind.value, hall_id=e.hall_id, actor=e.actor, data=e.data)
        for e in await events_of(call.session, meeting.id)
    ]


async def meeting_attendance(call: Call) -> list[AttendanceOut]:
    """Per hall: first join, last leave, connected time, roll-call answers (from the timeline)."""
    scheduler = call.services.scheduler
    meeting = await scheduler.get(call.session, await call.access(), call.path_id("meeting_id"))
    until = meeting.ended_at or scheduler.clock()
    names = {h.id: h.name for h in meeting.halls}
    rows = attendance(await events_of(call.session, meeting.id), names, until)
    return [
        AttendanceOut(
            hall_id=r.hall_id,
            hall_name=names[r.hall_id],
            status="attended" if r.joins else "absent",
            first_join=r.first_join,
            last_leave=r.last_leave,
            connected_seconds=round(r.connected_seconds, 1),
            joins=r.joins,
            drops=r.drops,
            present=r.present,
            delegates=r.delegates,
            roll_call_answers=[RollCallAnswerOut.model_validate(a) for a in r.roll_call_answers],
        )
        for r in rows
    ]


def _uid_domain(call: Call) -> str:
    public = call.services.settings.public_url
    return (urlparse(public).hostname if public else None) or "giaoban.local"


def _ics_response(body: bytes, filename: str) -> web.Response:
    return web.Response(
        body=body,
        content_type="text/calendar",
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            # a meeting's who, where and agenda, and a feed URL's key: not for shared caches
            "Cache-Control": "private, no-store",
        },
    )


async def meeting_ics(call: Call) -> web.Response:
    meeting = await call.services.scheduler.get(
        call.session, await call.access(), call.path_id("meeting_id")
    )
    body = ical.calendar(
        [meeting], name=meeting.title, domain=_uid_domain(call), base_url=call.base_url()
    )
    return _ics_response(body, f"meeting-{meeting.id}.ics")


async def hall_feed(call: Call) -> web.Response:
    """A hall's calendar: with the feed key (calendar clients) or a login that sees the hall."""
    hall_id = call.path_id("hall_id")
    key = call.query.key
    hall: Hall | None = None
    if key is not None:
        hall = await org.hall_by_feed_key(call.session, hall_id, key)
    elif call.actor is not None:
        hall = await org.get_hall(call.session, await call.access(), hall_id)
    if hall is None or not hall.active:
        raise NotFound(f"no hall {hall_id}, or the feed key is wrong")
    scheduler = call.services.scheduler
    now = scheduler.clock()
    meetings = await scheduler.list_for_hall(
        call.session, hall.id, now - FEED_PAST, now + timedelta(days=scheduler.horizon_days)
    )
    body = ical.calendar(
        meetings, name=f"Giao ban — {hall.name}", domain=_uid_domain(call), base_url=call.base_url()
    )
    return _ics_response(body, f"hall-{hall.id}.ics")


def _feed_out(call: Call, hall: Hall, key: str) -> FeedOut:
    return FeedOut(
        url=f"{call.base_url()}/api/halls/{hall.id}/calendar.ics?key={key}",
        rotated_at=hall.feed_key_rotated_at,
    )


async def hall_feed_url(call: Call) -> FeedOut:
    access = await call.access()
    hall = await org.get_hall(call.session, access, call.path_id("hall_id"))
    if not hall.active:
        raise StateError("the hall is inactive: it has no feed", field="hall_id")
    return _feed_out(call, hall, await org.feed_key_of(call.session, hall))


async def rotate_feed_key(call: Call) -> FeedOut:
    hall = await org.rotate_feed_key(call.session, await call.access(), call.path_id("hall_id"))
    assert hall.feed_key is not None
    return _feed_out(call, hall, hall.feed_key)


ENDPOINTS = (
    Endpoint("GET", "/api/meetings", list_meetings,
             "Meetings overlapping a date range, by unit, hall, state or series",
             query=MeetingQuery, response=list[MeetingOut], tag="meetings"),
    Endpoint("POST", "/api/meetings", create_meeting,
             "Schedule a meeting (409 when a hall would be double-booked)",
             auth=Auth.USER, body=MeetingIn, response=MeetingOut, status=201, tag="meetings"),
    Endpoint("GET", "/api/meetings/{meeting_id}", get_meeting, "One meeting",
             response=MeetingOut, tag="meetings"),
    Endpoint("PATCH", "/api/meetings/{meeting_id}", update_meeting,
             "Change or move a meeting (an occurrence of a series becomes an exception)",
             auth=Auth.USER, body=MeetingPatch, response=MeetingOut, tag="meetings"),
    Endpoint("POST", "/api/meetings/{meeting_id}/cancel", cancel_meeting, "Cancel a meeting",
             auth=Auth.USER, body=CancelIn, response=MeetingOut, tag="meetings"),
    Endpoint("POST", "/api/meetings/{meeting_id}/start", start_meeting,
             "Start a meeting (its chair or an admin)", auth=Auth.USER, response=MeetingOut,
             tag="meetings"),
    Endpoint("POST", "/api/meetings/{meeting_id}/end", end_meeting,
             "End a live meeting (its chair or an admin)", auth=Auth.USER, response=MeetingOut,
             tag="meetings"),
    Endpoint("GET", "/api/meetings/{meeting_id}/calendar.ics", meeting_ics,
             "The meeting as iCalendar", media_type="text/calendar", tag="calendar"),
    Endpoint("GET", "/api/meetings/{meeting_id}/timeline", meeting_timeline,
             "Every event of the meeting, in order", response=list[TimelineEventOut],
             tag="meetings"),
    Endpoint("GET", "/api/meetings/{meeting_id}/attendance", meeting_attendance,
             "Attendance per hall, from the timeline", response=list[AttendanceOut],
             tag="meetings"),
    Endpoint("POST", "/api/series", create_series,
             "Schedule a recurring meeting from an RFC 5545 rule",
             auth=Auth.USER, body=SeriesIn, response=SeriesOut, status=201, tag="series"),
    Endpoint("GET", "/api/series/{series_id}", get_series, "A series and its occurrences",
             auth=Auth.USER, response=SeriesOut, tag="series"),
    Endpoint("PATCH", "/api/series/{series_id}", update_series,
             "Change a series: applies to future occurrences not changed on their own",
             auth=Auth.USER, body=SeriesPatch, response=SeriesOut, tag="series"),
    Endpoint("POST", "/api/series/{series_id}/cancel", cancel_series,
             "Cancel a series and its future occurrences", auth=Auth.USER, body=CancelIn,
             response=SeriesOut, tag="series"),
    Endpoint("GET", "/api/halls/{hall_id}/calendar.ics", hall_feed,
             "A hall's meetings as a calendar feed (key from /feed, or a login)",
             auth=Auth.PUBLIC, query=FeedQuery, media_type="text/calendar", tag="calendar"),
    Endpoint("GET", "/api/halls/{hall_id}/feed", hall_feed_url,
             "The subscription URL of a hall's calendar feed", auth=Auth.USER,
             response=FeedOut, tag="calendar"),
    Endpoint("POST", "/api/halls/{hall_id}/feed/rotate", rotate_feed_key,
             "A new key for a hall's calendar feed: the old URL answers 404 (admin)",
             auth=Auth.USER, response=FeedOut, tag="calendar"),
)  # fmt: skip
