"""Contracts of the live meeting's floor (rooms.floor.Floor): the holder, the raised hands and
the halls' microphones."""

from __future__ import annotations

import pytest

from rooms.errors import Forbidden
from rooms.floor import Floor, FloorMoved, HandMoved, Mic, MicSet

CHAIR, A, B, C = 1, 2, 3, 4


def floor() -> Floor:
    return Floor([CHAIR, A, B, C], chair_hall_id=CHAIR)


def test_halls_start_muted_but_the_chair_hall_and_nobody_holds_the_floor():
    f = floor()
    assert f.holder is None
    assert f.mic(CHAIR) == Mic(muted=False)
    assert [f.mic(h) for h in (A, B, C)] == [Mic(muted=True)] * 3


def test_giving_the_floor_opens_that_halls_microphone():
    f = floor()
    assert f.give(A) == [FloorMoved(A, previous=None), MicSet(A, muted=False, locked=False)]
    assert f.holder == A
    assert f.mic(A) == Mic(muted=False)


def test_giving_the_floor_lowers_that_halls_hand():
    f = floor()
    f.raise_hand(B)
    f.raise_hand(A)
    changes = f.give(A)
    assert changes == [
        FloorMoved(A, previous=None),
        HandMoved(A, raised=False),
        MicSet(A, muted=False, locked=False),
    ]
    assert f.hands == [B]
    assert not f.hand_raised(A)


def test_moving_the_floor_mutes_the_previous_holder():
    f = floor()
    f.give(A)
    assert f.give(B) == [
        FloorMoved(B, previous=A),
        MicSet(A, muted=True, locked=False),
        MicSet(B, muted=False, locked=False),
    ]
    assert f.mic(A).muted


def test_the_chair_hall_stays_heard_when_it_gives_up_the_floor():
    f = floor()
    f.give(CHAIR)
    assert f.give(A) == [FloorMoved(A, previous=CHAIR), MicSet(A, muted=False, locked=False)]
    assert f.mic(CHAIR) == Mic(muted=False)


def test_taking_the_floor_back_mutes_the_holder():
    f = floor()
    f.give(A)
    assert f.take() == [FloorMoved(None, previous=A), MicSet(A, muted=True, locked=False)]
    assert f.holder is None


def test_giving_the_floor_to_its_holder_or_taking_it_from_nobody_changes_nothing():
    f = floor()
    assert f.take() == []
    f.give(A)
    f.raise_hand(A)
    assert f.give(A) == []
    assert f.hands == [A]  # the holder's own hand stays up


def test_giving_the_floor_unlocks_a_locked_microphone():
    f = floor()
    f.mute(A, True, lock=True)
    assert f.give(A)[-1] == MicSet(A, muted=False, locked=False)


def test_an_already_open_microphone_is_not_opened_again():
    f = floor()
    f.mute(A, False)
    assert f.give(A) == [FloorMoved(A, previous=None)]


def test_raised_hands_queue_in_the_order_raised_once_each():
    f = floor()
    assert f.raise_hand(B) == [HandMoved(B, raised=True)]
    assert f.raise_hand(A) == [HandMoved(A, raised=True)]
    assert f.raise_hand(B) == []
    assert f.hands == [B, A]
    assert f.lower_hand(B) == [HandMoved(B, raised=False)]
    assert f.lower_hand(B) == []
    assert f.hands == [A]


def test_a_lock_applies_only_to_muting():
    f = floor()
    assert f.mute(A, True, lock=True) == [MicSet(A, muted=True, locked=True)]
    assert f.mute(B, False, lock=True) == [MicSet(B, muted=False, locked=False)]


def test_muting_again_the_same_way_changes_nothing():
    f = floor()
    assert f.mute(A, True) == []
    assert f.mute(CHAIR, False) == []


def test_mute_all_leaves_the_chair_hall_alone_and_unlocks():
    f = floor()
    f.mute(A, True, lock=True)
    assert f.mute_all(False) == [
        MicSet(A, muted=False, locked=False),
        MicSet(B, muted=False, locked=False),
        MicSet(C, muted=False, locked=False),
    ]
    assert f.mute_all(True) == [MicSet(h, muted=True, locked=False) for h in (A, B, C)]
    assert f.mic(CHAIR) == Mic(muted=False)


def test_a_hall_cannot_open_a_microphone_the_chair_locked():
    f = floor()
    f.mute(A, True, lock=True)
    with pytest.raises(Forbidden, match="locked"):
        f.mute_own(A, False)
    assert f.mic(A) == Mic(muted=True, locked=True)


def test_a_hall_muting_itself_leaves_its_microphone_unlocked():
    f = floor()
    f.mute(A, True, lock=True)
    assert f.mute_own(A, True) == [MicSet(A, muted=True, locked=False)]
    assert f.mute_own(A, False) == [MicSet(A, muted=False, locked=False)]


def test_removing_a_hall_drops_its_hand_silently_and_takes_back_its_floor():
    f = floor()
    f.raise_hand(B)
    f.give(A)
    f.raise_hand(A)
    assert f.remove(B) == []
    assert f.hands == [A]
    assert f.remove(A) == [FloorMoved(None, previous=A), MicSet(A, muted=True, locked=False)]
    assert f.hands == []


def test_the_chair_hall_is_heard_first_then_the_holder_then_by_when_unmuted():
    f = floor()
    f.mute(C, False)
    f.mute(A, False)
    f.give(B)
    assert f.heard({CHAIR, A, B, C}) == [CHAIR, B, C, A]


def test_only_connected_halls_are_heard():
    f = floor()
    f.mute_all(False)
    assert f.heard({A, C}) == [A, C]
    f.mute(A, True)
    assert f.heard({A, C}) == [C]


def test_replay_rebuilds_the_floor_from_recorded_changes_without_the_rules():
    f = floor()
    for change in (
        HandMoved(B, raised=True),
        HandMoved(A, raised=True),
        FloorMoved(A, previous=None),  # the hand and the mic were recorded on their own
        MicSet(C, muted=True, locked=True),
        HandMoved(B, raised=False),
        HandMoved(99, raised=True),  # not a hall of this meeting
    ):
        f.replay(change)
    assert f.holder == A
    assert f.hands == [A]
    assert f.mic(A) == Mic(muted=True)
    assert f.mic(C) == Mic(muted=True, locked=True)
