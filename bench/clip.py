"""Pre-encoded media for the load generator: VP8 640x360 25 fps (~500 kbit/s) and Opus.

Encoded once (PyAV, libvpx and libopus) and cached on disk, so that every load-generator
process sends the same frames without encoding anything. Each video frame is different (a
moving block of noise on a slowly changing background), a keyframe every ``GOP`` frames.

Every frame a hall sends carries a 24-byte trailer appended after the VP8 bitstream (see
:func:`tag`): the sending hall, a sequence number, the wall-clock send time and a CRC-32 of the
frame. A VP8 decoder ignores it (it follows the last partition; checked by
:func:`check_decodable`), an SFU forwards it untouched, so the receiver reads the send time of
each frame at arrival on the same machine clock, and checks the frame arrived intact.
"""

from __future__ import annotations

import fractions
import functools
import os
import pickle
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

WIDTH, HEIGHT, FPS = 640, 360, 25
BITRATE = 500_000
GOP = 50
"Frames between keyframes (2 s)."
SECONDS = 10
OPUS_FRAME = 960
"Samples per Opus packet at 48 kHz (20 ms)."

TRAILER = struct.Struct(">4sIIdI")
MAGIC = b"GBT1"
VIDEO_TIME_BASE = fractions.Fraction(1, 90_000)
AUDIO_TIME_BASE = fractions.Fraction(1, 48_000)


@dataclass
class Clip:
    video: list[bytes]
    keyframes: list[bool]
    audio: list[bytes]

    @property
    def video_kbps(self) -> float:
        return sum(len(f) for f in self.video) * 8 * FPS / len(self.video) / 1000

    def next_keyframe(self, index: int) -> int:
        """The index of the first keyframe at or after ``index`` (wrapping)."""
        n = len(self.video)
        for step in range(n):
            if self.keyframes[(index + step) % n]:
                return (index + step) % n
        return index % n


def _encode_video() -> tuple[list[bytes], list[bool]]:
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height = WIDTH, HEIGHT
    codec.pix_fmt = "yuv420p"
    codec.time_base = fractions.Fraction(1, FPS)
    codec.framerate = fractions.Fraction(FPS, 1)
    codec.bit_rate = BITRATE
    codec.gop_size = GOP
    codec.options = {
        "deadline": "realtime",
        "cpu-used": "8",
        "lag-in-frames": "0",
        "keyint_min": str(GOP),
        "rc_lookahead": "0",
        "error-resilient": "1",
    }
    rng = np.random.default_rng(7)
    block = 96
    frames: list[bytes] = []
    keys: list[bool] = []
    total = SECONDS * FPS
    for index in range(total + 8):
        y = np.full((HEIGHT, WIDTH), 60 + (index * 3) % 120, dtype=np.uint8)
        y[:, : WIDTH // 2] = np.linspace(30, 220, WIDTH // 2, dtype=np.uint8)
        noise = rng.integers(0, 255, (block, block), dtype=np.uint8)
        x0 = (index * 7) % (WIDTH - block)
        y0 = (index * 3) % (HEIGHT - block)
        y[y0 : y0 + block, x0 : x0 + block] = noise
        u = np.full((HEIGHT // 2, WIDTH // 2), 128, dtype=np.uint8)
        v = np.full((HEIGHT // 2, WIDTH // 2), 128 + index % 40, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(
            np.concatenate([y.ravel(), u.ravel(), v.ravel()]).reshape(HEIGHT * 3 // 2, WIDTH),
            format="yuv420p",
        )
        frame.pts = index
        for packet in codec.encode(frame):
            frames.append(bytes(packet))
            keys.append(bool(packet.is_keyframe))
    for packet in codec.encode(None):
        frames.append(bytes(packet))
        keys.append(bool(packet.is_keyframe))
    # Start on a keyframe and end just before one, so that the loop is seamless for a
    # decoder (the relay decodes).
    start = keys.index(True)
    frames, keys = frames[start:], keys[start:]
    last = max(i for i, k in enumerate(keys) if k and i >= GOP) if len(keys) > GOP else len(keys)
    return frames[:last], keys[:last]


def _opus(samples: np.ndarray, **options: str) -> list[bytes]:
    """``samples`` (mono, 48 kHz, int16) as stereo Opus packets of :data:`OPUS_FRAME`."""
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate = 48_000
    codec.layout = "stereo"
    codec.format = "s16"
    codec.bit_rate = 32_000
    codec.time_base = AUDIO_TIME_BASE
    codec.options = options
    stereo = np.repeat(samples, 2).reshape(1, -1)
    packets: list[bytes] = []
    for start in range(0, samples.size - OPUS_FRAME + 1, OPUS_FRAME):
        chunk = stereo[:, start * 2 : (start + OPUS_FRAME) * 2]
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(chunk), format="s16", layout="stereo"
        )
        frame.sample_rate = 48_000
        frame.pts = start
        packets.extend(bytes(p) for p in codec.encode(frame))
    return packets


def _encode_audio() -> list[bytes]:
    t = np.arange(48_000 * 2) / 48_000
    tone = (np.sin(2 * np.pi * 440 * t) * 8000 * (0.6 + 0.4 * np.sin(2 * np.pi * t))).astype(
        np.int16
    )
    return _opus(tone)


DTX_EVERY = 10
"""While its microphone is silent, a terminal sends one Opus frame in this many (Chromium,
with the DTX the server's answer asks for: 4.8 packets a second from a muted terminal,
measured by tests/web/test_bandwidth.py)."""


@functools.cache
def dtx_frame() -> bytes:
    """The frame libopus sends for silence with DTX on (a few bytes: comfort noise)."""
    # (libopus keeps coding a silence it starts with: a word first, then the silence.)
    t = np.arange(OPUS_FRAME * 10) / 48_000
    word = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
    samples = np.concatenate([word, np.zeros(OPUS_FRAME * 40, dtype=np.int16)])
    last = _opus(samples, dtx="1", application="voip")[-1]
    assert len(last) < 10, len(last)
    return last


def load(cache_dir: str | os.PathLike[str]) -> Clip:
    """The clip, encoded on first use and kept in ``cache_dir``."""
    path = Path(cache_dir) / f"clip-{WIDTH}x{HEIGHT}-{FPS}-{BITRATE}-{GOP}-{SECONDS}.pickle"
    if path.exists():
        clip: Clip = pickle.loads(path.read_bytes())
        return clip
    video, keys = _encode_video()
    clip = Clip(video=video, keyframes=keys, audio=_encode_audio())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(clip))
    tmp.replace(path)
    return clip


def tag(frame: bytes, hall: int, seq: int, sent_at: float) -> bytes:
    """``frame`` with the trailer: magic, hall, sequence, send time, CRC-32 of the frame."""
    return frame + TRAILER.pack(MAGIC, hall, seq, sent_at, zlib.crc32(frame))


def untag(data: bytes) -> tuple[int, int, float] | None:
    """(hall, sequence, send time) of a tagged frame that arrived intact, else None."""
    if len(data) <= TRAILER.size:
        return None
    magic, hall, seq, sent_at, crc = TRAILER.unpack_from(data, len(data) - TRAILER.size)
    if magic != MAGIC or zlib.crc32(memoryview(data)[: len(data) - TRAILER.size]) != crc:
        return None
    return hall, seq, sent_at


def check_decodable(clip: Clip) -> int:
    """Decode the tagged clip with libvpx; the number of frames decoded (all, if the trailer
    is harmless)."""
    codec = av.CodecContext.create("libvpx", "r")
    decoded = 0
    for index, frame in enumerate(clip.video):
        decoded += len(codec.decode(av.Packet(tag(frame, 1, index, 0.0))))
    return decoded
