"""Unit tests of recurrence rules: parsing RFC 5545 text and expanding it in local time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from rooms.errors import Invalid
from rooms.localtime import LOCAL_TZ
from rooms.recurrence import occurrences, parse_rule

HORIZON = 366


def next_monday(weeks: int = 0) -> date:
    """A Monday at least one day after today, ``weeks`` weeks later."""
    today = datetime.now(LOCAL_TZ).date()
    return today + timedelta(days=((7 - today.weekday()) % 7 or 7) + 7 * weeks)


def at_local(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), LOCAL_TZ)


def expand(text: str, first: datetime | None = None, horizon: int = HORIZON):
    return occurrences(parse_rule(text), first or at_local(next_monday(), 8), horizon)


def ymd(day: date) -> str:
    return day.strftime("%Y%m%d")


# -- parsing -------------------------------------------------------------------------------


def test_rrule_prefix_and_lowercase_mean_the_same_rule():
    plain = parse_rule("FREQ=WEEKLY;BYDAY=MO;COUNT=3")
    assert parse_rule("RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=3") == plain
    assert parse_rule("rrule:freq=weekly;byday=mo;count=3") == plain
    assert parse_rule("  RRULE:Freq=Weekly;ByDay=Mo;Count=3;  ") == plain
    assert plain.count == 3
    assert plain.until_local is None
    assert plain.bounded


def test_open_rule_is_not_bounded():
    rule = parse_rule("FREQ=WEEKLY;BYDAY=MO")
    assert rule.count is None
    assert rule.until_local is None
    assert not rule.bounded


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a rule",
        "FREQ",
        "FREQ=",
        "BYDAY=MO;COUNT=3",
        "FREQ=HOURLY",
        "FREQ=MINUTELY;COUNT=3",
        "FREQ=FORTNIGHTLY",
        "FREQ=WEEKLY;COUNT=0",
        "FREQ=WEEKLY;COUNT=-2",
        "FREQ=WEEKLY;COUNT=501",
        "FREQ=WEEKLY;COUNT=three",
        "FREQ=WEEKLY;COUNT=3;UNTIL=20990101",
        "FREQ=WEEKLY;BYHOUR=9",
        "FREQ=WEEKLY;X-CUSTOM=1",
        "FREQ=WEEKLY;FREQ=DAILY",
        "FREQ=WEEKLY;BYDAY=XX",
        "FREQ=WEEKLY;INTERVAL=often",
        "FREQ=WEEKLY;UNTIL=tomorrow",
        "FREQ=WEEKLY;UNTIL=20990101T080000+0700",
    ],
)
def test_bad_rule_is_refused_naming_the_rrule_field(text):
    with pytest.raises(Invalid) as refused:
        parse_rule(text)
    assert refused.value.field == "rrule"
    assert refused.value.message


def test_refusal_names_the_field_the_caller_gives():
    with pytest.raises(Invalid) as refused:
        parse_rule("FREQ=HOURLY", field="recurrence")
    assert refused.value.field == "recurrence"


@pytest.mark.parametrize(
    "text",
    [
        "FREQ=WEEKLY;INTERVAL=-1",
        "FREQ=DAILY;INTERVAL=-3",
        "FREQ=WEEKLY;INTERVAL=0",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
    ],
)
def test_rule_that_cannot_be_expanded_is_refused_naming_rrule(text):
    """Whether parsing or expanding refuses it, the caller gets Invalid on 'rrule'."""
    with pytest.raises(Invalid) as refused:
        expand(text)
    assert refused.value.field == "rrule"


# -- expanding -----------------------------------------------------------------------------


def test_weekly_occurrences_stay_at_0800_local_across_months():
    first = at_local(next_monday(), 8)
    starts, _ = expand("FREQ=WEEKLY;BYDAY=MO;COUNT=10", first)
    assert len(starts) == 10
    local_starts = [s.astimezone(LOCAL_TZ) for s in starts]
    assert len({s.month for s in local_starts}) >= 2
    for week, start in enumerate(local_starts):
        assert start.date() == next_monday(week)
        assert start.weekday() == 0
        assert (start.hour, start.minute) == (8, 0)
    # returned in UTC: 08:00 in Ho Chi Minh City is 01:00 UTC
    assert all(s.utcoffset() == timedelta(0) and (s.hour, s.minute) == (1, 0) for s in starts)


def test_first_occurrence_is_the_given_start_when_it_matches_the_rule():
    first = at_local(next_monday(), 8)
    starts, _ = expand("FREQ=WEEKLY;BYDAY=MO;COUNT=2", first)
    assert starts[0] == first


def test_count_gives_exactly_that_many_occurrences_and_ends_at_the_last():
    first = at_local(next_monday(), 8)
    starts, until = expand("FREQ=WEEKLY;BYDAY=MO;COUNT=4", first)
    assert [s.astimezone(LOCAL_TZ) for s in starts] == [
        at_local(next_monday(w), 8) for w in range(4)
    ]
    assert until == starts[-1]


def test_daily_count_with_interval():
    first = at_local(next_monday(), 8)
    starts, _ = expand("FREQ=DAILY;INTERVAL=2;COUNT=3", first)
    assert [s.astimezone(LOCAL_TZ) for s in starts] == [
        first,
        first + timedelta(days=2),
        first + timedelta(days=4),
    ]


def test_until_as_a_date_includes_that_day():
    first = at_local(next_monday(), 8)
    starts, until = expand(f"FREQ=WEEKLY;BYDAY=MO;UNTIL={ymd(next_monday(2))}", first)
    assert [s.astimezone(LOCAL_TZ) for s in starts] == [
        at_local(next_monday(w), 8) for w in range(3)
    ]
    assert until == at_local(next_monday(2), 23, 59, 59)


@pytest.mark.parametrize(
    ("until", "expected"),
    [
        ("T080000", 3),  # local 08:00: the third occurrence starts exactly then
        ("T075959", 2),
        ("T010000Z", 3),  # 01:00 UTC is 08:00 local
        ("T005959Z", 2),
    ],
)
def test_until_as_local_or_utc_date_time_is_inclusive(until, expected):
    first = at_local(next_monday(), 8)
    starts, end = expand(f"FREQ=WEEKLY;BYDAY=MO;UNTIL={ymd(next_monday(2))}{until}", first)
    assert len(starts) == expected
    expected_end = at_local(next_monday(2), 8) - timedelta(seconds=0 if expected == 3 else 1)
    assert end == expected_end


def test_open_rule_stops_at_the_horizon():
    first = at_local(next_monday(), 8)
    starts, until = expand("FREQ=DAILY", first, horizon=30)
    assert len(starts) == 31  # day 0 through day 30
    assert starts[-1] == first + timedelta(days=30)
    assert until == first + timedelta(days=30)

    weekly, weekly_until = expand("FREQ=WEEKLY;BYDAY=MO", first, horizon=HORIZON)
    assert len(weekly) == 53  # 52 weeks is 364 days, the 53rd Monday is past 366 days
    assert weekly_until == first + timedelta(days=HORIZON)
    assert all(s <= weekly_until for s in weekly)


@pytest.mark.parametrize(
    "text",
    [
        "FREQ=WEEKLY;BYDAY=MO;COUNT=6",
        "FREQ=DAILY;UNTIL={past_horizon}",
    ],
)
def test_bounded_rule_longer_than_the_horizon_is_refused(text):
    first = at_local(next_monday(), 8)
    past_horizon = ymd(next_monday(6))
    with pytest.raises(Invalid) as refused:
        expand(text.format(past_horizon=past_horizon), first, horizon=30)
    assert refused.value.field == "rrule"


def test_bounded_rule_ending_on_the_horizon_is_accepted():
    first = at_local(next_monday(), 8)
    starts, _ = expand("FREQ=WEEKLY;BYDAY=MO;COUNT=5", first, horizon=28)
    assert starts[-1] == first + timedelta(days=28)


def test_until_before_the_first_occurrence_is_refused():
    first = at_local(next_monday(1), 8)
    with pytest.raises(Invalid) as refused:
        expand(f"FREQ=WEEKLY;BYDAY=MO;UNTIL={ymd(next_monday())}", first)
    assert refused.value.field == "rrule"


def test_utc_first_start_is_expanded_in_local_time():
    """A start given in UTC is still repeated at the same local hour."""
    first = at_local(next_monday(), 8).astimezone(UTC)
    starts, _ = expand("FREQ=WEEKLY;BYDAY=MO;COUNT=3", first)
    assert [s.astimezone(LOCAL_TZ).hour for s in starts] == [8, 8, 8]
