"""Contracts of the live meeting's roll call (rooms.roll_call.RollCall)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rooms.errors import StateError
from rooms.roll_call import RollCall

NINE = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
TEN = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def test_before_the_first_roll_call_there_is_nothing_to_show():
    assert RollCall(halls=3).state() is None


def test_answers_are_refused_when_no_roll_call_runs():
    roll_call = RollCall(halls=3)
    with pytest.raises(StateError, match="no roll call"):
        roll_call.answer(1, True, 4)
    roll_call.start(NINE)
    roll_call.end()
    with pytest.raises(StateError, match="no roll call"):
        roll_call.answer(1, True, 4)


def test_ending_when_none_runs_is_refused():
    roll_call = RollCall(halls=3)
    with pytest.raises(StateError):
        roll_call.end()
    roll_call.start(NINE)
    roll_call.end()
    with pytest.raises(StateError):
        roll_call.end()


def test_the_tally_counts_every_hall_the_answers_and_the_delegates_of_those_present():
    roll_call = RollCall(halls=4)
    roll_call.start(NINE)
    roll_call.answer(1, True, 12)
    roll_call.answer(2, True, 5)
    roll_call.answer(3, False, 7)
    assert roll_call.end() == {"halls": 4, "answered": 3, "present": 2, "delegates": 17}


def test_a_halls_second_answer_replaces_its_first():
    roll_call = RollCall(halls=2)
    roll_call.start(NINE)
    roll_call.answer(1, True, 3)
    roll_call.answer(1, False, 0)
    assert roll_call.tally() == {"halls": 2, "answered": 1, "present": 0, "delegates": 0}


def test_the_state_shows_the_answers_by_hall_and_the_tally_and_stays_after_the_end():
    roll_call = RollCall(halls=2)
    roll_call.start(NINE)
    roll_call.answer(7, True, 2)
    running = roll_call.state()
    assert running == {
        "active": True,
        "started_at": "2026-12-07T09:00:00+07:00",  # local time, as the API gives
        "answers": {"7": {"present": True, "delegates": 2}},
        "tally": {"halls": 2, "answered": 1, "present": 1, "delegates": 2},
    }
    roll_call.end()
    ended = roll_call.state()
    assert ended is not None and ended["active"] is False
    assert ended["answers"] == running["answers"]


def test_a_new_roll_call_starts_afresh():
    roll_call = RollCall(halls=2)
    roll_call.start(NINE)
    roll_call.answer(7, True, 2)
    roll_call.end()
    roll_call.start(TEN)
    state = roll_call.state()
    assert state is not None
    assert state["active"] is True and state["answers"] == {}
    assert state["started_at"] == "2026-12-07T10:00:00+07:00"
