"""The receive path (``media.aiortc_patch.receive``): frames as packets, no decoder."""

from __future__ import annotations

import fractions
from collections.abc import Callable

import aiortc
import aiortc.rtcrtpreceiver
import av
import pytest
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcdtlstransport import RtpRouter
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket
from media_testkit import GREEN, RED, Client, ColourVideoTrack, client_pc, connect

from media import AiortcIncompatibleError, Peer, aiortc_patch
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


async def test_retransmissions_reach_their_receiver_with_two_video_m_lines(
    make_peer: Callable[..., Peer], clients: list[Client]
) -> None:
    """A terminal sends its camera and a thumbnail: two video m-lines sharing the RTX payload
    type. aiortc's router found a retransmission's receiver by SSRC (RTX SSRCs unknown) or by
    a payload type that one receiver alone has, so it discarded every retransmission and
    NACKs repaired nothing (found by tests/server/test_netem.py)."""
    client = Client(pc=client_pc())
    for colour in (RED, GREEN):
        client.pc.addTransceiver(ColourVideoTrack(colour, width=160, height=120), "sendonly")
    clients.append(client)
    peer = make_peer()
    await connect(client, peer)
    server = {t.mid: t.receiver for t in peer._pc.getTransceivers()}
    checked = 0
    for transceiver in client.pc.getTransceivers():
        sender = transceiver.sender
        receiver = server[transceiver.mid]
        router = receiver.transport._rtp_router
        rtx_type = next(c.payloadType for c in receiver._RTCRtpReceiver__codecs.values()
                        if c.mimeType.lower() == "video/rtx")  # fmt: skip
        retransmission = RtpPacket(payload_type=rtx_type, ssrc=sender._rtx_ssrc, payload=b"\0\1x")
        assert router.route_rtp(retransmission) is receiver
        checked += 1
    assert checked == 2


def test_the_rtx_routing_guard_names_the_router(monkeypatch: pytest.MonkeyPatch) -> None:
    def route_rtp(self: RtpRouter, packet: RtpPacket) -> None:
        return None

    monkeypatch.setattr(RtpRouter, "route_rtp", route_rtp)
    problems = aiortc_patch.receive.check()
    assert any("RtpRouter.route_rtp" in problem for problem in problems), problems
