"""The send path (``media.aiortc_patch.send``): forwarded frames packetised as aiortc would."""

from __future__ import annotations

import collections
import types
from typing import Any

import aiortc
import aiortc.rtcrtpreceiver
import pylibsrtp
import pytest
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpParameters,
)
from aiortc.rtp import RTP_HISTORY_SIZE, HeaderExtensionsMap, RtpPacket

from media import AiortcIncompatibleError, aiortc_patch


def test_the_fast_send_path_packetises_vp8_as_aiortc_does() -> None:
    from aiortc.codecs.vpx import Vp8Encoder

    for size in (1, 100, 1295, 1296, 1297, 2592, 9000):
        frame = bytes(range(256)) * (size // 256) + bytes(size % 256)
        assert aiortc_patch.send._vp8_payloads(frame, 1234) == Vp8Encoder._packetize(frame, 1234)
        assert aiortc_patch.send._vp8_payloads(frame, 0x7FFF) == Vp8Encoder._packetize(
            frame, 0x7FFF
        )


def test_the_guard_names_what_an_upgrade_moved(monkeypatch: pytest.MonkeyPatch) -> None:
    assert aiortc_patch.send.check() == []
    monkeypatch.delattr(aiortc.RTCRtpSender, "_send_keyframe")
    problems = aiortc_patch.send.check()
    assert any("_send_keyframe" in problem for problem in problems), problems
    with pytest.raises(AiortcIncompatibleError, match="_send_keyframe"):
        aiortc_patch.check_hooks()


class _Sent:
    """What a fast writer sends: the socket its selected pair would use."""

    def __init__(self) -> None:
        self.datagrams: list[tuple[bytes, object]] = []

    def sendto(self, data: bytes, address: object) -> None:
        self.datagrams.append((bytes(data), address))


def _writer(codec: RTCRtpCodecParameters, key: bytes) -> tuple[Any, _Sent]:
    """A fast writer for ``codec`` on a stand-in connected DTLS transport (asyncio's datagram
    transport: the writer sends on its socket)."""
    sent = _Sent()
    udp = types.SimpleNamespace(_buffer=collections.deque(), _conn_lost=0, _sock=sent)
    pair = types.SimpleNamespace(
        protocol=types.SimpleNamespace(transport=udp), remote_addr=("10.0.0.9", 5004)
    )
    connection = types.SimpleNamespace(_nominated={1: pair})
    policy = pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    dtls = types.SimpleNamespace(
        _state=DtlsState.CONNECTED,
        _tx_srtp=pylibsrtp.Session(policy),
        transport=types.SimpleNamespace(_connection=connection),
        _RTCDtlsTransport__tx_bytes=0,
        _RTCDtlsTransport__tx_packets=0,
    )
    extensions = HeaderExtensionsMap()
    extensions.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
                RTCRtpHeaderExtensionParameters(
                    id=3, uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
                ),
                RTCRtpHeaderExtensionParameters(
                    id=4, uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level"
                ),
            ]
        )
    )
    sender = types.SimpleNamespace(
        _RTCRtpSender__rtp_history={},
        _RTCRtpSender__rtp_header_extensions_map=extensions,
        _RTCRtpSender__mid="2",
        _RTCRtpSender__ntp_timestamp=0,
        _RTCRtpSender__rtp_timestamp=0,
        _RTCRtpSender__octet_count=0,
        _RTCRtpSender__packet_count=0,
        _ssrc=0x1234ABCD,
        transport=dtls,
    )
    return aiortc_patch.send._RtpWriter(sender, codec), sent  # type: ignore[arg-type]


def test_the_fast_writer_sends_the_packets_aiortc_would_and_keeps_them_for_nacks() -> None:
    """Each packet, decrypted, is aiortc's serialisation of the packet its sender loop would
    make (header, extensions, VP8 descriptors, payload); a NACK finds each one in the
    history; the sender's counters are aiortc's."""
    from aiortc.codecs.vpx import Vp8Encoder

    key = bytes(range(30))
    inbound = pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND)
    vp8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90_000, payloadType=96)
    opus = RTCRtpCodecParameters(
        mimeType="audio/opus", clockRate=48_000, payloadType=111, channels=2
    )
    for codec, sizes in ((vp8, (1, 1296, 1297, 5000)), (opus, (1, 80, 200))):
        writer, sent = _writer(codec, key)
        receiver = pylibsrtp.Session(inbound)
        extensions = writer.extensions_map
        sequence_number = writer.sequence_number
        picture_id = writer.picture_id
        packets = octets = 0
        for index, size in enumerate(sizes):
            frame = bytes((index + i) % 251 for i in range(size))
            writer.send_frame(frame, index * 3000)
            payloads = Vp8Encoder._packetize(frame, picture_id) if codec is vp8 else [frame]
            picture_id = (picture_id + 1) & 0x7FFF
            for number, payload in enumerate(payloads):
                data, address = sent.datagrams[packets]
                assert address == ("10.0.0.9", 5004)
                clear = receiver.unprotect(data)
                expected = RtpPacket(
                    payload_type=codec.payloadType or 0,
                    marker=int(number == len(payloads) - 1),
                    sequence_number=sequence_number,
                    timestamp=(writer.timestamp_origin + index * 3000) & 0xFFFFFFFF,
                    ssrc=0x1234ABCD,
                    payload=payload,
                )
                expected.extensions.mid = "2"
                abs_send_time = RtpPacket.parse(clear, extensions).extensions.abs_send_time
                assert abs_send_time is not None
                expected.extensions.abs_send_time = abs_send_time
                assert clear == expected.serialize(extensions)
                kept = writer.history.get(sequence_number % RTP_HISTORY_SIZE)
                assert kept.serialize(extensions) == clear
                sequence_number = (sequence_number + 1) & 0xFFFF
                packets += 1
                octets += len(payload)
        assert len(sent.datagrams) == packets
        assert writer.sender._RTCRtpSender__packet_count == packets
        assert writer.sender._RTCRtpSender__octet_count == octets
        assert writer.dtls._RTCDtlsTransport__tx_packets == packets
        assert writer.dtls._RTCDtlsTransport__tx_bytes == sum(len(d) for d, _ in sent.datagrams)
    # An audio frame with its level (aiortc's encoded-frame path).
    writer, sent = _writer(opus, key)
    writer.send([b"\x01\x02\x03"], 960, 30)
    clear = pylibsrtp.Session(inbound).unprotect(sent.datagrams[0][0])
    received = RtpPacket.parse(clear, writer.extensions_map)
    assert received.extensions.audio_level == (False, (-30) & 0x7F)
    assert (received.payload, received.marker) == (b"\x01\x02\x03", 1)
