"""The send path (``media.aiortc_patch.send``): forwarded frames packetised as aiortc would."""

from __future__ import annotations

import asyncio
import collections
import socket
import sys
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


@pytest.fixture(params=["python", "compiled"])
def send_loop(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The writer's loop over a frame's packets: Python's, or ``_fastpath``'s (built by the
    install where a C compiler exists, as here)."""
    if request.param == "python":
        monkeypatch.setattr(aiortc_patch.send, "_native", None)
    return str(request.param)


def test_the_compiled_send_loop_is_built_and_calls_pylibsrtp() -> None:
    """The install compiled ``_fastpath`` (setup.py; a missing compiler would leave the
    server on the Python loop, slower, without saying so but in this test)."""
    assert aiortc_patch.send.compiled_loop() is not None
    assert aiortc_patch.srtp.protect_address() is not None


class _Transport:
    """asyncio's datagram transport as the writer sees it, on a real socket; the system
    calls are counted: ``calls``, the datagrams of each (one per ``sendto``, the segments of
    a ``sendmsg``), and ``one_by_one``, the packets sent through the transport itself."""

    def __init__(self) -> None:
        import socket

        calls = self.calls = []

        class Counting(socket.socket):
            def sendto(self, data: Any, address: Any) -> int:  # type: ignore[override]
                calls.append(1)
                return super().sendto(data, address)

            def sendmsg(self, buffers: Any, control: Any = (), *args: Any) -> int:
                size = int.from_bytes(control[0][2], sys.byteorder)
                calls.append(-(-sum(len(b) for b in buffers) // size))
                return super().sendmsg(buffers, control, *args)

        self._sock = Counting(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        self._buffer: collections.deque[bytes] = collections.deque()
        self._conn_lost = 0
        self.one_by_one = 0

    def sendto(self, data: bytes, address: object) -> None:
        self.one_by_one += 1
        self._sock.sendto(data, address)


def _real_writer(
    codec: RTCRtpCodecParameters, key: bytes, like: Any
) -> tuple[Any, _Transport, Any]:
    """A writer as :func:`_writer`'s ``like``, with its random origins, sending on a real
    socket to a receiving socket on 127.0.0.1."""
    import socket

    receiving = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiving.bind(("127.0.0.1", 0))
    receiving.settimeout(5)
    writer, _ = _writer(codec, key)
    udp = _Transport()
    pair = writer.dtls.transport._connection._nominated[1]
    pair.protocol.transport = udp
    pair.remote_addr = receiving.getsockname()
    for name in ("sequence_number", "timestamp_origin", "picture_id"):
        setattr(writer, name, getattr(like, name))
    return writer, udp, receiving


def _assert_same_packets(
    got: list[bytes], want: list[bytes], key: bytes, extensions: HeaderExtensionsMap
) -> None:
    """``got`` and ``want``, decrypted, are the same RTP packets but for abs-send-time (the
    clock at each send), which is set alike before comparing."""
    inbound = pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND)
    ours, theirs = pylibsrtp.Session(inbound), pylibsrtp.Session(inbound)
    assert len(got) == len(want)
    for a_data, b_data in zip(got, want, strict=True):
        a = RtpPacket.parse(ours.unprotect(a_data), extensions)
        b = RtpPacket.parse(theirs.unprotect(b_data), extensions)
        a.extensions.abs_send_time = b.extensions.abs_send_time
        assert a.serialize(extensions) == b.serialize(extensions)


async def _uvloop_endpoint() -> tuple[socket.socket, Any]:
    """A receiving socket on 127.0.0.1 and a datagram transport of the running loop."""
    receiving = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiving.bind(("127.0.0.1", 0))
    receiving.settimeout(5)
    udp, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    return receiving, udp


def test_a_frame_of_several_packets_leaves_in_one_call_as_the_same_datagrams(
    monkeypatch: pytest.MonkeyPatch, send_loop: str
) -> None:
    """With UDP segmentation the receiver gets, datagram for datagram, what the writer sends
    one packet at a time: the kernel cuts a frame's packets apart (a large keyframe in
    several calls); audio and one-packet frames go as before. (The compiled loop's calls
    are not seen from Python: its datagrams are.)"""
    monkeypatch.setattr(aiortc_patch.send._SegmentingSocket, "refused", False)
    key = bytes(range(30))
    vp8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90_000, payloadType=96)
    reference, sent = _writer(vp8, key)
    writer, udp, receiving = _real_writer(vp8, key, reference)
    sizes = (5000, 100, 1296 * 40 + 7, 2592, 1297)
    with receiving:
        for index, size in enumerate(sizes):
            frame = bytes((index + i) % 251 for i in range(size))
            reference.send_frame(frame, index * 3000)
            writer.send_frame(frame, index * 3000)
        expected = [data for data, _ in sent.datagrams]
        received = [receiving.recv(2048) for _ in expected]
        receiving.settimeout(0.2)
        with pytest.raises(TimeoutError):
            receiving.recv(2048)
    assert [len(data) for data in received] == [len(data) for data in expected]
    _assert_same_packets(received, expected, key, writer.extensions_map)
    # A NACK finds each packet in the history; the counters are the reference's.
    check = pylibsrtp.Session(
        pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND)
    )
    for data in received:
        clear = check.unprotect(data)
        packet = RtpPacket.parse(clear, writer.extensions_map)
        kept = writer.history.get(packet.sequence_number % RTP_HISTORY_SIZE)
        assert kept.serialize(writer.extensions_map) == clear
    for counter in ("_RTCRtpSender__packet_count", "_RTCRtpSender__octet_count"):
        assert getattr(writer.sender, counter) == getattr(reference.sender, counter)
    for counter in ("_RTCDtlsTransport__tx_packets", "_RTCDtlsTransport__tx_bytes"):
        assert getattr(writer.dtls, counter) == getattr(reference.dtls, counter)
    assert writer.sender._RTCRtpSender__rtp_timestamp == packet.timestamp
    # 4 packets, 1, 41 (32 + 9), 2, 2; none through the transport.
    assert udp.calls == ([4, 1, 32, 9, 2, 2] if send_loop == "python" else [])
    assert udp.one_by_one == 0
    writer.close()
    udp._sock.close()


def test_an_audio_frame_carries_its_level(send_loop: str) -> None:
    """aiortc's encoded-frame path (a list of payloads and the level): the level in the
    header extension and in the history, each payload a packet."""
    key = bytes(range(30))
    opus = RTCRtpCodecParameters(
        mimeType="audio/opus", clockRate=48_000, payloadType=111, channels=2
    )
    reference, _ = _writer(opus, key)
    writer, udp, receiving = _real_writer(opus, key, reference)
    with receiving, udp._sock:
        writer.send([b"\x01\x02\x03"], 960, 30)
        writer.send([b"\x04" * 50], 1920, None)
        received = [receiving.recv(2048) for _ in range(2)]
    inbound = pylibsrtp.Session(
        pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND)
    )
    first, second = (RtpPacket.parse(inbound.unprotect(d), writer.extensions_map) for d in received)
    assert first.extensions.audio_level == (False, (-30) & 0x7F)
    assert (first.payload, first.marker) == (b"\x01\x02\x03", 1)
    assert second.extensions.audio_level is None
    assert second.payload == b"\x04" * 50
    kept = writer.history.get(first.sequence_number % RTP_HISTORY_SIZE)
    assert kept.extensions.audio_level == (False, -30)
    assert kept.payload == b"\x01\x02\x03"


SO_NO_CHECK = 11
"Linux's option to send UDP without checksums; the kernel then refuses segmentation (EINVAL)."


def test_a_kernel_without_segmentation_gets_the_packets_one_by_one(
    monkeypatch: pytest.MonkeyPatch, send_loop: str
) -> None:
    """A socket whose kernel refuses segmentation (as a device without checksum offload
    does: here a socket sending without checksums, which Linux refuses to segment) gets
    every frame, one packet at a time, and segmentation is not tried again."""
    monkeypatch.setattr(aiortc_patch.send._SegmentingSocket, "refused", False)
    key = bytes(range(30))
    vp8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90_000, payloadType=96)
    reference, _ = _writer(vp8, key)
    writer, udp, receiving = _real_writer(vp8, key, reference)
    udp._sock.setsockopt(socket.SOL_SOCKET, SO_NO_CHECK, 1)
    with receiving, udp._sock:
        for index in range(3):
            writer.send_frame(bytes(3000), index * 3000)
        assert [len(receiving.recv(2048)) for _ in range(9)] == [1334, 1334, 446] * 3
    if send_loop == "python":
        # The refused frame through the transport, the next ones on the socket, one by one.
        assert udp.one_by_one == 3
        assert udp.calls == [3] + [1] * 9  # the refused sendmsg, then sendto
    else:
        assert udp.one_by_one == 0  # the compiled loop sent them one by one itself
    assert aiortc_patch.send._SegmentingSocket.refused
    assert aiortc_patch.send._SegmentingSocket(udp).sock is None


def test_what_the_socket_does_not_take_goes_through_the_transport(send_loop: str) -> None:
    """A packet the socket refuses (here: to port 0) is handed to the transport's own
    ``sendto``, protected, in order, which reports the error (or queues a packet that would
    block) as it does for any datagram."""
    key = bytes(range(30))
    opus = RTCRtpCodecParameters(
        mimeType="audio/opus", clockRate=48_000, payloadType=111, channels=2
    )
    reference, sent = _writer(opus, key)
    writer, udp, receiving = _real_writer(opus, key, reference)
    receiving.close()
    handed: list[tuple[bytes, object]] = []
    udp.sendto = lambda data, address: handed.append((bytes(data), address))  # type: ignore[method-assign]
    writer.dtls.transport._connection._nominated[1].remote_addr = ("127.0.0.1", 0)
    with udp._sock:
        for index in range(3):
            writer.send_frame(b"\x01" * (20 + index), index * 960)
            reference.send_frame(b"\x01" * (20 + index), index * 960)
    assert [address for _, address in handed] == [("127.0.0.1", 0)] * 3
    _assert_same_packets(
        [data for data, _ in handed], [data for data, _ in sent.datagrams], key,
        writer.extensions_map,
    )  # fmt: skip
    assert writer.dtls._RTCDtlsTransport__tx_packets == 3
    last = (writer.sequence_number - 1) & 0xFFFF
    assert writer.history.get(last % RTP_HISTORY_SIZE).payload == b"\x01" * 22


async def test_the_compiled_loop_sends_on_uvloops_transport_itself() -> None:
    """On uvloop the compiled loop sends on the transport's own descriptor (no duplicate is
    held), and not once the transport is closing: its descriptor may be another's."""
    import uvloop

    key = bytes(range(30))
    vp8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90_000, payloadType=96)
    reference, sent = _writer(vp8, key)

    async def run() -> list[bytes]:
        receiving, udp = await _uvloop_endpoint()
        writer, _ = _writer(vp8, key)
        for name in ("sequence_number", "timestamp_origin", "picture_id"):
            setattr(writer, name, getattr(reference, name))
        pair = writer.dtls.transport._connection._nominated[1]
        pair.protocol.transport = udp
        pair.remote_addr = receiving.getsockname()
        with receiving:
            for index, size in enumerate((5000, 100, 1296 * 40 + 7)):
                frame = bytes((index + i) % 251 for i in range(size))
                reference.send_frame(frame, index * 3000)
                writer.send_frame(frame, index * 3000)
            received = [receiving.recv(2048) for _ in sent.datagrams]
            assert writer._segmenting is None  # no duplicate descriptor
            udp.close()
            assert not aiortc_patch.send._transport_idle(udp)
        return received

    aiortc_patch.send._SegmentingSocket.refused = False
    received = await asyncio.to_thread(uvloop.run, run())
    assert [len(data) for data in received] == [len(data) for data, _ in sent.datagrams]
    _assert_same_packets(
        received, [data for data, _ in sent.datagrams], key, reference.extensions_map
    )


async def test_on_uvloop_the_writer_holds_a_duplicate_descriptor_until_it_closes() -> None:
    """uvloop's transport has no Python socket: the writer sends on a duplicate of its
    descriptor, which it closes with the sender (the port is not held after the call)."""
    import os

    import uvloop

    async def run() -> None:
        receiving, udp = await _uvloop_endpoint()
        segmenting = aiortc_patch.send._SegmentingSocket(udp)
        assert segmenting.ready()
        assert segmenting.sock is not None
        duplicate = segmenting.sock.fileno()
        with receiving:
            segmenting.send([b"a" * 1200, b"b" * 1200, b"c" * 10], receiving.getsockname())
            assert [receiving.recv(2048) for _ in range(3)] == [b"a" * 1200, b"b" * 1200, b"c" * 10]
        segmenting.close()
        with pytest.raises(OSError):
            os.fstat(duplicate)
        udp.close()
        assert not aiortc_patch.send._SegmentingSocket(udp).ready()

    aiortc_patch.send._SegmentingSocket.refused = False
    await asyncio.to_thread(uvloop.run, run())
