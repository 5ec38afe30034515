"""The receive path (``media.aiortc_patch.receive``): frames as packets, no decoder."""

from __future__ import annotations

import asyncio
import dataclasses
import fractions
import random
import struct
from collections.abc import Callable

import aiortc
import aiortc.codecs.vpx
import aiortc.rtcrtpreceiver
import av
import pylibsrtp
import pytest
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcdtlstransport import RtpRouter
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpParameters,
)
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    HeaderExtensions,
    HeaderExtensionsMap,
    RtcpByePacket,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
)
from media_testkit import GREEN, RED, Client, ColourVideoTrack, client_pc, connect, until

from media import AiortcIncompatibleError, Peer, aiortc_patch
from media.aiortc_patch.bookkeeping import Nacks, Statistics, vp8_payload
from media.aiortc_patch.receive import PassthroughQueue, rtp_parser
from media.aiortc_patch.srtp import Protector, Unprotector

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


def _extensions_map() -> HeaderExtensionsMap:
    extensions = HeaderExtensionsMap()
    uris = {
        1: "urn:ietf:params:rtp-hdrext:sdes:mid",
        3: "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
        4: "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
        5: "urn:ietf:params:rtp-hdrext:toffset",
        10: "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
        14: "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
    }
    extensions.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=x_id, uri=uri) for x_id, uri in uris.items()
            ]
        )
    )
    return extensions


def _fields(packet: RtpPacket) -> tuple[object, ...]:
    return (
        packet.version,
        packet.marker,
        packet.payload_type,
        packet.sequence_number,
        packet.timestamp,
        packet.ssrc,
        packet.csrc,
        packet.extensions,
        packet.payload,
        packet.padding_size,
    )


@pytest.mark.parametrize("parser", ["python", "compiled"])
def test_the_fast_rtp_parser_reads_every_packet_as_aiortc_does(parser: str) -> None:
    """Random packets, some corrupted or cut: the same packet or the same refusal, from the
    Python parser and from the compiled one (``_fastpath.parse``)."""
    extensions = _extensions_map()
    parse = rtp_parser(extensions)
    if parser == "compiled":
        compiled = aiortc_patch.srtp.COMPILED
        assert compiled is not None
        ids = extensions._HeaderExtensionsMap__ids  # type: ignore[attr-defined]

        def parse(data: bytes) -> RtpPacket:
            packet: RtpPacket = compiled.parse(data, ids, RtpPacket, HeaderExtensions)
            return packet

    rng = random.Random(14)
    refused = 0
    for _ in range(3000):
        packet = RtpPacket(
            payload_type=rng.randrange(128),
            marker=rng.randrange(2),
            sequence_number=rng.randrange(1 << 16),
            timestamp=rng.randrange(1 << 32),
            ssrc=rng.randrange(1 << 32),
            payload=rng.randbytes(rng.randrange(40)),
        )
        packet.csrc = [rng.randrange(1 << 32) for _ in range(rng.randrange(3))]
        values = packet.extensions
        if rng.random() < 0.8:
            values.mid = str(rng.randrange(100))
        if rng.random() < 0.8:
            values.abs_send_time = rng.randrange(1 << 24)
        if rng.random() < 0.5:
            values.audio_level = (rng.random() < 0.5, rng.randrange(128))
        if rng.random() < 0.3:
            values.transmission_offset = rng.randrange(-(1 << 23), 1 << 23)
        if rng.random() < 0.2:
            values.rtp_stream_id = "r" * rng.randrange(1, 20)  # > 16 bytes: two-byte form
        if rng.random() < 0.2:
            values.transport_sequence_number = rng.randrange(1 << 16)
        if rng.random() < 0.2:
            packet.padding_size = rng.randrange(1, 5)
        data = packet.serialize(extensions)
        if rng.random() < 0.3:
            damaged = bytearray(data)
            for _ in range(rng.randrange(1, 4)):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            data = bytes(damaged[: rng.randrange(len(damaged) + 1)])
        try:
            expected: tuple[object, ...] | None = _fields(RtpPacket.parse(data, extensions))
        except struct.error:
            # aiortc: a header extension of the wrong size; the fast parser refuses it too.
            with pytest.raises(ValueError):
                parse(data)
            continue
        except ValueError:
            expected = None
        try:
            got: tuple[object, ...] | None = _fields(parse(data))
        except ValueError:
            got = None
        assert got == expected, data.hex()
        refused += got is None
    assert 100 < refused < 1500


def test_the_srtp_shortcuts_protect_and_unprotect_as_pylibsrtp_does() -> None:
    key = bytes(range(30))
    policy = pylibsrtp.Policy
    sender = pylibsrtp.Session(policy(key=key, ssrc_type=policy.SSRC_ANY_OUTBOUND))
    reference = pylibsrtp.Session(policy(key=key, ssrc_type=policy.SSRC_ANY_OUTBOUND))
    receiver = Unprotector(pylibsrtp.Session(policy(key=key, ssrc_type=policy.SSRC_ANY_INBOUND)))
    protector = Protector(sender)
    for sequence_number in range(50):
        packet = RtpPacket(payload_type=96, sequence_number=sequence_number, ssrc=7)
        packet.payload = bytes([sequence_number]) * (sequence_number * 25)
        data = packet.serialize()
        protector.buffer[0:12] = data[:12]
        protector.buffer[12 : len(data)] = memoryview(data)[12:]
        protected = protector.protect(len(data))
        assert protected == reference.protect(data)
        assert receiver.unprotect(protected) == data
    with pytest.raises(pylibsrtp.Error):
        receiver.unprotect(protected)  # a replay
    with pytest.raises(ValueError):
        protector.protect(protector.room + 1)


def test_the_compiled_receive_unprotects_and_parses_as_pylibsrtp_and_aiortc_do() -> None:
    """``_fastpath.receive``: the packet aiortc parses from what pylibsrtp unprotects; a
    replay, a forged packet and one too long are refused (ValueError: dropped)."""
    compiled = aiortc_patch.srtp.COMPILED
    assert compiled is not None
    key = bytes(range(30))
    policy = pylibsrtp.Policy
    sender = pylibsrtp.Session(policy(key=key, ssrc_type=policy.SSRC_ANY_OUTBOUND))
    session = pylibsrtp.Session(policy(key=key, ssrc_type=policy.SSRC_ANY_INBOUND))
    context = aiortc_patch.srtp.context_address(session)
    extensions = _extensions_map()
    ids = extensions._HeaderExtensionsMap__ids  # type: ignore[attr-defined]
    for sequence_number in range(40):
        packet = RtpPacket(payload_type=96, sequence_number=sequence_number, ssrc=7)
        packet.payload = bytes([sequence_number]) * (sequence_number * 30)
        packet.extensions.mid = "1"
        packet.extensions.abs_send_time = sequence_number * 1000
        data = packet.serialize(extensions)
        protected = sender.protect(data)
        got = compiled.receive(context, protected, ids, RtpPacket, HeaderExtensions)
        assert _fields(got) == _fields(RtpPacket.parse(data, extensions))
    with pytest.raises(ValueError, match="srtp_unprotect"):
        compiled.receive(context, protected, ids, RtpPacket, HeaderExtensions)  # a replay
    forged = bytearray(sender.protect(RtpPacket(sequence_number=99, ssrc=7).serialize()))
    forged[-1] ^= 1
    with pytest.raises(ValueError, match="srtp_unprotect"):
        compiled.receive(context, bytes(forged), ids, RtpPacket, HeaderExtensions)
    with pytest.raises(ValueError, match="too long"):
        compiled.receive(context, bytes(1501), ids, RtpPacket, HeaderExtensions)


def _arrivals(rng: random.Random, count: int) -> list[RtpPacket]:
    """Packets as a lossy, reordering network delivers them: losses, late and duplicate
    packets, jumps, and the 16-bit sequence number wrapping."""
    packets: list[RtpPacket] = []
    seq, timestamp = rng.randrange(0x10000), rng.randrange(1 << 32)
    for _ in range(count):
        step = rng.choice((1,) * 40 + (2, 5, 0, -3, -40, 300, 40000))
        seq = (seq + step) & 0xFFFF
        timestamp = (timestamp + rng.choice((0, 0, 3000, 3000, 6000))) & 0xFFFFFFFF
        packets.append(RtpPacket(payload_type=96, sequence_number=seq, timestamp=timestamp))
    return packets


def test_the_receive_bookkeeping_counts_as_aiortcs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path's RTCP statistics and missing packets (what its receiver reports and
    NACKs) are aiortc's, packet for packet, whatever order the network delivers in."""
    now = [1_700_000_000.0]
    # time.time of both modules (the same module object): one reading per packet for both
    monkeypatch.setattr(aiortc_patch.bookkeeping.time, "time", lambda: now[0])
    ours, theirs = Statistics(90000), aiortc.rtcrtpreceiver.StreamStatistics(90000)
    our_nacks, their_nacks = Nacks(), aiortc.rtcrtpreceiver.NackGenerator()
    rng = random.Random(5)
    for packet in _arrivals(rng, 5_000):
        now[0] += rng.choice((0.0, 0.001, 0.02, 0.033, 0.5))
        ours.add(packet)
        theirs.add(packet)
        assert vars(ours) == vars(theirs)
        assert our_nacks.add(packet) == their_nacks.add(packet)
        assert our_nacks.missing == their_nacks.missing
        assert our_nacks.max_seq == their_nacks.max_seq
    assert (ours.packets_lost, ours.jitter) == (theirs.packets_lost, theirs.jitter)


def test_the_vp8_payload_is_aiortcs_and_bad_descriptors_are_refused_alike() -> None:
    rng = random.Random(9)
    # every descriptor shape: X, I (short and long picture id), L, T/K, and truncations
    heads = [bytes([x, e, p, q]) for x in (0x10, 0x90) for e in range(0, 256, 16)
             for p in (0x05, 0x85) for q in (0x22,)]  # fmt: skip
    cases = [head[:n] + tail for head in heads for n in range(5)
             for tail in (b"", b"\x01", bytes(rng.randrange(256) for _ in range(9)))]  # fmt: skip
    cases += [bytes(rng.randrange(256) for _ in range(rng.randrange(6))) for _ in range(3000)]
    for payload in cases:
        try:
            expected: bytes | type[ValueError] = aiortc.codecs.vpx.vp8_depayload(payload)
        except ValueError:
            expected = ValueError
        try:
            got: bytes | type[ValueError] = vp8_payload(payload)
        except ValueError:
            got = ValueError
        assert got == expected, payload.hex()


async def test_an_rtcp_handler_that_waits_goes_on_when_its_future_is_done(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """aiortc's handlers do not wait for the packets they get today; one that does (a future
    version's, or a retransmission's send) finishes after its wait, and one that fails is
    logged, not raised into the datagram callback."""
    steps: list[str] = []
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def handler() -> None:
        steps.append("started")
        steps.append(await ready)
        await asyncio.sleep(0)
        steps.append("ended")

    aiortc_patch.receive._run_now(handler())
    assert steps == ["started"]
    ready.set_result("woken")
    await until(lambda: steps == ["started", "woken", "ended"], deadline=2)

    async def failing() -> None:
        raise ValueError("bad report")

    aiortc_patch.receive._run_now(failing())
    assert "bad report" in caplog.text


def test_rtcp_goes_to_the_recipients_aiortc_routes_it_to() -> None:
    """Every kind of RTCP packet a connection gets reaches the receivers and senders
    aiortc's router names, including through a REMB's SSRC list and a damaged REMB."""
    router = RtpRouter()
    receivers = {ssrc: object() for ssrc in (11, 12)}
    senders = {ssrc: object() for ssrc in (21, 22, 23)}
    router.ssrc_table.update(receivers)
    router.senders.update(senders)
    report = RtcpReceiverInfo(ssrc=22, fraction_lost=0, packets_lost=0, highest_sequence=1,
                              jitter=0, lsr=0, dlsr=0)  # fmt: skip
    info = RtcpSenderInfo(ntp_timestamp=1, rtp_timestamp=2, packet_count=3, octet_count=4)
    packets = [
        RtcpSrPacket(ssrc=11, sender_info=info, reports=[report]),
        RtcpSrPacket(ssrc=99, sender_info=info),
        RtcpRrPacket(ssrc=12, reports=[report, dataclasses.replace(report, ssrc=98)]),
        RtcpByePacket(sources=[11, 12, 97]),
        RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=12, media_ssrc=21),
        RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=12, media_ssrc=0, fci=pack_remb_fci(1, [21, 23])),
        RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=12, media_ssrc=22, fci=b"bad"),
        RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=12, media_ssrc=23, lost=[5]),
        RtcpSdesPacket(chunks=[]),
    ]
    for packet in packets:
        assert aiortc_patch.receive.rtcp_recipients(router, packet) == router.route_rtcp(packet)
    assert all(aiortc_patch.receive.rtcp_recipients(router, p) for p in packets[:1] + packets[2:8])
