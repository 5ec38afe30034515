"""Contracts of the live meeting's agenda (rooms.agenda.Agenda)."""

from __future__ import annotations

import pytest

from rooms.agenda import Agenda
from rooms.errors import StateError


def test_no_item_is_under_way_until_the_first_next():
    agenda = Agenda(["Khai mạc", "Kết luận"])
    assert agenda.index == -1
    assert agenda.state() == {"index": -1, "items": ["Khai mạc", "Kết luận"]}


def test_next_moves_through_the_items_in_order_and_names_each():
    agenda = Agenda(["Khai mạc", "Kết luận"])
    assert agenda.next() == "Khai mạc"
    assert agenda.next() == "Kết luận"
    assert agenda.index == 1


def test_next_after_the_last_item_is_refused_and_stays_on_the_last():
    agenda = Agenda(["Khai mạc"])
    agenda.next()
    with pytest.raises(StateError, match="last agenda item"):
        agenda.next()
    assert agenda.index == 0


def test_a_meeting_without_an_agenda_refuses_next():
    with pytest.raises(StateError):
        Agenda([]).next()


def test_replay_puts_the_agenda_where_the_timeline_left_it():
    agenda = Agenda(["Khai mạc", "Báo cáo", "Kết luận"])
    agenda.replay(1)
    assert agenda.state()["index"] == 1
    assert agenda.next() == "Kết luận"
