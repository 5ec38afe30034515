"""Media on every core: worker processes that own the peer connections, driven from here.

:class:`MediaWorkers` starts ``count`` processes (:mod:`media.worker`) and places peers on
them; a :class:`RemotePeer` is used like a :class:`media.Peer` (``answer``, ``sources``,
``outgoing``, ``close``), its sources are :class:`RemoteSource` and its slots
:class:`RemoteTrack`. Switching a slot to a source of another worker cascades: the source's
worker relays one copy to the slot's worker over a cascade link (:mod:`media.relay`), kept
while any slot there uses it. A sink subscribed here, in this process (the recorder), gets
its own relayed copy the same way. Media never passes through the control sockets.

Placement: the peers of one ``group`` (a meeting) go to one worker, the least loaded when
the group starts, until it carries ``capacity`` peers; then the group spills over to the
next least loaded one, and the cascade carries what crosses.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import logging
import os
import pickle
import secrets
import socket
import sys
import time
from collections.abc import Mapping
from typing import Any

from media.codecs import MediaKind, VideoCodec
from media.errors import (
    IncompatibleSourceError,
    MediaError,
    NegotiationError,
    PeerClosedError,
    SdpTooLargeError,
)
from media.forwarding import check_compatible
from media.peer import ConnectionState
from media.relay import RelayLink, serve_links
from media.settings import PeerSettings
from media.source import LEVEL_STALE, PacketSink, Source
from media.tasks import cancel_and_wait
from media.worker import keep_alive, read_message, write_message

logger = logging.getLogger(__name__)

CALL_TIMEOUT = 20.0
"Seconds a worker has to answer a request (an answer gathers ICE candidates)."
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
DEFAULT_CAPACITY = 150
"Peers of one group on one worker before the group spills over to another."

_ERRORS: dict[str, type[MediaError]] = {
    NegotiationError.code: NegotiationError,
    PeerClosedError.code: PeerClosedError,
    IncompatibleSourceError.code: IncompatibleSourceError,
}


class WorkerGone(MediaError):
    """The media worker that owned this object has exited."""

    code = "media_worker_gone"


class WorkerProcess:
    """One media worker: its process, its control socket, what lives there."""

    def __init__(self, pool: MediaWorkers, name: str) -> None:
        self.pool = pool
        self.name = name
        self.tag = name
        "Unique among the workers this pool has had: the ids of what lives there start with it."
        self.process: asyncio.subprocess.Process | None = None
        self.pid = 0
        self.relay_host = pool.relay_host
        "Where its cascade listener is dialled."
        self.relay_port = 0
        self.peers: dict[str, RemotePeer] = {}
        self.sources: dict[str, RemoteSource] = {}
        "This worker's sources, by their id there."
        self.alive = False
        self.last_error: str | None = None
        "Why its last start failed (cleared when it starts)."
        self._writer: asyncio.StreamWriter | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reading: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[dict[str, Any]] | None = None

    def __repr__(self) -> str:
        return f"<WorkerProcess {self.name} pid={self.pid} peers={len(self.peers)}>"

    @property
    def load(self) -> int:
        return len(self.peers)

    async def start(self) -> None:
        """Start the process and wait for its ``ready``."""
        parent, child = socket.socketpair()
        env = {
            **os.environ,
            "GIAOBAN_MEDIA_WORKER_SETTINGS": base64.b64encode(
                pickle.dumps(self.pool.settings)
            ).decode(),
            "GIAOBAN_MEDIA_WORKER_SECRET": self.pool.secret,
        }
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "media.worker", "--fd", str(child.fileno()),
                "--relay-host", self.pool.relay_host, "--loop", self.pool.loop,
                pass_fds=[child.fileno()], env=env, stdin=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        finally:
            child.close()
        self.pid = self.process.pid
        reader, writer = await asyncio.open_unix_connection(sock=parent)
        await self._greeted(reader, writer)

    async def _greeted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read the control connection; wait for the worker's ``ready``."""
        self._writer = writer
        self._ready = asyncio.get_running_loop().create_future()
        self._reading = asyncio.create_task(self._read(reader), name=f"media worker {self.name}")
        try:
            async with asyncio.timeout(START_TIMEOUT):
                ready = await self._ready
        except TimeoutError:
            await self.stop()
            raise MediaError(f"media worker {self.name} did not start") from None
        self.relay_host = str(ready.get("relay_host") or self.pool.relay_host)
        self.relay_port = int(ready["relay_port"])
        self.pid = int(ready.get("pid") or self.pid)
        self.alive = True
        logger.info("media worker %s started (pid %s)", self.name, self.pid)

    async def call(self, op: str, **args: Any) -> dict[str, Any]:
        """Send a request and wait for its answer; a refusal raises its :class:`MediaError`."""
        future = self._request(op, args)
        try:
            async with asyncio.timeout(CALL_TIMEOUT):
                reply = await future
        except TimeoutError:
            raise MediaError(f"media worker {self.name} did not answer {op}") from None
        if not reply.get("ok"):
            error = reply.get("error") or {}
            kind = _ERRORS.get(str(error.get("code")), MediaError)
            raise kind(str(error.get("message", op)))
        return reply

    def send(self, op: str, **args: Any) -> None:
        """Send a request without waiting; a refusal is logged (requests keep their order)."""
        if not self.alive:
            return
        future = self._request(op, args)

        def done(f: asyncio.Future[dict[str, Any]]) -> None:
            if f.cancelled():
                return
            if f.exception() is None and not f.result().get("ok"):
                logger.warning("media worker %s: %s refused: %s", self.name, op,
                               f.result().get("error"))  # fmt: skip

        future.add_done_callback(done)

    def _request(self, op: str, args: dict[str, Any]) -> asyncio.Future[dict[str, Any]]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        if not self.alive or self._writer is None or self._writer.is_closing():
            future.set_exception(WorkerGone(f"media worker {self.name} has exited"))
            return future
        request = next(self._ids)
        self._pending[request] = future
        future.add_done_callback(lambda _: self._pending.pop(request, None))
        write_message(self._writer, {"id": request, "op": op, **args})
        return future

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                message = await read_message(reader)
                if "event" in message:
                    self._event(message)
                else:
                    future = self._pending.get(int(message.get("id") or 0))
                    if future is not None and not future.done():
                        future.set_result(message)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            self._gone()

    def _event(self, message: dict[str, Any]) -> None:
        event = message["event"]
        if event == "ready":
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(message)
        elif event == "refused":
            if self._ready is not None and not self._ready.done():
                reason = message.get("reason")
                self._ready.set_exception(MediaError(f"{self.name} refused us: {reason}"))
        elif event == "levels":
            now = time.monotonic()
            for sid, level in message["levels"].items():
                source = self.sources.get(sid)
                if source is not None:
                    source.remote_level = (float(level), now)
        elif event == "frames":
            for sid, count in message["frames"].items():
                source = self.sources.get(sid)
                if source is not None:
                    source.packets_received = int(count)
        elif event == "ended":
            source = self.sources.pop(str(message["source"]), None)
            if source is not None:
                source.end()
        elif event == "state":
            peer = self.peers.get(str(message["peer"]))
            if peer is not None:
                peer.connection_state = ConnectionState(message["state"])

    def _gone(self) -> None:
        """The worker exited (or its socket broke): everything it owned is gone."""
        was_alive, self.alive = self.alive, False
        if was_alive and not self.pool.closing:
            logger.error("media worker %s (pid %s) exited", self.name, self.pid)
        for future in list(self._pending.values()):
            if not future.done():
                future.set_exception(WorkerGone(f"media worker {self.name} has exited"))
        for peer in list(self.peers.values()):
            peer.connection_state = ConnectionState.FAILED
        sources, self.sources = self.sources, {}
        for source in sources.values():
            source.end()
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(MediaError(f"media worker {self.name} exited at start"))
        if self._writer is not None:
            self._writer.close()
        if was_alive:
            self.pool._replace(self)

    async def stop(self) -> None:
        """Close the control socket (the worker closes its peers and exits) and wait."""
        if self._writer is not None:
            self._writer.close()
        process = self.process
        if process is not None and process.returncode is None:
            try:
                async with asyncio.timeout(STOP_TIMEOUT):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        await cancel_and_wait(self._reading)
        self._gone()


_connections = itertools.count(1)


class MediaNode(WorkerProcess):
    """A media node on another machine (:func:`media.worker.run_node`), e.g. a district's:
    a worker reached over TCP, whose peers are the halls of its ``zone``."""

    def __init__(self, pool: MediaWorkers, name: str, host: str, port: int) -> None:
        super().__init__(pool, name)
        self.address = (host, port)
        self.tag = f"{name}.{next(_connections)}"  # a new connection to a node starts afresh

    def __repr__(self) -> str:
        host, port = self.address
        return f"<MediaNode {self.name} {host}:{port} peers={len(self.peers)}>"

    async def start(self) -> None:
        host, port = self.address
        try:
            async with asyncio.timeout(START_TIMEOUT):
                reader, writer = await asyncio.open_connection(host, port)
        except (OSError, TimeoutError) as exc:
            raise MediaError(f"media node {self.name} at {host}:{port}: {exc!r}") from None
        keep_alive(writer)
        write_message(writer, {"hello": self.pool.secret})
        await self._greeted(reader, writer)

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.close()
        await cancel_and_wait(self._reading)
        self._gone()


class RemoteSource(Source):
    """A source that lives in a worker; here, its description, latest audio level and (video)
    frame count as the worker reports them.

    Subscribing a sink in this process has the worker relay a copy here (one per process,
    however many sinks); the last sink going stops it.
    """

    def __init__(self, worker: WorkerProcess, remote_id: str, kind: MediaKind, codec: str,
                 mid: str | None) -> None:  # fmt: skip
        super().__init__(kind=kind, codec=codec, mid=mid, send_keyframe_request=self._keyframe)
        self.worker = worker
        self.remote_id = remote_id
        "Its id in its worker."
        self.id = f"{worker.tag}/{remote_id}"
        self.remote_level: tuple[float, float] | None = None
        "The last level the worker reported, and when (``time.monotonic()``)."
        self._relayed_here = False

    @property
    def audio_level(self) -> float | None:
        if self.remote_level is None or time.monotonic() - self.remote_level[1] > LEVEL_STALE:
            return None
        return self.remote_level[0]

    def subscribe(self, sink: PacketSink) -> None:
        super().subscribe(sink)
        if not self.ended and not self._relayed_here:
            self._relayed_here = True
            self.worker.pool._relay_here(self)

    def unsubscribe(self, sink: PacketSink) -> None:
        super().unsubscribe(sink)
        if self.idle and self._relayed_here:
            self._relayed_here = False
            self.worker.pool._unrelay_here(self)

    async def _keyframe(self) -> bool:
        if not self.worker.alive or self.ended:
            return False
        self.worker.send("keyframe", source=self.remote_id)
        return True


class RemoteTrack:
    """A slot of a remote peer: ``switch_source`` like :class:`media.ForwardedTrack`'s."""

    def __init__(self, peer: RemotePeer, remote_id: str, kind: MediaKind, codec: str | None,
                 mid: str | None) -> None:  # fmt: skip
        self.peer = peer
        self.remote_id = remote_id
        self.media_kind = kind
        self.kind = kind.value
        self.codec = codec
        self.mid = mid
        self._source: RemoteSource | None = None

    def __repr__(self) -> str:
        source = self._source.id if self._source else None
        return f"<RemoteTrack {self.peer.worker.name}/{self.remote_id} mid={self.mid} {source}>"

    @property
    def source(self) -> RemoteSource | None:
        return self._source

    def switch_source(self, source: Source | None) -> None:
        """Forward ``source`` (a :class:`RemoteSource` of any worker) from now on."""
        if source is self._source:
            return
        if source is not None:
            if not isinstance(source, RemoteSource):
                raise IncompatibleSourceError(f"{source!r} is not a source of a media worker")
            check_compatible(source, self.media_kind, self.codec, repr(self))
        if self.peer.closed:
            return
        pool, worker = self.peer.worker.pool, self.peer.worker
        previous, self._source = self._source, source
        if source is None:
            worker.send("switch", track=self.remote_id, source=None)
        elif source.worker is worker:
            worker.send("switch", track=self.remote_id, source=source.remote_id)
        else:
            pool._hold_relay(source, worker)
            worker.send("switch", track=self.remote_id, source=source.id)
        if previous is not None and previous.worker is not worker:
            pool._release_relay(previous, worker)

    def request_keyframe(self) -> None:
        if self._source is not None:
            self._source.request_keyframe()

    def _released(self) -> None:
        previous, self._source = self._source, None
        if previous is not None and previous.worker is not self.peer.worker:
            self.peer.worker.pool._release_relay(previous, self.peer.worker)


_peer_ids = itertools.count(1)


class RemotePeer:
    """A client's connection, owned by a media worker; used like a :class:`media.Peer`."""

    def __init__(
        self, worker: WorkerProcess, *, video_codec: VideoCodec, group: str | None
    ) -> None:
        self.worker = worker
        self.video_codec = video_codec
        self.group = group
        self.id = f"{worker.tag}-peer-{next(_peer_ids)}"
        self.connection_state = ConnectionState.NEW
        self._sources: list[RemoteSource] = []
        self._outgoing: list[RemoteTrack] = []
        self._opened = False
        self._closing = False
        worker.peers[self.id] = self  # placed: it counts in the worker's load from now on

    def __repr__(self) -> str:
        return f"<RemotePeer {self.id} {self.connection_state}>"

    @property
    def sources(self) -> tuple[RemoteSource, ...]:
        return tuple(self._sources)

    @property
    def outgoing(self) -> tuple[RemoteTrack, ...]:
        return tuple(self._outgoing)

    def outgoing_by_mid(self, mid: str) -> RemoteTrack | None:
        return next((t for t in self._outgoing if t.mid == mid), None)

    @property
    def closed(self) -> bool:
        return self._closing

    async def answer(self, offer_sdp: str) -> str:
        """Answer the offer in the worker (the errors of :meth:`media.Peer.answer`)."""
        if self._closing:
            raise PeerClosedError(f"{self.id} is closed")
        limit = self.worker.pool.settings.max_sdp_bytes
        size = len(offer_sdp.encode("utf-8"))
        if size > limit:
            raise SdpTooLargeError(size, limit)
        if not self._opened:
            self._opened = True
            await self.worker.call("open", peer=self.id, codec=self.video_codec.value)
        reply = await self.worker.call("answer", peer=self.id, sdp=offer_sdp)
        for s in reply["sources"]:
            source = RemoteSource(self.worker, s["id"], MediaKind(s["kind"]), s["codec"], s["mid"])
            self.worker.sources[source.remote_id] = source
            self._sources.append(source)
        for t in reply["outgoing"]:
            self._outgoing.append(
                RemoteTrack(self, t["id"], MediaKind(t["kind"]), t["codec"], t["mid"])
            )
        return str(reply["sdp"])

    async def close(self) -> None:
        """Close the connection in the worker; its sources end. Safe twice."""
        if self._closing:
            return
        self._closing = True
        for track in self._outgoing:
            track._released()
        self.worker.peers.pop(self.id, None)
        if self._opened and self.worker.alive:
            with contextlib.suppress(MediaError):
                await self.worker.call("close", peer=self.id)
        for source in self._sources:
            self.worker.sources.pop(source.remote_id, None)
            await source.close()
        self.connection_state = ConnectionState.CLOSED


class MediaWorkers:
    """``count`` media worker processes and the placement of peers on them."""

    def __init__(
        self,
        count: int,
        settings: PeerSettings | None = None,
        *,
        relay_host: str = "127.0.0.1",
        capacity: int = DEFAULT_CAPACITY,
        nodes: Mapping[str, tuple[str, int]] | None = None,
        secret: str | None = None,
        loop: str = "asyncio",
    ) -> None:
        if count < 1:
            raise ValueError("at least one media worker")
        if nodes and not secret:
            raise ValueError("media nodes need the shared secret")
        self.settings = settings or PeerSettings()
        self.loop = loop
        """The workers' event loop (media.loops)."""
        self.relay_host = relay_host
        self.capacity = capacity
        self.secret = secret or secrets.token_urlsafe(24)
        self._names = itertools.count(1)
        self.workers: list[WorkerProcess] = [
            WorkerProcess(self, f"w{next(self._names)}") for _ in range(count)
        ]
        self.nodes = [MediaNode(self, zone, host, port) for zone, (host, port) in
                      (nodes or {}).items()]  # fmt: skip
        "Media nodes by zone (their name): the peers of a zone go there while it is up."
        clash = {n.name for n in self.nodes} & {w.name for w in self.workers}
        if clash:
            raise ValueError(f"media node names {sorted(clash)} are worker names")
        self._starting: set[asyncio.Task[None]] = set()
        self.closing = False
        self._groups: dict[str, list[WorkerProcess]] = {}
        self._relays: dict[tuple[str, WorkerProcess], int] = {}
        "How many slots of a worker use a source of another one: (source id, worker)."
        self._server: asyncio.Server | None = None
        self._links: list[RelayLink] = []
        self._here: dict[str, RemoteSource] = {}
        "Sources relayed to this process for its own sinks, by id."

    async def start(self) -> None:
        self._server = await serve_links(self.relay_host, 0, secret=self.secret,
                                         on_link=self._accept)  # fmt: skip
        try:
            await asyncio.gather(*(w.start() for w in self.workers))
        except BaseException:
            await self.close()
            raise
        # A media node that is down now is dialled again until it is up: its halls are
        # placed here meanwhile.
        for node in self.nodes:
            self._keep_starting(node)

    async def close(self) -> None:
        """Stop every worker (their peers close); safe twice."""
        self.closing = True
        for task in list(self._starting):
            await cancel_and_wait(task)
        await asyncio.gather(*(w.stop() for w in [*self.workers, *self.nodes]),
                             return_exceptions=True)  # fmt: skip
        for link in self._links:
            await link.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    def _replace(self, dead: WorkerProcess) -> None:
        """A worker died: start another in its place (its peers are gone: their halls
        reconnect, and are placed on the workers running). A media node is dialled again."""
        if self.closing:
            return
        for group, used in self._groups.items():
            self._groups[group] = [w for w in used if w is not dead]
        if isinstance(dead, MediaNode):
            if dead in self.nodes:
                host, port = dead.address
                again = MediaNode(self, dead.name, host, port)
                self.nodes[self.nodes.index(dead)] = again
                self._keep_starting(again)
            return
        if dead not in self.workers:
            return
        replacement = WorkerProcess(self, f"w{next(self._names)}")
        self.workers[self.workers.index(dead)] = replacement
        self._keep_starting(replacement)

    def _keep_starting(self, worker: WorkerProcess) -> None:
        task = asyncio.get_running_loop().create_task(self._start_again(worker))
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)

    async def _start_again(self, worker: WorkerProcess) -> None:
        """Start ``worker``, again after a pause while it fails (a node: for as long as it
        takes, every 30 s at most; a process: five times)."""
        attempts = itertools.count(1) if isinstance(worker, MediaNode) else range(1, 6)
        for attempt in attempts:
            if self.closing:
                return
            try:
                await worker.start()
                worker.last_error = None
                logger.warning("media worker %s is up", worker.name)
                return
            except MediaError as exc:
                worker.last_error = str(exc)
                logger.error("media worker %s did not start (%s); again", worker.name, exc)
                await asyncio.sleep(min(30.0, attempt * 2.0))

    def place(self, group: str | None = None, zone: str | None = None) -> WorkerProcess:
        """The worker for a new peer of ``group``: the media node named ``zone`` while it
        is up, else the group's worker while it has room."""
        node = next((n for n in self.nodes if n.name == zone and n.alive), None)
        if node is not None:
            return node
        alive = [w for w in self.workers if w.alive]
        if not alive:
            raise WorkerGone("no media worker is running")
        if group is None:
            return min(alive, key=lambda w: w.load)
        used = [w for w in self._groups.get(group, []) if w.alive]
        for worker in used:
            if sum(p.group == group for p in worker.peers.values()) < self.capacity:
                return worker
        spare = [w for w in alive if w not in used] or alive
        chosen = min(spare, key=lambda w: w.load)
        self._groups[group] = [*used, chosen]
        return chosen

    def peer(self, *, group: str | None = None, zone: str | None = None,
             video_codec: VideoCodec = VideoCodec.VP8,
             worker: WorkerProcess | None = None) -> RemotePeer:  # fmt: skip
        """A new peer, on ``worker`` or where :meth:`place` puts it."""
        chosen = worker or self.place(group, zone)
        return RemotePeer(chosen, video_codec=video_codec, group=group)

    def forget(self, group: str) -> None:
        """The group has ended: its next peers are placed afresh."""
        self._groups.pop(group, None)

    async def stats(self) -> list[dict[str, Any]]:
        out = []
        for w in [*self.workers, *self.nodes]:
            entry: dict[str, Any] = {"worker": w.name, "pid": w.pid, "alive": w.alive}
            if isinstance(w, MediaNode):
                entry["address"] = "{}:{}".format(*w.address)
            if w.last_error:
                entry["error"] = w.last_error
            if w.alive:
                with contextlib.suppress(MediaError):
                    entry.update(await w.call("stats"))
            out.append(entry)
        return out

    # cascades

    def _hold_relay(self, source: RemoteSource, to: WorkerProcess) -> None:
        key = (source.id, to)
        count = self._relays.get(key, 0)
        self._relays[key] = count + 1
        if count == 0:
            source.worker.send("relay", source=source.remote_id, host=to.relay_host,
                               port=to.relay_port, key=source.id)  # fmt: skip

    def _release_relay(self, source: RemoteSource, to: WorkerProcess) -> None:
        key = (source.id, to)
        count = self._relays.get(key, 0) - 1
        if count > 0:
            self._relays[key] = count
            return
        self._relays.pop(key, None)
        if source.worker.alive and not source.ended:
            source.worker.send("unrelay", source=source.remote_id, host=to.relay_host,
                               port=to.relay_port)  # fmt: skip

    def _relay_here(self, source: RemoteSource) -> None:
        assert self._server is not None
        self._here[source.id] = source
        port = self._server.sockets[0].getsockname()[1]
        source.worker.send("relay", source=source.remote_id, host=self.relay_host, port=port,
                           key=source.id)  # fmt: skip

    def _unrelay_here(self, source: RemoteSource) -> None:
        self._here.pop(source.id, None)
        if self._server is not None and source.worker.alive and not source.ended:
            port = self._server.sockets[0].getsockname()[1]
            source.worker.send("unrelay", source=source.remote_id, host=self.relay_host,
                               port=port)  # fmt: skip

    def _accept(self, link: RelayLink) -> None:
        self._links.append(link)
        link.on_source = self._arrived

    def _arrived(self, relayed: Source, label: dict[str, Any]) -> None:
        target = self._here.get(str(label.get("key")))
        if target is None:
            return
        relayed.subscribe(_Feeder(target))


class _Feeder:
    """Hands a relayed copy's frames to the :class:`RemoteSource` it stands for here."""

    def __init__(self, target: RemoteSource) -> None:
        self.target = target

    def on_packet(self, source: Source, packet: Any) -> None:
        if self.target.idle:
            return
        self.target.feed(packet)

    def on_source_ended(self, source: Source) -> None:
        pass
