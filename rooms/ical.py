"""Meetings as iCalendar (RFC 5545): one event per meeting, times in Asia/Ho_Chi_Minh.

Every text is cleaned on its way out (:func:`rooms.text.printable`): a row stored before the
API refused control characters must not break the feed of every hall it is in."""

from __future__ import annotations

from collections.abc import Iterable

from icalendar import Calendar, Event

from rooms.localtime import LOCAL_TZ, to_local
from rooms.models import Meeting, MeetingState
from rooms.text import printable

PRODID = "-//giaoban//Giao ban truc tuyen//VI"


def meeting_uid(meeting: Meeting, domain: str) -> str:
    return f"meeting-{meeting.id}@{domain}"


def describe(meeting: Meeting) -> str:
    description = printable(meeting.description, multiline=True).strip()
    lines = [description] if description else []
    chair = printable(meeting.chair_user.full_name)
    lines.append(f"Chủ trì: {chair} ({printable(meeting.chair_hall.name)})")
    lines.append("Điểm cầu: " + ", ".join(printable(h.name) for h in meeting.halls))
    if meeting.agenda:
        lines.append("Chương trình:")
        for item in meeting.agenda:
            presenter = printable(item.presenter)
            who = f" — {presenter}" if presenter else ""
            minutes = f" ({item.planned_minutes} phút)" if item.planned_minutes else ""
            lines.append(f"{item.position}. {printable(item.title)}{who}{minutes}")
    if meeting.state is MeetingState.CANCELLED and meeting.cancel_reason:
        lines.append(f"Đã hủy: {printable(meeting.cancel_reason)}")
    return "\n".join(lines)


def calendar(meetings: Iterable[Meeting], *, name: str, domain: str, base_url: str) -> bytes:
    """A calendar of ``meetings``; cancelled ones stay in it with STATUS:CANCELLED."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", printable(name))
    cal.add("x-wr-timezone", str(LOCAL_TZ))
    for meeting in meetings:
        event = Event()
        event.add("uid", meeting_uid(meeting, domain))
        event.add("dtstamp", meeting.updated_at)
        event.add("created", meeting.created_at)
        event.add("last-modified", meeting.updated_at)
        event.add("sequence", meeting.sequence)
        event.add("dtstart", to_local(meeting.start_at))
        event.add("dtend", to_local(meeting.end_at))
        event.add("summary", printable(meeting.title))
        event.add("location", printable(meeting.chair_hall.name))
        event.add("description", describe(meeting))
        event.add("status", "CANCELLED" if meeting.state is MeetingState.CANCELLED else "CONFIRMED")
        event.add("url", f"{base_url}/api/meetings/{meeting.id}")
        cal.add_component(event)
    cal.add_missing_timezones()
    return cal.to_ical()
