"""Meetings as iCalendar (RFC 5545): one event per meeting, times in Asia/Ho_Chi_Minh."""

from __future__ import annotations

from collections.abc import Iterable

from icalendar import Calendar, Event

from rooms.localtime import LOCAL_TZ, to_local
from rooms.models import Meeting, MeetingState

PRODID = "-//giaoban//Giao ban truc tuyen//VI"


def meeting_uid(meeting: Meeting, domain: str) -> str:
    return f"meeting-{meeting.id}@{domain}"


def describe(meeting: Meeting) -> str:
    lines = [meeting.description.strip()] if meeting.description.strip() else []
    lines.append(f"Chủ trì: {meeting.chair_user.full_name} ({meeting.chair_hall.name})")
    lines.append("Điểm cầu: " + ", ".join(h.name for h in meeting.halls))
    if meeting.agenda:
        lines.append("Chương trình:")
        for item in meeting.agenda:
            who = f" — {item.presenter}" if item.presenter else ""
            minutes = f" ({item.planned_minutes} phút)" if item.planned_minutes else ""
            lines.append(f"{item.position}. {item.title}{who}{minutes}")
    if meeting.state is MeetingState.CANCELLED and meeting.cancel_reason:
        lines.append(f"Đã hủy: {meeting.cancel_reason}")
    return "\n".join(lines)


def calendar(meetings: Iterable[Meeting], *, name: str, domain: str, base_url: str) -> bytes:
    """A calendar of ``meetings``; cancelled ones stay in it with STATUS:CANCELLED."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
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
        event.add("summary", meeting.title)
        event.add("location", meeting.chair_hall.name)
        event.add("description", describe(meeting))
        event.add("status", "CANCELLED" if meeting.state is MeetingState.CANCELLED else "CONFIRMED")
        event.add("url", f"{base_url}/api/meetings/{meeting.id}")
        cal.add_component(event)
    cal.add_missing_timezones()
    return cal.to_ical()
