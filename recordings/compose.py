"""Post-processing: from the segments and the timeline, the meeting's composite "main screen",
one file per hall, a poster image and chapters (ffmpeg-python, the imageio-ffmpeg binary).

The timeline is the one source of truth: who holds the floor decides the main picture, mute
periods silence a hall in the mix, agenda items and changes of speaker make the chapters.
While content is presented (and was recorded), the main picture is the content large with the
speaker beside it, and each presentation makes a chapter. Segments are placed at their
wall-clock offsets; gaps (a hall not yet there, reconnecting) are black and silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import shutil
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ffmpeg
import imageio_ffmpeg

from recordings.files import private_dir, private_files
from rooms.models import TimelineKind

log = logging.getLogger("giaoban.compose")

WIDTH, HEIGHT, FPS = 1280, 720, 25
HALL_WIDTH, HALL_HEIGHT = 640, 360
CORNER_WIDTH, CORNER_HEIGHT, MARGIN = 320, 180, 24
CONTENT_WIDTH, CONTENT_HEIGHT = 960, 540
"""While content is presented: the content on the left, three quarters of the width, 16:9."""
CONTENT_Y = (HEIGHT - CONTENT_HEIGHT) // 2
COLUMN_X, COLUMN_WIDTH, COLUMN_HEIGHT = CONTENT_WIDTH, WIDTH - CONTENT_WIDTH, 180
"""The column beside the content: the speaker at the top, the chair hall under it."""
SPEAKER_Y, COLUMN_CHAIR_Y = CONTENT_Y, CONTENT_Y + 180 + 40
JOIN = 0.5
"""Segments closer than this follow each other (a segment's end is its last frame's time, and
the next begins on the keyframe after the cut)."""
CAMERA, CONTENT = "camera", "content"
"""A segment's track: a hall's camera and microphone, or the content presented (video)."""


class ComposeError(Exception):
    """ffmpeg failed; the message carries the end of what it said."""


def ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def font_file() -> Path:
    """DejaVu Sans (every Vietnamese diacritic), shipped inside matplotlib's wheel."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


@dataclass(frozen=True)
class Segment:
    hall_id: int
    path: Path
    start: float
    """Seconds from the start of the meeting (may be negative: recorded before it)."""
    has_video: bool
    has_audio: bool
    track: str = CAMERA
    """``camera`` or ``content``."""
    end: float | None = None
    """Seconds from the start of the meeting where it ends (None: not known, to the end)."""


@dataclass(frozen=True)
class Event:
    at: float
    """Seconds from the start of the meeting."""
    kind: TimelineKind
    hall_id: int | None
    data: dict[str, Any]


@dataclass(frozen=True)
class Interval:
    start: float
    end: float
    hall_id: int | None


@dataclass(frozen=True)
class Presentation:
    """Content presented from ``hall_id``'s side by ``presenter`` (the name shown)."""

    start: float
    end: float
    hall_id: int | None
    presenter: str


@dataclass(frozen=True)
class Chapter:
    start: float
    end: float
    title: str
    kind: str
    """``agenda``, ``speaker`` or ``content``."""


@dataclass
class Plan:
    """Everything the composite needs, derived from the timeline and the segments."""

    duration: float
    chair_hall_id: int
    names: dict[int, str]
    segments: list[Segment]
    main: list[Interval]
    """Who fills the main picture, back to back over the whole meeting."""
    muted: dict[int, list[tuple[float, float]]]
    chapters: list[Chapter]
    halls: list[int] = field(default_factory=list)
    content: list[Presentation] = field(default_factory=list)
    """When the content fills the main picture: presented, and recorded."""


def plan(
    *,
    duration: float,
    chair_hall_id: int,
    names: dict[int, str],
    segments: Sequence[Segment],
    events: Sequence[Event],
    agenda_prefix: str = "Mục",
) -> Plan:
    """The composite's plan: main-picture intervals, mute periods, chapters."""
    floor: int | None = None
    changes: list[tuple[float, int | None]] = [(0.0, None)]
    muted_since: dict[int, float] = {}
    muted: dict[int, list[tuple[float, float]]] = {h: [] for h in names}
    presenting: tuple[float, int | None, str] | None = None
    presented: list[Presentation] = []
    resume_at: float | None = None
    """A presentation stopped here: a chapter goes back to the speaker, unless another
    presentation starts at once (a switch of presenters)."""
    for hall_id in names:
        if hall_id != chair_hall_id:
            muted_since[hall_id] = 0.0  # halls join muted; the chair hall does not
    chapters_at: list[tuple[float, str, str]] = []

    def speaker_title() -> str:
        who = names.get(floor, "") if floor is not None else names.get(chair_hall_id, "")
        return f"{'Phát biểu' if floor is not None else 'Chủ trì'}: {who}"

    def resume(until: float) -> None:
        nonlocal resume_at
        if resume_at is not None and until - resume_at >= 0.5:
            chapters_at.append((resume_at, speaker_title(), "speaker"))
        resume_at = None

    for e in sorted(events, key=lambda e: e.at):
        at = min(max(e.at, 0.0), duration)
        if e.kind is not TimelineKind.CONTENT_STOPPED:
            resume(at)
        if e.kind is TimelineKind.CONTENT_STARTED:
            if presenting is not None:  # started again without a stop: the last one ends
                presented.append(Presentation(presenting[0], at, *presenting[1:]))
            who = str(e.data.get("presenter", "")).strip() or names.get(e.hall_id or 0, "")
            presenting = (at, e.hall_id, who)
            chapters_at.append((at, f"Trình bày: {who}", "content"))
        elif e.kind is TimelineKind.CONTENT_STOPPED:
            if presenting is not None:
                presented.append(Presentation(presenting[0], at, *presenting[1:]))
                presenting = None
                resume_at = at
        elif e.kind is TimelineKind.FLOOR and e.hall_id != floor:
            floor = e.hall_id
            changes.append((at, floor))
            chapters_at.append((at, speaker_title(), "speaker"))
        elif e.kind is TimelineKind.MUTE and e.hall_id in muted:
            if e.data.get("muted") and e.hall_id not in muted_since:
                muted_since[e.hall_id] = at
            elif not e.data.get("muted") and e.hall_id in muted_since:
                muted[e.hall_id].append((muted_since.pop(e.hall_id), at))
        elif e.kind is TimelineKind.AGENDA_ITEM:
            index = int(e.data.get("index", 0)) + 1
            chapters_at.append(
                (at, f"{agenda_prefix} {index}: {e.data.get('title', '')}", "agenda")
            )
    for hall_id, since in muted_since.items():
        muted[hall_id].append((since, duration))
    resume(duration)
    if presenting is not None:  # the meeting ended with content on: its end is the stop
        presented.append(Presentation(presenting[0], duration, *presenting[1:]))

    main: list[Interval] = []
    for i, (at, holder) in enumerate(changes):
        end = changes[i + 1][0] if i + 1 < len(changes) else duration
        shown = holder if holder is not None else chair_hall_id
        if end - at < 1 / FPS:
            continue
        if main and main[-1].hall_id == shown:
            main[-1] = Interval(main[-1].start, end, shown)
        else:
            main.append(Interval(at, end, shown))
    if not main:
        main = [Interval(0.0, duration, chair_hall_id)]

    # Points closer than half a second (an agenda item and its first speaker) make one chapter.
    merged: list[tuple[float, str, str]] = []
    for at, title, kind in sorted(chapters_at, key=lambda c: c[0]):
        if merged and at - merged[-1][0] < 0.5:
            first_at, first_title, first_kind = merged[-1]
            both = "agenda" if "agenda" in (kind, first_kind) else kind
            merged[-1] = (first_at, f"{first_title} · {title}", both)
        else:
            merged.append((at, title, kind))
    if not merged or merged[0][0] > 0.5:
        merged.insert(0, (0.0, f"Khai mạc: {names.get(chair_hall_id, '')}", "speaker"))
    chapters = [
        Chapter(at, merged[i + 1][0] if i + 1 < len(merged) else duration, title, kind)
        for i, (at, title, kind) in enumerate(merged)
    ]
    halls = sorted({s.hall_id for s in segments if s.track == CAMERA})
    content = content_shown(presented, [s for s in segments if s.track == CONTENT], duration)
    return Plan(
        duration, chair_hall_id, names, list(segments), main, muted, chapters, halls, content
    )


def content_shown(
    presented: Sequence[Presentation], segments: Sequence[Segment], duration: float
) -> list[Presentation]:
    """Where the content fills the main picture: while presented and where a content segment
    with video was recorded (elsewhere the layout stays as it is), at least a frame long."""
    covered: list[tuple[float, float, int]] = []
    for s in sorted(segments, key=lambda s: s.start):
        a, b = max(s.start, 0.0), min(s.end if s.end is not None else duration, duration)
        if not s.has_video or b <= a:
            continue
        last = covered[-1] if covered else None
        if last and last[2] == s.hall_id and a - last[1] < JOIN:  # the next segment
            covered[-1] = (last[0], max(last[1], b), s.hall_id)
        else:
            covered.append((a, b, s.hall_id))
    shown: list[Presentation] = []
    for p in presented:
        for a, b, hall_id in covered:
            if hall_id != p.hall_id:  # another presenter's content, closing
                continue
            start, end = max(p.start, a), min(p.end, b)
            if end - start >= 1 / FPS:
                shown.append(Presentation(start, end, p.hall_id, p.presenter))
    # A switch of presenters (or a gap at a cut): the last picture stays until the next begins,
    # rather than the usual layout for an instant.
    shown.sort(key=lambda c: c.start)
    for i in range(len(shown) - 1):
        if 0 < shown[i + 1].start - shown[i].end < JOIN:
            shown[i] = dataclasses.replace(shown[i], end=shown[i + 1].start)
    return shown


def webvtt(chapters: Sequence[Chapter]) -> str:
    def stamp(t: float) -> str:
        ms = round(t * 1000)
        return (
            f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"
        )

    lines = ["WEBVTT", ""]
    for i, c in enumerate(chapters, start=1):
        lines += [str(i), f"{stamp(c.start)} --> {stamp(c.end)}", c.title, ""]
    return "\n".join(lines)


def ffmetadata(title: str, chapters: Sequence[Chapter]) -> str:
    def esc(text: str) -> str:
        return re.sub(r"([=;#\\\n])", r"\\\1", text)

    lines = [";FFMETADATA1", f"title={esc(title)}"]
    for c in chapters:
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={round(c.start * 1000)}",
                  f"END={round(c.end * 1000)}", f"title={esc(c.title)}"]  # fmt: skip
    return "\n".join(lines) + "\n"


Progress = Callable[[float, str], Awaitable[None]]
"""Told the percent done (0..100) and the step."""


@dataclass
class Steps:
    """The ffmpeg command lines of a meeting's post-processing, and what they make."""

    composite: list[str]
    chapters: list[str]
    poster: list[str]
    made: dict[str, Any]


async def compose(p: Plan, title: str, out: Path, work: Path, progress: Progress) -> dict[str, Any]:
    """Build every output of a meeting into ``out``; returns what was made (file names)."""
    steps = await asyncio.to_thread(prepare, p, title, out, work)
    await progress(1.0, "composite")
    await _run(steps.composite, p.duration, progress, 1.0, 90.0)
    await progress(92.0, "chapters")
    await _run(steps.chapters, None, progress, 92.0, 95.0)
    await progress(96.0, "poster")
    await _run(steps.poster, None, progress, 96.0, 99.0)
    await asyncio.to_thread(shutil.rmtree, work, True)
    await asyncio.to_thread(private_files, out)  # ffmpeg made them with the umask's mode
    await progress(100.0, "done")
    return steps.made


def prepare(p: Plan, title: str, out: Path, work: Path) -> Steps:
    """Write the small files ffmpeg reads (texts, chapters) and build its command lines."""
    private_dir(out)
    private_dir(work)
    font = font_file()
    texts: dict[str, Path] = {}

    def text_file(text: str) -> str:
        """drawtext reads its text from a file: no escaping of Vietnamese or punctuation."""
        if text not in texts:
            path = work / f"text-{len(texts)}.txt"
            path.write_text(text, encoding="utf-8")
            texts[text] = path
        return str(texts[text])

    inputs = {id(s): ffmpeg.input(str(s.path)) for s in p.segments}

    def place(
        base: Any, picture: Any, s: Segment, width: int, height: int, hold: bool = False
    ) -> Any:
        """The segment's picture on ``base`` at its offset, fitted into width x height; after
        its last frame, black (or, with ``hold``, its last frame until another covers it)."""
        if s.start < 0:  # recorded before the meeting started: keep what follows
            picture = picture.filter("trim", start=-s.start).filter("setpts", "PTS-STARTPTS")
        else:
            picture = picture.filter("setpts", f"PTS-STARTPTS+{s.start:.3f}/TB")
        picture = picture.filter(
            "scale", width, height, force_original_aspect_ratio="decrease"
        ).filter("pad", width, height, "(ow-iw)/2", "(oh-ih)/2")
        if hold:
            return ffmpeg.overlay(base, picture, eof_action="repeat")
        return ffmpeg.overlay(base, picture, eof_action="pass", repeatlast=0)

    uses: dict[int, int] = {h: 0 for h in p.halls}
    for interval in p.main:
        if interval.hall_id is not None:
            uses[interval.hall_id] = uses.get(interval.hall_id, 0) + 1
    uses[p.chair_hall_id] = uses.get(p.chair_hall_id, 0) + 1
    for h in p.halls:
        uses[h] = uses.get(h, 0) + 1  # the hall's own file

    # One canvas per hall: its segments placed on black at their offsets.
    canvases: dict[int, list[Any]] = {}
    for hall_id, count in uses.items():
        base = ffmpeg.input(
            f"color=c=black:s={WIDTH}x{HEIGHT}:r={FPS}:d={p.duration:.3f}", f="lavfi"
        ).video
        for s in p.segments:
            if s.hall_id != hall_id or not s.has_video or s.track != CAMERA:
                continue
            base = place(base, inputs[id(s)].video, s, WIDTH, HEIGHT)
        canvas = base.filter("fps", FPS).filter("trim", duration=p.duration)
        split = canvas.split()
        canvases[hall_id] = [split[i] for i in range(count)]

    taken: dict[int, int] = {h: 0 for h in canvases}

    def with_content(main: Any, speaker: Any, chair: Any, chair_on: list[Interval]) -> Any:
        """While content is shown: the content on the left (3/4 of the width), the speaker
        beside it and under the speaker the chair hall (while another hall speaks), named."""
        on = "+".join(f"between(t,{c.start:.3f},{c.end:.3f})" for c in p.content)
        board = ffmpeg.input(
            f"color=c=black:s={CONTENT_WIDTH}x{CONTENT_HEIGHT}:r={FPS}:d={p.duration:.3f}",
            f="lavfi",
        ).video
        # Each content segment holds its last frame until the next one begins: the board is
        # only seen while content is shown, and the cut between two segments stays unseen.
        for s in sorted(p.segments, key=lambda s: s.start):
            if s.track == CONTENT and s.has_video:
                picture = inputs[id(s)].video
                board = place(board, picture, s, CONTENT_WIDTH, CONTENT_HEIGHT, hold=True)
        board = board.filter("fps", FPS).filter("trim", duration=p.duration)
        layer = ffmpeg.input(
            f"color=c=black:s={WIDTH}x{HEIGHT}:r={FPS}:d={p.duration:.3f}", f="lavfi"
        ).video
        layer = ffmpeg.overlay(layer, board, x=0, y=CONTENT_Y)
        small = speaker.filter("scale", COLUMN_WIDTH, COLUMN_HEIGHT)
        layer = ffmpeg.overlay(layer, small, x=COLUMN_X, y=SPEAKER_Y)
        if chair_on:
            chair_enable = "+".join(f"between(t,{i.start:.3f},{i.end:.3f})" for i in chair_on)
            layer = ffmpeg.overlay(layer, chair, x=COLUMN_X, y=COLUMN_CHAIR_Y, enable=chair_enable)
        main = ffmpeg.overlay(main, layer, x=0, y=0, enable=on)
        label = {"fontfile": str(font), "fontsize": 20, "fontcolor": "white", "box": 1,
                 "boxcolor": "black@0.6", "boxborderw": 6}  # fmt: skip
        for i in p.main:
            hall = i.hall_id if i.hall_id is not None else p.chair_hall_id
            during = f"({on})*between(t,{i.start:.3f},{i.end:.3f})"
            main = main.drawtext(
                textfile=text_file(p.names.get(hall, "")), x=COLUMN_X + 8,
                y=SPEAKER_Y + COLUMN_HEIGHT + 6, enable=during, **label,
            )  # fmt: skip
            if hall != p.chair_hall_id:
                main = main.drawtext(
                    textfile=text_file(p.names.get(p.chair_hall_id, "")), x=COLUMN_X + 8,
                    y=COLUMN_CHAIR_Y + COLUMN_HEIGHT + 6, enable=during, **label,
                )  # fmt: skip
        for c in p.content:
            main = main.drawtext(
                textfile=text_file(f"Trình bày: {c.presenter}"), x=MARGIN,
                y=CONTENT_Y + CONTENT_HEIGHT + 12, enable=f"between(t,{c.start:.3f},{c.end:.3f})",
                **label,
            )  # fmt: skip
        return main

    def take(hall_id: int) -> Any:
        stream = canvases[hall_id][taken[hall_id]]
        taken[hall_id] += 1
        return stream

    # The main picture: the floor holder (the chair hall when nobody holds it).
    parts = [
        take(i.hall_id if i.hall_id is not None else p.chair_hall_id)
        .filter("trim", start=round(i.start, 3), end=round(i.end, 3))
        .filter("setpts", "PTS-STARTPTS")
        for i in p.main
    ]
    main = ffmpeg.concat(*parts, v=1, a=0) if len(parts) > 1 else parts[0]
    corner_on = [i for i in p.main if i.hall_id != p.chair_hall_id]
    corner = take(p.chair_hall_id).filter("scale", CORNER_WIDTH, CORNER_HEIGHT)
    if p.content:
        # The speaker (the main picture's hall) and the chair hall go beside the content too.
        copies = main.split()
        main, speaker = copies[0], copies[1]
        chairs = corner.split()
        corner, column_chair = chairs[0], chairs[1]
    if corner_on:
        enable = "+".join(f"between(t,{i.start:.3f},{i.end:.3f})" for i in corner_on)
        main = ffmpeg.overlay(main, corner, x=f"W-w-{MARGIN}", y=MARGIN, enable=enable)
        main = main.drawtext(
            textfile=text_file(p.names.get(p.chair_hall_id, "")), fontfile=str(font),
            fontsize=20, fontcolor="white", box=1, boxcolor="black@0.6", boxborderw=6,
            x=f"w-{CORNER_WIDTH + MARGIN}", y=MARGIN + CORNER_HEIGHT + 6, enable=enable,
        )  # fmt: skip
    for i in p.main:
        name = p.names.get(i.hall_id if i.hall_id is not None else p.chair_hall_id, "")
        main = main.drawtext(
            textfile=text_file(name), fontfile=str(font), fontsize=34, fontcolor="white",
            box=1, boxcolor="black@0.55", boxborderw=10, x=MARGIN, y=f"h-th-{MARGIN}",
            enable=f"between(t,{i.start:.3f},{i.end:.3f})",
        )  # fmt: skip

    if p.content:
        main = with_content(main, speaker, column_chair, corner_on)

    # Sound: every hall at its true offset, silenced while muted; each used twice (the
    # composite's mix and the hall's own file).
    placed: dict[int, list[Any]] = {}
    for s in p.segments:
        if not s.has_audio:
            continue
        # async=1: a terminal's Opus DTX leaves gaps in the timestamps while its hall is
        # silent or muted; they are filled with silence, or what follows would move earlier.
        sound = inputs[id(s)].audio.filter("aresample", 48000, **{"async": 1})
        if s.start < 0:
            sound = sound.filter("atrim", start=-s.start).filter("asetpts", "PTS-STARTPTS")
        else:
            sound = sound.filter("adelay", f"{round(s.start * 1000)}", all=1)
        for a, b in p.muted.get(s.hall_id, []):
            sound = sound.filter("volume", 0, enable=f"between(t,{a:.3f},{b:.3f})")
        copies = sound.filter_multi_output("asplit", 2)
        placed[id(s)] = [copies[0], copies[1]]

    # One silence under each mix (the composite's, each hall's): split from one source, since
    # ffmpeg-python takes identical nodes for one (a hall without sound would be the same
    # graph as another).
    silences = ffmpeg.input(
        f"anullsrc=r=48000:cl=stereo:d={p.duration:.3f}", f="lavfi"
    ).audio.filter_multi_output("asplit", 1 + len(p.halls))
    mixes = iter(range(1 + len(p.halls)))

    def hall_audio(hall_id: int | None) -> Any:
        """The mix of every hall (None), or of one hall, over the whole meeting."""
        index = 0 if hall_id is None else 1
        sounds = [
            placed[id(s)][index]
            for s in p.segments
            if id(s) in placed and (hall_id is None or s.hall_id == hall_id)
        ]
        silence = silences[next(mixes)]
        mixed = ffmpeg.filter([silence, *sounds], "amix", inputs=len(sounds) + 1, normalize=0,
                              duration="first", dropout_transition=0)  # fmt: skip
        return mixed.filter("atrim", duration=p.duration)

    video_args = {"c:v": "libx264", "preset": "veryfast", "crf": 23, "pix_fmt": "yuv420p",
                  "r": FPS, "c:a": "aac", "b:a": "128k", "ac": 2}  # fmt: skip
    composite_tmp = work / "composite.mp4"
    outputs = [ffmpeg.output(main, hall_audio(None), str(composite_tmp), **video_args)]
    made: dict[str, Any] = {"composite": "composite.mp4", "halls": {}}
    for hall_id in p.halls:
        picture = take(hall_id).filter("scale", HALL_WIDTH, HALL_HEIGHT).drawtext(
            textfile=text_file(p.names.get(hall_id, "")), fontfile=str(font), fontsize=22,
            fontcolor="white", box=1, boxcolor="black@0.55", boxborderw=6, x=16, y="h-th-16",
        )  # fmt: skip
        name = f"hall-{hall_id}.mp4"
        outputs.append(
            ffmpeg.output(
                picture, hall_audio(hall_id), str(out / name), movflags="+faststart", **video_args
            )
        )
        made["halls"][str(hall_id)] = name
    graph = ffmpeg.merge_outputs(*outputs).global_args(
        "-hide_banner", "-nostats", "-loglevel", "error", "-progress", "pipe:1", "-y"
    )

    # Chapters into the MP4 (a copy, no re-encoding), faststart; WebVTT beside it.
    meta = work / "chapters.ffmeta"
    meta.write_text(ffmetadata(title, p.chapters), encoding="utf-8")
    (out / "chapters.vtt").write_text(webvtt(p.chapters), encoding="utf-8")
    made["chapters"] = "chapters.vtt"
    # ffmpeg-python maps every input it is given, and the metadata input has no stream: this
    # step is written as an argument list of its own.
    exe = ffmpeg_exe()
    final = [
        exe, "-hide_banner", "-loglevel", "error", "-y", "-i", str(composite_tmp), "-i", str(meta),
        "-map", "0", "-map_metadata", "1", "-map_chapters", "1", "-c", "copy",
        "-movflags", "+faststart", str(out / "composite.mp4"),
    ]  # fmt: skip

    # A poster: the first speaker other than the chair, or the middle of the meeting.
    speaking = next((i for i in p.main if i.hall_id != p.chair_hall_id), None)
    at = (speaking.start + speaking.end) / 2 if speaking else p.duration / 2
    poster = (
        ffmpeg.input(str(out / "composite.mp4"), ss=f"{at:.3f}")
        .output(str(out / "poster.jpg"), vframes=1, **{"q:v": 3})
        .global_args("-hide_banner", "-loglevel", "error", "-y")
    )
    made["poster"] = "poster.jpg"
    return Steps(graph.compile(cmd=exe), final, poster.compile(cmd=exe), made)


async def _run(
    args: list[str], duration: float | None, progress: Progress, low: float, high: float
) -> None:
    """Run ffmpeg (an argument list, never a shell), reporting ``-progress`` between low..high."""
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    errors = asyncio.create_task(proc.stderr.read())
    last = low
    try:
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").strip()
            if duration and line.startswith("out_time_us="):
                with contextlib.suppress(ValueError):
                    done = int(line.split("=", 1)[1]) / 1e6 / duration
                    percent = low + (high - low) * min(max(done, 0.0), 1.0)
                    if percent - last >= 1.0:
                        last = percent
                        await progress(percent, "composite")
        code = await proc.wait()
    except asyncio.CancelledError:
        proc.kill()
        await proc.wait()
        raise
    stderr = (await errors).decode(errors="replace").strip()
    if code != 0:
        raise ComposeError(f"ffmpeg exited with {code}: {stderr[-2000:]}")
