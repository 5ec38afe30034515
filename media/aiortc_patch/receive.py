"""The receive path: encoded frames straight from the RTP packets, no decoder.

Hooks (aiortc 1.16):

- **Passthrough.** ``RTCRtpReceiver._handle_rtp_packet`` adds each packet to the receiver's
  private ``__jitter_buffer`` and puts each reassembled ``(codec, JitterFrame)`` on its private
  ``__decoder_queue``, on the event loop, for the decoder thread. :func:`enable_passthrough`
  replaces both, per receiver: a :class:`media.aiortc_patch.jitter.BoundedJitterBuffer` hands
  every ready frame to a :class:`PassthroughQueue`, which wraps it as an ``av.Packet`` and
  calls back right there: no decoder, no thread hop, and receivers that are not switched (a
  client peer in the same process, a future decoding consumer) keep decoding.
- **The decoder thread.** :func:`install` replaces ``aiortc.rtcrtpreceiver.decoder_worker``
  (the module global the receiver starts as a thread in ``receive()``) by a dispatcher: for a
  passthrough receiver the thread ends at once, for any other it runs aiortc's own worker.
- **Fast RTP handling.** :func:`enable_fast_receive` handles a DTLS transport's SRTP
  datagrams in aioice's datagram callback, synchronously, and a passthrough receiver's
  packets in :func:`_fast_rtp_handler` (what ``_handle_rtp_packet`` does, without its
  coroutines); its SRTCP datagrams there too, each sender's and receiver's
  ``_handle_rtcp_packet`` run at once (aiortc queued every datagram for its transport's task).
- **Keyframe requests to a publisher.** :func:`send_pli` calls the receiver's
  ``_send_rtcp_pli(ssrc)``.
- **RTX routing.** aiortc's ``RtpRouter.route_rtp`` finds a packet's receiver by its SSRC
  (only the media SSRCs are registered, by ``RTCDtlsTransport._register_rtp_receiver``) or,
  failing that, by a payload type that one receiver alone has. A retransmission comes on the
  RTX SSRC with the RTX payload type, which every video m-line of a bundle shares: with two
  video m-lines (a terminal's camera and thumbnail) every retransmission was discarded and
  NACKs repaired nothing. :func:`route_rtx` (called by :func:`install`) wraps
  ``_register_rtp_receiver`` to register each encoding's RTX SSRC too (the remote
  description's ``a=ssrc-group:FID``), as browsers route them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fractions
import inspect
import logging
import queue
import re
import struct
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import aioice.ice
import aiortc
import aiortc.rtcrtpreceiver
import av
import pylibsrtp
from aiortc import RTCRtpReceiver, clock
from aiortc.codecs import is_rtx
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcdtlstransport import RTCDtlsTransport, RtpRouter
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpDecodingParameters,
    RTCRtpReceiveParameters,
)
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import (
    RTCP_PSFB_APP,
    HeaderExtensions,
    HeaderExtensionsMap,
    RtcpByePacket,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
    unpack_remb_fci,
    unwrap_rtx,
)

from media.aiortc_patch._private import (
    DTLS_CONNECTED,
    NTP_OFFSET_MS,
    RTP_TS_HALF,
    RTP_TS_MASK,
    lacking,
    receiver_attribute,
)
from media.aiortc_patch.bookkeeping import Nacks, Statistics, depayloader
from media.aiortc_patch.jitter import BoundedJitterBuffer
from media.aiortc_patch.srtp import COMPILED, Unprotector, context_address
from media.codecs import is_keyframe

logger = logging.getLogger(__name__)

_native = COMPILED
"""The compiled unprotect-and-parse (``_fastpath.receive``) the fast receive path uses, or None:
:func:`rtp_parser` and :class:`~media.aiortc_patch.srtp.Unprotector` in Python. Read when a
connection's fast receive is enabled."""


def check() -> list[str]:
    """What the passthrough receive path and the fast RTP handler rely on."""
    problems: list[str] = []
    worker = getattr(aiortc.rtcrtpreceiver, "decoder_worker", None)
    if worker is None:
        problems.append("aiortc.rtcrtpreceiver.decoder_worker is gone")
    elif list(inspect.signature(worker).parameters) != [
        "loop",
        "input_q",
        "output_q",
        "decode_error",
    ]:
        problems.append("aiortc.rtcrtpreceiver.decoder_worker changed its parameters")
    problems.extend(
        f"RTCRtpReceiver.{name} is gone"
        for name in ("_handle_rtp_packet", "_send_rtcp_pli", "getSynchronizationSources")
        if not hasattr(RTCRtpReceiver, name)
    )
    receiver_init = inspect.getsource(RTCRtpReceiver.__init__)
    for attribute in ("self.__decoder_queue", "self.__jitter_buffer", "self.__decoder_thread"):
        if attribute not in receiver_init:
            problems.append(f"RTCRtpReceiver no longer sets {attribute}")
    problems += lacking(
        RTCRtpReceiver._handle_rtp_packet,
        "RTCRtpReceiver._handle_rtp_packet no longer calls",
        "self.__jitter_buffer.add(packet)",
        "self.__decoder_queue.put((codec, encoded_frame))",
    )
    problems += lacking(
        RTCDtlsTransport,
        "RTCDtlsTransport no longer has",
        "self._rx_srtp",
        "self.__rx_bytes",
        "self.__rx_packets",
        "self._rtp_router",
        "self._rtp_header_extensions_map",
        "self._rx_srtp.unprotect(data)",
        "data = self._rx_srtp.unprotect_rtcp(data)",
        "await self._handle_rtcp_data(data)",
        "for recipient in self._rtp_router.route_rtcp(packet):",
        "await recipient._handle_rtcp_packet(packet)",
        "await receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_time_ms)",
    )
    if "self.receiver.data_received(data, self.local_candidate.component)" not in (
        inspect.getsource(aioice.ice.StunProtocol.datagram_received)
    ):
        problems.append("aioice's StunProtocol no longer hands data to Connection.data_received")
    if "self._protocols" not in inspect.getsource(aioice.ice.Connection.__init__):
        problems.append("aioice's Connection no longer keeps its _protocols")
    if "self._queue.put_nowait((data, component))" not in inspect.getsource(
        aioice.ice.Connection.data_received
    ):
        problems.append("aioice's Connection.data_received no longer queues the datagram")
    if list(inspect.signature(RTCDtlsTransport._register_rtp_receiver).parameters) != [
        "self",
        "receiver",
        "parameters",
    ]:
        problems.append("RTCDtlsTransport._register_rtp_receiver changed its parameters")
    problems += lacking(
        RtpRouter.route_rtcp,
        "aiortc's RtpRouter.route_rtcp no longer does",
        "add_recipient(self.ssrc_table.get(packet.ssrc))",
        "add_recipient(self.ssrc_table.get(source))",
        "add_recipient(self.senders.get(report.ssrc))",
        "add_recipient(self.senders.get(packet.media_ssrc))",
        "for ssrc in rtp.unpack_remb_fci(packet.fci)[1]:",
    )
    problems += lacking(
        RtpRouter.route_rtp,
        "aiortc's RtpRouter.route_rtp no longer does",
        "self.ssrc_table.get(packet.ssrc)",
        "self.payload_type_table.get(packet.payload_type, set())",
        "if ssrc_receiver is not None and ssrc_receiver in pt_receivers:",
    )
    ids = getattr(HeaderExtensionsMap(), "_HeaderExtensionsMap__ids", None)
    if ids is None:
        problems.append("aiortc's HeaderExtensionsMap no longer keeps its __ids")
    elif {f.name for f in dataclasses.fields(HeaderExtensions)} != _KNOWN_EXTENSIONS:
        problems.append("aiortc's HeaderExtensions changed its fields (see rtp_parser)")
    if "self.__ids = HeaderExtensions()" not in inspect.getsource(HeaderExtensionsMap.__init__):
        problems.append("aiortc's HeaderExtensionsMap no longer makes its __ids once")
    if "rtx" not in {f.name for f in dataclasses.fields(RTCRtpDecodingParameters)}:
        problems.append("RTCRtpDecodingParameters has no rtx")
    receiver_source = inspect.getsource(RTCRtpReceiver)
    for name in ("active_ssrc", "codecs", "remote_streams", "rtx_ssrc", "nack_generator",
                 "kind", "rtcp_ssrc", "remote_bitrate_estimator"):  # fmt: skip
        if not re.search(rf"self\.__{name}(: [^=]+)? = ", receiver_source):
            problems.append(f"RTCRtpReceiver no longer sets self.__{name}")
    problems += lacking(
        RTCRtpReceiver._handle_rtp_packet,
        "RTCRtpReceiver._handle_rtp_packet no longer does",
        "self.__remote_bitrate_estimator.add(",
        "self.__active_ssrc[packet.ssrc] = clock.current_datetime()",
        "self.__remote_streams[packet.ssrc].add(packet)",
        "unwrap_rtx(packet, payload_type=apt, ssrc=original_ssrc)",
        "self.__nack_generator.add(packet)",
        "depayload(codec, packet.payload)",
        "await self._send_rtcp_pli(packet.ssrc)",
    )
    return problems


_install_lock = threading.Lock()
_original_decoder_worker: Callable[..., None] | None = None


def install() -> None:
    """Replace aiortc's decoder thread by :func:`_dispatching_decoder_worker`, and route RTX
    (:func:`route_rtx`); once."""
    global _original_decoder_worker
    route_rtx()
    with _install_lock:
        if _original_decoder_worker is not None:
            return
        _original_decoder_worker = aiortc.rtcrtpreceiver.decoder_worker
        aiortc.rtcrtpreceiver.decoder_worker = _dispatching_decoder_worker


_original_register_rtp_receiver: Callable[..., None] | None = None


def route_rtx() -> None:
    """Route retransmissions to their receiver by their RTX SSRC (see the module's doc);
    process-wide, once. Safe for any peer connection: it only adds SSRCs the remote
    description declared."""
    global _original_register_rtp_receiver
    with _install_lock:
        if _original_register_rtp_receiver is not None:
            return
        original = RTCDtlsTransport._register_rtp_receiver
        _original_register_rtp_receiver = original

        def register(
            self: RTCDtlsTransport, receiver: Any, parameters: RTCRtpReceiveParameters
        ) -> None:
            original(self, receiver, parameters)
            for encoding in parameters.encodings:
                if encoding.rtx is not None:
                    self._rtp_router.ssrc_table[encoding.rtx.ssrc] = receiver

        RTCDtlsTransport._register_rtp_receiver = register  # type: ignore[method-assign]


def installed() -> bool:
    """Whether :func:`install` has run."""
    return _original_decoder_worker is not None


def _dispatching_decoder_worker(
    loop: asyncio.AbstractEventLoop,
    input_q: queue.Queue[Any],
    output_q: asyncio.Queue[Any],
    decode_error: threading.Event,
) -> None:
    """aiortc's decoder thread: ends at once for a passthrough receiver, else decodes."""
    if isinstance(input_q, PassthroughQueue):
        return
    assert _original_decoder_worker is not None
    _original_decoder_worker(loop, input_q, output_q, decode_error)


PacketCallback = Callable[[av.Packet], None]


class PassthroughQueue(queue.Queue[Any]):
    """Stands in for a receiver's decoder queue: encoded frames become ``av.Packet``s.

    Frames normally come straight from the receiver's :class:`BoundedJitterBuffer`
    (:meth:`deliver`, every frame that is ready, with its raw RTP timestamp); aiortc then puts
    nothing here but ``None`` when the receiver stops. A ``(codec, JitterFrame)`` aiortc puts
    anyway (its timestamp already unwrapped) is handled too. Each frame is handed to
    ``on_packet`` at once, as an ``av.Packet`` with ``pts`` the unwrapped RTP timestamp
    (0 for the first frame), ``time_base`` 1/clock rate, ``is_keyframe`` from the payload,
    and ``is_corrupt`` set on a non-key frame that follows a skipped hole (its references are
    lost). Nothing here raises into aiortc: an exception in the receive path would end the
    whole DTLS transport.
    """

    def __init__(
        self,
        on_packet: PacketCallback,
        on_end: Callable[[], None],
        *,
        mime_type: str,
        clock_rate: int,
    ) -> None:
        super().__init__()
        self._on_packet: PacketCallback | None = on_packet
        self._on_end: Callable[[], None] | None = on_end
        self._mime_type = mime_type
        self._time_base = fractions.Fraction(1, clock_rate)
        self._last_timestamp: int | None = None
        self._pts = 0

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:
            self._end()
            # Ends aiortc's own worker too, should install() not have run.
            super().put(None)
            return
        codec, frame = item
        self._hand_over(frame, frame.timestamp, codec.mimeType)

    def deliver(self, frame: JitterFrame) -> None:
        """Take a frame from the jitter buffer (raw RTP timestamp)."""
        last, self._last_timestamp = self._last_timestamp, frame.timestamp
        if last is not None:
            delta = (frame.timestamp - last) & RTP_TS_MASK
            self._pts += delta - (1 << 32) if delta >= RTP_TS_HALF else delta
        self._hand_over(frame, self._pts, self._mime_type)

    def _hand_over(self, frame: JitterFrame, pts: int, mime_type: str) -> None:
        on_packet = self._on_packet
        if on_packet is None:
            return
        try:
            packet = av.Packet(frame.data)
            packet.pts = pts
            packet.dts = pts
            packet.time_base = self._time_base
            key = is_keyframe(mime_type, frame.data)
            packet.is_keyframe = key
            if not key and getattr(frame, "discontinuity", False):
                packet.is_corrupt = True
            on_packet(packet)
        except Exception:
            logger.exception("passthrough of a received frame failed")

    def _end(self) -> None:
        on_end = self._on_end
        self._on_packet = None
        self._on_end = None
        if on_end is not None:
            try:
                on_end()
            except Exception:
                logger.exception("end of a passthrough receiver failed")


def enable_passthrough(
    receiver: RTCRtpReceiver,
    *,
    mime_type: str,
    clock_rate: int,
    on_packet: PacketCallback,
    on_end: Callable[[], None],
    capacity: int,
    max_delay: int,
    on_audio_level: Callable[[int], None] | None = None,
    idle: Callable[[], bool] | None = None,
    on_skipped: Callable[[int, bool], None] | None = None,
    idle_remb: tuple[float, int] | None = None,
) -> BoundedJitterBuffer:
    """Make ``receiver`` hand its encoded frames to ``on_packet`` instead of decoding them.

    Installs a :class:`PassthroughQueue` as its decoder queue and a
    :class:`BoundedJitterBuffer` (``capacity`` packets, holes skipped after ``max_delay`` RTP
    ticks) that delivers to it. Call before the receiver starts (after the transceiver
    exists, before the connection is up); ``on_end`` is called once when the receiver stops.
    ``mime_type`` and ``clock_rate`` are those of the one codec negotiated for the m-line.
    ``on_audio_level`` gets the level (RFC 6464: 0 loudest to 127 silent, in -dBov) each
    packet carries in its ``ssrc-audio-level`` header extension. While ``idle()`` is true
    the fast receive path (:func:`enable_fast_receive`) assembles no frames and calls
    ``on_skipped(payload bytes, ends a frame)`` per packet instead, and does not feed the
    bandwidth estimator: with ``idle_remb = (interval s, bitrate)`` it sends the publisher a
    REMB at most once per interval instead, at the last estimate it was sent (``bitrate``
    before any).
    """
    if receiver_attribute(receiver, "decoder_thread") is not None:
        raise RuntimeError("the receiver has already started: enable passthrough before")
    receiver_attribute(receiver, "decoder_queue")
    receiver_attribute(receiver, "jitter_buffer")
    passthrough = PassthroughQueue(on_packet, on_end, mime_type=mime_type, clock_rate=clock_rate)
    buffer = BoundedJitterBuffer(
        capacity=capacity,
        max_delay=max_delay,
        is_video=mime_type.lower().startswith("video/"),
        on_frame=passthrough.deliver,
        on_audio_level=on_audio_level,
    )
    receiver._RTCRtpReceiver__decoder_queue = passthrough  # type: ignore[attr-defined]
    receiver._RTCRtpReceiver__jitter_buffer = buffer  # type: ignore[attr-defined]
    receiver._giaoban_handle_rtp = _fast_rtp_handler(  # type: ignore[attr-defined]
        receiver, buffer, idle, on_skipped, on_audio_level, idle_remb
    )
    return buffer


def enable_fast_receive(dtls: RTCDtlsTransport) -> None:
    """Handle ``dtls``'s incoming SRTP media in aioice's datagram callback, synchronously.

    aiortc puts every datagram on aioice's connection queue; the DTLS transport's task wakes
    up for it, and unprotects, parses and routes the packet down two more coroutines to the
    receiver. Here, once DTLS is up, an RTP datagram is unprotected, parsed and routed at
    once, and a receiver prepared by :func:`enable_passthrough` handles it synchronously
    (:func:`_fast_rtp_handler`): no queue, no task wake-up per packet. An SRTCP datagram is
    unprotected, parsed and handed to its senders and receivers there too, their
    ``_handle_rtcp_packet`` run at once (:func:`_run_now`). Anything else (STUN was already
    answered by aioice; DTLS, media before the handshake) takes aiortc's path as before.
    Call once the transports are final (after ``setLocalDescription``).
    """
    if getattr(dtls, "_giaoban_fast_receive", False):
        return
    connection = dtls.transport._connection
    enqueue = connection.data_received
    router = dtls._rtp_router
    ssrc_table = router.ssrc_table
    payload_type_table = router.payload_type_table
    extensions = dtls._rtp_header_extensions_map
    parse = rtp_parser(extensions)
    native = _native
    ids = extensions._HeaderExtensionsMap__ids  # type: ignore[attr-defined]
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()
    now = time.time
    unprotector: Unprotector | None = None
    context: tuple[pylibsrtp.Session | None, int] = (None, 0)

    def rtcp_received(srtp: pylibsrtp.Session, data: bytes) -> None:
        # aiortc's _recv_next and _handle_rtcp_data for SRTCP, each recipient's handler run
        # at once (_run_now): none of aiortc's waits on anything for these packets.
        try:
            packets = RtcpPacket.parse(srtp.unprotect_rtcp(data))
        except (pylibsrtp.Error, ValueError):
            return  # as aiortc: dropped
        try:
            for packet in packets:
                for recipient in rtcp_recipients(router, packet):
                    _run_now(recipient._handle_rtcp_packet(packet))
        except Exception:  # nothing raises into aioice's callback
            logger.exception("fast receive of an RTCP packet failed")

    def data_received(data: bytes, component: int) -> None:
        nonlocal unprotector, context
        srtp = dtls._rx_srtp
        if (
            srtp is None
            or len(data) < 12
            or not 127 < data[0] < 192
            or dtls._state is not DTLS_CONNECTED
        ):
            enqueue(data, component)
            return
        dtls._RTCDtlsTransport__rx_bytes += len(data)  # type: ignore[attr-defined]
        dtls._RTCDtlsTransport__rx_packets += 1  # type: ignore[attr-defined]
        if 192 <= data[1] <= 208:  # RTCP
            rtcp_received(srtp, data)
            return
        arrival_time_ms = int(now() * 1000) + NTP_OFFSET_MS
        try:
            if native is not None:  # unprotected and parsed in one compiled call
                if context[0] is not srtp:
                    context = (srtp, context_address(srtp))
                packet = native.receive(context[1], data, ids, RtpPacket, HeaderExtensions)
            else:
                if unprotector is None or unprotector.session is not srtp:
                    unprotector = Unprotector(srtp)
                packet = parse(unprotector.unprotect(data))
        except (pylibsrtp.Error, ValueError):
            return  # as aiortc: a packet that does not authenticate or parse is dropped
        # aiortc's route_rtp, its first case here: a known SSRC of a known payload type
        receiver = ssrc_table.get(packet.ssrc)
        if receiver is None or receiver not in payload_type_table.get(packet.payload_type, ()):
            receiver = router.route_rtp(packet)
            if receiver is None:
                return
        handle = getattr(receiver, "_giaoban_handle_rtp", None)
        try:
            if handle is not None:
                handle(packet, arrival_time_ms)
            else:  # a receiver left on aiortc's path
                task = loop.create_task(receiver._handle_rtp_packet(packet, arrival_time_ms))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        except Exception:
            logger.exception("fast receive of an RTP packet failed")

    connection.data_received = data_received  # type: ignore[method-assign]
    # aioice tries to parse every datagram as STUN first; RTP and RTCP (first byte 128-191;
    # STUN's is 0-3, DTLS's 20-63) go straight on.
    for protocol in connection._protocols:
        stun_received = protocol.datagram_received
        component = protocol.local_candidate.component

        def datagram_received(
            data: bytes, addr: Any, stun_received: Any = stun_received, component: int = component
        ) -> None:
            if data and data[0] > 127:
                data_received(data, component)
            else:
                stun_received(data, addr)

        protocol.datagram_received = datagram_received  # type: ignore[method-assign,assignment]
    dtls._giaoban_fast_receive = True  # type: ignore[attr-defined]


def rtcp_recipients(router: RtpRouter, packet: Any) -> set[Any]:
    """aiortc's ``RtpRouter.route_rtcp(packet)``: the receivers and senders an RTCP packet is
    for. (aiortc's defines a function per call, whose annotations make ``typing`` unions.)"""
    recipients: set[Any] = set()
    ssrc_table = router.ssrc_table
    senders = router.senders
    kind = type(packet)
    if kind is RtcpSrPacket:
        recipients.add(ssrc_table.get(packet.ssrc))
    elif kind is RtcpByePacket:
        recipients.update(ssrc_table.get(source) for source in packet.sources)
    if kind is RtcpRrPacket or kind is RtcpSrPacket:
        recipients.update(senders.get(report.ssrc) for report in packet.reports)
    elif kind is RtcpPsfbPacket or kind is RtcpRtpfbPacket:
        recipients.add(senders.get(packet.media_ssrc))
        if kind is RtcpPsfbPacket and packet.fmt == RTCP_PSFB_APP:
            with contextlib.suppress(ValueError):  # a bad REMB: the media SSRC's alone
                recipients.update(senders.get(ssrc) for ssrc in unpack_remb_fci(packet.fci)[1])
    recipients.discard(None)
    return recipients


def _run_now(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run ``coroutine`` here and now, as far as it goes without waiting; should it wait on a
    future, it goes on when that is done (an event-loop task's steps, without its task)."""
    try:
        waited = coroutine.send(None)
    except (StopIteration, asyncio.CancelledError):
        return
    except Exception:
        # aiortc's DTLS transport ended on it; here the packet alone is lost
        logger.exception("handling an RTCP packet failed")
        return
    if isinstance(waited, asyncio.Future):
        waited._asyncio_future_blocking = False
        waited.add_done_callback(lambda _: _run_now(coroutine))
    else:  # a bare yield (asyncio.sleep(0))
        asyncio.get_running_loop().call_soon(_run_now, coroutine)


_KNOWN_EXTENSIONS = {
    "abs_send_time",
    "audio_level",
    "mid",
    "repaired_rtp_stream_id",
    "rtp_stream_id",
    "transmission_offset",
    "transport_sequence_number",
}
"The header extensions aiortc parses, each of which :func:`rtp_parser` parses as well."

_RTP_HEADER = struct.Struct("!BBHLL")
_unpack_header = _RTP_HEADER.unpack_from
_unpack_two = struct.Struct("!HH").unpack_from


def rtp_parser(extensions_map: HeaderExtensionsMap) -> Callable[[bytes], RtpPacket]:
    """``RtpPacket.parse(data, extensions_map)``: the same packet from the same bytes, and
    ``ValueError`` for the same bad ones (also for a header extension of the wrong size,
    where aiortc raises ``struct.error``), at a fraction of its cost: no slice and list per
    header extension, no ``unpack`` per value, no second pass over the extensions. Follows
    the map's identifiers as the transport reconfigures it."""
    ids = extensions_map._HeaderExtensionsMap__ids  # type: ignore[attr-defined]
    new_packet = RtpPacket.__new__

    def parse(data: bytes) -> RtpPacket:
        length = len(data)
        if length < 12:
            raise ValueError("RTP packet length is less than 12 bytes")
        v_p_x_cc, m_pt, sequence_number, timestamp, ssrc = _unpack_header(data)
        if v_p_x_cc >> 6 != 2:
            raise ValueError("RTP packet has invalid version")
        cc = v_p_x_cc & 0x0F
        position = 12 + 4 * cc
        if length < position:
            raise ValueError("RTP packet has truncated CSRC")
        packet = new_packet(RtpPacket)
        packet.version = 2
        packet.marker = m_pt >> 7
        packet.payload_type = m_pt & 0x7F
        packet.sequence_number = sequence_number
        packet.timestamp = timestamp
        packet.ssrc = ssrc
        packet.csrc = list(struct.unpack_from(f"!{cc}L", data, 12)) if cc else []
        extensions = packet.extensions = HeaderExtensions()
        if v_p_x_cc & 0x10:
            if length < position + 4:
                raise ValueError("RTP packet has truncated extension profile / length")
            profile, words = _unpack_two(data, position)
            position += 4
            end = position + 4 * words
            if length < end:
                raise ValueError("RTP packet has truncated extension value")
            _parse_extensions(data, position, end, profile, ids, extensions)
            position = end
        if v_p_x_cc & 0x20:
            padding = data[-1]
            if not padding or padding > length - position:
                raise ValueError("RTP packet padding length is invalid")
            packet.padding_size = padding
            packet.payload = data[position:-padding]
        else:
            packet.padding_size = 0
            packet.payload = data[position:]
        return packet

    return parse


def _parse_extensions(
    data: bytes, position: int, end: int, profile: int, ids: Any, values: HeaderExtensions
) -> None:
    """aiortc's ``unpack_header_extensions`` and ``HeaderExtensionsMap.get`` in one pass over
    ``data[position:end]``."""
    if profile == 0xBEDE:
        two_byte = False
    elif profile == 0x1000:
        two_byte = True
    else:
        return
    while position < end:
        first = data[position]
        if first == 0:  # padding
            position += 1
            continue
        if two_byte:
            if end < position + 2:
                raise ValueError("RTP two-byte header extension is truncated")
            x_id, x_length = first, data[position + 1]
            position += 2
        else:
            x_id, x_length = first >> 4, (first & 0x0F) + 1
            position += 1
        stop = position + x_length
        if end < stop:
            raise ValueError(
                f"RTP {'two' if two_byte else 'one'}-byte header extension value is truncated"
            )
        if x_id == ids.abs_send_time:
            if x_length != 3:
                raise ValueError("abs-send-time is not 3 bytes")
            values.abs_send_time = int.from_bytes(data[position:stop], "big")
        elif x_id == ids.audio_level:
            if x_length != 1:
                raise ValueError("audio level is not 1 byte")
            level = data[position]
            values.audio_level = (level & 0x80 == 0x80, level & 0x7F)
        elif x_id == ids.mid:
            values.mid = data[position:stop].decode("utf8")
        elif x_id == ids.repaired_rtp_stream_id:
            values.repaired_rtp_stream_id = data[position:stop].decode("ascii")
        elif x_id == ids.rtp_stream_id:
            values.rtp_stream_id = data[position:stop].decode("ascii")
        elif x_id == ids.transmission_offset:
            if x_length != 3:
                raise ValueError("transmission offset is not 3 bytes")
            values.transmission_offset = int.from_bytes(data[position:stop], "big", signed=True)
        elif x_id == ids.transport_sequence_number:
            if x_length != 2:
                raise ValueError("transport sequence number is not 2 bytes")
            values.transport_sequence_number = int.from_bytes(data[position:stop], "big")
        position = stop


_ACTIVE_SSRC_RESOLUTION_MS = 100

REMB_KEPT_MS = 5000
"""How long a receiver's estimate counts in its connection's REMB unless renewed: an idle
receiver renews it every ``idle_remb_interval``, an estimating one at least every second
(aiortc's estimator); a receiver that gets nothing any more drops out."""


class ConnectionRemb:
    """The one bandwidth estimate a connection's publisher is told (REMB).

    aiortc's receivers each send their own estimator's figure, but a browser takes every REMB
    as the estimate of the whole connection (libwebrtc keeps the last one it got and caps
    its sending with it): a hall that publishes a camera and a thumbnail was told the
    camera's figure and the thumbnail's in turn, and capped at the thumbnail's half the
    time. Here each receiver's latest estimate is kept per connection, and every REMB
    carries their sum and all their SSRCs, as libwebrtc's own receive side reports one
    estimate for all the streams of a transport."""

    def __init__(self) -> None:
        self._estimates: dict[object, tuple[int, list[int], int]] = {}

    def update(
        self, receiver: object, bitrate: int, ssrcs: list[int], now_ms: int
    ) -> tuple[int, list[int]]:
        """Take ``receiver``'s estimate (bits per second, for ``ssrcs``) at ``now_ms``; the
        connection's estimate and SSRCs to send."""
        estimates = self._estimates
        estimates[receiver] = (bitrate, ssrcs, now_ms)
        total = 0
        all_ssrcs: list[int] = []
        for key, (its_bitrate, its_ssrcs, at_ms) in list(estimates.items()):
            if now_ms - at_ms > REMB_KEPT_MS:
                del estimates[key]
                continue
            total += its_bitrate
            all_ssrcs.extend(ssrc for ssrc in its_ssrcs if ssrc not in all_ssrcs)
        return total, all_ssrcs


def connection_remb(dtls: object) -> ConnectionRemb:
    """The :class:`ConnectionRemb` of the connection ``dtls`` (its DTLS transport) carries."""
    remb: ConnectionRemb | None = getattr(dtls, "_giaoban_remb", None)
    if remb is None:
        remb = ConnectionRemb()
        dtls._giaoban_remb = remb  # type: ignore[attr-defined]
    return remb


def _fast_rtp_handler(
    receiver: RTCRtpReceiver,
    buffer: BoundedJitterBuffer,
    idle: Callable[[], bool] | None = None,
    on_skipped: Callable[[int, bool], None] | None = None,
    on_audio_level: Callable[[int], None] | None = None,
    idle_remb: tuple[float, int] | None = None,
) -> Callable[[RtpPacket, int], None]:
    """A synchronous ``receiver._handle_rtp_packet`` for a passthrough receiver.

    Does what aiortc's does (bandwidth estimate and REMB, the sources seen, RTCP statistics,
    RTX unwrapping, NACKs, depayloading, the jitter buffer, PLI after a loss) with the RTCP it
    sends (rare: REMB is throttled, NACK and PLI follow losses) as tasks of their own.

    While ``idle()`` (nobody takes the frames: a hall's camera that no other hall is shown),
    a packet is only counted (``on_skipped(payload bytes, ends a frame)``), its audio level
    read, and kept in the RTCP statistics: no NACK, no reassembly, and no bandwidth
    estimate (aiortc's estimator costs 20-80 µs a frame): with ``idle_remb = (interval s,
    bitrate)`` the publisher gets a REMB at most once per interval at the last estimate it
    was sent, or ``bitrate`` before any, and the estimator, once fed again, goes on from its
    state. When frames are wanted again, skipping goes on to the end of the current
    frame (a frame assembled from its middle could pass for a keyframe); from the next
    packet the jitter buffer and the NACK state start afresh and the first frame is marked
    as following a loss (a video source then waits for a keyframe and asks for one).
    """
    loop = asyncio.get_running_loop()
    estimator = receiver_attribute(receiver, "remote_bitrate_estimator")
    active_ssrc: dict[int, Any] = receiver_attribute(receiver, "active_ssrc")
    codecs: dict[int, RTCRtpCodecParameters] = receiver_attribute(receiver, "codecs")
    remote_streams: dict[int, StreamStatistics] = receiver_attribute(receiver, "remote_streams")
    rtx_ssrc: dict[int, int] = receiver_attribute(receiver, "rtx_ssrc")
    nack = receiver_attribute(receiver, "nack_generator")
    if nack is not None and not isinstance(nack, Nacks):
        nack = receiver._RTCRtpReceiver__nack_generator = Nacks()  # type: ignore[attr-defined]
    is_video = receiver_attribute(receiver, "kind") == "video"
    depayloaders: dict[int, Callable[[bytes], bytes] | None] = {}
    tasks: set[asyncio.Task[None]] = set()
    active_at: dict[int, int] = {}
    rtx_types: dict[int, bool] = {}
    frame_bytes = 0
    skipping = False
    after_frame_end = False
    idle_remb_ms, last_remb_bitrate = (
        (round(idle_remb[0] * 1000), idle_remb[1]) if idle_remb is not None else (0, 0)
    )
    last_idle_remb_ms = -(1 << 62)

    def spawn(coroutine: Any) -> None:
        task = loop.create_task(coroutine)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def send_remb(bitrate: int, ssrcs: list[int], now_ms: int) -> None:
        rtcp_ssrc = receiver._RTCRtpReceiver__rtcp_ssrc  # type: ignore[attr-defined]
        if rtcp_ssrc is not None:
            total, all_ssrcs = connection_remb(receiver.transport).update(
                receiver, bitrate, ssrcs, now_ms
            )
            spawn(
                receiver._send_rtcp(
                    RtcpPsfbPacket(
                        fmt=RTCP_PSFB_APP,
                        ssrc=rtcp_ssrc,
                        media_ssrc=0,
                        fci=pack_remb_fci(total, all_ssrcs),
                    )
                )
            )

    def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
        nonlocal frame_bytes, skipping, after_frame_end, last_remb_bitrate, last_idle_remb_ms
        if not receiver._enabled:
            return
        idle_now = idle is not None and idle()
        if idle_now:
            frame_bytes = 0
        elif estimator is not None and packet.extensions.abs_send_time is not None:
            # Once per frame (its last packet, all its bytes): the estimator groups a frame's
            # packets by send time anyway, and this halves its cost.
            frame_bytes += len(packet.payload) + packet.padding_size
            if packet.marker:
                remb = estimator.add(
                    abs_send_time=packet.extensions.abs_send_time,
                    arrival_time_ms=arrival_time_ms,
                    payload_size=frame_bytes,
                    ssrc=packet.ssrc,
                )
                frame_bytes = 0
                if remb is not None:
                    last_remb_bitrate = remb[0]
                    send_remb(remb[0], remb[1], arrival_time_ms)
        if arrival_time_ms - active_at.get(packet.ssrc, 0) >= _ACTIVE_SSRC_RESOLUTION_MS:
            # The sources seen (getSynchronizationSources: the PLI's target), to 0.1 s.
            active_at[packet.ssrc] = arrival_time_ms
            active_ssrc[packet.ssrc] = clock.current_datetime()
        codec = codecs.get(packet.payload_type)
        if codec is None:
            return
        stream = remote_streams.get(packet.ssrc)
        if stream is None:
            stream = remote_streams[packet.ssrc] = Statistics(codec.clockRate)
        stream.add(packet)
        rtx = rtx_types.get(packet.payload_type)
        if rtx is None:
            rtx = rtx_types[packet.payload_type] = is_rtx(codec)
        if skipping or idle_now:
            if rtx:
                return
            if (
                idle_now
                and idle_remb_ms
                and is_video
                and estimator is not None
                and arrival_time_ms - last_idle_remb_ms >= idle_remb_ms
            ):
                last_idle_remb_ms = arrival_time_ms
                send_remb(last_remb_bitrate, [packet.ssrc], arrival_time_ms)
            if skipping and after_frame_end and not idle_now:
                # Wanted again, and this packet starts a frame: resume with it.
                skipping = False
                buffer.restart()
                if nack is not None:
                    nack.max_seq = None
                    nack.missing.clear()
            else:
                skipping = True
                after_frame_end = bool(packet.marker) or not is_video
                if on_audio_level is not None and packet.extensions.audio_level is not None:
                    on_audio_level(packet.extensions.audio_level[1])
                if on_skipped is not None:
                    on_skipped(len(packet.payload), after_frame_end)
                return
        if rtx:
            original_ssrc = rtx_ssrc.get(packet.ssrc)
            apt = codec.parameters.get("apt")
            if (
                original_ssrc is None
                or len(packet.payload) < 2
                or not isinstance(apt, int)
                or apt not in codecs
            ):
                return
            packet = unwrap_rtx(packet, payload_type=apt, ssrc=original_ssrc)
            codec = codecs[apt]
        if nack is not None and nack.add(packet):
            spawn(receiver._send_rtcp_nack(packet.ssrc, sorted(nack.missing)))
        payload = packet.payload
        if payload:
            payload_type = packet.payload_type
            if payload_type in depayloaders:
                unpack = depayloaders[payload_type]
            else:
                unpack = depayloaders[payload_type] = depayloader(codec)
            if unpack is not None:
                try:
                    payload = unpack(payload)
                except ValueError:
                    return
        packet._data = payload  # type: ignore[attr-defined]
        pli_flag, _ = buffer.add(packet)
        if pli_flag and is_video:
            spawn(receiver._send_rtcp_pli(packet.ssrc))

    return handle


def is_passthrough(receiver: RTCRtpReceiver) -> bool:
    """Whether :func:`enable_passthrough` was applied to ``receiver``."""
    return isinstance(receiver_attribute(receiver, "decoder_queue"), PassthroughQueue)


async def send_pli(receiver: RTCRtpReceiver) -> bool:
    """Send an RTCP PLI for the stream ``receiver`` gets; ``False`` if none arrived yet."""
    sources = receiver.getSynchronizationSources()
    if not sources:
        return False
    ssrc = max(sources, key=lambda source: source.timestamp).source
    await receiver._send_rtcp_pli(ssrc)
    return True
