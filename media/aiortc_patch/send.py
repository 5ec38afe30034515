"""The send path: forwarded frames packetised, protected and sent synchronously.

Hooks (aiortc 1.16):

- **Direct send.** :func:`enable_fast_send` replaces a forwarding sender's ``_run_rtp`` loop
  (started by ``RTCRtpSender.send``): VP8 and Opus frames are packetised here and each packet
  is protected (the DTLS transport's ``_tx_srtp``) and sent on aioice's nominated pair
  (``RTCIceTransport._connection._nominated``) synchronously; it keeps the sender's private
  RTP history (NACK, RTX), sender-report counters and the DTLS transport's byte counts. A
  :class:`DirectTrack` (``media.ForwardedTrack``) pushes its frames to it. A frame of several
  packets leaves in one ``sendmsg`` with ``UDP_SEGMENT`` (:class:`_SegmentingSocket`; on
  uvloop through a duplicate of its transport's descriptor).
- **Keyframe requests from a subscriber.** A PLI or FIR received by an ``RTCRtpSender`` only
  calls its ``_send_keyframe()``, which sets a flag that forwarding ignores;
  :func:`on_keyframe_request` wraps that method, per sender, to call back.
"""

from __future__ import annotations

import asyncio
import errno
import fractions
import inspect
import logging
import os
import re
import socket
import struct
import time
import types
from collections.abc import Callable, Sequence
from typing import Any

import aioice.ice
import aiortc
import aiortc.rtcrtpsender
import av
from aiortc import RTCRtpSender, rtp
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import (
    RTP_HISTORY_SIZE,
    RtpPacket,
)
from aiortc.utils import random16, random32
from av.audio.frame import AudioFrame
from av.frame import Frame

from media.aiortc_patch._private import (
    DTLS_CONNECTED,
    NTP_OFFSET_S,
    NTP_ONE,
    sender_attribute,
)
from media.aiortc_patch.srtp import COMPILED, Protector, context_address

logger = logging.getLogger(__name__)


def check() -> list[str]:
    """What the fast send path and the keyframe-request hook rely on."""
    import aiortc.codecs.vpx
    from aiortc.rtcicetransport import RTCIceTransport

    problems: list[str] = [
        f"RTCRtpSender.{name} is gone"
        for name in ("_handle_rtcp_packet", "_send_keyframe", "_run_rtp", "_next_encoded_frame")
        if not hasattr(RTCRtpSender, name)
    ]
    if "self._send_keyframe()" not in inspect.getsource(RTCRtpSender._handle_rtcp_packet):
        problems.append("RTCRtpSender._handle_rtcp_packet no longer calls _send_keyframe()")
    if "self.__encoder.pack(data)" not in inspect.getsource(RTCRtpSender._next_encoded_frame):
        problems.append("RTCRtpSender no longer packs pre-encoded packets without encoding")
    sender_source = inspect.getsource(RTCRtpSender)
    for name in ("rtp_history", "rtp_header_extensions_map", "mid", "track", "encoder",
                 "force_keyframe",
                 "ntp_timestamp", "rtp_timestamp", "octet_count", "packet_count",
                 "rtp_started", "rtp_exited"):  # fmt: skip
        if not re.search(rf"self\.__{name}(: [^=]+)? = ", sender_source):
            problems.append(f"RTCRtpSender no longer sets self.__{name}")
    if getattr(aiortc.codecs.vpx, "PACKET_MAX", None) != _VP8_PAYLOAD_MAX + 4:
        problems.append("aiortc's VP8 packet size changed (PACKET_MAX)")
    if "self._run_rtp(" not in inspect.getsource(RTCRtpSender.send):
        problems.append("RTCRtpSender.send no longer starts self._run_rtp")
    dtls_source = inspect.getsource(RTCDtlsTransport)
    for needle in ("self._tx_srtp", "self.__tx_bytes", "self.__tx_packets", "self._state"):
        if needle not in dtls_source:
            problems.append(f"RTCDtlsTransport no longer has {needle}")
    if "self._connection = " not in inspect.getsource(RTCIceTransport.__init__):
        problems.append("RTCIceTransport no longer has _connection")
    if "self._nominated" not in inspect.getsource(aioice.ice.Connection):
        problems.append("aioice's Connection no longer has _nominated")
    if "active_pair.protocol.send_data(data, active_pair.remote_addr)" not in inspect.getsource(
        aioice.ice.Connection.sendto
    ):
        problems.append("aioice's Connection.sendto no longer sends on the nominated pair")
    import asyncio.selector_events

    transport_source = inspect.getsource(
        asyncio.selector_events._SelectorDatagramTransport  # type: ignore[attr-defined]
    )
    for needle in ("self._sock.sendto(data, addr)", "if not self._buffer:", "self._conn_lost"):
        if needle not in transport_source:
            problems.append(f"asyncio's datagram transport no longer has {needle}")
    return problems


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call ``callback`` whenever ``sender`` receives a PLI or FIR from its remote peer."""
    original = sender._send_keyframe

    def send_keyframe() -> None:
        original()
        try:
            callback()
        except Exception:
            logger.exception("keyframe request callback failed")

    sender._send_keyframe = send_keyframe  # type: ignore[method-assign]


# -- the send path -------------------------------------------------------------------------


def enable_fast_send(sender: RTCRtpSender) -> None:
    """Replace ``sender``'s RTP loop by :func:`_fast_run_rtp` (call before it starts).

    aiortc's ``RTCRtpSender._run_rtp`` does, for every packet, two NTP clock reads (through
    ``datetime``), a full header serialisation with its extension map, and five nested
    coroutine calls down to ``transport.sendto`` (``RTCDtlsTransport._send_rtp``,
    ``RTCIceTransport._send``, aioice's ``Connection.send``, ``sendto``, ``send_data``). For a
    forwarded (pre-encoded) track this loop reads the clock once per frame, serialises one
    header per frame and patches the sequence number and marker bit for the frame's other
    packets, and protects and sends each packet synchronously on the selected candidate
    pair's socket. What the sender's RTCP side reads is kept as aiortc keeps it: the
    retransmission history (NACK, RTX), the sender-report counters and timestamps, and the
    DTLS transport's byte and packet counts.
    """
    sender._run_rtp = types.MethodType(_fast_run_rtp, sender)  # type: ignore[method-assign]


_VP8_PAYLOAD_MAX = 1300 - 4
"aiortc's PACKET_MAX less the 4-byte descriptor (X, I bits, 15-bit picture id)."


def _vp8_descriptors(picture_id: int) -> tuple[bytes, bytes]:
    """The VP8 payload descriptors aiortc's ``Vp8Encoder._packetize`` puts before a frame's
    first packet and before its others (X, I bits, 15-bit picture id)."""
    picture = (0x8000 | picture_id).to_bytes(2, "big")
    return b"\x90\x80" + picture, b"\x80\x80" + picture


def _vp8_payloads(frame: bytes, picture_id: int) -> list[bytes]:
    """``frame`` as aiortc's ``Vp8Encoder._packetize`` splits it, descriptors included."""
    first, rest = _vp8_descriptors(picture_id)
    return [
        (rest if start else first) + frame[start : start + _VP8_PAYLOAD_MAX]
        for start in range(0, len(frame), _VP8_PAYLOAD_MAX)
    ]


def _header_template(
    extensions_map: Any, payload_type: int, ssrc: int, mid: str | None, audio_level: bool
) -> tuple[bytes, int | None, int | None]:
    """The RTP header aiortc's ``RtpPacket.serialize`` writes for this sender's packets
    (mid, abs-send-time and, for audio, the audio level as extensions), with sequence number,
    timestamp, abs-send-time and level zero; and where the abs-send-time's 3 bytes and the
    level's byte are in it (``None``: not negotiated)."""
    packet = RtpPacket(payload_type=payload_type, ssrc=ssrc)
    packet.extensions.abs_send_time = 0
    packet.extensions.mid = mid
    if audio_level:
        packet.extensions.audio_level = (False, 0)
    header = packet.serialize(extensions_map)
    ids = extensions_map._HeaderExtensionsMap__ids
    offsets: dict[int, int] = {}
    if header[0] & 0x10:
        profile, words = struct.unpack_from("!HH", header, 12)
        position, end = 16, 16 + 4 * words
        while position < end:
            if profile == 0xBEDE:
                x_id, x_length = header[position] >> 4, (header[position] & 0x0F) + 1
                if x_id == 0:  # padding
                    position += 1
                    continue
                position += 1
            else:
                x_id, x_length = header[position], header[position + 1]
                position += 2
            offsets[x_id] = position
            position += x_length
    abs_offset = offsets.get(ids.abs_send_time) if ids.abs_send_time else None
    level_offset = offsets.get(ids.audio_level) if audio_level and ids.audio_level else None
    return header, abs_offset, level_offset


class _SentHistory(dict[int, Any]):
    """A fast sender's retransmission history (sequence number % ``RTP_HISTORY_SIZE``), as
    aiortc's ``RTCRtpSender._retransmit`` reads it with ``get()``: what was sent is kept as a
    tuple, and the ``RtpPacket`` made only for a packet that a NACK asks for again."""

    def __init__(self, payload_type: int, ssrc: int, mid: str | None) -> None:
        super().__init__()
        self.payload_type = payload_type
        self.ssrc = ssrc
        self.mid = mid

    def get(self, key: int, default: Any = None) -> Any:
        entry = dict.get(self, key)
        if entry is None:
            return default
        sequence_number, marker, timestamp, prefix, data, start, stop, abs_send_time, level = entry
        packet = RtpPacket(
            payload_type=self.payload_type,
            marker=marker,
            sequence_number=sequence_number,
            timestamp=timestamp,
            ssrc=self.ssrc,
            payload=prefix + bytes(data[start:stop]),
        )
        packet.extensions.abs_send_time = abs_send_time
        packet.extensions.mid = self.mid
        if level is not None:
            packet.extensions.audio_level = (False, level)
        return packet


_NativeRoute = tuple[Any, Any, Any, bool, tuple[tuple[Any, ...], ...]]
"""What :meth:`_RtpWriter._send_native` keeps of the connection's selected pair (its
``_native_route_now``): the pair (None: not usable), the SRTP session, the transport, whether it
is asyncio's, and ``_fastpath.send``'s route without and with an audio level."""


class _RtpWriter:
    """Packetises, protects and sends one sender's frames synchronously (see
    :func:`enable_fast_send`); raises ``ConnectionError`` or ``OSError`` when it cannot.

    Per packet it patches the sequence number and marker bit into a header made once per
    frame from a template made once per sender, writes header, payload descriptor and the
    frame's slice straight into the SRTP session's buffer, protects it there and sends it;
    the history keeps a tuple (:class:`_SentHistory`)."""

    def __init__(self, sender: RTCRtpSender, codec: RTCRtpCodecParameters) -> None:
        self.sender = sender
        self.sequence_number = random16() % 32768  # as aiortc's random_sequence_number()
        self.timestamp_origin = random32()
        self.extensions_map = sender_attribute(sender, "rtp_header_extensions_map")
        self.mid = sender_attribute(sender, "mid")
        self.payload_type: int = codec.payloadType or 0
        self.ssrc = sender._ssrc
        self.history = _SentHistory(self.payload_type, self.ssrc, self.mid)
        sender._RTCRtpSender__rtp_history = self.history  # type: ignore[attr-defined]
        self.dtls: Any = sender.transport
        mime = codec.mimeType.lower()
        self.is_vp8 = mime == "video/vp8"
        self.packs_itself = self.is_vp8 or mime == "audio/opus"
        "VP8 and Opus are packetised here; H.264 and the rest by aiortc's encoder objects."
        self.picture_id = random16() % 32768
        self.clock_base = fractions.Fraction(1, codec.clockRate)
        self._templates: dict[bool, tuple[bytes, int | None, int | None]] = {}
        self._protector: Protector | None = None
        self._pair: Any = None
        self._udp_address: tuple[Any, Any] = (None, None)
        self._segmenting: _SegmentingSocket | None = None
        self._nominated: dict[int, Any] | None = None
        self._native_route: _NativeRoute | None = None

    def send_frame(self, frame: bytes, frame_timestamp: int) -> None:
        """Send one VP8 or Opus frame whose RTP timestamp (before the random origin) is
        ``frame_timestamp``."""
        if _native is not None and self._send_native(frame, frame_timestamp, None):
            return
        if self.is_vp8:
            descriptors = _vp8_descriptors(self.picture_id)
            self.picture_id = (self.picture_id + 1) & 0x7FFF
            self._send(_vp8_chunks(frame), frame_timestamp, None, descriptors)
        else:
            self._send((frame,), frame_timestamp, None, None)

    def send(self, payloads: list[bytes], frame_timestamp: int, audio_level: int | None) -> None:
        """Send one frame's payloads as RTP packets (the last one with the marker bit)."""
        if _native is not None and self._send_native(list(payloads), frame_timestamp, audio_level):
            return
        self._send(payloads, frame_timestamp, audio_level, None)

    def _send_native(
        self, data: bytes | list[bytes], frame_timestamp: int, audio_level: int | None
    ) -> bool:
        """:meth:`_send` in ``_fastpath`` (``data``: a frame, cut here if VP8, or a list of
        payloads): the same packets, history and counts, all but the checks compiled. False
        if it cannot be sent that way now (the transport holds datagrams, or has no socket
        to lend): :meth:`_send` then sends it."""
        dtls = self.dtls
        if dtls._state is not DTLS_CONNECTED:
            raise ConnectionError("Cannot send encrypted RTP, not connected")
        route = self._native_route
        nominated = self._nominated
        if (
            route is None
            or nominated is None
            or route[0] is not nominated.get(1)
            or route[1] is not dtls._tx_srtp
        ):
            route = self._native_route = self._native_route_now()
        pair, _, udp, is_asyncio, fixed = route
        if pair is None:
            return False
        if is_asyncio:
            if udp._buffer or udp._conn_lost:
                return False
        elif udp.get_write_buffer_size() or udp.is_closing():
            return False
        with_level = audio_level is not None
        picture_id = self.picture_id if self.is_vp8 and not isinstance(data, list) else -1
        assert _native is not None
        self.sequence_number, leftovers, gso_errno = _native.send(
            fixed[with_level],
            not _SegmentingSocket.refused,
            self.history,
            RTP_HISTORY_SIZE,
            self.sender,
            dtls,
            data,
            frame_timestamp,
            picture_id,
            None if audio_level is None else -audio_level,
            self.sequence_number,
        )
        if picture_id >= 0:
            self.picture_id = (picture_id + 1) & 0x7FFF
        if gso_errno:
            _SegmentingSocket.gso_refused(os.strerror(gso_errno))
        if leftovers is not None:  # would block, or failed: the transport's turn, in order
            for packet in leftovers:
                udp.sendto(packet, pair.remote_addr)
        return True

    def _native_route_now(self) -> _NativeRoute:
        """What :meth:`_send_native` needs of the connection's selected pair and SRTP session
        (the pair None if it cannot send on it): the pair, the session, the transport,
        whether it is asyncio's, and ``_fastpath.send``'s route without and with a level."""
        dtls = self.dtls
        if self._nominated is None:
            self._nominated = dtls.transport._connection._nominated
        pair = self._nominated.get(1)
        session = dtls._tx_srtp
        if pair is None or pair.protocol.transport is None:
            raise ConnectionError("Cannot send data, not connected")
        udp = pair.protocol.transport
        unusable = (None, session, udp, False, ())
        is_asyncio = isinstance(getattr(udp, "_sock", None), socket.socket)
        if is_asyncio:
            fd = udp._sock.fileno()
        else:  # uvloop's: its socket object only lends the descriptor
            extra = udp.get_extra_info("socket") if hasattr(udp, "get_extra_info") else None
            fd = extra.fileno() if extra is not None else -1
        address = pair.remote_addr
        assert _native is not None
        try:
            packed = _native.sockaddr(address[0], address[1], address[3] if len(address) > 3 else 0)
        except ValueError:  # not a numeric address: the transport resolves it
            return unusable
        if fd < 0:
            return unusable
        protector = self._protector
        if protector is None or protector.session is not session:
            protector = self._protector = Protector(session)
        fixed = []
        for with_level in (False, True):
            template = self._templates.get(with_level)
            if template is None:
                template = self._templates[with_level] = _header_template(
                    self.extensions_map, self.payload_type, self.ssrc, self.mid, with_level
                )
            header, abs_offset, level_offset = template
            fixed.append((
                context_address(session), fd, packed, protector.room, header,
                -1 if abs_offset is None else abs_offset,
                -1 if level_offset is None else level_offset,
                self.payload_type, self.timestamp_origin,
            ))  # fmt: skip
        return pair, session, udp, is_asyncio, tuple(fixed)

    def _segmenting_for(self, udp: Any) -> _SegmentingSocket:
        """The segmenting socket of ``udp`` (the connection's pair changed, or the first
        frame of several packets)."""
        self.close()
        segmenting = self._segmenting = _SegmentingSocket(udp)
        return segmenting

    def close(self) -> None:
        """Release the descriptor the writer holds to send frames in one call, if any."""
        if self._segmenting is not None:
            self._segmenting.close()
            self._segmenting = None

    def _route(self) -> tuple[Any, Any]:
        """The UDP transport and remote address of the connection's selected pair."""
        # aioice's Connection.sendto: the selected pair of component 1.
        pair = self.dtls.transport._connection._nominated.get(1)
        if pair is not self._pair:
            udp = pair.protocol.transport if pair is not None else None
            if udp is None:
                raise ConnectionError("Cannot send data, not connected")
            self._pair = pair
            self._udp_address = (udp, pair.remote_addr)
        return self._udp_address

    def _send(
        self,
        chunks: Sequence[bytes | memoryview],
        frame_timestamp: int,
        audio_level: int | None,
        descriptors: tuple[bytes, bytes] | None,
    ) -> None:
        """Send a frame's payloads; with VP8 ``descriptors`` (the first packet's, the
        others'), each payload is the frame's chunk after its descriptor."""
        dtls = self.dtls
        if dtls._state is not DTLS_CONNECTED:
            raise ConnectionError("Cannot send encrypted RTP, not connected")
        udp, address = self._route()
        protector = self._protector
        if protector is None or protector.session is not dtls._tx_srtp:
            protector = self._protector = Protector(dtls._tx_srtp)
        with_level = audio_level is not None
        template = self._templates.get(with_level)
        if template is None:
            template = self._templates[with_level] = _header_template(
                self.extensions_map, self.payload_type, self.ssrc, self.mid, with_level
            )
        header_bytes, abs_offset, level_offset = template
        timestamp = (self.timestamp_origin + frame_timestamp) & 0xFFFFFFFF
        ntp = int((time.time() + NTP_OFFSET_S) * NTP_ONE)  # clock.current_ntp_time()
        abs_send_time = (ntp >> 14) & 0x00FFFFFF
        level = None if audio_level is None else -audio_level
        sock = _direct_socket(udp)
        buffer = protector.buffer
        protect = protector.protect
        room = protector.room
        header = bytearray(header_bytes)
        header_length = len(header)
        _pack_timestamp(header, 4, timestamp)
        if abs_offset is not None:
            header[abs_offset : abs_offset + 3] = abs_send_time.to_bytes(3, "big")
        if level is not None and level_offset is not None:
            header[level_offset] = level & 0x7F
        prefix = b""
        if descriptors is not None:
            prefix = descriptors[0]
            header += prefix  # the descriptor goes with the header
        full = len(header)
        history = self.history
        payload_type = self.payload_type
        sequence_number = self.sequence_number
        last = len(chunks) - 1
        sent_bytes = 0
        octets = 0
        # A frame of several packets goes in one system call where the kernel can cut it.
        segmenting = None
        if last:
            segmenting = self._segmenting
            if segmenting is None or segmenting.udp is not udp:
                segmenting = self._segmenting_for(udp)
            if not segmenting.ready():
                segmenting = None
        segments: list[bytes] = []
        for index, data in enumerate(chunks):
            marker = 1 if index == last else 0
            header[1] = (marker << 7) | payload_type
            header[2] = sequence_number >> 8
            header[3] = sequence_number & 0xFF
            if index == 1 and descriptors is not None:
                prefix = descriptors[1]
                header[header_length] = prefix[0]  # no start-of-partition bit
            history[sequence_number % RTP_HISTORY_SIZE] = (
                sequence_number, marker, timestamp, prefix, data, 0, len(data), abs_send_time,
                level,
            )  # fmt: skip
            length = full + len(data)
            if length > room:
                raise ValueError("RTP packet is too long")  # as pylibsrtp's protect()
            buffer[0:full] = header
            buffer[full:length] = data
            packet = protect(length)
            if segmenting is not None:
                segments.append(packet)
            elif sock is not None:
                try:
                    sock.sendto(packet, address)
                except OSError:
                    sock = None
                    udp.sendto(packet, address)
            else:
                udp.sendto(packet, address)
            sent_bytes += len(packet)
            octets += length - header_length
            sequence_number = (sequence_number + 1) & 0xFFFF
        if segmenting is not None:
            segmenting.send(segments, address)
        self.sequence_number = sequence_number
        self._count(last + 1, sent_bytes, octets, ntp, timestamp)

    def _count(self, count: int, sent_bytes: int, octets: int, ntp: int, timestamp: int) -> None:
        """What aiortc's sender and DTLS transport count of a frame sent (sender reports)."""
        dtls = self.dtls
        dtls._RTCDtlsTransport__tx_bytes += sent_bytes
        dtls._RTCDtlsTransport__tx_packets += count
        sender: Any = self.sender
        sender._RTCRtpSender__ntp_timestamp = ntp
        sender._RTCRtpSender__rtp_timestamp = timestamp
        sender._RTCRtpSender__octet_count += octets
        sender._RTCRtpSender__packet_count += count


_native = COMPILED
"The compiled send loop, or None: :meth:`_RtpWriter._send` then runs its own in Python."


def compiled_loop() -> Any:
    """The compiled send loop (``_fastpath``) the writers use; None where it is not built."""
    return _native


def _transport_idle(udp: Any) -> bool:
    """Whether a packet may go on the transport's socket itself now: the transport is open
    (its descriptor is still this socket's) and holds nothing it would send first."""
    buffer = getattr(udp, "_buffer", None)
    if buffer is not None:  # asyncio's
        return not buffer and not udp._conn_lost
    return not udp.get_write_buffer_size() and not udp.is_closing()


_last_chunks: list[tuple[bytes, list[memoryview]] | None] = [None]


def _vp8_chunks(frame: bytes) -> list[memoryview]:
    """``frame`` cut as aiortc's VP8 packetiser cuts it (without descriptors), once for all
    the subscribers a frame is sent to in a row."""
    last = _last_chunks[0]
    if last is not None and last[0] is frame:
        return last[1]
    view = memoryview(frame)
    chunks = [
        view[start : start + _VP8_PAYLOAD_MAX] for start in range(0, len(frame), _VP8_PAYLOAD_MAX)
    ]
    _last_chunks[0] = (frame, chunks)
    return chunks


_pack_timestamp = struct.Struct("!I").pack_into


def _direct_socket(udp: Any) -> Any:
    """The socket itself while asyncio's own datagram transport has nothing buffered (its
    sendto adds checks and a call per packet); None to send through the transport: when the
    socket would block or failed, and always with another loop's transport (uvloop's sendto
    is already in C, and it has no ``_buffer``)."""
    buffer = getattr(udp, "_buffer", None)
    if buffer is None or buffer or udp._conn_lost:
        return None
    return udp._sock


UDP_SEGMENT = 103
"Linux's UDP generic segmentation offload option (``linux/udp.h``; 4.18 and later)."
_MAX_SEGMENTS = 32
"Packets per segmented send at most (Linux takes 64 and 64 KiB; a large keyframe is cut)."
_segment_size = struct.Struct("=H").pack
_GSO_REFUSED = {errno.EINVAL, errno.EIO, errno.ENOPROTOOPT, errno.EOPNOTSUPP}
"What a kernel or device without UDP segmentation answers to it."


class _SegmentingSocket:
    """Sends a frame's SRTP packets, all of one size but the last, in one ``sendmsg`` with
    ``UDP_SEGMENT`` (GSO): the kernel cuts the buffer into the same datagrams, after one pass
    through its send path instead of one per packet. Half the CPU of a packet sent on this
    machine's loopback (``bench/discussion.md``).

    On asyncio's own datagram transport this is its socket; on uvloop's (its ``sendto`` is
    C, it keeps no Python socket) a duplicate of its descriptor, closed by :meth:`close`.
    Whatever cannot go this way goes through the transport's ``sendto`` as before: frames of
    unequal packets, a socket that would block, and every frame after the kernel or the
    device refused segmentation once (``EINVAL``, ``EIO``: no checksum offload)."""

    refused = False
    "Set once any socket's segmentation was refused: the kernel or the device lacks it."

    @staticmethod
    def gso_refused(reason: str) -> None:
        """The kernel or the device refused segmentation: packets go one by one from now."""
        logger.info("UDP segmentation refused (%s): packets go one by one", reason)
        _SegmentingSocket.refused = True

    def __init__(self, udp: Any) -> None:
        self.udp = udp
        self._asyncio = isinstance(getattr(udp, "_sock", None), socket.socket)
        self._owned = False
        self.sock: socket.socket | None = None
        if _SegmentingSocket.refused or not hasattr(socket, "SOL_UDP"):
            return
        if self._asyncio:
            self.sock = udp._sock
            return
        extra = udp.get_extra_info("socket") if hasattr(udp, "get_extra_info") else None
        fileno = getattr(extra, "fileno", None)
        if fileno is None or udp.is_closing():
            return
        try:
            self.sock = socket.socket(fileno=os.dup(fileno()))
        except OSError:
            return
        self._owned = True

    def ready(self) -> bool:
        """Whether a frame may be sent this way now: nothing queued in the transport (the
        frame would overtake it) and the transport open."""
        return self.sock is not None and _transport_idle(self.udp)

    def send(self, packets: list[bytes], address: Any) -> None:
        """Send ``packets`` to ``address``, in order."""
        size = len(packets[0])
        sent = 0
        if all(len(packet) == size for packet in packets[:-1]) and len(packets[-1]) <= size:
            control = [(socket.SOL_UDP, UDP_SEGMENT, _segment_size(size))]
            sock = self.sock
            assert sock is not None
            try:
                while sent < len(packets):
                    batch = packets[sent : sent + _MAX_SEGMENTS]
                    sock.sendmsg([b"".join(batch)], control, 0, address)
                    sent += len(batch)
            except OSError as exc:
                # Would block, or another error: the transport queues the rest or reports
                # the error as it does for any packet.
                if exc.errno in _GSO_REFUSED:
                    _SegmentingSocket.gso_refused(str(exc))
                    self.close()
        udp = self.udp
        for packet in packets[sent:]:
            udp.sendto(packet, address)

    def close(self) -> None:
        if self._owned and self.sock is not None:
            self.sock.close()
        self.sock = None


DirectFrameSender = Callable[[bytes, int], None]
"Sends one encoded frame (its bytes, its RTP timestamp) at once; see :class:`DirectTrack`."


class DirectTrack:
    """What a track offers to be pushed to its fast sender rather than read with ``recv()``.

    :meth:`attach_direct` hands the track a function that sends a frame synchronously (raising
    ``ConnectionError`` or ``OSError`` when it cannot) and a function to call once, with the
    error, when the track must stop being sent that way; :meth:`detach_direct` takes them back.
    A track that has them calls the first for every frame instead of queueing it: no queue,
    no task wake-up, no copy per subscriber and frame.
    """

    def attach_direct(
        self, send: DirectFrameSender, on_stop: Callable[[BaseException | None], None]
    ) -> None:
        raise NotImplementedError

    def detach_direct(self) -> None:
        raise NotImplementedError


async def _fast_run_rtp(self: RTCRtpSender, codec: RTCRtpCodecParameters) -> None:
    sender_attribute(self, "rtp_started").set()
    writer = _RtpWriter(self, codec)
    mangled = "_RTCRtpSender__"
    loop = asyncio.get_running_loop()
    try:
        while True:
            track = sender_attribute(self, "track")
            if not track:
                await asyncio.sleep(0.02)
                continue
            if writer.packs_itself and isinstance(track, DirectTrack):
                await _run_direct(self, track, writer, loop)
                continue
            audio_level = None
            if not writer.packs_itself:
                # H.264 and the rest: aiortc's own path (Annex-B parsing, STAP-A/FU-A).
                encoded = await self._next_encoded_frame(codec)
                if encoded is None:
                    continue
                writer.send(encoded.payloads, encoded.timestamp, encoded.audio_level)
                continue
            data = await track.recv()
            if not self._enabled:
                continue
            if (
                isinstance(data, av.Packet)
                and data.pts is not None
                and data.time_base == writer.clock_base
            ):
                # A pre-encoded frame: packetised here, VP8 with this sender's picture ids as
                # aiortc's Vp8Encoder.pack would, Opus as it is; no encoder object, no
                # time-base arithmetic.
                writer.send_frame(bytes(data), data.pts)
                continue
            # Anything else as aiortc's _next_encoded_frame does it.
            encoder = sender_attribute(self, "encoder")
            if encoder is None:
                encoder = aiortc.rtcrtpsender.get_encoder(codec)
                setattr(self, mangled + "encoder", encoder)
            if isinstance(data, Frame):
                if isinstance(data, AudioFrame):
                    audio_level = rtp.compute_audio_level_dbov(data)
                force_keyframe = sender_attribute(self, "force_keyframe")
                setattr(self, mangled + "force_keyframe", False)
                payloads, frame_timestamp = await loop.run_in_executor(
                    None, encoder.encode, data, force_keyframe
                )
            else:
                payloads, frame_timestamp = encoder.pack(data)
            if payloads:
                writer.send(payloads, frame_timestamp, audio_level)
    except (asyncio.CancelledError, ConnectionError, MediaStreamError, OSError):
        pass
    except Exception:
        logger.exception("forwarding RTP loop failed")
    finally:
        writer.close()
    track = sender_attribute(self, "track")
    if track:
        track.stop()
        setattr(self, mangled + "track", None)
    setattr(self, mangled + "encoder", None)
    sender_attribute(self, "rtp_exited").set()


async def _run_direct(
    sender: RTCRtpSender,
    track: DirectTrack,
    writer: _RtpWriter,
    loop: asyncio.AbstractEventLoop,
) -> None:
    """Let ``track`` push its frames through ``writer`` until it stops, the connection fails
    (raised here) or the sender's track is replaced (returns)."""
    stopped: asyncio.Future[BaseException | None] = loop.create_future()

    def send(frame: bytes, frame_timestamp: int) -> None:
        if sender._RTCRtpSender__track is not track:  # type: ignore[attr-defined]
            stop(None)  # replaceTrack(): the loop picks the new track up
            return
        if not sender._enabled:
            return
        try:
            writer.send_frame(frame, frame_timestamp)
        except (ConnectionError, OSError) as exc:
            stop(exc)

    def stop(error: BaseException | None) -> None:
        if not stopped.done():
            stopped.set_result(error)

    track.attach_direct(send, stop)
    try:
        error = await stopped
    finally:
        track.detach_direct()
    if error is not None:
        raise error
