"""A hall's terminal as a process of its own (run inside a network namespace by netem_kit).

``python -m tests.server.netem_hall URL TOKEN COLOUR MEETING_ID`` connects a
:class:`~tests.server.live_kit.LiveClient` with the terminal's token, joins the live meeting,
sends its coloured camera and a tone, decodes what it receives, and behaves as the terminal
page does (web/static/terminal.js) when the network goes: the socket reconnects by itself
(0.5 s to 3 s apart, a connection attempt given up after 8 s), and on every connection the
terminal joins and offers again; a peer connection that fails is offered again.

On stdout, one JSON object a line: ``{"kind": "report", ...}`` every ``REPORT_EVERY`` seconds
(frames decoded per slot role, summed over the peer connections this process made, the
colour last seen, the socket and peer connection state, RTCP counters), and ``{"kind":
"resumed", "role", "at"}`` each time a slot decodes a frame after none for more than half a
second. Times are ``time.monotonic()``, the machine's clock that the test shares. It runs
until SIGTERM or stdin closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import signal
import sys
import time
from collections import Counter
from typing import Any

import aiohttp
import aiortc.rtcrtpreceiver
from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.codecs import is_rtx

from media.aiortc_patch.receive import route_rtx
from tests.media.media_testkit import BLUE, GREEN, RED, Yuv
from tests.server.live_kit import NAMESPACE, LiveClient, SlotReader

REPORT_EVERY = 0.2
CONNECT_TIMEOUT = 8.0
"""The terminal page's socket.io ``timeout`` (web/static/live.js)."""
COLOURS = {"RED": RED, "GREEN": GREEN, "BLUE": BLUE}

counters: Counter[str] = Counter()


def count_rtcp() -> None:
    """Count the RTCP feedback this process sends and acts on (aiortc's own methods)."""
    send_nack = RTCRtpReceiver._send_rtcp_nack
    send_pli = RTCRtpReceiver._send_rtcp_pli
    retransmit = RTCRtpSender._retransmit
    send_keyframe = RTCRtpSender._send_keyframe
    unwrap_rtx = aiortc.rtcrtpreceiver.unwrap_rtx

    async def nack(self: RTCRtpReceiver, media_ssrc: int, lost: list[int]) -> None:
        counters["nacks_sent"] += 1
        counters["nacked_packets"] += len(lost)
        await send_nack(self, media_ssrc, lost)

    async def pli(self: RTCRtpReceiver, media_ssrc: int) -> None:
        counters["plis_sent"] += 1
        await send_pli(self, media_ssrc)

    async def rtx(self: RTCRtpSender, sequence_number: int) -> None:
        counters["retransmissions"] += 1  # asked for by the server's NACKs
        await retransmit(self, sequence_number)

    def keyframe(self: RTCRtpSender) -> None:
        counters["keyframe_requests"] += 1  # the server's PLIs
        send_keyframe(self)

    def unwrap(packet: Any, payload_type: int, ssrc: int) -> Any:
        counters["rtx_received"] += 1  # the server's retransmissions
        return unwrap_rtx(packet, payload_type=payload_type, ssrc=ssrc)

    aiortc.rtcrtpreceiver.unwrap_rtx = unwrap  # type: ignore[assignment]
    RTCRtpReceiver._send_rtcp_nack = nack  # type: ignore[method-assign]
    RTCRtpReceiver._send_rtcp_pli = pli  # type: ignore[method-assign]
    RTCRtpSender._retransmit = rtx  # type: ignore[method-assign]
    RTCRtpSender._send_keyframe = keyframe  # type: ignore[method-assign]


def drain_jitter_buffers() -> None:
    """Decode every video frame that is complete, as a browser does (the terminals are
    Chromium). aiortc's receiver hands its decoder at most one frame per packet that arrives,
    so the frames held behind a loss that RTX repaired stayed behind for good: each repair
    added its wait to the latency, and the frames still held when a measurement ended counted
    as lost (57 of 480 in 8 s at 5 % loss, with every frame decoded later)."""
    handle = RTCRtpReceiver._handle_rtp_packet

    async def handle_and_drain(self: RTCRtpReceiver, packet: Any, arrival_time_ms: int) -> None:
        await handle(self, packet, arrival_time_ms)
        private = vars(self)  # aiortc's receiver state (name-mangled attributes)
        buffer = private["_RTCRtpReceiver__jitter_buffer"]
        if not buffer._is_video or private["_RTCRtpReceiver__decoder_thread"] is None:
            return
        frame = buffer._remove_frame(packet.sequence_number)
        if frame is None:
            return
        codecs = private["_RTCRtpReceiver__codecs"].values()
        codec = next(c for c in codecs if not is_rtx(c))  # a frame came: its codec is known
        while frame is not None:
            frame.timestamp = private["_RTCRtpReceiver__timestamp_mapper"].map(frame.timestamp)
            private["_RTCRtpReceiver__decoder_queue"].put((codec, frame))
            frame = buffer._remove_frame(packet.sequence_number)

    RTCRtpReceiver._handle_rtp_packet = handle_and_drain  # type: ignore[method-assign]


def emit(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def colour_name(colour: Yuv | None) -> str | None:
    if colour is None:
        return None
    return next((name for name, c in COLOURS.items() if c.close_to(colour)), "other")


class Terminal:
    """The terminal page's behaviour around a LiveClient."""

    def __init__(self, client: LiveClient, meeting_id: int) -> None:
        self.client = client
        self.meeting_id = meeting_id
        self.wanted = asyncio.Event()  # join and offer (again)
        self.connects = 0
        self.joins = 0
        self.offers = 0
        self.errors: list[str] = []
        self.done: dict[str, int] = {}  # frames of readers no longer in use, by role
        self.retired: list[SlotReader] = []
        self.announced: set[tuple[int, float]] = set()
        self.ack_ms = 0.0
        client.sio.on("connect", self.on_connect, namespace=NAMESPACE)

    async def on_connect(self) -> None:
        self.connects += 1
        self.wanted.set()

    async def drive(self) -> None:
        """On each connection join and offer; when the peer connection fails, offer again
        (terminal.js: the socket's "connect" handler and ``watchIce``)."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wanted.wait(), 0.5)
            if not self.client.sio.connected:
                continue
            pc = self.client.pc
            rejoin = self.wanted.is_set()
            if not rejoin and not (pc is not None and pc.connectionState == "failed"):
                continue
            self.wanted.clear()
            try:
                if rejoin:
                    reply = await self.client.join(self.meeting_id)
                    self.joins += 1
                    if not reply.get("ok") or reply.get("lobby"):
                        self.errors.append(f"join: {reply}")
                        continue
                self.retire()
                await self.client.negotiate()
                self.offers += 1
            except Exception as exc:  # the network went again: the next connect retries
                self.errors.append(f"{type(exc).__name__}: {exc}")
                if self.client.sio.connected:
                    self.wanted.set()
                    await asyncio.sleep(1.0)  # a client's back-off, not a test's wait

    def retire(self) -> None:
        """Count the frames of the readers a new offer replaces (each once)."""
        for reader in self.client.readers.values():
            if any(reader is old for old in self.retired):
                continue  # an offer that failed left them in place
            self.done[reader.role] = self.done.get(reader.role, 0) + reader.frames
            self.retired.append(reader)

    def readers(self) -> list[SlotReader]:
        return [*self.retired, *self.client.readers.values()]

    async def link(self) -> dict[str, float]:
        """Send ``link_stats`` as the terminal does every few seconds, and time its
        acknowledgement: a round trip over the link (TCP) and through the server."""
        if not self.client.sio.connected or self.client.joined is None:
            return {}
        started = time.monotonic()
        try:
            async with asyncio.timeout(3):
                await self.client.call("link_stats", {"loss": 0.0, "rtt_ms": self.ack_ms})
        except Exception:  # the network is away: no figure this time
            return {}
        self.ack_ms = (time.monotonic() - started) * 1000
        return {"ack_ms": self.ack_ms}

    async def report(self) -> None:
        link: dict[str, float] = {}
        pending: asyncio.Task[dict[str, float]] | None = None
        for tick in itertools.count():
            if pending is not None and pending.done():
                link = pending.result()
                pending = None
            if pending is None and tick % 5 == 0:
                pending = asyncio.ensure_future(self.link())
            for reader in self.readers():
                for at in reader.resumed:
                    if (id(reader), at) not in self.announced:
                        self.announced.add((id(reader), at))
                        emit({"kind": "resumed", "role": reader.role, "at": at})
            frames = dict(self.done)
            colours: dict[str, str | None] = {}
            for reader in self.client.readers.values():
                if any(reader is old for old in self.retired):
                    continue  # counted in done
                frames[reader.role] = frames.get(reader.role, 0) + reader.frames
                if reader.kind == "video":
                    colours[reader.role] = colour_name(reader.colour)
            pc = self.client.pc
            video = self.client.video
            emit({
                "kind": "report", "at": time.monotonic(), "frames": frames, "colours": colours,
                "socket": self.client.sio.connected, "pc": pc.connectionState if pc else None,
                "connects": self.connects, "joins": self.joins, "offers": self.offers,
                "sent_frames": video.frames_sent if video else 0, "errors": self.errors[-3:],
                **link, **counters,
            })  # fmt: skip
            await asyncio.sleep(REPORT_EVERY)


async def main(url: str, token: str, colour: str, meeting_id: int) -> None:
    count_rtcp()
    drain_jitter_buffers()
    # A browser routes retransmissions by the RTX SSRCs of the answer; aiortc does not by
    # itself (media/aiortc_patch/receive.py, "RTX routing").
    route_rtx()
    timeout = aiohttp.ClientTimeout(
        total=None, connect=CONNECT_TIMEOUT, sock_connect=CONNECT_TIMEOUT
    )
    http = aiohttp.ClientSession(timeout=timeout)
    client = LiveClient(
        url, token=token, colour=COLOURS[colour], thumb=True, auto_join=False, reconnection=True,
        http_session=http,
    )  # fmt: skip
    terminal = Terminal(client, meeting_id)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.read(1) else None)
    tasks = [asyncio.ensure_future(terminal.drive()), asyncio.ensure_future(terminal.report())]
    try:
        await client.connect()
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        async with asyncio.timeout(20):
            await client.close()
            await http.close()
        emit({"kind": "stopped", "at": time.monotonic()})


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
