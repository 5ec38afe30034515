"""Contract tests of recurring meetings (series) through the REST API."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from rooms.localtime import LOCAL_TZ
from tests.conftest import local, meeting_body

WEEKLY_5 = "FREQ=WEEKLY;BYDAY=MO;COUNT=5"
HORIZON_DAYS = 366  # the settings' default


def monday(week: int = 0) -> int:
    """Days from today to a Monday at least one day ahead, ``week`` weeks later."""
    weekday = datetime.now(LOCAL_TZ).weekday()
    return ((7 - weekday) % 7 or 7) + 7 * week


def at(days: int, hour: int, minute: int = 0) -> datetime:
    """The aware local date-time ``days`` from today, as the API shows it."""
    return datetime.fromisoformat(local(days, hour, minute)).replace(tzinfo=LOCAL_TZ)


def ymd(days: int) -> str:
    return at(days, 0).strftime("%Y%m%d")


def series_body(org, rrule: str = WEEKLY_5, **extra: Any) -> dict[str, Any]:
    """A weekly series of P (halls P, A, B) on Mondays 08:00–09:30 local from next Monday."""
    body = meeting_body(org, start=local(monday(), 8), end=local(monday(), 9, 30), rrule=rrule)
    body.update(extra)
    return body


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def create_series(client, org, rrule: str = WEEKLY_5, **extra: Any) -> dict[str, Any]:
    reply = await client.post("/api/series", series_body(org, rrule, **extra))
    assert reply.status == 201, reply.text
    return reply.body


async def series_meetings(client, series_id: int) -> list[dict[str, Any]]:
    reply = await client.get(
        "/api/meetings",
        params={"from": local(0, 0), "to": local(monday(10), 0), "series_id": series_id},
    )
    assert reply.status == 200, reply.text
    return reply.body


async def meetings_on(client, days: int) -> list[dict[str, Any]]:
    """Every meeting the client sees on that local day."""
    reply = await client.get(
        "/api/meetings", params={"from": local(days, 0), "to": local(days + 1, 0)}
    )
    assert reply.status == 200, reply.text
    return reply.body


async def all_meetings(client) -> list[dict[str, Any]]:
    """Every meeting the client sees from today to a little past the horizon."""
    reply = await client.get("/api/meetings", params={"from": local(0, 0), "to": local(390, 0)})
    assert reply.status == 200, reply.text
    return reply.body


# -- creating ------------------------------------------------------------------------------


async def test_weekly_series_creates_one_meeting_each_monday_at_0800_local(clients, org):
    sec = await clients("sec_p")
    series = await create_series(sec, org)
    assert series["state"] == "active"
    assert series["rrule"] == WEEKLY_5
    assert series["duration_minutes"] == 90
    assert when(series["first_start"]) == at(monday(), 8)

    occurrences = series["occurrences"]
    assert len(occurrences) == 5
    for week, occurrence in enumerate(occurrences):
        start, end = when(occurrence["start"]), when(occurrence["end"])
        assert occurrence["start"] == local(monday(week), 8) + ":00+07:00"
        assert start.weekday() == 0
        assert end - start == timedelta(minutes=90)
        assert occurrence["state"] == "scheduled"
        assert occurrence["is_exception"] is False
    assert series["until"] == occurrences[-1]["start"]

    listed = await series_meetings(sec, series["id"])
    assert [m["id"] for m in listed] == [o["meeting_id"] for o in occurrences]
    for meeting, occurrence in zip(listed, occurrences, strict=True):
        assert meeting["series_id"] == series["id"]
        assert meeting["title"] == "Giao ban tuần"
        assert meeting["start"] == occurrence["start"]
        assert meeting["occurrence_start"] == occurrence["start"]
        assert {h["id"] for h in meeting["halls"]} == {org.halls[k] for k in "PAB"}
        assert [a["title"] for a in meeting["agenda"]] == ["Tình hình kinh tế", "Kết luận"]

    again = await sec.get(f"/api/series/{series['id']}")
    assert again.status == 200, again.text
    assert again.body == series


async def test_open_ended_series_stops_at_the_horizon_and_says_so(clients, org):
    sec = await clients("sec_p")
    series = await create_series(sec, org, rrule="FREQ=WEEKLY;BYDAY=MO")
    until = when(series["until"])
    assert until == at(monday(), 8) + timedelta(days=HORIZON_DAYS)
    starts = [when(o["start"]) for o in series["occurrences"]]
    assert len(starts) == 53  # Mondays 0..52 weeks on: 364 days; the next is past 366
    assert starts[-1] <= until < starts[-1] + timedelta(days=7)
    assert all(s.weekday() == 0 and (s.hour, s.minute) == (8, 0) for s in starts)


async def test_bounded_series_ending_within_the_horizon_is_accepted(clients, org):
    sec = await clients("sec_p")
    series = await create_series(sec, org, rrule="FREQ=WEEKLY;BYDAY=MO;COUNT=53")
    assert len(series["occurrences"]) == 53
    assert when(series["occurrences"][-1]["start"]) == at(monday(), 8) + timedelta(weeks=52)


@pytest.mark.parametrize(
    "rrule",
    [
        "FREQ=WEEKLY;BYDAY=MO;COUNT=54",  # the 54th Monday is 371 days on
        "FREQ=WEEKLY;BYDAY=MO;UNTIL={until_400}",
    ],
)
async def test_bounded_series_longer_than_the_horizon_is_refused(clients, org, rrule):
    sec = await clients("sec_p")
    rrule = rrule.format(until_400=ymd(monday() + 400))
    reply = await sec.post("/api/series", series_body(org, rrule))
    assert reply.status == 422, reply.text[:300]
    assert reply.body["error"]["field"] == "rrule"
    assert await all_meetings(sec) == []


@pytest.mark.parametrize(
    "rrule",
    [
        "this is not a rule",
        "FREQ=HOURLY;COUNT=3",
        "FREQ=WEEKLY;COUNT=0",
        "FREQ=WEEKLY;BYDAY=MO;COUNT=3;UNTIL=20990101",
        "FREQ=WEEKLY;BYDAY=MO;COLOR=RED",
        "FREQ=WEEKLY;BYHOUR=9",
        "FREQ=WEEKLY;BYDAY=XX",
        "FREQ=WEEKLY;UNTIL=soon",
        "FREQ=WEEKLY;INTERVAL=-1",
        "FREQ",
    ],
)
async def test_invalid_rule_is_refused_naming_rrule(clients, org, rrule):
    sec = await clients("sec_p")
    reply = await sec.post("/api/series", series_body(org, rrule))
    assert reply.status == 422, reply.text
    assert reply.body["error"]["field"] == "rrule"
    assert reply.body["error"]["message"]


async def test_series_entirely_in_the_past_is_refused(clients, org):
    sec = await clients("sec_p")
    body = series_body(org, "FREQ=DAILY;COUNT=2", start=local(-10, 8), end=local(-10, 9, 30))
    reply = await sec.post("/api/series", body)
    assert reply.status == 422, reply.text
    assert reply.body["error"]["field"] == "rrule"


@pytest.mark.parametrize(
    ("until", "expected_until"),
    [
        ("{day}", "{iso}T23:59:59+07:00"),  # a date: the whole day counts
        ("{day}T080000", "{iso}T08:00:00+07:00"),  # local: the third starts exactly then
        ("{day}T010000Z", "{iso}T08:00:00+07:00"),  # UTC: 01:00Z is 08:00 local
    ],
    ids=["date", "local-date-time", "utc-date-time"],
)
async def test_until_as_date_local_or_utc_date_time(clients, org, until, expected_until):
    sec = await clients("sec_p")
    third = at(monday(2), 0)
    fields = {"day": third.strftime("%Y%m%d"), "iso": third.date().isoformat()}
    series = await create_series(
        sec, org, rrule=f"FREQ=WEEKLY;BYDAY=MO;UNTIL={until.format(**fields)}"
    )
    assert [o["start"] for o in series["occurrences"]] == [
        local(monday(w), 8) + ":00+07:00" for w in range(3)
    ]
    assert when(series["until"]) == when(expected_until.format(**fields))


# -- one occurrence ------------------------------------------------------------------------


async def test_moving_one_occurrence_leaves_the_others_in_place(clients, org):
    sec = await clients("sec_p")
    series = await create_series(sec, org)
    before = {o["meeting_id"]: o for o in series["occurrences"]}
    second = series["occurrences"][1]

    moved = await sec.patch(
        f"/api/meetings/{second['meeting_id']}",
        {"start": local(monday(1), 14), "end": local(monday(1), 15, 30)},
    )
    assert moved.status == 200, moved.text
    assert moved.body["is_exception"] is True
    assert moved.body["series_id"] == series["id"]
    assert when(moved.body["start"]) == at(monday(1), 14)
    assert moved.body["occurrence_start"] == second["start"]
    assert moved.body["sequence"] == 1

    after = (await sec.get(f"/api/series/{series['id']}")).body["occurrences"]
    assert {o["meeting_id"] for o in after} == set(before)
    for occurrence in after:
        if occurrence["meeting_id"] == second["meeting_id"]:
            assert occurrence["is_exception"] is True
            assert when(occurrence["start"]) == at(monday(1), 14)
        else:
            assert occurrence == before[occurrence["meeting_id"]]


async def test_cancelling_one_occurrence_leaves_the_rest_scheduled(clients, org):
    sec = await clients("sec_p")
    series = await create_series(sec, org)
    third = series["occurrences"][2]
    cancelled = await sec.post(f"/api/meetings/{third['meeting_id']}/cancel", {"reason": "Nghỉ lễ"})
    assert cancelled.status == 200, cancelled.text
    assert cancelled.body["state"] == "cancelled"
    assert cancelled.body["is_exception"] is True

    after = (await sec.get(f"/api/series/{series['id']}")).body
    assert after["state"] == "active"
    states = {o["meeting_id"]: o["state"] for o in after["occurrences"]}
    assert states.pop(third["meeting_id"]) == "cancelled"
    assert set(states.values()) == {"scheduled"}
    assert len(states) == 4


# -- changing the series -------------------------------------------------------------------


async def series_with_exceptions(sec, org) -> tuple[dict[str, Any], int, int]:
    """A 5-week series whose 2nd occurrence moved to 14:00 and whose 3rd is cancelled."""
    series = await create_series(sec, org)
    moved_id = series["occurrences"][1]["meeting_id"]
    cancelled_id = series["occurrences"][2]["meeting_id"]
    moved = await sec.patch(
        f"/api/meetings/{moved_id}",
        {"start": local(monday(1), 14), "end": local(monday(1), 15, 30)},
    )
    assert moved.status == 200, moved.text
    cancelled = await sec.post(f"/api/meetings/{cancelled_id}/cancel", {"reason": "Nghỉ lễ"})
    assert cancelled.status == 200, cancelled.text
    return series, moved_id, cancelled_id


async def test_series_title_change_reaches_future_occurrences_but_not_exceptions(clients, org):
    sec = await clients("sec_p")
    series, moved_id, cancelled_id = await series_with_exceptions(sec, org)

    changed = await sec.patch(f"/api/series/{series['id']}", {"title": "Giao ban tuần (đã sửa)"})
    assert changed.status == 200, changed.text
    assert changed.body["title"] == "Giao ban tuần (đã sửa)"

    meetings = {m["id"]: m for m in await series_meetings(sec, series["id"])}
    assert set(meetings) == {o["meeting_id"] for o in series["occurrences"]}
    moved, cancelled = meetings.pop(moved_id), meetings.pop(cancelled_id)
    assert moved["title"] == "Giao ban tuần"
    assert when(moved["start"]) == at(monday(1), 14)
    assert moved["state"] == "scheduled"
    assert cancelled["title"] == "Giao ban tuần"
    assert cancelled["state"] == "cancelled"
    for meeting in meetings.values():
        assert meeting["title"] == "Giao ban tuần (đã sửa)"
        assert meeting["state"] == "scheduled"
        assert (when(meeting["start"]).hour, when(meeting["start"]).minute) == (8, 0)
        assert meeting["sequence"] == 1


async def test_series_time_change_moves_future_occurrences_but_not_exceptions(clients, org):
    sec = await clients("sec_p")
    series, moved_id, cancelled_id = await series_with_exceptions(sec, org)

    changed = await sec.patch(
        f"/api/series/{series['id']}",
        {"start": local(monday(), 9), "end": local(monday(), 10, 30)},
    )
    assert changed.status == 200, changed.text
    assert changed.body["duration_minutes"] == 90

    meetings = await series_meetings(sec, series["id"])
    by_week = {
        week: [m for m in meetings if when(m["start"]).date() == at(monday(week), 0).date()]
        for week in range(5)
    }
    # the moved occurrence is still at 14:00 and is the only meeting of its week
    assert [(m["id"], when(m["start"])) for m in by_week[1]] == [(moved_id, at(monday(1), 14))]
    # the cancelled occurrence stays cancelled and nothing is scheduled in its place
    assert [(m["id"], m["state"]) for m in by_week[2]] == [(cancelled_id, "cancelled")]
    for week in (0, 3, 4):
        assert [(when(m["start"]), m["state"]) for m in by_week[week]] == [
            (at(monday(week), 9), "scheduled")
        ]
    assert len(meetings) == 5


async def test_series_rule_change_drops_later_occurrences_but_keeps_exceptions(clients, org):
    sec = await clients("sec_p")
    series, moved_id, cancelled_id = await series_with_exceptions(sec, org)
    first_id = series["occurrences"][0]["meeting_id"]

    changed = await sec.patch(
        f"/api/series/{series['id']}", {"rrule": "FREQ=WEEKLY;BYDAY=MO;COUNT=3"}
    )
    assert changed.status == 200, changed.text
    assert changed.body["rrule"] == "FREQ=WEEKLY;BYDAY=MO;COUNT=3"

    meetings = {m["id"]: m for m in await series_meetings(sec, series["id"])}
    scheduled = sorted(i for i, m in meetings.items() if m["state"] == "scheduled")
    assert scheduled == sorted([first_id, moved_id])
    assert when(meetings[moved_id]["start"]) == at(monday(1), 14)
    assert meetings[cancelled_id]["state"] == "cancelled"
    for week in (3, 4):
        assert not [m for m in await meetings_on(sec, monday(week)) if m["state"] == "scheduled"]


async def test_series_change_while_an_occurrence_is_live_leaves_that_occurrence_alone(
    clients, org, clock
):
    """The chair may start an occurrence up to an hour early; the series can still be edited."""
    sec = await clients("sec_p")
    chair = await clients("chair_p")
    series = await create_series(sec, org)
    first = series["occurrences"][0]
    clock.offset = when(first["start"]) - datetime.now(LOCAL_TZ) - timedelta(minutes=30)
    started = await chair.post(f"/api/meetings/{first['meeting_id']}/start")
    assert started.status == 200, started.text

    changed = await sec.patch(f"/api/series/{series['id']}", {"title": "Giao ban tuần (đã sửa)"})
    assert changed.status == 200, changed.text

    meetings = await series_meetings(sec, series["id"])
    assert len(meetings) == 5
    live = [m for m in meetings if m["state"] == "live"]
    assert [m["id"] for m in live] == [first["meeting_id"]]
    later = [m for m in meetings if m["id"] != first["meeting_id"]]
    assert {m["title"] for m in later} == {"Giao ban tuần (đã sửa)"}
    assert {m["state"] for m in later} == {"scheduled"}


async def test_cancelling_a_series_cancels_every_future_occurrence(clients, org):
    sec = await clients("sec_p")
    series = await create_series(sec, org)
    moved_id = series["occurrences"][1]["meeting_id"]
    moved = await sec.patch(
        f"/api/meetings/{moved_id}", {"start": local(monday(1), 14), "end": local(monday(1), 15)}
    )
    assert moved.status == 200, moved.text

    cancelled = await sec.post(f"/api/series/{series['id']}/cancel", {"reason": "Đổi lịch"})
    assert cancelled.status == 200, cancelled.text
    assert cancelled.body["state"] == "cancelled"
    assert [o["state"] for o in cancelled.body["occurrences"]] == ["cancelled"] * 5
    for meeting in await series_meetings(sec, series["id"]):
        assert meeting["state"] == "cancelled"
        assert meeting["cancel_reason"] == "Đổi lịch"

    again = await sec.patch(f"/api/series/{series['id']}", {"title": "Lại"})
    assert again.status == 409
    assert again.body["error"]["code"] == "invalid_state"


# -- conflicts -----------------------------------------------------------------------------


async def test_series_overlapping_an_existing_meeting_is_refused_naming_it(clients, org):
    sec = await clients("sec_p")
    # a meeting of district A in its own hall, during the series' third Monday
    single = await sec.post(
        "/api/meetings",
        meeting_body(
            org, title="Họp huyện A", start=local(monday(2), 9), end=local(monday(2), 10),
            chair_hall_id=org.halls["A"], invited_hall_ids=[],
        ),
    )  # fmt: skip
    assert single.status == 201, single.text

    reply = await sec.post("/api/series", series_body(org))
    assert reply.status == 409, reply.text
    error = reply.body["error"]
    assert error["code"] == "conflict"
    assert [(c["meeting_id"], c["hall_id"]) for c in error["conflicts"]] == [
        (single.body["id"], org.halls["A"])
    ]
    conflict = error["conflicts"][0]
    assert conflict["hall_name"] == "Điểm cầu Huyện A"
    assert conflict["title"] == "Họp huyện A"
    assert when(conflict["requested_start"]) == at(monday(2), 8)
    assert "Điểm cầu Huyện A" in error["message"]

    # nothing of the series was kept
    assert [m["id"] for m in await all_meetings(sec)] == [single.body["id"]]


async def test_meeting_overlapping_any_occurrence_of_a_series_is_refused(clients, org):
    sec = await clients("sec_p")
    series = await create_series(sec, org)
    fourth = series["occurrences"][3]
    reply = await sec.post(
        "/api/meetings",
        meeting_body(
            org, title="Họp đột xuất", start=local(monday(3), 9), end=local(monday(3), 11),
            chair_hall_id=org.halls["B"], invited_hall_ids=[],
        ),
    )  # fmt: skip
    assert reply.status == 409, reply.text
    assert reply.body["error"]["code"] == "conflict"
    assert [(c["meeting_id"], c["hall_id"]) for c in reply.body["error"]["conflicts"]] == [
        (fourth["meeting_id"], org.halls["B"])
    ]


async def test_meetings_that_only_touch_an_occurrence_do_not_conflict(clients, org):
    sec = await clients("sec_p")
    await create_series(sec, org)
    before = await sec.post(
        "/api/meetings",
        meeting_body(org, title="Trước", start=local(monday(1), 7), end=local(monday(1), 8)),
    )
    assert before.status == 201, before.text
    after = await sec.post(
        "/api/meetings",
        meeting_body(org, title="Sau", start=local(monday(1), 9, 30), end=local(monday(1), 11)),
    )
    assert after.status == 201, after.text


async def test_series_that_only_touches_existing_meetings_is_accepted(clients, org):
    sec = await clients("sec_p")
    for week in range(5):
        reply = await sec.post(
            "/api/meetings",
            meeting_body(org, title=f"Trước {week}", start=local(monday(week), 7),
                         end=local(monday(week), 8)),
        )  # fmt: skip
        assert reply.status == 201, reply.text
    series = await create_series(sec, org)
    assert len(series["occurrences"]) == 5


async def test_cancelled_occurrence_does_not_block_its_slot(clients, org):
    sec = await clients("sec_p")
    series = await create_series(sec, org)
    second = series["occurrences"][1]
    blocked = await sec.post(
        "/api/meetings",
        meeting_body(org, title="Thay thế", start=local(monday(1), 8), end=local(monday(1), 9, 30)),
    )
    assert blocked.status == 409, blocked.text

    cancelled = await sec.post(f"/api/meetings/{second['meeting_id']}/cancel", {})
    assert cancelled.status == 200, cancelled.text
    replacement = await sec.post(
        "/api/meetings",
        meeting_body(org, title="Thay thế", start=local(monday(1), 8), end=local(monday(1), 9, 30)),
    )
    assert replacement.status == 201, replacement.text


# -- permissions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [{}, {"unit_id": "P"}],
    ids=["province-hall", "province-unit"],
)
async def test_district_secretariat_cannot_create_a_series_for_the_province(clients, org, extra):
    sec_a = await clients("sec_a")
    overrides = {key: org.units[value] for key, value in extra.items()}
    reply = await sec_a.post("/api/series", series_body(org, **overrides))
    assert reply.status == 403, reply.text
    assert reply.body["error"]["code"] == "forbidden"
    assert await all_meetings(await clients("sec_p")) == []


async def test_district_secretariat_creates_a_series_for_its_own_district(clients, org):
    sec_a = await clients("sec_a")
    body = series_body(
        org, chair_hall_id=org.halls["A"], chair_user_id=org.users["chair_a"],
        invited_hall_ids=[org.halls["A1"]],
    )  # fmt: skip
    reply = await sec_a.post("/api/series", body)
    assert reply.status == 201, reply.text
    assert reply.body["unit_id"] == org.units["A"]


@pytest.mark.parametrize("username", ["chair_p", "arch"])
async def test_chair_or_archivist_cannot_create_a_series(clients, org, username):
    person = await clients(username)
    reply = await person.post("/api/series", series_body(org))
    assert reply.status == 403, reply.text
    assert reply.body["error"]["code"] == "forbidden"


async def test_terminal_cannot_create_a_series(clients, org):
    terminal = await clients(terminal="P")
    reply = await terminal.post("/api/series", series_body(org))
    assert reply.status == 403, reply.text


async def test_district_secretariat_cannot_change_or_cancel_a_province_series(clients, org):
    sec = await clients("sec_p")
    sec_a = await clients("sec_a")
    series = await create_series(sec, org)
    changed = await sec_a.patch(f"/api/series/{series['id']}", {"title": "Của huyện"})
    assert changed.status in (403, 404), changed.text
    cancelled = await sec_a.post(f"/api/series/{series['id']}/cancel", {})
    assert cancelled.status in (403, 404), cancelled.text
    unchanged = (await sec.get(f"/api/series/{series['id']}")).body
    assert unchanged["title"] == "Giao ban tuần"
    assert unchanged["state"] == "active"
