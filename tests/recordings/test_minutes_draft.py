"""The draft's facts from the timeline (pure): who presented content, from which hall, when;
and the stored draft worded through MinutesContent as the renderers get it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from recordings.minutes import presentations
from recordings.minutes_content import MinutesContent, content_of, plain_text
from rooms.models import TimelineEvent, TimelineKind
from server.api.minutes import to_document

T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)  # 08:00 in Vietnam
NAMES = {1: "Hội trường tỉnh P", 2: "Điểm cầu Huyện A", 3: "Điểm cầu Huyện B"}


def event(minutes: float, kind: TimelineKind, hall_id: int | None = None, **data: Any):
    return TimelineEvent(
        meeting_id=1, at=T0 + timedelta(minutes=minutes), kind=kind, hall_id=hall_id, data=data
    )


def test_presentations_from_the_timeline():
    events = [
        event(0, TimelineKind.MEETING_STARTED, 1),
        event(5, TimelineKind.FLOOR, 2),
        event(15, TimelineKind.CONTENT_STARTED, 2, presenter="Nguyễn Văn An", participant="p1"),
        event(32, TimelineKind.CONTENT_STOPPED, 2, reason="taken"),
        event(32, TimelineKind.CONTENT_STARTED, 1, presenter="Hội trường tỉnh P", participant="c"),
        event(50, TimelineKind.CONTENT_STOPPED, 1, reason="stopped"),
        event(70, TimelineKind.CONTENT_STARTED, 3, presenter="", participant="p3"),
        event(80, TimelineKind.MEETING_ENDED, 1),  # ended with content on: its end is the stop
    ]
    shown = presentations(events, NAMES, T0 + timedelta(minutes=80))
    assert [(p["presenter"], p["hall"], p["hall_id"], p["started"], p["ended"]) for p in shown] == [
        ("Nguyễn Văn An", "Điểm cầu Huyện A", 2, "2026-01-05T08:15:00+07:00",
         "2026-01-05T08:32:00+07:00"),
        ("Hội trường tỉnh P", "Hội trường tỉnh P", 1, "2026-01-05T08:32:00+07:00",
         "2026-01-05T08:50:00+07:00"),
        ("Điểm cầu Huyện B", "Điểm cầu Huyện B", 3, "2026-01-05T09:10:00+07:00",
         "2026-01-05T09:20:00+07:00"),
    ]  # fmt: skip


def test_no_content_no_presentations():
    events = [event(0, TimelineKind.MEETING_STARTED, 1), event(5, TimelineKind.FLOOR, 2)]
    assert presentations(events, NAMES, T0 + timedelta(minutes=30)) == []


def test_the_stored_draft_words_its_presentations_in_the_minutes():
    shown = presentations(
        [event(15, TimelineKind.CONTENT_STARTED, 2, presenter="Nguyễn Văn An", participant="p"),
         event(32, TimelineKind.CONTENT_STOPPED, 2, reason="stopped")],
        NAMES, T0 + timedelta(minutes=60),
    )  # fmt: skip
    stored = {"date": "2026-01-05", "subject": "Giao ban", "presentations": shown}
    text = plain_text(content_of_stored(stored))
    assert "Trình bày nội dung:\n- Nguyễn Văn An (Điểm cầu Huyện A): 08:15–08:32.\n" in text
    # A draft stored before content sharing has no such key: nothing is listed.
    del stored["presentations"]
    assert "Trình bày nội dung" not in plain_text(content_of_stored(stored))


def content_of_stored(stored: dict[str, Any]) -> MinutesContent:
    return content_of(to_document(stored, 1, None))
