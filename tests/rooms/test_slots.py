"""Contracts of slot assignment (rooms.slots.Slots): which hall each slot of a participant
shows."""

from __future__ import annotations

from collections.abc import Iterable

from rooms.slots import Freezes, OnAir, SlotRole, Slots, SourceRole

CHAIR, A, B, C = 1, 2, 3, 4
ALL = (CHAIR, A, B, C)
EVERYTHING = tuple(SourceRole)


def on_air(
    holder: int | None = None,
    heard: Iterable[int] = (CHAIR,),
    connected: Iterable[int] = ALL,
    missing: Iterable[tuple[int, SourceRole]] = (),
    content: int | None = None,
) -> OnAir:
    connected = tuple(connected)
    publishing = {(h, s) for h in connected for s in EVERYTHING} - set(missing)
    return OnAir(holder, tuple(heard), connected, frozenset(publishing), content)


def offered(*roles: SlotRole) -> dict[str, SlotRole]:
    return {str(mid): role for mid, role in enumerate(roles)}


def shown(viewer: int | None, roles: Iterable[SlotRole], now: OnAir) -> list[int | None]:
    return list(Slots(CHAIR).assign(viewer, offered(*roles), now).values())


SPEAKER = (SlotRole.MAIN, SlotRole.CHAIR, SlotRole.AUDIO, SlotRole.AUDIO)


def test_slot_assignment_prefers_the_floor_holder_on_the_main_screen_for_every_hall():
    now = on_air(holder=A)
    for viewer in (CHAIR, A, B, None):  # the speaker sees itself as the others do
        assert shown(viewer, [SlotRole.MAIN], now) == [A]


def test_the_main_screen_shows_the_chair_hall_when_nobody_holds_the_floor():
    assert shown(B, [SlotRole.MAIN], on_air()) == [CHAIR]


def test_the_chair_slot_shows_the_chair_hall_to_all_but_itself():
    now = on_air(holder=A)
    assert shown(B, [SlotRole.CHAIR], now) == [CHAIR]
    assert shown(None, [SlotRole.CHAIR], now) == [CHAIR]
    assert shown(CHAIR, [SlotRole.CHAIR], now) == [None]


def test_the_screen_slot_shows_the_content_whoever_holds_the_floor():
    assert shown(B, [SlotRole.SCREEN], on_air(holder=A, content=C)) == [C]
    assert shown(B, [SlotRole.SCREEN], on_air(content=A)) == [A]


def test_the_presenting_halls_own_terminal_shows_its_content_too():
    assert shown(A, [SlotRole.SCREEN], on_air(holder=B, content=A)) == [A]


def test_the_screen_slot_is_empty_while_nobody_presents():
    assert shown(B, [SlotRole.SCREEN], on_air(holder=A)) == [None]
    assert shown(None, [SlotRole.SCREEN], on_air()) == [None]


def test_audio_slots_take_the_heard_halls_in_order_but_the_viewers_own():
    now = on_air(holder=A, heard=(CHAIR, A, C))
    assert shown(B, SPEAKER, now) == [A, CHAIR, CHAIR, A]
    assert shown(A, [SlotRole.AUDIO] * 3, now) == [CHAIR, C, None]


def test_slots_beyond_the_halls_to_show_stay_empty():
    now = on_air(heard=(CHAIR,), connected=(CHAIR, A))
    assert shown(B, [SlotRole.AUDIO] * 2, now) == [CHAIR, None]
    assert shown(B, [SlotRole.MAIN, SlotRole.MAIN], now) == [CHAIR, None]
    assert shown(B, [SlotRole.THUMB] * 3, now) == [CHAIR, A, None]


def test_thumb_slots_show_every_connected_hall_in_order_but_the_viewers_own():
    now = on_air(connected=(CHAIR, A, C))
    assert shown(A, [SlotRole.THUMB] * 3, now) == [CHAIR, C, None]
    assert shown(None, [SlotRole.THUMB] * 3, now) == [CHAIR, A, C]


def test_a_hall_not_publishing_what_a_slot_carries_leaves_it_empty_and_the_rest_in_place():
    now = on_air(heard=(CHAIR, A, C), missing=[(A, SourceRole.MIC), (A, SourceRole.THUMB)])
    assert shown(B, [SlotRole.AUDIO] * 3, now) == [CHAIR, None, C]
    assert shown(B, [SlotRole.THUMB] * 3, now) == [CHAIR, None, C]


def test_while_the_floor_holder_reconnects_the_main_screen_shows_the_chair_hall():
    # The holder keeps the floor through its grace period, but sends no picture meanwhile:
    # the halls see the chair hall rather than a frozen or black main screen.
    for now in (
        on_air(holder=A, connected=(CHAIR, B)),
        on_air(holder=A, missing=[(A, SourceRole.CAMERA)]),
    ):
        assert shown(B, [SlotRole.MAIN, SlotRole.CHAIR], now) == [CHAIR, CHAIR]
        assert shown(CHAIR, [SlotRole.MAIN, SlotRole.CHAIR], now) == [CHAIR, None]
    assert shown(B, [SlotRole.MAIN], on_air(holder=A)) == [A]  # and back once it sends again


def test_slots_of_each_role_are_counted_apart_in_the_order_offered():
    now = on_air(holder=A, heard=(CHAIR, A))
    roles = [SlotRole.AUDIO, SlotRole.THUMB, SlotRole.AUDIO, SlotRole.THUMB, SlotRole.MAIN]
    assert Slots(CHAIR).assign(C, offered(*roles), now) == {
        "0": CHAIR, "1": CHAIR, "2": A, "3": A, "4": A
    }  # fmt: skip


def test_each_slot_role_carries_its_source():
    assert {r: r.source for r in SlotRole} == {
        SlotRole.MAIN: SourceRole.CAMERA,
        SlotRole.CHAIR: SourceRole.CAMERA,
        SlotRole.SCREEN: SourceRole.SCREEN,
        SlotRole.AUDIO: SourceRole.MIC,
        SlotRole.THUMB: SourceRole.THUMB,
    }


def test_a_camera_without_a_new_frame_for_3_s_is_frozen_until_frames_come_again():
    freezes = Freezes(after=3.0)
    cam_a, cam_b = object(), object()
    assert freezes.observe({A: (cam_a, 10), B: (cam_b, 5)}, now=0.0) == set()
    assert freezes.observe({A: (cam_a, 40), B: (cam_b, 5)}, now=2.9) == set()
    assert freezes.observe({A: (cam_a, 70), B: (cam_b, 5)}, now=3.0) == {B}
    assert freezes.observe({A: (cam_a, 70), B: (cam_b, 6)}, now=4.0) == set()  # B is back
    assert freezes.observe({A: (cam_a, 70), B: (cam_b, 6)}, now=6.0) == {A}


def test_a_new_camera_starts_afresh_and_a_hall_gone_is_forgotten():
    freezes = Freezes(after=3.0)
    old, new = object(), object()
    freezes.observe({A: (old, 10)}, now=0.0)
    assert freezes.observe({A: (new, 10)}, now=5.0) == set()  # reconnected: the same count
    assert freezes.observe({}, now=9.0) == set()
    assert freezes.observe({A: (new, 10)}, now=10.0) == set()  # back: from now
