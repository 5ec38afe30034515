"""Real aiortc client peers and synthetic media for the media layer's tests.

Clients are plain ``RTCPeerConnection``s with ``iceServers=[]`` in the same process; aioice
ignores the loopback addresses, so ICE runs over the machine's other interface.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import contextvars
import fractions
import itertools
import math
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import av
import pytest
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack, VideoStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy

from media import Peer

T = TypeVar("T")

WIDTH, HEIGHT = 320, 240


@dataclass(frozen=True)
class Yuv:
    """A solid colour, in the decoder's own terms."""

    y: int
    u: int
    v: int

    def close_to(self, other: Yuv, tolerance: int = 16) -> bool:
        return (
            abs(self.y - other.y) <= tolerance
            and abs(self.u - other.u) <= tolerance
            and abs(self.v - other.v) <= tolerance
        )


RED = Yuv(81, 90, 240)
GREEN = Yuv(145, 54, 34)
BLUE = Yuv(41, 240, 110)


class ColourVideoTrack(VideoStreamTrack):
    """30 fps of one solid colour (a new frame object each time: encoders mark frames)."""

    def __init__(self, colour: Yuv, width: int = WIDTH, height: int = HEIGHT) -> None:
        super().__init__()
        self.colour = colour
        self.width = width
        self.height = height
        self.frames_sent = 0
        self.running = asyncio.Event()
        """Cleared: the camera sends nothing (a frozen picture) until it is set again."""
        self.running.set()

    async def recv(self) -> av.VideoFrame:
        await self.running.wait()
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(width=self.width, height=self.height, format="yuv420p")
        for plane, value in zip(
            frame.planes, (self.colour.y, self.colour.u, self.colour.v), strict=True
        ):
            plane.update(bytes([value]) * plane.buffer_size)
        frame.pts = pts
        frame.time_base = time_base
        self.frames_sent += 1
        return frame


class ToneAudioTrack(MediaStreamTrack):
    """A 440 Hz tone, 48 kHz mono, 20 ms frames; ``loud = False`` makes it silent."""

    kind = "audio"
    rate = 48_000
    samples = 960

    def __init__(self, loud: bool = True) -> None:
        super().__init__()
        self.loud = loud
        tone = array.array(
            "h",
            (int(8000 * math.sin(2 * math.pi * 440 * i / self.rate)) for i in range(self.rate)),
        )
        self._tone = tone.tobytes()
        self._timestamp = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.time()
        else:
            self._timestamp += self.samples
            await asyncio.sleep(self._start + self._timestamp / self.rate - time.time())
        frame = av.AudioFrame(format="s16", layout="mono", samples=self.samples)
        offset = (self._timestamp % self.rate) * 2
        chunk = self._tone[offset : offset + self.samples * 2]
        if len(chunk) < self.samples * 2:
            chunk += self._tone[: self.samples * 2 - len(chunk)]
        frame.planes[0].update(chunk if self.loud else bytes(len(chunk)))
        frame.pts = self._timestamp
        frame.sample_rate = self.rate
        frame.time_base = fractions.Fraction(1, self.rate)
        return frame


def centre_colour(frame: av.VideoFrame) -> Yuv:
    """The colour at the centre of a decoded yuv420p frame."""
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    values = []
    for index, plane in enumerate(frame.planes):
        shift = 0 if index == 0 else 1
        row = (frame.height >> shift) // 2
        column = (frame.width >> shift) // 2
        values.append(bytes(plane)[row * plane.line_size + column])
    return Yuv(*values)


@dataclass
class Client:
    """A client peer connection and what it sends and receives."""

    pc: RTCPeerConnection
    video: ColourVideoTrack | None = None
    audio: ToneAudioTrack | None = None
    receiving: list[RTCRtpTransceiver] = field(default_factory=list)

    def received_track(self, index: int) -> MediaStreamTrack:
        track = self.receiving[index].receiver.track
        assert track is not None
        return track

    async def close(self) -> None:
        await self.pc.close()


def client_pc() -> RTCPeerConnection:
    # MAX_BUNDLE: with aiortc's default (balanced) policy, an offerer's second transceiver of
    # a kind that is not the first m-line's stays on a transport the answer's BUNDLE stops,
    # and never receives (aiortc 1.16). Browsers bundle correctly.
    return RTCPeerConnection(
        RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    )


def publisher_client(colour: Yuv, *, audio: bool = True) -> Client:
    """A client that sends a colour (and a tone) and receives nothing."""
    client = Client(pc=client_pc(), video=ColourVideoTrack(colour))
    client.pc.addTransceiver(client.video, direction="sendonly")
    if audio:
        client.audio = ToneAudioTrack()
        client.pc.addTransceiver(client.audio, direction="sendonly")
    return client


def subscriber_client(video_slots: int = 1, audio_slots: int = 1) -> Client:
    """A client that sends nothing and receives on ``video_slots`` + ``audio_slots`` slots."""
    client = Client(pc=client_pc())
    for _ in range(video_slots):
        client.receiving.append(client.pc.addTransceiver("video", direction="recvonly"))
    for _ in range(audio_slots):
        client.receiving.append(client.pc.addTransceiver("audio", direction="recvonly"))
    return client


async def offer(client: Client) -> str:
    await client.pc.setLocalDescription(await client.pc.createOffer())
    return client.pc.localDescription.sdp


async def negotiate(client: Client, peer: Peer) -> None:
    """Offer from the client, answer from the server peer."""
    answer = await peer.answer(await offer(client))
    await client.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))


async def connect(client: Client, peer: Peer, deadline: float = 10.0) -> None:
    """Negotiate and wait until both ends are connected."""
    await negotiate(client, peer)
    async with asyncio.timeout(deadline):
        await peer.wait_connected()
        await until(lambda: client.pc.connectionState == "connected", deadline=deadline)


async def until(condition: Callable[[], bool], *, deadline: float, interval: float = 0.01) -> None:
    """Wait until ``condition()`` holds; ``TimeoutError`` after ``deadline`` seconds.

    Polls: the conditions are on state no event announces (counters, connection states).
    """
    async with asyncio.timeout(deadline):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(interval)


async def within(awaitable: Awaitable[T], deadline: float) -> T:
    async with asyncio.timeout(deadline):
        return await awaitable


async def next_frame_of(
    track: MediaStreamTrack, colour: Yuv, *, deadline: float
) -> tuple[av.VideoFrame, int]:
    """Read decoded frames until one of ``colour``; return it and how many came before."""
    skipped = 0
    async with asyncio.timeout(deadline):
        while True:
            frame = await track.recv()
            assert isinstance(frame, av.VideoFrame)
            if centre_colour(frame).close_to(colour):
                return frame, skipped
            skipped += 1


class EncoderSpy:
    """Counts encoder calls, telling the server's senders (fed by forwarded tracks) apart.

    ``RTCRtpSender`` makes its encoder on its first frame; the sender that asked is noted (a
    context variable around ``_next_encoded_frame``), so each encoder is known to be the
    server's or a client's.
    """

    def __init__(self) -> None:
        self.server_encoders: list[object] = []
        self.server_encode_calls = 0
        self.server_pack_calls = 0
        self.client_encode_calls = 0
        self.client_forced_keyframes = 0
        self._lock = threading.Lock()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> EncoderSpy:
        import aiortc.rtcrtpsender
        from aiortc import RTCRtpSender
        from aiortc.codecs.h264 import H264Encoder
        from aiortc.codecs.opus import OpusEncoder
        from aiortc.codecs.vpx import Vp8Encoder

        from media import ForwardedTrack

        current_sender: contextvars.ContextVar[RTCRtpSender | None] = contextvars.ContextVar(
            "current_sender", default=None
        )
        original_next = RTCRtpSender._next_encoded_frame
        original_get_encoder = aiortc.rtcrtpsender.get_encoder
        spy = self

        async def next_encoded_frame(self: RTCRtpSender, codec: Any) -> Any:
            token = current_sender.set(self)
            try:
                return await original_next(self, codec)
            finally:
                current_sender.reset(token)

        def get_encoder(codec: Any) -> Any:
            encoder = original_get_encoder(codec)
            sender = current_sender.get()
            if sender is not None and isinstance(sender.track, ForwardedTrack):
                spy.server_encoders.append(encoder)
            return encoder

        monkeypatch.setattr(RTCRtpSender, "_next_encoded_frame", next_encoded_frame)
        monkeypatch.setattr(aiortc.rtcrtpsender, "get_encoder", get_encoder)
        for cls in (Vp8Encoder, H264Encoder, OpusEncoder):
            original_encode = cls.encode
            original_pack = cls.pack

            def encode(
                self: Any,
                frame: Any,
                force_keyframe: bool = False,
                _original: Any = original_encode,
            ) -> Any:
                with spy._lock:
                    if any(self is encoder for encoder in spy.server_encoders):
                        spy.server_encode_calls += 1
                    else:
                        spy.client_encode_calls += 1
                        if force_keyframe:
                            spy.client_forced_keyframes += 1
                return _original(self, frame, force_keyframe)

            def pack(self: Any, packet: Any, _original: Any = original_pack) -> Any:
                with spy._lock:
                    if any(self is encoder for encoder in spy.server_encoders):
                        spy.server_pack_calls += 1
                return _original(self, packet)

            monkeypatch.setattr(cls, "encode", encode)
            monkeypatch.setattr(cls, "pack", pack)
        return self


class FrameLog:
    """Reads a client's received track in a task and notes each frame's arrival and colour."""

    def __init__(self, track: MediaStreamTrack) -> None:
        self.track = track
        self.arrivals: list[float] = []
        self.colours: list[Yuv] = []
        self.audio_frames = 0
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            frame = await self.track.recv()
            self.arrivals.append(time.monotonic())
            if isinstance(frame, av.VideoFrame):
                self.colours.append(centre_colour(frame))
            else:
                self.audio_frames += 1

    def count(self) -> int:
        return len(self.arrivals)

    def max_gap(self, since: float = 0.0) -> float:
        times = [t for t in self.arrivals if t >= since]
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
