"""Several signalling nodes on one Redis: who the nodes are, which one hosts each live meeting,
and calls from one node to another.

A live meeting is hosted by one node (its Room, its peer connections, its recording). The host
is chosen by load when the meeting starts or is first joined, and recorded in Redis; every
other node sends the meeting's halls there (``join`` answers ``moved``, docs/protocol.md).
Each node writes a heartbeat with a time to live; a node whose heartbeat has lapsed is dead,
and the first node asked for one of its meetings places it again (by load) with a
compare-and-set, so two nodes never both take it over.

Without Redis (the embedded mode) :class:`Cluster` is this node alone: it hosts everything
and a call to "another node" is a call to itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import socketio

from media.tasks import cancel_and_wait, log_failure

log = logging.getLogger("giaoban.cluster")

CALL_TIMEOUT = 5.0
"""Seconds a call to another node waits for its answer."""

Handler = Callable[..., Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Load:
    """How loaded a node is (the admission figures, ``server/load.py``)."""

    participants: int = 0
    """Participants of all the meetings it hosts."""
    meetings: int = 0
    """Live meetings it hosts."""
    cpu_percent: float = 0.0
    """The share of one core its event loop used lately."""
    lag_ms: float = 0.0
    """Its event loop's p95 lag lately."""
    accepting: bool = True
    """Whether its admission control takes one more participant."""


@dataclass(frozen=True)
class Node:
    """One signalling node, as its last heartbeat described it."""

    id: str
    url: str
    """Where halls reach it (its ``GIAOBAN_PUBLIC_URL``)."""
    load: Load = field(default_factory=Load)
    seen: float = 0.0
    """Wall-clock time of its last heartbeat (seconds since the epoch)."""

    @property
    def origin(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    def placement_key(self) -> tuple[bool, int, int, float, str]:
        """Lower is a better host for one more meeting: accepting first, then the fewest
        participants, meetings and CPU."""
        load = self.load
        return (not load.accepting, load.participants, load.meetings, load.cpu_percent, self.id)

    def dump(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def parse(cls, text: str) -> Node:
        data = json.loads(text)
        return cls(id=data["id"], url=data["url"], load=Load(**data["load"]), seen=data["seen"])


class NodeUnreachable(Exception):
    """A call to another node got no answer in time."""


class Cluster:
    """This node alone (the embedded mode): it hosts every meeting."""

    def __init__(self, node_id: str, url: str) -> None:
        self.node_id = node_id
        self.url = url
        self.measure: Callable[[], Load] = Load
        """This node's load now (set by whoever knows it: the app's services)."""
        self._handlers: dict[str, Handler] = {}

    @property
    def scaled_out(self) -> bool:
        return False

    def me(self) -> Node:
        return Node(self.node_id, self.url, self.measure(), time.time())

    def handle(self, method: str, handler: Handler) -> None:
        """Serve calls of ``method`` from other nodes (keyword arguments, a dict answer)."""
        self._handlers[method] = handler

    def client_manager(self) -> socketio.AsyncManager | None:
        """The socket.io client manager that reaches every node's sockets (None: this one)."""
        return None

    def origins(self) -> set[str]:
        """The origins of the other nodes' pages, whose sockets this node accepts."""
        return set()

    def urls(self) -> list[str]:
        """The nodes' URLs as of the last heartbeat (where a hall may go when its node
        does not answer); none in the embedded mode."""
        return []

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def nodes(self) -> list[Node]:
        """The live nodes, this one included."""
        return [self.me()]

    async def host(self, meeting_id: int) -> Node:
        """The node hosting the live meeting; placed by load when it has none, and placed
        again when its host died (taken over)."""
        return self.me()

    async def holder(self, meeting_id: int) -> Node | None:
        """The live node recorded as hosting the meeting, if any (nothing is placed)."""
        return self.me()

    async def claim(self, meeting_id: int, held: Node) -> bool:
        """Host the meeting here instead of ``held``, which does not answer (compare-and-set:
        False when another node has been recorded meanwhile)."""
        return True

    async def release(self, meeting_id: int) -> None:
        """The meeting ended: it has no host any more."""

    async def hosts(self) -> dict[int, str]:
        """Every live meeting's recorded host (meeting id → node id)."""
        return {}

    async def elsewhere(self) -> tuple[frozenset[str], frozenset[int]]:
        """The other live nodes, and the meetings they host."""
        return frozenset(), frozenset()

    async def call(self, node: Node, method: str, **args: Any) -> dict[str, Any]:
        """Run ``method`` on ``node`` and return its answer (:class:`NodeUnreachable` when it
        does not answer in time)."""
        return await self._handlers[method](**args)


_SWAP = """
local v = redis.call('GET', KEYS[1])
if (v == false and ARGV[1] == '') or v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
"""Set KEYS[1] to ARGV[2] if it still holds ARGV[1] ('' for none): one host per meeting."""


class LocalFirstRedisManager(socketio.AsyncRedisManager):
    """socket.io over Redis, except that a message to one socket of this node is sent to it
    directly, not through Redis (a hall's own slots, acknowledgements)."""

    async def emit(
        self, event: str, data: Any, namespace: str | None = None, room: str | None = None,
        skip_sid: Any = None, callback: Any = None, to: str | None = None, **kwargs: Any,
    ) -> Any:  # fmt: skip
        target = to or room
        if target is not None and self.is_connected(target, namespace or "/"):
            kwargs["ignore_queue"] = True
        return await super().emit(
            event, data, namespace=namespace, room=room, skip_sid=skip_sid,
            callback=callback, to=to, **kwargs,
        )  # fmt: skip


class RedisCluster(Cluster):
    """Nodes on one Redis (``GIAOBAN_REDIS_URL``): heartbeats with a time to live, one host
    per live meeting, calls between nodes over lists (an inbox per node)."""

    def __init__(
        self,
        node_id: str,
        url: str,
        *,
        redis_url: str,
        prefix: str = "giaoban",
        heartbeat: float = 2.0,
    ) -> None:
        super().__init__(node_id, url)
        import redis.asyncio as aioredis

        self.redis_url = redis_url
        self.prefix = prefix
        self.heartbeat = heartbeat
        self.ttl = 3 * heartbeat
        self._redis = aioredis.Redis.from_url(
            redis_url, socket_timeout=CALL_TIMEOUT + 5, decode_responses=True
        )
        self._swap = self._redis.register_script(_SWAP)
        self._known: dict[str, Node] = {}
        self._origins: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._serving: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def scaled_out(self) -> bool:
        return True

    def _key(self, *parts: object) -> str:
        return ":".join([self.prefix, *map(str, parts)])

    def client_manager(self) -> socketio.AsyncManager:
        return LocalFirstRedisManager(self.redis_url, channel=self._key("socketio"))

    def origins(self) -> set[str]:
        # Every origin the deployment's nodes ever had, dead ones too: a terminal's page
        # comes from its home node, and when that node dies its socket goes to another one
        # with the dead node's origin (kept in Redis with no time to live).
        return self._origins | {n.origin for n in self._known.values()}

    def urls(self) -> list[str]:
        return sorted({n.url for n in self._known.values()})

    async def start(self) -> None:
        await self._beat()
        self._tasks = [
            asyncio.create_task(self._beating(), name="cluster heartbeat"),
            asyncio.create_task(self._serve(), name="cluster inbox"),
        ]
        log.info("node %s (%s) joined the cluster on %s", self.node_id, self.url, self.redis_url)

    async def close(self) -> None:
        """Leave the cluster (its meetings are taken over by the others). Safe twice."""
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            await cancel_and_wait(task)
        self._tasks = []
        for task in list(self._serving):
            await cancel_and_wait(task)
        with contextlib.suppress(Exception):
            await self._redis.delete(self._key("node", self.node_id))
            await self._redis.srem(self._key("nodes"), self.node_id)
        await self._redis.aclose()

    async def _beat(self) -> None:
        pipe = self._redis.pipeline()
        pipe.set(self._key("node", self.node_id), self.me().dump(), px=int(self.ttl * 1000))
        pipe.sadd(self._key("nodes"), self.node_id)
        pipe.sadd(self._key("origins"), self.me().origin)
        pipe.smembers(self._key("origins"))
        *_, origins = await pipe.execute()
        self._origins = {str(o) for o in origins}
        await self.nodes()

    async def _beating(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                await self._beat()
            except Exception as exc:  # Redis away for a moment: the next beat tries again
                log.warning("node %s: heartbeat failed: %s", self.node_id, exc)

    async def nodes(self) -> list[Node]:
        ids = sorted(str(m) for m in await self._redis.smembers(self._key("nodes")))
        values = await self._redis.mget([self._key("node", i) for i in ids]) if ids else []
        alive: dict[str, Node] = {}
        for node_id, value in zip(ids, values, strict=True):
            if value is None:
                await self._redis.srem(self._key("nodes"), node_id)
            else:
                alive[node_id] = Node.parse(str(value))
        alive[self.node_id] = self.me()
        self._known = alive
        return sorted(alive.values(), key=lambda n: n.id)

    async def host(self, meeting_id: int) -> Node:
        key = self._key("host", meeting_id)
        for _ in range(5):
            nodes = {n.id: n for n in await self.nodes()}
            held = await self._redis.get(key) or ""
            if held in nodes:
                return nodes[held]
            chosen = min(nodes.values(), key=Node.placement_key)
            if await self._swap(keys=[key], args=[held, chosen.id]):
                if held:
                    log.warning("meeting %s: node %s is gone; taken over by %s",
                                meeting_id, held, chosen.id)  # fmt: skip
                else:
                    log.info("meeting %s: hosted by node %s", meeting_id, chosen.id)
                return chosen
        raise NodeUnreachable(f"meeting {meeting_id}: no node could be chosen to host it")

    async def holder(self, meeting_id: int) -> Node | None:
        held = await self._redis.get(self._key("host", meeting_id))
        return next((n for n in await self.nodes() if n.id == held), None)

    async def claim(self, meeting_id: int, held: Node) -> bool:
        taken = bool(await self._swap(keys=[self._key("host", meeting_id)],
                                      args=[held.id, self.node_id]))  # fmt: skip
        if taken:
            log.warning("meeting %s: node %s does not answer; taken over by %s",
                        meeting_id, held.id, self.node_id)  # fmt: skip
        return taken

    async def release(self, meeting_id: int) -> None:
        await self._redis.delete(self._key("host", meeting_id))

    async def hosts(self) -> dict[int, str]:
        keys = [str(k) async for k in self._redis.scan_iter(match=self._key("host", "*"))]
        values = await self._redis.mget(keys) if keys else []
        return {
            int(key.rsplit(":", 1)[1]): str(value)
            for key, value in zip(keys, values, strict=True)
            if value is not None
        }

    async def elsewhere(self) -> tuple[frozenset[str], frozenset[int]]:
        """The other live nodes, and the meetings they host."""
        others = frozenset(n.id for n in await self.nodes()) - {self.node_id}
        meetings = frozenset(m for m, node in (await self.hosts()).items() if node in others)
        return others, meetings

    async def call(self, node: Node, method: str, **args: Any) -> dict[str, Any]:
        if node.id == self.node_id:
            return await super().call(node, method, **args)
        reply = self._key("reply", uuid.uuid4().hex)
        request = {"method": method, "args": args, "reply": reply,
                   "deadline": time.time() + CALL_TIMEOUT}  # fmt: skip
        inbox = self._key("inbox", node.id)
        await self._redis.rpush(inbox, json.dumps(request))
        await self._redis.expire(inbox, int(CALL_TIMEOUT * 4))
        answer = await self._redis.blpop([reply], timeout=CALL_TIMEOUT)
        if answer is None:
            raise NodeUnreachable(f"node {node.id} did not answer {method} in {CALL_TIMEOUT} s")
        result: dict[str, Any] = json.loads(answer[1])
        if "error" in result:
            raise RuntimeError(f"node {node.id}: {method} failed: {result['error']}")
        return result

    async def _serve(self) -> None:
        inbox = self._key("inbox", self.node_id)
        while True:
            try:
                item = await self._redis.blpop([inbox], timeout=1)
            except (OSError, ConnectionError) as exc:
                log.warning("node %s: inbox unreachable: %s", self.node_id, exc)
                await asyncio.sleep(self.heartbeat)
                continue
            if item is None:
                continue
            request = json.loads(item[1])
            if request.get("deadline", 0) < time.time():
                continue  # its caller has given up (sent while this node was down)
            task = asyncio.create_task(self._answer(request), name=f"call {request['method']}")
            self._serving.add(task)
            task.add_done_callback(self._serving.discard)
            task.add_done_callback(log_failure(log, "answering a call failed"))

    async def _answer(self, request: dict[str, Any]) -> None:
        handler = self._handlers.get(request["method"])
        try:
            if handler is None:
                raise LookupError(f"no method {request['method']}")
            result = await handler(**request["args"])
        except Exception as exc:
            log.exception("call %s from another node failed", request["method"])
            result = {"error": str(exc) or type(exc).__name__}
        await self._redis.rpush(request["reply"], json.dumps(result))
        await self._redis.expire(request["reply"], int(CALL_TIMEOUT * 4))
