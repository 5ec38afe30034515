"""RTCP reports: one compound packet per connection and interval, no sender report from a
sender that has sent nothing.

Hooks (aiortc 1.16): every ``RTCRtpSender`` and ``RTCRtpReceiver`` runs a ``_run_rtcp`` task
of its own that wakes every 0.5-1.5 s and sends one RTCP datagram: a sender an SR and SDES
(also a sender that has sent nothing: an SR of zeros), a receiver an RR, each through
aiortc's coroutine chain, SRTP and a ``sendto``. In the speaker layout a hall has five
senders, most on slots that carry nothing, and two or three receivers: eight datagrams per
hall and second, a cost per hall, not per packet forwarded. :func:`enable_shared_rtcp`
replaces a sender's or receiver's ``_run_rtcp`` (before it starts) by a membership of its
DTLS transport's :class:`_SharedReports`, whose one task sends, once per interval, one
compound packet (several if it would pass :data:`COMPOUND_MAX` bytes): the SR of every
sender that has sent something (RFC 3550 6.4: a participant that has sent nothing sends no
SR), the RR of every receiver that has received something, and one SDES with the CNAME of
each sender in it. The figures are aiortc's own (its SR and RR fields, its ``__lsr`` for the
round-trip time); a BYE at the end only from a sender that has sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
import re
import time
from typing import Any

from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtp import (
    RtcpByePacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
)

logger = logging.getLogger(__name__)

COMPOUND_MAX = 1000
"Bytes of one compound RTCP datagram at most (before SRTP); more reports go in another."

_SENDER = "_RTCRtpSender__"
_RECEIVER = "_RTCRtpReceiver__"


def check() -> list[str]:
    """What the shared RTCP reports rely on."""
    problems: list[str] = []
    for cls, prefix, names in (
        (RTCRtpSender, "self.__", ("rtcp_started", "rtcp_exited", "ntp_timestamp",
                                    "rtp_timestamp", "packet_count", "octet_count", "lsr",
                                    "lsr_time", "cname")),
        (RTCRtpReceiver, "self.__", ("rtcp_started", "rtcp_exited", "remote_streams", "lsr",
                                      "lsr_time", "rtcp_ssrc")),
    ):  # fmt: skip
        source = inspect.getsource(cls)
        for name in names:
            if not re.search(rf"{re.escape(prefix)}{name}(: [^=]+)? = ", source):
                problems.append(f"{cls.__name__} no longer sets self.__{name}")
        if "asyncio.ensure_future(self._run_rtcp())" not in source:
            problems.append(f"{cls.__name__} no longer starts self._run_rtcp()")
    if "self.__lsr[packet.ssrc] = " not in inspect.getsource(RTCRtpReceiver._handle_rtcp_packet):
        problems.append("RTCRtpReceiver._handle_rtcp_packet no longer keeps __lsr")
    if "if is_rtcp(data):" not in inspect.getsource(RTCDtlsTransport._send_rtp):
        problems.append("RTCDtlsTransport._send_rtp no longer protects RTCP as RTCP")
    return problems


def enable_shared_rtcp(member: RTCRtpSender | RTCRtpReceiver) -> None:
    """Let ``member``'s DTLS transport send its reports with the others' (call before the
    sender or receiver starts)."""

    async def run_rtcp() -> None:
        await _run_member(member)

    member._run_rtcp = run_rtcp  # type: ignore[method-assign]


async def _run_member(member: RTCRtpSender | RTCRtpReceiver) -> None:
    """What replaces ``member``'s ``_run_rtcp`` task: a membership until it is cancelled."""
    prefix = _SENDER if isinstance(member, RTCRtpSender) else _RECEIVER
    getattr(member, prefix + "rtcp_started").set()
    dtls: RTCDtlsTransport = member.transport
    shared = getattr(dtls, "_giaoban_rtcp", None)
    if shared is None:
        shared = _SharedReports(dtls)
        dtls._giaoban_rtcp = shared  # type: ignore[attr-defined]
    shared.add(member)
    try:
        await asyncio.get_running_loop().create_future()  # until stop() cancels the task
    except asyncio.CancelledError:
        pass
    finally:
        shared.discard(member)
    if isinstance(member, RTCRtpSender) and _sent(member):
        with contextlib.suppress(ConnectionError):
            await dtls._send_rtp(bytes(RtcpByePacket(sources=[member._ssrc])))
    getattr(member, prefix + "rtcp_exited").set()


def _sent(sender: RTCRtpSender) -> bool:
    return bool(getattr(sender, _SENDER + "packet_count"))


class _SharedReports:
    """The RTCP reports of one DTLS transport's senders and receivers, sent by one task."""

    def __init__(self, dtls: RTCDtlsTransport) -> None:
        self.dtls = dtls
        self.members: dict[RTCRtpSender | RTCRtpReceiver, None] = {}
        self.task: asyncio.Task[None] | None = None

    def add(self, member: RTCRtpSender | RTCRtpReceiver) -> None:
        self.members[member] = None
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run(), name="rtcp-reports")

    def discard(self, member: RTCRtpSender | RTCRtpReceiver) -> None:
        self.members.pop(member, None)
        if not self.members and self.task is not None:
            self.task.cancel()
            self.task = None

    async def _run(self) -> None:
        while True:
            # aiortc's interval: varied randomly over [0.5, 1.5] s.
            await asyncio.sleep(0.5 + random.random())
            if self.dtls._state != DtlsState.CONNECTED:
                continue
            try:
                for payload in self.compounds():
                    await self.dtls._send_rtp(payload)
            except ConnectionError:
                pass
            except Exception:
                logger.exception("RTCP reports failed")

    def compounds(self) -> list[bytes]:
        """The reports due now, as compound RTCP packets of at most :data:`COMPOUND_MAX`
        bytes each: SRs, then RRs, then one SDES of the SRs' senders."""
        reports: list[tuple[bytes, RtcpSourceInfo | None]] = []
        for member in tuple(self.members):
            if isinstance(member, RTCRtpSender):
                reports.extend(_sender_report(member))
            else:
                reports.extend(_receiver_report(member))
        reports.sort(key=lambda report: report[1] is None)  # SRs first
        out: list[bytes] = []
        packets: list[bytes] = []
        chunks: list[RtcpSourceInfo] = []
        size = 0
        for data, chunk in reports:
            # An SDES chunk: 4 bytes of SSRC, 2 + CNAME, padded to 4 (in a 4-byte header).
            extra = len(data) + (8 + len(chunk.items[0][1]) + 4 if chunk is not None else 0)
            if packets and size + extra > COMPOUND_MAX:
                out.append(_compound(packets, chunks))
                packets, chunks, size = [], [], 0
            packets.append(data)
            if chunk is not None:
                chunks.append(chunk)
            size += extra
        if packets:
            out.append(_compound(packets, chunks))
        return out


def _compound(packets: list[bytes], chunks: list[RtcpSourceInfo]) -> bytes:
    if chunks:
        packets = [*packets, bytes(RtcpSdesPacket(chunks=chunks))]
    return b"".join(packets)


def _sender_report(sender: RTCRtpSender) -> list[tuple[bytes, RtcpSourceInfo | None]]:
    """aiortc's SR (and SDES chunk) for ``sender``; none if it has sent nothing."""
    if not _sent(sender):
        return []
    ntp_timestamp = getattr(sender, _SENDER + "ntp_timestamp")
    packet = RtcpSrPacket(
        ssrc=sender._ssrc,
        sender_info=RtcpSenderInfo(
            ntp_timestamp=ntp_timestamp,
            rtp_timestamp=getattr(sender, _SENDER + "rtp_timestamp"),
            packet_count=getattr(sender, _SENDER + "packet_count") & 0xFFFFFFFF,
            octet_count=getattr(sender, _SENDER + "octet_count") & 0xFFFFFFFF,
        ),
    )
    setattr(sender, _SENDER + "lsr", (ntp_timestamp >> 16) & 0xFFFFFFFF)
    setattr(sender, _SENDER + "lsr_time", time.time())
    cname: str | None = getattr(sender, _SENDER + "cname")
    chunk = None
    if cname is not None:
        chunk = RtcpSourceInfo(ssrc=sender._ssrc, items=[(1, cname.encode("utf8"))])
    return [(bytes(packet), chunk)]


def _receiver_report(receiver: RTCRtpReceiver) -> list[tuple[bytes, RtcpSourceInfo | None]]:
    """aiortc's RR for ``receiver``; none before it has received anything."""
    rtcp_ssrc = getattr(receiver, _RECEIVER + "rtcp_ssrc")
    streams: dict[int, Any] = getattr(receiver, _RECEIVER + "remote_streams")
    if rtcp_ssrc is None or not streams:
        return []
    lsrs: dict[int, int] = getattr(receiver, _RECEIVER + "lsr")
    lsr_times: dict[int, float] = getattr(receiver, _RECEIVER + "lsr_time")
    reports = []
    for ssrc, stream in streams.items():
        lsr = dlsr = 0
        if ssrc in lsrs:
            lsr = lsrs[ssrc]
            delay = time.time() - lsr_times[ssrc]
            if 0 < delay < 65536:
                dlsr = int(delay * 65536)
        reports.append(
            RtcpReceiverInfo(
                ssrc=ssrc,
                fraction_lost=stream.fraction_lost,
                packets_lost=stream.packets_lost,
                highest_sequence=stream.max_seq,
                jitter=stream.jitter,
                lsr=lsr,
                dlsr=dlsr,
            )
        )
    return [(bytes(RtcpRrPacket(ssrc=rtcp_ssrc, reports=reports)), None)]
