"""Contract tests of calendars: a meeting's .ics, a hall's subscribable feed, terminals."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import icalendar
import pytest

from rooms.localtime import LOCAL_TZ
from tests.conftest import local, meeting_body

TZID = "Asia/Ho_Chi_Minh"
# long enough to be folded over several lines, with many multi-byte characters
LONG_TITLE = (
    "Giao ban trực tuyến quý IV — Ủy ban nhân dân tỉnh: đánh giá tình hình kinh tế – xã hội, "
    "quốc phòng – an ninh; phương hướng, nhiệm vụ trọng tâm năm tới"
)


def parse(reply) -> icalendar.Calendar:
    assert reply.status == 200, reply.text
    assert reply.headers["Content-Type"].split(";")[0].strip() == "text/calendar"
    return icalendar.Calendar.from_ical(reply.text)


def events(calendar: icalendar.Calendar) -> list[icalendar.Event]:
    return list(calendar.walk("VEVENT"))


def only_event(reply) -> icalendar.Event:
    found = events(parse(reply))
    assert len(found) == 1
    return found[0]


def meeting_ids(calendar: icalendar.Calendar) -> set[int]:
    ids = set()
    for event in events(calendar):
        match = re.fullmatch(r"meeting-(\d+)@.+", str(event["UID"]))
        assert match, event["UID"]
        ids.add(int(match.group(1)))
    return ids


def monday(week: int = 0) -> int:
    weekday = datetime.now(LOCAL_TZ).weekday()
    return ((7 - weekday) % 7 or 7) + 7 * week


async def create(client, body: dict[str, Any], path: str = "/api/meetings") -> dict[str, Any]:
    reply = await client.post(path, body)
    assert reply.status == 201, reply.text
    return reply.body


# -- one meeting ---------------------------------------------------------------------------


async def test_meeting_calendar_has_its_title_local_times_and_chair_hall(clients, org):
    sec = await clients("sec_p")
    meeting = await create(sec, meeting_body(org, days=4, at=(8, 10), title=LONG_TITLE))

    reply = await sec.get(f"/api/meetings/{meeting['id']}/calendar.ics")
    calendar = parse(reply)
    assert "charset=utf-8" in reply.headers["Content-Type"].lower()
    event = only_event(reply)

    assert str(event["SUMMARY"]) == LONG_TITLE
    for name, key in (("DTSTART", "start"), ("DTEND", "end")):
        assert event[name].params["TZID"] == TZID
        value = event.decoded(name)
        assert value == datetime.fromisoformat(meeting[key])
        assert value.utcoffset() == timedelta(hours=7)
    assert event.decoded("DTSTART").replace(tzinfo=None) == datetime.fromisoformat(local(4, 8))
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == [TZID]
    assert str(event["LOCATION"]) == "Hội trường tỉnh P"
    assert str(event["STATUS"]) == "CONFIRMED"
    assert event.decoded("DTSTAMP").utcoffset() == timedelta(0)  # RFC 5545: DTSTAMP is UTC
    description = str(event["DESCRIPTION"])
    assert "Tình hình kinh tế" in description
    assert "Điểm cầu Huyện A" in description


async def test_uid_is_stable_and_sequence_grows_after_an_update(clients, org):
    sec = await clients("sec_p")
    meeting = await create(sec, meeting_body(org))
    path = f"/api/meetings/{meeting['id']}/calendar.ics"

    first = only_event(await sec.get(path))
    second = only_event(await sec.get(path))
    assert str(first["UID"]) == str(second["UID"])
    assert str(first["UID"]).startswith(f"meeting-{meeting['id']}@")
    assert first.decoded("SEQUENCE") == second.decoded("SEQUENCE")

    changed = await sec.patch(
        f"/api/meetings/{meeting['id']}",
        {"title": "Giao ban tháng", "start": local(3, 9), "end": local(3, 11)},
    )
    assert changed.status == 200, changed.text
    updated = only_event(await sec.get(path))
    assert str(updated["UID"]) == str(first["UID"])
    assert updated.decoded("SEQUENCE") > first.decoded("SEQUENCE")
    assert str(updated["SUMMARY"]) == "Giao ban tháng"
    assert updated.decoded("DTSTART") == datetime.fromisoformat(changed.body["start"])


async def test_cancelled_meeting_is_published_as_cancelled(clients, org):
    sec = await clients("sec_p")
    meeting = await create(sec, meeting_body(org))
    path = f"/api/meetings/{meeting['id']}/calendar.ics"
    before = only_event(await sec.get(path))

    cancelled = await sec.post(f"/api/meetings/{meeting['id']}/cancel", {"reason": "Mưa bão"})
    assert cancelled.status == 200, cancelled.text
    after = only_event(await sec.get(path))
    assert str(after["STATUS"]) == "CANCELLED"
    assert str(after["UID"]) == str(before["UID"])
    assert after.decoded("SEQUENCE") > before.decoded("SEQUENCE")
    assert "Mưa bão" in str(after["DESCRIPTION"])


async def test_series_title_change_reaches_each_occurrence_calendar(clients, org):
    sec = await clients("sec_p")
    series = await create(
        sec,
        meeting_body(
            org, start=local(monday(), 8), end=local(monday(), 9, 30),
            rrule="FREQ=WEEKLY;BYDAY=MO;COUNT=2",
        ),
        path="/api/series",
    )  # fmt: skip
    paths = [f"/api/meetings/{o['meeting_id']}/calendar.ics" for o in series["occurrences"]]
    before = [only_event(await sec.get(path)) for path in paths]
    assert str(before[0]["UID"]) != str(before[1]["UID"])

    changed = await sec.patch(f"/api/series/{series['id']}", {"title": "Giao ban tuần – Quý I"})
    assert changed.status == 200, changed.text
    for path, old in zip(paths, before, strict=True):
        new = only_event(await sec.get(path))
        assert str(new["UID"]) == str(old["UID"])
        assert new.decoded("SEQUENCE") > old.decoded("SEQUENCE")
        assert str(new["SUMMARY"]) == "Giao ban tuần – Quý I"
        assert new.decoded("DTSTART") == old.decoded("DTSTART")


async def test_meeting_calendar_of_an_unknown_meeting_is_404(clients):
    sec = await clients("sec_p")
    reply = await sec.get("/api/meetings/999999/calendar.ics")
    assert reply.status == 404


# -- a hall's feed -------------------------------------------------------------------------


async def feed_url(client, hall_id: int) -> str:
    reply = await client.get(f"/api/halls/{hall_id}/feed")
    assert reply.status == 200, reply.text
    return reply.body["url"]


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


async def test_hall_feed_with_its_key_lists_the_halls_meetings_without_login(clients, org):
    sec = await clients("sec_p")
    with_a = await create(
        sec, meeting_body(org, days=2, at=(14, 16), invited_hall_ids=[org.halls["A"]])
    )
    without_a = await create(
        sec,
        meeting_body(
            org, days=2, at=(8, 10), title="Họp huyện B",
            chair_hall_id=org.halls["B"], invited_hall_ids=[],
        ),
    )  # fmt: skip
    series = await create(
        sec,
        meeting_body(
            org, start=local(monday(), 8), end=local(monday(), 9, 30),
            invited_hall_ids=[org.halls["A"]], rrule="FREQ=WEEKLY;BYDAY=MO;COUNT=3",
            title="Giao ban tuần của tỉnh",
        ),
        path="/api/series",
    )  # fmt: skip
    occurrence_ids = {o["meeting_id"] for o in series["occurrences"]}
    cancelled_id = series["occurrences"][1]["meeting_id"]
    assert (await sec.post(f"/api/meetings/{cancelled_id}/cancel", {})).status == 200

    url = await feed_url(sec, org.halls["A"])
    parts = urlsplit(url)
    assert parts.path == f"/api/halls/{org.halls['A']}/calendar.ics"
    assert parse_qs(parts.query)["key"][0]

    anonymous = await clients()
    calendar = parse(await anonymous.get(path_of(url)))
    assert meeting_ids(calendar) == {with_a["id"], *occurrence_ids}
    assert without_a["id"] not in meeting_ids(calendar)
    by_id = {int(str(e["UID"]).split("-")[1].split("@")[0]): e for e in events(calendar)}
    assert str(by_id[cancelled_id]["STATUS"]) == "CANCELLED"
    assert str(by_id[with_a["id"]]["STATUS"]) == "CONFIRMED"
    assert str(by_id[series["occurrences"][0]["meeting_id"]]["SUMMARY"]) == (
        "Giao ban tuần của tỉnh"
    )
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == [TZID]

    # the key is the hall's own: hall B's feed has B's meeting and none of A's
    calendar_b = parse(await anonymous.get(path_of(await feed_url(sec, org.halls["B"]))))
    assert meeting_ids(calendar_b) == {without_a["id"]}


async def test_hall_feed_follows_a_change_of_the_series_time(clients, org):
    sec = await clients("sec_p")
    series = await create(
        sec,
        meeting_body(
            org, start=local(monday(), 8), end=local(monday(), 9, 30),
            rrule="FREQ=WEEKLY;BYDAY=MO;COUNT=3",
        ),
        path="/api/series",
    )  # fmt: skip
    changed = await sec.patch(
        f"/api/series/{series['id']}", {"start": local(monday(), 10), "end": local(monday(), 11)}
    )
    assert changed.status == 200, changed.text

    anonymous = await clients()
    calendar = parse(await anonymous.get(path_of(await feed_url(sec, org.halls["A"]))))
    confirmed = sorted(
        event.decoded("DTSTART")
        for event in events(calendar)
        if str(event["STATUS"]) == "CONFIRMED"
    )
    assert confirmed == [
        datetime.fromisoformat(local(monday(week), 10)).replace(tzinfo=LOCAL_TZ)
        for week in range(3)
    ]


@pytest.mark.parametrize(
    "key",
    ["0" * 32, "other-hall", "", "khóa-sai", "not-hex-but-ascii"],
    ids=["zeros", "other-hall", "empty", "non-ascii", "ascii"],
)
async def test_hall_feed_with_a_wrong_key_is_404(clients, org, key):
    sec = await clients("sec_p")
    await create(sec, meeting_body(org))
    if key == "other-hall":
        key = parse_qs(urlsplit(await feed_url(sec, org.halls["B"])).query)["key"][0]
    anonymous = await clients()
    reply = await anonymous.get(f"/api/halls/{org.halls['A']}/calendar.ics", params={"key": key})
    assert reply.status == 404, reply.text
    assert "BEGIN:VCALENDAR" not in reply.text


async def test_hall_feed_without_key_or_login_is_404(clients, org):
    sec = await clients("sec_p")
    await create(sec, meeting_body(org))
    anonymous = await clients()
    reply = await anonymous.get(f"/api/halls/{org.halls['A']}/calendar.ics")
    assert reply.status == 404, reply.text
    assert "BEGIN:VCALENDAR" not in reply.text


async def test_hall_feed_key_of_an_unknown_hall_is_404(clients, org):
    sec = await clients("sec_p")
    key = parse_qs(urlsplit(await feed_url(sec, org.halls["A"])).query)["key"][0]
    anonymous = await clients()
    reply = await anonymous.get("/api/halls/999999/calendar.ics", params={"key": key})
    assert reply.status == 404, reply.text


async def test_logged_in_person_reads_a_hall_feed_they_see_without_a_key(clients, org):
    sec = await clients("sec_p")
    meeting = await create(sec, meeting_body(org))
    calendar = parse(await sec.get(f"/api/halls/{org.halls['A']}/calendar.ics"))
    assert meeting_ids(calendar) == {meeting["id"]}

    sec_b = await clients("sec_b")
    hidden = await sec_b.get(f"/api/halls/{org.halls['A']}/calendar.ics")
    assert hidden.status == 404, hidden.text


# -- terminals -----------------------------------------------------------------------------


async def test_terminal_downloads_calendar_only_of_meetings_its_hall_is_invited_to(clients, org):
    sec = await clients("sec_p")
    invited = await create(
        sec, meeting_body(org, days=2, at=(8, 10), invited_hall_ids=[org.halls["A"]])
    )
    not_invited = await create(
        sec, meeting_body(org, days=2, at=(14, 16), invited_hall_ids=[org.halls["B"]])
    )
    terminal = await clients(terminal="A")

    event = only_event(await terminal.get(f"/api/meetings/{invited['id']}/calendar.ics"))
    assert str(event["UID"]).startswith(f"meeting-{invited['id']}@")
    assert str(event["SUMMARY"]) == "Giao ban tuần"

    refused = await terminal.get(f"/api/meetings/{not_invited['id']}/calendar.ics")
    assert refused.status == 404, refused.text
    assert "BEGIN:VCALENDAR" not in refused.text
