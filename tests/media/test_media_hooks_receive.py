"""The receive path (``media.aiortc_patch.receive``): frames as packets, no decoder."""

from __future__ import annotations

import fractions

import aiortc
import aiortc.rtcrtpreceiver
import av
import pytest
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from media import AiortcIncompatibleError, aiortc_patch
from media.aiortc_patch.receive import PassthroughQueue

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90_000, payloadType=97)


def test_passthrough_queue_turns_frames_into_packets_and_never_raises() -> None:
    got: list[av.Packet] = []
    ended: list[bool] = []
    queue = PassthroughQueue(
        got.append, lambda: ended.append(True), mime_type="video/VP8", clock_rate=90_000
    )
    keyframe = bytes([0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0x40, 0x01, 0xF0, 0x00]) + bytes(20)
    # From the jitter buffer: raw RTP timestamps, unwrapped across 2**32, pts from 0.
    queue.deliver(JitterFrame(data=keyframe, timestamp=2**32 - 3000))
    late = JitterFrame(data=bytes([0x31]) + bytes(20), timestamp=3000)
    late.discontinuity = True  # type: ignore[attr-defined]
    queue.deliver(late)
    # From aiortc itself (timestamp already unwrapped), should it ever put a frame.
    queue.put((VP8, JitterFrame(data=bytes([0x31]) + bytes(20), timestamp=9000)))
    assert [(p.pts, p.is_keyframe, p.is_corrupt) for p in got] == [
        (0, True, False),
        (6000, False, True),
        (9000, False, False),
    ]
    assert got[0].time_base == fractions.Fraction(1, 90_000)
    assert bytes(got[0]) == keyframe

    def broken(packet: av.Packet) -> None:
        raise RuntimeError("a sink bug")

    PassthroughQueue(broken, lambda: None, mime_type="audio/opus", clock_rate=48_000).deliver(
        JitterFrame(data=b"\xfc\xff\xfe", timestamp=0)
    )
    queue.put(None)
    queue.put(None)
    assert ended == [True]


def test_the_guard_names_what_an_upgrade_moved(monkeypatch: pytest.MonkeyPatch) -> None:
    assert aiortc_patch.receive.check() == []
    monkeypatch.delattr(aiortc.rtcrtpreceiver, "decoder_worker")
    problems = aiortc_patch.receive.check()
    assert any("decoder_worker" in problem for problem in problems), problems
    with pytest.raises(AiortcIncompatibleError, match="decoder_worker"):
        aiortc_patch.check_hooks()
