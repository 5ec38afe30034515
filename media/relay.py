"""The cascade link: one copy of each relayed stream from one process to another.

A meeting too large for one media worker, or spread over two nodes (a district node serving
its communes and the province node), is cascaded (mediasoup's ``pipeToRouter``, Jitsi's
Octo): the process that receives a publisher's stream relays one copy of its encoded frames
to the other, where the copy is a :class:`media.Source` like any other and fans out to that
process's subscribers. Nothing is decoded or re-encoded on the way; a subscriber's keyframe
request on the far side goes back over the link to the publisher.

A link is one TCP connection (loss-free and ordered: a lost packet inside a frame would cost
a keyframe) carrying both directions. Every message is framed as::

    length: u32 (of what follows)   type: u8   body

=========  ==========================================  ============================
type       body                                        direction
=========  ==========================================  ============================
HELLO 0    the link's shared secret (UTF-8); empty:     dialling side first; the
           accepted                                    accepting side answers
OPEN 1     stream: u32, JSON {kind, codec, clock_rate,  relaying side
           label}
FRAME 2    stream: u32, flags: u8 (1 keyframe,          relaying side
           2 follows a loss), pts: i64, the frame
CLOSE 3    stream: u32                                  relaying side
KEYFRAME 4 stream: u32                                  far side: a keyframe request
=========  ==========================================  ============================

A link that falls behind (the kernel's socket buffer full, and more than ``max_buffer`` bytes
waiting in the transport's own) drops frames rather than queueing them: video until its next
keyframe, which it asks the source for, so the far side never sees a frame it cannot decode.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import fractions
import hmac
import itertools
import json
import logging
import socket
import struct
from collections.abc import Callable
from typing import Any

import av

from media.codecs import MediaKind
from media.errors import MediaError
from media.source import Source
from media.tasks import cancel_and_wait

logger = logging.getLogger(__name__)

MAX_MESSAGE = 8 * 1024 * 1024
"The largest message accepted (a keyframe of a 4K picture is well under a megabyte)."
MAX_BUFFER = 2 * 1024 * 1024
"Bytes a link may have waiting to be sent before it drops frames."
HELLO_TIMEOUT = 5.0

_LENGTH = struct.Struct(">I")
_STREAM = struct.Struct(">BI")
_FRAME = struct.Struct(">BIBq")
_KEY, _CORRUPT = 1, 2


class Message(enum.IntEnum):
    HELLO = 0
    OPEN = 1
    FRAME = 2
    CLOSE = 3
    KEYFRAME = 4


_HELLO_ACCEPTED = b"\x00\x00\x00\x01\x00"
"The accepting side's answer to a good HELLO: an empty HELLO."


class RelayError(MediaError):
    """A cascade link could not be opened or broke its protocol."""

    code = "relay_failed"


class RelayedStream:
    """The relaying side of one stream: a sink of the local source, writing to the link."""

    def __init__(self, link: RelayLink, stream: int, source: Source) -> None:
        self.link = link
        self.stream = stream
        self.source = source
        self.frames_sent = 0
        self.frames_dropped = 0
        "Frames not sent because the link fell behind."
        self._is_video = source.kind is MediaKind.VIDEO
        self._waiting_for_keyframe = self._is_video

    def on_packet(self, source: Source, packet: av.Packet) -> None:
        link = self.link
        if link.closed:
            return
        key = packet.is_keyframe
        if link.behind():
            self.frames_dropped += 1
            if self._is_video:
                self._waiting_for_keyframe = True
            return
        if self._waiting_for_keyframe:
            if not key:
                self.frames_dropped += 1
                source.request_keyframe()
                return
            self._waiting_for_keyframe = False
        flags = (_KEY if key else 0) | (_CORRUPT if packet.is_corrupt else 0)
        payload = bytes(packet)
        link._write(_FRAME.pack(Message.FRAME, self.stream, flags, packet.pts or 0), payload)
        self.frames_sent += 1

    def on_source_ended(self, source: Source) -> None:
        self.link._stream_ended(self)


OnSource = Callable[[Source, dict[str, Any]], None]
"Called on the far side with each relayed stream's new Source and the label it was sent with."


class RelayLink:
    """One cascade link between two processes; both ends are a ``RelayLink``.

    ``relay(source, label)`` sends one copy of a local source; the far end's ``on_source``
    gets a :class:`media.Source` fed with it. ``close()`` ends the link: the far side's
    relayed sources end (their subscribers see them go), the local sources lose one sink.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        on_source: OnSource | None = None,
        max_buffer: int = MAX_BUFFER,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._transport = writer.transport
        self.on_source = on_source
        self.max_buffer = max_buffer
        self.closed = False
        self.bytes_sent = 0
        self.frames_received = 0
        self._ids = itertools.count(1)
        self._outgoing: dict[int, RelayedStream] = {}
        self._by_source: dict[Source, RelayedStream] = {}
        self._incoming: dict[int, Source] = {}
        self._time_bases: dict[int, fractions.Fraction] = {}
        self._reading: asyncio.Task[None] | None = None
        self._closed_event = asyncio.Event()

    def __repr__(self) -> str:
        peer = self._transport.get_extra_info("peername")
        return f"<RelayLink {peer} out={len(self._outgoing)} in={len(self._incoming)}>"

    @property
    def outgoing(self) -> tuple[RelayedStream, ...]:
        return tuple(self._outgoing.values())

    @property
    def incoming(self) -> tuple[Source, ...]:
        """The far side's streams, as sources here."""
        return tuple(self._incoming.values())

    def start(self) -> None:
        if self._reading is None:
            self._reading = asyncio.get_running_loop().create_task(self._read(), name="relay link")

    def relay(self, source: Source, label: dict[str, Any] | None = None) -> RelayedStream:
        """Send one copy of ``source`` over the link (once: a second call returns the same)."""
        if self.closed:
            raise RelayError("the relay link is closed")
        existing = self._by_source.get(source)
        if existing is not None:
            return existing
        stream = next(self._ids)
        relayed = RelayedStream(self, stream, source)
        self._outgoing[stream] = relayed
        self._by_source[source] = relayed
        meta = {
            "kind": source.kind.value,
            "codec": source.codec,
            "clock_rate": 90_000 if source.kind is MediaKind.VIDEO else 48_000,
            "label": label or {},
        }
        self._write(_STREAM.pack(Message.OPEN, stream), json.dumps(meta).encode())
        source.subscribe(relayed)
        if source.kind is MediaKind.VIDEO:
            source.request_keyframe()
        return relayed

    def unrelay(self, source: Source) -> None:
        """Stop relaying ``source``; the far side's copy ends."""
        relayed = self._by_source.get(source)
        if relayed is not None:
            source.unsubscribe(relayed)
            self._stream_ended(relayed)

    def behind(self) -> bool:
        """Whether more than ``max_buffer`` bytes wait in the transport (the kernel's socket
        buffer is full: the far side or the network does not keep up)."""
        return self._transport.get_write_buffer_size() > self.max_buffer

    async def wait_closed(self) -> None:
        await self._closed_event.wait()

    async def close(self) -> None:
        """End the link and its streams, both ways; safe twice."""
        task, self._reading = self._reading, None
        self._shutdown()
        await cancel_and_wait(task)
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()

    # internals

    def _write(self, head: bytes, body: bytes = b"") -> None:
        if self.closed:
            return
        size = len(head) + len(body)
        self._writer.write(b"".join((_LENGTH.pack(size), head, body)))
        self.bytes_sent += 4 + size

    def _stream_ended(self, relayed: RelayedStream) -> None:
        if self._outgoing.pop(relayed.stream, None) is None:
            return
        self._by_source.pop(relayed.source, None)
        self._write(_STREAM.pack(Message.CLOSE, relayed.stream))

    async def _request_keyframe(self, stream: int) -> bool:
        if self.closed or stream not in self._incoming:
            return False
        self._write(_STREAM.pack(Message.KEYFRAME, stream))
        return True

    async def _read(self) -> None:
        try:
            while True:
                head = await self._reader.readexactly(4)
                (size,) = _LENGTH.unpack(head)
                if not 1 <= size <= MAX_MESSAGE:
                    raise RelayError(f"a relay message of {size} bytes")
                self._handle(await self._reader.readexactly(size))
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass  # the other side went away
        except RelayError as exc:
            logger.warning("%r: %s; closing", self, exc.message)
        finally:
            self._shutdown()

    def _handle(self, message: bytes) -> None:
        kind = message[0]
        if kind == Message.FRAME:
            _, stream, flags, pts = _FRAME.unpack_from(message)
            source = self._incoming.get(stream)
            if source is None:
                return
            packet = av.Packet(message[_FRAME.size :])
            packet.pts = pts
            packet.dts = pts
            packet.time_base = self._time_bases[stream]
            packet.is_keyframe = bool(flags & _KEY)
            if flags & _CORRUPT:
                packet.is_corrupt = True
            self.frames_received += 1
            source.feed(packet)
            return
        if len(message) < _STREAM.size:
            raise RelayError("a truncated relay message")
        _, stream = _STREAM.unpack_from(message)
        if kind == Message.OPEN:
            self._open(stream, message[_STREAM.size :])
        elif kind == Message.CLOSE:
            source = self._incoming.pop(stream, None)
            self._time_bases.pop(stream, None)
            if source is not None:
                source.end()
        elif kind == Message.KEYFRAME:
            relayed = self._outgoing.get(stream)
            if relayed is not None:
                relayed.source.request_keyframe()
        else:
            raise RelayError(f"an unknown relay message type {kind}")

    def _open(self, stream: int, body: bytes) -> None:
        try:
            meta = json.loads(body)
            kind = MediaKind(meta["kind"])
            codec = str(meta["codec"])
            clock_rate = int(meta["clock_rate"])
        except (ValueError, KeyError, TypeError) as exc:
            raise RelayError(f"a relayed stream's description is not valid: {exc}") from exc
        if stream in self._incoming:
            raise RelayError(f"stream {stream} opened twice")

        async def request() -> bool:
            return await self._request_keyframe(stream)

        source = Source(kind=kind, codec=codec, send_keyframe_request=request)
        self._incoming[stream] = source
        self._time_bases[stream] = fractions.Fraction(1, clock_rate)
        if self.on_source is not None:
            try:
                self.on_source(source, meta.get("label") or {})
            except Exception:
                logger.exception("%r: on_source failed", self)

    def _shutdown(self) -> None:
        if self.closed:
            return
        self.closed = True
        for relayed in list(self._outgoing.values()):
            relayed.source.unsubscribe(relayed)
        self._outgoing.clear()
        self._by_source.clear()
        incoming, self._incoming = self._incoming, {}
        for source in incoming.values():
            source.end()
        self._writer.close()
        self._closed_event.set()


async def open_link(
    host: str,
    port: int,
    *,
    secret: str,
    on_source: OnSource | None = None,
    max_buffer: int = MAX_BUFFER,
) -> RelayLink:
    """Dial a :func:`serve_links` listener and introduce this side with ``secret``."""
    try:
        async with asyncio.timeout(HELLO_TIMEOUT):
            reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError) as exc:
        raise RelayError(f"cannot reach the relay at {host}:{port}: {exc}") from exc
    _no_delay(writer)
    body = secret.encode()
    writer.write(_LENGTH.pack(1 + len(body)) + bytes([Message.HELLO]) + body)
    try:
        async with asyncio.timeout(HELLO_TIMEOUT):
            answer = await reader.readexactly(5)
    except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
        writer.close()
        raise RelayError(f"the relay at {host}:{port} refused the link (wrong secret?)") from exc
    if answer != _HELLO_ACCEPTED:
        writer.close()
        raise RelayError(f"the relay at {host}:{port} does not speak this protocol")
    link = RelayLink(reader, writer, on_source=on_source, max_buffer=max_buffer)
    link.start()
    return link


async def serve_links(
    host: str,
    port: int,
    *,
    secret: str,
    on_link: Callable[[RelayLink], None],
    max_buffer: int = MAX_BUFFER,
) -> asyncio.Server:
    """Accept cascade links; a dialling side that does not say ``secret`` first within
    :data:`HELLO_TIMEOUT` is disconnected. ``on_link`` gets each accepted link (it sets the
    link's ``on_source`` before returning)."""
    expected = secret.encode()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(HELLO_TIMEOUT):
                (size,) = _LENGTH.unpack(await reader.readexactly(4))
                hello = await reader.readexactly(size) if 1 <= size <= 1024 else b""
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, OSError):
            hello = b""
        if not hello or hello[0] != Message.HELLO or not hmac.compare_digest(hello[1:], expected):
            logger.warning("relay link from %s refused", writer.get_extra_info("peername"))
            writer.close()
            return
        _no_delay(writer)
        writer.write(_HELLO_ACCEPTED)
        link = RelayLink(reader, writer, max_buffer=max_buffer)
        on_link(link)
        link.start()

    return await asyncio.start_server(accept, host, port)


def _no_delay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
