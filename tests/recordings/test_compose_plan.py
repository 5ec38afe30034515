"""The composite's plan from the timeline (pure, fast): content intervals and chapters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recordings.compose import Event, Presentation, Segment, plan
from rooms.models import TimelineKind

P, A, B = 1, 2, 3
NAMES = {P: "Hội trường tỉnh P", A: "Điểm cầu Huyện A", B: "Điểm cầu Huyện B"}


def camera(hall_id: int, start: float = 0.0, end: float | None = None) -> Segment:
    return Segment(hall_id, Path(f"hall-{hall_id}.mkv"), start, True, True, "camera", end)


def content(hall_id: int, start: float, end: float | None) -> Segment:
    return Segment(hall_id, Path(f"content-{start}.mkv"), start, True, False, "content", end)


def event(at: float, kind: TimelineKind, hall_id: int | None = None, **data: Any) -> Event:
    return Event(at, kind, hall_id, data)


def started(at: float, hall_id: int, presenter: str) -> Event:
    return event(at, TimelineKind.CONTENT_STARTED, hall_id, presenter=presenter, participant="x")


def stopped(at: float, hall_id: int, reason: str = "stopped") -> Event:
    return event(at, TimelineKind.CONTENT_STOPPED, hall_id, reason=reason)


def make(events: list[Event], segments: list[Segment], duration: float = 100.0) -> Any:
    return plan(
        duration=duration, chair_hall_id=P, names=NAMES,
        segments=[camera(P), camera(A), camera(B), *segments], events=events,
    )  # fmt: skip


def titles(p: Any) -> list[tuple[float, str, str]]:
    return [(c.start, c.title, c.kind) for c in p.chapters]


def test_content_fills_the_main_picture_while_presented_and_names_the_presenter():
    p = make(
        [event(10, TimelineKind.FLOOR, A), started(20, A, "Nguyễn Văn An"), stopped(50, A),
         event(70, TimelineKind.FLOOR, None)],
        [content(A, 20.2, 50.1)],
    )  # fmt: skip
    assert p.content == [Presentation(20.2, 50, A, "Nguyễn Văn An")]
    assert titles(p) == [
        (0.0, "Khai mạc: Hội trường tỉnh P", "speaker"),
        (10, "Phát biểu: Điểm cầu Huyện A", "speaker"),
        (20, "Trình bày: Nguyễn Văn An", "content"),
        (50, "Phát biểu: Điểm cầu Huyện A", "speaker"),  # back to the speaker
        (70, "Chủ trì: Hội trường tỉnh P", "speaker"),
    ]
    # Content segments are not a hall's picture: no hall file, no canvas of their own.
    assert p.halls == [P, A, B]
    # The main picture's intervals are the floor's, as without content.
    assert [(i.start, i.end, i.hall_id) for i in p.main] == [(0, 10, P), (10, 70, A), (70, 100, P)]


def test_switching_presenters_makes_two_presentations_and_no_chapter_between():
    p = make(
        [started(10, A, "Nguyễn Văn An"), stopped(30, A, "taken"),
         started(30.05, B, "Trần Thị Bình"), stopped(40, B)],
        [content(A, 10.1, 30.02), content(B, 30.2, 40)],
    )  # fmt: skip
    assert [(c.hall_id, c.presenter) for c in p.content] == [
        (A, "Nguyễn Văn An"), (B, "Trần Thị Bình"),
    ]  # fmt: skip
    # The first content stays until the second's first frame (no flash of the usual layout).
    assert (p.content[0].start, p.content[0].end) == (10.1, 30.2)
    assert (p.content[1].start, p.content[1].end) == (30.2, 40)
    assert [t for _, t, _ in titles(p)] == [
        "Khai mạc: Hội trường tỉnh P",
        "Trình bày: Nguyễn Văn An",
        "Trình bày: Trần Thị Bình",
        "Chủ trì: Hội trường tỉnh P",
    ]


def test_content_only_where_it_was_recorded_and_until_the_end_of_the_meeting():
    # Presented from 10 to the end (the meeting ended with content on); recorded in two
    # stretches with a gap (the recording stopped, then started again).
    p = make(
        [started(10, A, "Điểm cầu Huyện A")],
        [content(A, 5, 30), content(A, 30, 40), content(A, 60, None)],
    )
    assert [(c.start, c.end) for c in p.content] == [(10, 40), (60, 100)]
    assert titles(p)[-1] == (10, "Trình bày: Điểm cầu Huyện A", "content")


def test_no_content_segment_means_no_content_layout_but_the_chapter_stays():
    p = make([started(10, A, "Nguyễn Văn An"), stopped(20, A)], [])
    assert p.content == []
    assert [t for _, t, _ in titles(p)] == [
        "Khai mạc: Hội trường tỉnh P", "Trình bày: Nguyễn Văn An", "Chủ trì: Hội trường tỉnh P",
    ]  # fmt: skip


def test_a_presentation_with_the_agenda_item_makes_one_chapter():
    p = make(
        [event(10, TimelineKind.AGENDA_ITEM, None, index=0, title="Báo cáo"),
         started(10.2, A, "Nguyễn Văn An"), stopped(12, A), event(12.3, TimelineKind.FLOOR, B)],
        [content(A, 10.3, 12)],
    )  # fmt: skip
    assert titles(p)[1:] == [
        (10, "Mục 1: Báo cáo · Trình bày: Nguyễn Văn An", "agenda"),
        (12.3, "Phát biểu: Điểm cầu Huyện B", "speaker"),
    ]


def test_without_content_events_the_plan_is_as_before():
    p = make([event(10, TimelineKind.FLOOR, A)], [])
    assert p.content == []
    assert [t for _, t, _ in titles(p)] == [
        "Khai mạc: Hội trường tỉnh P", "Phát biểu: Điểm cầu Huyện A",
    ]  # fmt: skip
