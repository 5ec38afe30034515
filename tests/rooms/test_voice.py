"""Contracts of the voice-activated floor's policy (rooms.voice.VoiceActivation)."""

from __future__ import annotations

from rooms.voice import VoiceActivation

CHAIR, A, B = 1, 2, 3


def voice() -> VoiceActivation:
    va = VoiceActivation(CHAIR, margin=0.1, hold=1.5)
    va.start()
    return va


def test_the_loudest_hall_takes_the_floor_once_it_has_led_for_the_hold():
    va = voice()
    assert va.hear({A: 0.6, B: 0.2}, holder=None, now=10.0) is None
    assert va.hear({A: 0.6, B: 0.2}, holder=None, now=11.0) is None
    assert va.hear({A: 0.6, B: 0.2}, holder=None, now=11.5) == A
    # Having given it, the lead starts again.
    assert va.hear({A: 0.2, B: 0.6}, holder=A, now=11.7) is None


def test_the_chair_hall_never_takes_the_floor_by_its_voice():
    va = voice()
    for now in (0.0, 2.0, 4.0):
        assert va.hear({CHAIR: 0.9, A: 0.1}, holder=A, now=now) is None
    assert va.hear({CHAIR: 0.9}, holder=None, now=6.0) is None


def test_a_hall_must_be_louder_than_the_holder_by_the_margin():
    va = voice()
    for now in (0.0, 2.0, 4.0):
        assert va.hear({A: 0.5, B: 0.55}, holder=A, now=now) is None
    assert va.hear({A: 0.5, B: 0.65}, holder=A, now=5.0) is None
    assert va.hear({A: 0.5, B: 0.65}, holder=A, now=6.5) == B


def test_a_new_loudest_hall_starts_the_hold_again():
    va = voice()
    va.hear({A: 0.6, B: 0.2}, holder=None, now=0.0)
    va.hear({A: 0.2, B: 0.6}, holder=None, now=1.0)
    assert va.hear({A: 0.2, B: 0.6}, holder=None, now=2.0) is None
    assert va.hear({A: 0.2, B: 0.6}, holder=None, now=2.5) == B


def test_the_holder_being_loudest_ends_the_lead():
    va = voice()
    va.hear({A: 0.2, B: 0.6}, holder=A, now=0.0)
    va.hear({A: 0.7, B: 0.6}, holder=A, now=1.0)
    assert va.hear({A: 0.2, B: 0.6}, holder=A, now=2.0) is None  # the hold starts again
    assert va.hear({A: 0.2, B: 0.6}, holder=A, now=3.5) == B


def test_a_moment_without_levels_keeps_the_lead():
    va = voice()
    va.hear({A: 0.6}, holder=None, now=0.0)
    assert va.hear({}, holder=None, now=1.0) is None
    assert va.hear({CHAIR: 0.9}, holder=None, now=1.2) is None
    assert va.hear({A: 0.6}, holder=None, now=1.5) == A


def test_of_equally_loud_halls_the_first_heard_leads():
    va = voice()
    va.hear({B: 0.5, A: 0.5}, holder=None, now=0.0)
    assert va.hear({B: 0.5, A: 0.5}, holder=None, now=1.5) == B


def test_starting_again_forgets_the_lead():
    va = voice()
    va.hear({A: 0.6}, holder=None, now=0.0)
    va.stop()
    assert not va.enabled
    va.start()
    assert va.enabled
    assert va.hear({A: 0.6}, holder=None, now=1.5) is None
