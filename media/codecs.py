"""Codecs the media layer forwards, and how to tell a keyframe from the encoded bytes.

Forwarding without transcoding means every leg of a stream uses the publisher's codec:
VP8 (default) or H.264 for video, Opus for audio.
"""

from __future__ import annotations

import enum
import fractions

VIDEO_CLOCK_RATE = 90_000
OPUS_CLOCK_RATE = 48_000
VIDEO_FRAME_SECONDS = fractions.Fraction(1, 30)
AUDIO_FRAME_SECONDS = fractions.Fraction(1, 50)

_VP8_START_CODE = b"\x9d\x01\x2a"
_H264_KEY_NAL_TYPES = frozenset({5, 7})  # IDR slice, sequence parameter set


class MediaKind(enum.StrEnum):
    """What a track carries."""

    AUDIO = "audio"
    VIDEO = "video"


class VideoCodec(enum.StrEnum):
    """The video codec a peer negotiates; every peer of a forwarding group must agree."""

    VP8 = "video/VP8"
    H264 = "video/H264"


AUDIO_CODEC = "audio/opus"


def same_codec(a: str, b: str) -> bool:
    """Whether two MIME types name the same codec (case-insensitive, as in SDP)."""
    return a.lower() == b.lower()


def is_vp8_keyframe(data: bytes) -> bool:
    """Whether a VP8 frame (payload descriptor already removed) is a keyframe.

    The frame tag's bit 0 is 0 for a keyframe (RFC 6386 section 9.1), and a keyframe's tag
    is followed by the start code 9d 01 2a: checking both keeps a frame whose first packet
    was lost (so whose first byte is arbitrary) from passing for a keyframe.
    """
    return len(data) >= 10 and not data[0] & 1 and data[3:6] == _VP8_START_CODE


def is_h264_keyframe(data: bytes) -> bool:
    """Whether an Annex B H.264 access unit holds an IDR slice or a sequence parameter set."""
    start = data.find(b"\x00\x00\x01")
    while start >= 0 and start + 3 < len(data):
        if data[start + 3] & 0x1F in _H264_KEY_NAL_TYPES:
            return True
        start = data.find(b"\x00\x00\x01", start + 3)
    return False


def is_keyframe(mime_type: str, data: bytes) -> bool:
    """Whether an encoded frame can be decoded without the frames before it.

    Audio frames (Opus, G.711, G.722) always can.
    """
    name = mime_type.lower()
    if name == "video/vp8":
        return is_vp8_keyframe(data)
    if name == "video/h264":
        return is_h264_keyframe(data)
    return not name.startswith("video/")


def frame_seconds(kind: MediaKind) -> fractions.Fraction:
    """The nominal duration of one frame: 1/30 s of video, 20 ms of audio."""
    return VIDEO_FRAME_SECONDS if kind is MediaKind.VIDEO else AUDIO_FRAME_SECONDS
