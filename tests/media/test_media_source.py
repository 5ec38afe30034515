"""Contracts of Source and ForwardedTrack, fed packets directly (no network)."""

from __future__ import annotations

import asyncio
import fractions

import av
import pytest
from aiortc.mediastreams import MediaStreamError
from media_testkit import until

from media import (
    ForwardedTrack,
    ForwardingSettings,
    IncompatibleSourceError,
    KeyframeSettings,
    MediaKind,
    Source,
)

VIDEO_TB = fractions.Fraction(1, 90_000)
AUDIO_TB = fractions.Fraction(1, 48_000)


def packet(pts: int, *, key: bool = False, corrupt: bool = False, audio: bool = False) -> av.Packet:
    made = av.Packet(bytes([pts & 0xFF]) * 50)
    made.pts = pts
    made.time_base = AUDIO_TB if audio else VIDEO_TB
    made.is_keyframe = key or audio
    made.is_corrupt = corrupt
    return made


class Requests:
    """A fake publisher: counts keyframe requests, with their loop times."""

    def __init__(self) -> None:
        self.times: list[float] = []

    async def __call__(self) -> bool:
        self.times.append(asyncio.get_running_loop().time())
        return True


class Collect:
    def __init__(self) -> None:
        self.packets: list[av.Packet] = []
        self.ended = False

    def on_packet(self, source: Source, packet: av.Packet) -> None:
        self.packets.append(packet)

    def on_source_ended(self, source: Source) -> None:
        self.ended = True


def video_source(requests: Requests | None = None, **settings: float) -> Source:
    return Source(
        kind=MediaKind.VIDEO,
        codec="video/VP8",
        send_keyframe_request=requests,
        keyframes=KeyframeSettings(**settings) if settings else None,
    )


async def started(track: ForwardedTrack) -> asyncio.Task[av.Packet]:
    """A first recv() in a task: the subscriber's sender has started reading."""
    task = asyncio.get_running_loop().create_task(track.recv())
    await asyncio.sleep(0)
    return task


async def test_a_video_source_forwards_from_its_first_keyframe_and_asks_for_one() -> None:
    requests = Requests()
    source = video_source(requests)
    sink = Collect()
    source.subscribe(sink)
    source.feed(packet(0))
    await until(lambda: len(requests.times) == 1, deadline=1)
    assert sink.packets == [] and not source.has_keyframe
    source.feed(packet(3000, key=True))
    source.feed(packet(6000))
    assert [p.pts for p in sink.packets] == [3000, 6000]
    assert source.has_keyframe and source.frames_dropped == 1
    await source.close()


async def test_after_a_lost_packet_a_source_drops_frames_until_the_next_keyframe() -> None:
    requests = Requests()
    source = video_source(requests)
    sink = Collect()
    source.subscribe(sink)
    source.feed(packet(0, key=True))
    source.feed(packet(6000, corrupt=True))
    source.feed(packet(9000))
    await until(lambda: len(requests.times) == 1, deadline=1)
    source.feed(packet(12000, key=True))
    assert [p.pts for p in sink.packets] == [0, 12000]
    assert source.discontinuities == 1 and source.frames_dropped == 2
    await source.close()


async def test_keyframe_requests_are_rate_limited_and_repeated_while_unanswered() -> None:
    requests = Requests()
    source = video_source(requests, min_interval=0.1, retry_interval=0.3)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for _ in range(20):
        source.request_keyframe()
    await until(lambda: len(requests.times) == 1, deadline=1)
    # Unanswered: asked again after retry_interval, not before.
    await until(lambda: len(requests.times) == 2, deadline=1)
    assert requests.times[1] - requests.times[0] >= 0.3 - 0.01
    source.feed(packet(0, key=True))  # answered
    source.request_keyframe()  # a new subscriber, right after
    await until(lambda: len(requests.times) == 3, deadline=1)
    assert requests.times[2] - requests.times[1] >= 0.1 - 0.01
    source.feed(packet(3000, key=True))
    assert len(requests.times) == 3
    assert loop.time() - start < 1.0
    await source.close()
    assert source._keyframe_task is None


async def test_a_forwarded_track_keeps_monotonic_timestamps_across_switches() -> None:
    first, second = video_source(Requests()), video_source(Requests())
    track = ForwardedTrack(MediaKind.VIDEO, codec="video/VP8")
    track.switch_source(first)
    receiving = await started(track)
    first.feed(packet(1000))  # not a keyframe: dropped, the track waits for one
    first.feed(packet(4000, key=True))
    first.feed(packet(7000))
    out = [await receiving, await track.recv()]
    assert [(p.pts, p.is_keyframe) for p in out] == [(0, True), (3000, False)]

    track.switch_source(second)
    second.feed(packet(500_000))  # not a keyframe: dropped
    first.feed(packet(10_000))  # the old source: ignored
    second.feed(packet(503_000, key=True))
    second.feed(packet(506_000))
    after = [await track.recv(), await track.recv()]
    assert after[0].is_keyframe and after[0].time_base == VIDEO_TB
    assert after[0].pts >= 3000 + 3000  # one frame at least after the last one
    assert after[1].pts - after[0].pts == 3000  # then the source's own spacing
    assert track.switches == 2 and track.source is second
    assert first.sinks == ()
    # Each subscriber gets its own packet object; the source's is left as it was.
    assert out[0] is not first
    track.stop()


async def test_a_slow_subscriber_loses_queued_video_and_restarts_from_a_keyframe() -> None:
    source = video_source(Requests())
    track = ForwardedTrack(
        MediaKind.VIDEO, codec="video/VP8", settings=ForwardingSettings(video_queue=3)
    )
    track.switch_source(source)
    receiving = await started(track)
    source.feed(packet(0, key=True))
    assert (await receiving).pts == 0
    for pts in (3000, 6000, 9000, 12000):  # the fourth overflows the queue of 3
        source.feed(packet(pts))
    source.feed(packet(15000))  # still waiting for a keyframe: dropped
    source.feed(packet(18000, key=True))
    got = await track.recv()
    assert got.is_keyframe and got.pts == 18000
    assert track.overflows == 1 and track.frames_dropped == 5


async def test_a_slow_subscriber_loses_the_oldest_audio() -> None:
    source = Source(kind=MediaKind.AUDIO, codec="audio/opus")
    track = ForwardedTrack(
        MediaKind.AUDIO, codec="audio/opus", settings=ForwardingSettings(audio_queue=3)
    )
    track.switch_source(source)
    receiving = await started(track)
    source.feed(packet(0, audio=True))
    assert (await receiving).pts == 0
    for pts in (960, 1920, 2880, 3840):
        source.feed(packet(pts, audio=True))
    assert [(await track.recv()).pts for _ in range(3)] == [1920, 2880, 3840]


async def test_a_track_refuses_a_source_of_another_codec_or_kind() -> None:
    track = ForwardedTrack(MediaKind.VIDEO, codec="video/VP8")
    h264 = Source(kind=MediaKind.VIDEO, codec="video/H264")
    with pytest.raises(IncompatibleSourceError, match="without transcoding"):
        track.switch_source(h264)
    with pytest.raises(IncompatibleSourceError):
        track.switch_source(Source(kind=MediaKind.AUDIO, codec="audio/opus"))
    assert track.source is None


async def test_an_ended_source_detaches_its_tracks_and_calls_back() -> None:
    source = video_source(Requests())
    track = ForwardedTrack(MediaKind.VIDEO)
    track.switch_source(source)
    ended: list[Source] = []
    source.add_ended_callback(ended.append)
    await source.close()
    await source.close()
    assert ended == [source] and track.source is None and source.ended
    late = Collect()
    source.subscribe(late)
    assert late.ended


async def test_a_stopped_track_ends_its_readers() -> None:
    track = ForwardedTrack(MediaKind.AUDIO)
    receiving = await started(track)
    track.stop()
    with pytest.raises(MediaStreamError):
        await receiving
    with pytest.raises(MediaStreamError):
        await track.recv()
