"""A media worker: a process of its own that owns peer connections, their sources and tracks.

Started by :class:`media.workers.MediaWorkers` (``python -m media.worker --fd N``) on one end
of a socket pair; it ends when that socket closes (its parent is gone, even after a kill -9).
The parent drives it with the control protocol below; media never crosses the control
socket. A *media node* (``--listen HOST:PORT``, :func:`run_node`; a district's machine) serves
the same protocol over TCP to any controller that first sends ``{"hello": secret}`` (else
``{"event": "refused"}`` and the connection closes); each connection is a worker of its own
and its peers close when it goes. A source another process needs (a subscriber on another
worker, the recorder in the parent) is sent there over a cascade link (:mod:`media.relay`),
one copy per process.

Control messages are length-prefixed (u32) JSON objects. A request ``{"id": n, "op": ...}``
is answered by ``{"id": n, "ok": true, ...}`` or ``{"id": n, "ok": false, "error": {"code",
"message"}}``; the worker also sends events ``{"event": ...}``:

=====================  ===========================================  =========================
request                arguments                                     answer
=====================  ===========================================  =========================
``open``               ``peer``, ``codec``                           —
``answer``             ``peer``, ``sdp``                             ``sdp``, ``sources``,
                                                                    ``outgoing`` (id, kind,
                                                                    codec, mid)
``close``              ``peer``                                      —
``switch``             ``track``, ``source`` (a source id here, a    —
                       relay key, or null)
``relay``              ``source``, ``host``, ``port``, ``key``       —
``unrelay``            ``source``, ``host``, ``port``                —
``keyframe``           ``source``                                    —
``stats``              —                                             ``peers``, ``sources``,
                                                                    ``tracks``, ``links``
=====================  ===========================================  =========================

=====================  ==============================================================
event                  meaning
=====================  ==============================================================
``ready``              first message: ``relay_host``, ``relay_port`` (its cascade
                       listener), ``pid``
``levels``             ``{source id: audio level}``, every 0.1 s while any is known
``frames``             ``{source id: frames received}`` of its video sources, every
                       second (whoever shows them can tell a picture that stopped)
``ended``              ``source``: a source of one of its peers ended
``state``              ``peer``, ``state``: a connection state changed
=====================  ==============================================================
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hmac
import itertools
import json
import logging
import os
import pickle
import signal
import socket
import struct
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from media import loops
from media.codecs import MediaKind, VideoCodec
from media.errors import MediaError
from media.forwarding import ForwardedTrack, forwarded_total
from media.peer import ConnectionState, Peer
from media.relay import RelayLink, open_link, serve_links
from media.settings import PeerSettings
from media.source import Source
from media.tasks import cancel_and_wait

logger = logging.getLogger(__name__)

LENGTH = struct.Struct(">I")
MAX_CONTROL = 1024 * 1024
"The largest control message (an SDP is at most 64 kB)."
LEVELS_INTERVAL = 0.1
FRAMES_EVERY = 10
"""Levels sent between two reports of the video sources' frame counts (one a second)."""
HELLO_TIMEOUT = 5.0
"Seconds a controller of a media node has to say the secret."
CONCURRENT = frozenset({"answer", "relay"})


async def read_message(reader: asyncio.StreamReader) -> dict[str, Any]:
    """One control message; ``asyncio.IncompleteReadError`` at the end of the stream."""
    (size,) = LENGTH.unpack(await reader.readexactly(4))
    if size > MAX_CONTROL:
        raise ValueError(f"a control message of {size} bytes")
    message: dict[str, Any] = json.loads(await reader.readexactly(size))
    return message


def write_message(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    body = json.dumps(message, separators=(",", ":")).encode()
    writer.write(LENGTH.pack(len(body)) + body)


class Worker:
    """The state of one worker process and the handlers of its requests."""

    def __init__(
        self,
        writer: asyncio.StreamWriter,
        settings: PeerSettings,
        *,
        relay_host: str,
        secret: str,
    ) -> None:
        self.writer = writer
        self.settings = settings
        self.relay_host = relay_host
        self.secret = secret
        self.peers: dict[str, Peer] = {}
        self.sources: dict[str, Source] = {}
        self.tracks: dict[str, ForwardedTrack] = {}
        self.relayed: dict[str, Source] = {}
        "Sources that came over a cascade link, by the key they were sent with."
        self.waiting: dict[str, set[str]] = {}
        "Tracks to switch to a relayed source once it arrives, by key."
        self.links: dict[tuple[str, int], RelayLink] = {}
        self.accepted: list[RelayLink] = []
        self._dialling: dict[tuple[str, int], asyncio.Future[RelayLink]] = {}
        self.handlers: dict[str, Callable[..., Awaitable[dict[str, Any]]]] = {
            "open": self.open,
            "answer": self.answer,
            "close": self.close_peer,
            "switch": self.switch,
            "relay": self.relay,
            "unrelay": self.unrelay,
            "keyframe": self.keyframe,
            "stats": self.stats,
        }

    def emit(self, event: str, **data: Any) -> None:
        if not self.writer.is_closing():
            write_message(self.writer, {"event": event, **data})

    # requests

    async def open(self, peer: str, codec: str = VideoCodec.VP8.value) -> dict[str, Any]:
        if peer in self.peers:
            raise MediaError(f"peer {peer} is open already")

        def state_changed(state: ConnectionState) -> None:
            self.emit("state", peer=peer, state=state.value)

        self.peers[peer] = Peer(self.settings, video_codec=VideoCodec(codec),
                                on_state_change=state_changed)  # fmt: skip
        return {}

    async def answer(self, peer: str, sdp: str) -> dict[str, Any]:
        connection = self._peer(peer)
        answer = await connection.answer(sdp)
        sources = []
        for source in connection.sources:
            self.sources[source.id] = source
            source.add_ended_callback(self._source_ended)
            sources.append({"id": source.id, "kind": source.kind.value, "codec": source.codec,
                            "mid": source.mid})  # fmt: skip
        outgoing = []
        for track in connection.outgoing:
            self.tracks[track.label] = track
            outgoing.append({"id": track.label, "kind": track.media_kind.value,
                             "codec": track.codec, "mid": track.mid})  # fmt: skip
        return {"sdp": answer, "sources": sources, "outgoing": outgoing}

    async def close_peer(self, peer: str) -> dict[str, Any]:
        connection = self.peers.pop(peer, None)
        if connection is not None:
            for track in connection.outgoing:
                self.tracks.pop(track.label, None)
                for waiting in self.waiting.values():
                    waiting.discard(track.label)
            await connection.close()
        return {}

    async def switch(self, track: str, source: str | None) -> dict[str, Any]:
        forwarded = self.tracks.get(track)
        if forwarded is None:
            return {}  # its peer has closed meanwhile
        for waiting in self.waiting.values():
            waiting.discard(track)
        if source is None:
            forwarded.switch_source(None)
            return {}
        found = self.sources.get(source) or self.relayed.get(source)
        if found is None or found.ended:
            # A relayed source on its way: switch when it arrives, show nothing meanwhile.
            forwarded.switch_source(None)
            self.waiting.setdefault(source, set()).add(track)
            return {}
        forwarded.switch_source(found)
        return {}

    async def relay(self, source: str, host: str, port: int, key: str) -> dict[str, Any]:
        found = self.sources.get(source) or self.relayed.get(source)
        if found is None or found.ended:
            return {"relayed": False}
        link = await self._link(host, port)
        link.relay(found, {"key": key})
        return {"relayed": True}

    async def unrelay(self, source: str, host: str, port: int) -> dict[str, Any]:
        found = self.sources.get(source) or self.relayed.get(source)
        link = self.links.get((host, port))
        if found is not None and link is not None:
            link.unrelay(found)
        return {}

    async def keyframe(self, source: str) -> dict[str, Any]:
        found = self.sources.get(source)
        if found is not None:
            found.request_keyframe()
        return {}

    async def stats(self) -> dict[str, Any]:
        return {
            "peers": len(self.peers),
            "sources": len(self.sources),
            "tracks": len(self.tracks),
            "links": len(self.links) + len(self.accepted),
            "relayed": len(self.relayed),
            "forwarded": forwarded_total(),
        }

    # cascade links

    def accept(self, link: RelayLink) -> None:
        self.accepted.append(link)
        link.on_source = self._relayed_source

    def _relayed_source(self, source: Source, label: dict[str, Any]) -> None:
        key = str(label.get("key", ""))
        if not key:
            return
        self.relayed[key] = source

        def ended(_: Source) -> None:
            if self.relayed.get(key) is source:
                del self.relayed[key]

        source.add_ended_callback(ended)
        for track in self.waiting.pop(key, set()):
            forwarded = self.tracks.get(track)
            if forwarded is not None:
                forwarded.switch_source(source)

    async def _link(self, host: str, port: int) -> RelayLink:
        """The link to ``host:port``, dialled once however many relays wait for it."""
        key = (host, port)
        link = self.links.get(key)
        if link is not None and not link.closed:
            return link
        pending = self._dialling.get(key)
        if pending is None:
            pending = asyncio.ensure_future(open_link(host, port, secret=self.secret))
            self._dialling[key] = pending

            def dialled(f: asyncio.Future[RelayLink]) -> None:
                del self._dialling[key]
                if not f.cancelled() and f.exception() is None:
                    self.links[key] = f.result()

            pending.add_done_callback(dialled)
        return await asyncio.shield(pending)

    # internals

    def _peer(self, peer: str) -> Peer:
        connection = self.peers.get(peer)
        if connection is None:
            raise MediaError(f"no peer {peer} on this worker")
        return connection

    def _source_ended(self, source: Source) -> None:
        if self.sources.pop(source.id, None) is not None:
            self.emit("ended", source=source.id)

    async def send_levels(self) -> None:
        for tick in itertools.count(1):
            await asyncio.sleep(LEVELS_INTERVAL)
            levels = {
                sid: round(level, 4)
                for sid, source in self.sources.items()
                if (level := source.audio_level) is not None
            }
            if levels:
                self.emit("levels", levels=levels)
            if tick % FRAMES_EVERY == 0:
                frames = {
                    sid: source.packets_received
                    for sid, source in self.sources.items()
                    if source.kind is MediaKind.VIDEO
                }
                if frames:
                    self.emit("frames", frames=frames)

    async def handle(self, message: dict[str, Any]) -> None:
        request = message.get("id")
        op = str(message.get("op"))
        handler = self.handlers.get(op)
        args = {k: v for k, v in message.items() if k not in ("id", "op")}
        try:
            if handler is None:
                raise MediaError(f"unknown operation {op!r}")
            reply = {"id": request, "ok": True, **await handler(**args)}
        except MediaError as exc:
            reply = {"id": request, "ok": False, "error": {"code": exc.code, "message": str(exc)}}
        except Exception as exc:
            logger.exception("media worker: %s failed", op)
            reply = {"id": request, "ok": False,
                     "error": {"code": "worker_error", "message": f"{op}: {exc!r}"}}  # fmt: skip
        if request is not None and not self.writer.is_closing():
            write_message(self.writer, reply)

    async def close(self) -> None:
        for peer in list(self.peers):
            await self.close_peer(peer)
        for link in [*self.links.values(), *self.accepted]:
            await link.close()


async def serve(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    settings: PeerSettings,
    *,
    relay_host: str,
    secret: str,
) -> None:
    """Serve one controller on ``reader``/``writer`` until it goes; then close its peers."""
    worker = Worker(writer, settings, relay_host=relay_host, secret=secret)
    server = await serve_links(relay_host, 0, secret=secret, on_link=worker.accept)
    port = server.sockets[0].getsockname()[1]
    worker.emit("ready", relay_host=relay_host, relay_port=port, pid=os.getpid())
    levels = asyncio.create_task(worker.send_levels(), name="media worker levels")
    running: set[asyncio.Task[None]] = set()
    # Requests are handled in order; the two that wait on the network (an answer gathers ICE
    # candidates, a relay may dial a link) run on their own so that the others do not wait
    # behind them. The parent sends what depends on an answer only after it has it.
    try:
        while True:
            try:
                message = await read_message(reader)
            except (asyncio.IncompleteReadError, ConnectionError, ValueError):
                break  # the controller is gone (or is not speaking this protocol)
            if message.get("op") in CONCURRENT:
                task = asyncio.create_task(worker.handle(message))
                running.add(task)
                task.add_done_callback(running.discard)
            else:
                await worker.handle(message)
    finally:
        for task in list(running):
            await cancel_and_wait(task)
        await cancel_and_wait(levels)
        await worker.close()
        server.close()
        with contextlib.suppress(Exception):
            await server.wait_closed()
        writer.close()


async def run(fd: int, settings: PeerSettings, *, relay_host: str, secret: str) -> None:
    """A worker process of a pool: serve the control socket ``fd`` until it closes."""
    sock = socket.socket(fileno=fd)
    reader, writer = await asyncio.open_unix_connection(sock=sock)
    await serve(reader, writer, settings, relay_host=relay_host, secret=secret)


def keep_alive(writer: asyncio.StreamWriter) -> None:
    """TCP keepalive on a control connection: a peer machine that vanished is noticed in
    about 11 s (5 s idle, then 3 probes 2 s apart)."""
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (("TCP_KEEPIDLE", 5), ("TCP_KEEPINTVL", 2), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, option):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)


async def run_node(
    host: str,
    port: int,
    settings: PeerSettings,
    *,
    relay_host: str,
    secret: str,
    on_listening: Callable[[str, int], None] | None = None,
) -> None:
    """A media node (a district's, say): serve controllers over TCP at ``host:port``.

    Each controller (a signalling node placing peers here) first sends ``{"hello":
    secret}``; a wrong or late one is disconnected. Each connection is a worker of its own,
    with its own cascade listener on ``relay_host``; its peers close when it goes.
    """
    if not secret:
        raise ValueError("a media node needs a secret")

    async def control(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        try:
            async with asyncio.timeout(HELLO_TIMEOUT):
                hello = await read_message(reader)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, ValueError):
            hello = {}
        said = str(hello.get("hello", "")).encode()
        if not hmac.compare_digest(said, secret.encode()):
            logger.warning("media node: %s did not say the secret; disconnected", peer)
            write_message(writer, {"event": "refused", "reason": "wrong secret"})
            writer.close()
            return
        keep_alive(writer)
        logger.info("media node: controller %s connected", peer)
        await serve(reader, writer, settings, relay_host=relay_host, secret=secret)
        logger.info("media node: controller %s gone; its peers are closed", peer)

    server = await asyncio.start_server(control, host, port)
    bound = server.sockets[0].getsockname()
    if on_listening is not None:
        on_listening(bound[0], bound[1])
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="giaoban media worker")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--fd", type=int, help="the control socket (a worker of a pool)")
    mode.add_argument("--listen", metavar="HOST:PORT",
                      help="serve controllers over TCP (a media node)")  # fmt: skip
    parser.add_argument("--relay-host", default="127.0.0.1")
    parser.add_argument("--loop", choices=loops.LOOPS, default="asyncio", help="event loop")
    args = parser.parse_args(argv)
    os.umask(0o077)
    logging.basicConfig(
        level=os.environ.get("GIAOBAN_LOG_LEVEL", "INFO").upper(),
        format=f"%(asctime)s media-worker[{os.getpid()}] %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    raw = os.environ.pop("GIAOBAN_MEDIA_WORKER_SETTINGS", "")
    # The parent's own PeerSettings (trusted: the parent wrote it for its child).
    settings = pickle.loads(base64.b64decode(raw)) if raw else PeerSettings()
    secret = os.environ.pop("GIAOBAN_MEDIA_WORKER_SECRET", "")
    if args.fd is not None:
        # A pool's worker lives as long as its control socket: its server closes it when it
        # stops (its peers closed first). A Ctrl-C at the terminal, or `systemctl stop`
        # (SIGTERM to every process of the unit), would end it under a server still closing.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        loops.run(run(args.fd, settings, relay_host=args.relay_host, secret=secret), args.loop)
        return
    host, _, port = str(args.listen).rpartition(":")
    loops.run(run_node(host or "0.0.0.0", int(port), settings, relay_host=args.relay_host,
                       secret=secret, on_listening=announce), args.loop)  # fmt: skip


def announce(host: str, port: int) -> None:
    """Say where a media node listens, on standard output (what starts it reads it)."""
    print(f"media node listening on {host}:{port}", flush=True)


if __name__ == "__main__":
    main()
