"""Per-packet costs of the forwarding path's pieces, in process CPU time (user + system: a
busy machine's preemptions do not count), each against what aiortc or pylibsrtp would do.

    .venv/bin/python -m bench.perpacket            # sendto stubbed: the Python and SRTP only
    .venv/bin/python -m bench.perpacket --sendto   # with a real sendto on loopback
    .venv/bin/python -m bench.perpacket --sendto --python-loop   # without _fastpath

Prints, per piece, the minimum and median over 7 repetitions of µs per packet.
"""

from __future__ import annotations

import argparse
import collections
import os
import socket
import statistics
import time
import types
from collections.abc import Callable
from typing import Any

import pylibsrtp
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpParameters,
)
from aiortc.rtp import HeaderExtensions, HeaderExtensionsMap, RtpPacket

from media.aiortc_patch import send, srtp
from media.aiortc_patch.receive import rtp_parser
from media.aiortc_patch.srtp import Unprotector

KEY = bytes(range(30))
POLICY = pylibsrtp.Policy
VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90_000, payloadType=96)
OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48_000, payloadType=111, channels=2)


def _extensions() -> HeaderExtensionsMap:
    extensions = HeaderExtensionsMap()
    uris = (
        "urn:ietf:params:rtp-hdrext:sdes:mid",
        "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
        "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    )
    extensions.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=i + 1, uri=uri) for i, uri in enumerate(uris)
            ]
        )
    )
    return extensions


def _writer(codec: RTCRtpCodecParameters, real_sendto: bool) -> Any:
    """The fast send path's writer on a stand-in connected DTLS transport."""
    if real_sendto:
        sock: Any = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
    else:
        sock = types.SimpleNamespace(sendto=lambda data, address: None)
    udp = types.SimpleNamespace(_buffer=collections.deque(), _conn_lost=0, _sock=sock)
    pair = types.SimpleNamespace(
        protocol=types.SimpleNamespace(transport=udp), remote_addr=("127.0.0.1", 9)
    )
    dtls = types.SimpleNamespace(
        _state=DtlsState.CONNECTED,
        _tx_srtp=pylibsrtp.Session(POLICY(key=KEY, ssrc_type=POLICY.SSRC_ANY_OUTBOUND)),
        transport=types.SimpleNamespace(_connection=types.SimpleNamespace(_nominated={1: pair})),
        _RTCDtlsTransport__tx_bytes=0,
        _RTCDtlsTransport__tx_packets=0,
    )
    sender = types.SimpleNamespace(
        _RTCRtpSender__rtp_history={},
        _RTCRtpSender__rtp_header_extensions_map=_extensions(),
        _RTCRtpSender__mid="1",
        _RTCRtpSender__ntp_timestamp=0,
        _RTCRtpSender__rtp_timestamp=0,
        _RTCRtpSender__octet_count=0,
        _RTCRtpSender__packet_count=0,
        _ssrc=1234,
        transport=dtls,
    )
    return send._RtpWriter(sender, codec)  # type: ignore[arg-type]


def _python_receive(session: pylibsrtp.Session, parse: Callable[[bytes], Any]) -> Any:
    unprotect = Unprotector(session).unprotect
    return lambda data: parse(unprotect(data))


def _measure(run: Callable[[int], None], count: int, per: float) -> tuple[float, float]:
    run(count // 10)
    values = []
    for _ in range(7):
        start = time.process_time()
        run(count)
        values.append((time.process_time() - start) / count / per * 1e6)
    return min(values), statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sendto", action="store_true", help="send on a real socket")
    parser.add_argument(
        "--python-loop", action="store_true", help="the send path's loop in Python, not _fastpath"
    )
    args = parser.parse_args()
    if args.python_loop:
        send._native = None
    count = 5000
    video, audio = os.urandom(2500), os.urandom(90)
    rows: list[tuple[str, tuple[float, float]]] = []
    for name, codec, frame, packets in (
        ("send a VP8 frame of 2.5 kB (2 packets), per packet", VP8, video, 2),
        ("send an Opus frame of 90 B (1 packet)", OPUS, audio, 1),
    ):
        writer = _writer(codec, args.sendto)

        def send_frames(n: int, writer: Any = writer, frame: bytes = frame) -> None:
            for i in range(n):
                writer.send_frame(frame, i * 3000)

        rows.append((name, _measure(send_frames, count, packets)))

    extensions = _extensions()
    outbound = pylibsrtp.Session(POLICY(key=KEY, ssrc_type=POLICY.SSRC_ANY_OUTBOUND))
    clear: list[bytes] = []
    for i in range(count):
        packet = RtpPacket(payload_type=96, sequence_number=i, timestamp=i * 1500, ssrc=5)
        packet.payload = os.urandom(1200)
        packet.extensions.mid = "1"
        packet.extensions.abs_send_time = i
        clear.append(packet.serialize(extensions))
    protected = [outbound.protect(data) for data in clear]
    parse = rtp_parser(extensions)

    def aiortc_parse(n: int) -> None:
        for data in clear[:n]:
            RtpPacket.parse(data, extensions)

    def fast_parse(n: int) -> None:
        for data in clear[:n]:
            parse(data)

    def unprotect_with(make: Callable[[pylibsrtp.Session], Callable[[bytes], Any]]) -> Any:
        def run(n: int) -> None:
            session = pylibsrtp.Session(POLICY(key=KEY, ssrc_type=POLICY.SSRC_ANY_INBOUND))
            unprotect = make(session)
            for data in protected[:n]:
                unprotect(data)

        return run

    rows += [
        ("parse a 1.2 kB RTP packet: aiortc's RtpPacket.parse", _measure(aiortc_parse, count, 1)),
        ("parse it: media.aiortc_patch.receive.rtp_parser", _measure(fast_parse, count, 1)),
        (
            "unprotect it: pylibsrtp's Session.unprotect",
            _measure(unprotect_with(lambda s: s.unprotect), count, 1),
        ),
        (
            "unprotect it: media.aiortc_patch.srtp.Unprotector",
            _measure(unprotect_with(lambda s: Unprotector(s).unprotect), count, 1),
        ),
        (
            "unprotect and parse it: Unprotector and rtp_parser",
            _measure(unprotect_with(lambda s: _python_receive(s, parse)), count, 1),
        ),
    ]
    compiled = srtp.COMPILED
    if compiled is not None and not args.python_loop:
        ids = extensions._HeaderExtensionsMap__ids  # type: ignore[attr-defined]

        def compiled_receive(session: pylibsrtp.Session) -> Callable[[bytes], Any]:
            context = srtp.context_address(session)
            return lambda data: compiled.receive(context, data, ids, RtpPacket, HeaderExtensions)

        rows.append(
            (
                "unprotect and parse it: _fastpath.receive",
                _measure(unprotect_with(compiled_receive), count, 1),
            )
        )
    for name, (low, median) in rows:
        print(f"{name}: {low:.2f} µs (median {median:.2f})")


if __name__ == "__main__":
    main()
