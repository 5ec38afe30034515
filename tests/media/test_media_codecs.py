"""Keyframes are told from the encoded bytes: checked on real VP8 and H.264 encoder output."""

from __future__ import annotations

import fractions

import av
import pytest

from media.codecs import is_h264_keyframe, is_keyframe, is_vp8_keyframe


def encode(codec_name: str, frames: int, keyframe_at: int) -> list[bytes]:
    context = av.CodecContext.create(codec_name, "w")
    context.width, context.height = 64, 48
    context.pix_fmt = "yuv420p"
    context.time_base = fractions.Fraction(1, 30)
    context.framerate = fractions.Fraction(30, 1)
    context.gop_size = 1000
    if codec_name == "libx264":
        context.options = {"tune": "zerolatency", "bframes": "0"}
    else:
        context.options = {"deadline": "realtime", "lag-in-frames": "0"}
    out: list[bytes] = []
    for index in range(frames):
        frame = av.VideoFrame(width=64, height=48, format="yuv420p")
        for plane in frame.planes:
            plane.update(bytes([(index * 7) & 0xFF]) * plane.buffer_size)
        frame.pts = index
        frame.pict_type = (
            av.video.frame.PictureType.I
            if index == keyframe_at
            else av.video.frame.PictureType.NONE
        )
        out += [bytes(packet) for packet in context.encode(frame)]
    out += [bytes(packet) for packet in context.encode(None)]
    return out


@pytest.mark.parametrize(
    ("codec_name", "check"), [("libvpx", is_vp8_keyframe), ("libx264", is_h264_keyframe)]
)
def test_keyframes_are_recognised_in_real_encoder_output(codec_name: str, check: object) -> None:
    assert callable(check)
    frames = encode(codec_name, frames=8, keyframe_at=5)
    assert [check(frame) for frame in frames] == [i in (0, 5) for i in range(len(frames))]


def test_a_vp8_frame_whose_start_was_lost_does_not_pass_for_a_keyframe() -> None:
    keyframe = encode("libvpx", frames=1, keyframe_at=0)[0]
    assert is_vp8_keyframe(keyframe)
    tail = keyframe[1:]
    assert not is_vp8_keyframe(bytes([tail[0] & 0xFE]) + tail[1:])


def test_audio_frames_are_always_key() -> None:
    assert is_keyframe("audio/opus", b"\x01\x02")
    assert is_keyframe("video/VP8", bytes(10)) is False
