"""One load-generator process: a share of the synthetic halls of a scenario.

The orchestrator (``bench.run``) starts several of these (``multiprocessing``, spawn) and drives
them over a pipe: ``("phase", name)`` runs a joining step for every hall of the process at once
(``join`` for giaoban and the relay; ``publish`` then ``subscribe`` for Janus), answered with
``("done", name, errors)``; ``("window", w0, w1)`` is answered after ``w1`` with what was sent and
received in that window; ``("stop",)`` closes everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.rtcconfiguration import RTCBundlePolicy

from bench import clip as clips
from bench.wire import (
    ClipAudioTrack,
    ClipVideoTrack,
    ReceiveLog,
    SendLog,
    count_rtp,
    fast_receive,
)
from media import aiortc_patch

log = logging.getLogger("bench.loadgen")

GRACE = 1.0
"Seconds after the window during which frames sent in it may still arrive."


def new_pc() -> RTCPeerConnection:
    # max-bundle: aiortc's default (balanced) leaves a third m-line of a kind unconnected.
    return RTCPeerConnection(
        RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    )


class Hall:
    """One synthetic hall: publishes the clip, receives its slots, counts."""

    def __init__(self, plan: dict[str, Any], config: dict[str, Any], clip: clips.Clip) -> None:
        self.plan = plan
        self.index: int = plan["index"]
        self.config = config
        self.clip = clip
        self.sent = SendLog()
        self.received = ReceiveLog()
        self.started_at: float | None = None
        self.setup_seconds = 0.0
        "Time spent joining outside of waits for other halls (Janus: publish + subscribe)."
        self.pcs: list[RTCPeerConnection] = []
        self.video: ClipVideoTrack | None = None
        self.events: list[tuple[float, str]] = []
        self.steps: dict[str, float] = {}
        "When each step of the join ended (``time.time()``): connected, joined, answered."
        self.labels: dict[str, Any] = {}
        self.mids: dict[str, str] = {}
        "What went wrong, when (a dropped socket, a failed connection)."
        self.refused = False
        "Turned away by the system's admission control (giaoban's ``busy``)."

    def watch(self, pc: RTCPeerConnection) -> None:
        self.pcs.append(pc)

        @pc.on("connectionstatechange")
        def changed() -> None:
            if pc.connectionState == "connected" and "answered" in self.steps:
                self.steps.setdefault("media", time.time())  # giaoban's: ICE and DTLS done
            if pc.connectionState in ("failed", "closed"):
                self.events.append((time.time(), f"connection {pc.connectionState}"))

    def _publish_tracks(self, pc: RTCPeerConnection) -> list[tuple[Any, str]]:
        start = time.time() + random.random() / clips.FPS
        self.video = ClipVideoTrack(self.clip, self.index, start, self.sent)
        audio = ClipAudioTrack(self.clip, start, self.sent, silent=self.plan.get("silent", False))
        roles = []
        video_t = pc.addTransceiver(self.video, direction="sendonly")
        aiortc_patch.send.on_keyframe_request(video_t.sender, self.video.request_keyframe)
        audio_t = pc.addTransceiver(audio, direction="sendonly")
        # The publishers send pre-encoded packets: media's lean send loop keeps the load
        # generator's own cost down (the same for every system under test).
        aiortc_patch.send.enable_fast_send(video_t.sender)
        aiortc_patch.send.enable_fast_send(audio_t.sender)
        roles.append((video_t, self.plan["video_source"]))
        roles.append((audio_t, "mic"))
        return roles

    def _slots(self, pc: RTCPeerConnection) -> list[tuple[Any, dict[str, Any]]]:
        made = []
        for slot in self.plan["slots"]:
            transceiver = pc.addTransceiver(slot["kind"], direction="recvonly")
            count_rtp(transceiver.receiver, slot["kind"], self.received)
            made.append((transceiver, slot))
        return made

    async def phase(self, name: str) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        for pc in self.pcs:
            with contextlib.suppress(Exception):
                await pc.close()

    def stats(self, w0: float, w1: float) -> dict[str, Any]:
        r, s = self.received, self.sent
        frames = [f for f in r.frames if w0 <= f[2] <= w1]
        by_sender: dict[int, int] = {}
        for _, sender, _ in frames:
            by_sender[sender] = by_sender.get(sender, 0) + 1
        return {
            "index": self.index,
            "sent_video": sum(1 for t in s.video if w0 <= t <= w1),
            "sent_audio": sum(1 for t in s.audio if w0 <= t <= w1),
            "packets": sum(1 for t in r.packets if w0 <= t <= w1),
            "audio_packets": sum(1 for t in r.audio if w0 <= t <= w1),
            "frames_by_sender": by_sender,
            "untagged_frames": sum(1 for t in r.untagged_frames if w0 <= t <= w1),
            "broken_frames": r.broken_frames,
            "latencies": [round(a - sent, 6) for a, _, sent in frames],
            "frames": [
                (round(sent - w0, 4), sender, round(a - sent, 5)) for a, sender, sent in frames
            ],
            "join_seconds": (
                None
                if r.first_video_at is None or self.started_at is None
                else r.first_video_at - self.started_at
            ),
            "setup_seconds": self.setup_seconds,
            "join_steps": {
                step: round(at - self.started_at, 4)
                for step, at in self.steps.items()
                if self.started_at is not None
            },
            "events": [(round(t - w0, 2), what) for t, what in self.events],
            "labels": self.labels,
            "refused": self.refused,
        }


class GiaobanHall(Hall):
    """A hall's terminal: socket.io ``/live`` with its token, ``join``, ``offer``."""

    async def phase(self, name: str) -> None:
        import socketio

        self.started_at = time.time()
        url, meeting = self.config["url"], self.config["meeting_id"]
        self.sio = socketio.AsyncClient(reconnection=False)

        async def disconnected(*args: Any) -> None:
            self.events.append((time.time(), "socket disconnected"))

        async def removed(data: Any) -> None:
            self.events.append((time.time(), f"removed: {data}"))

        async def slots(data: Any) -> None:
            self.labels = data

        self.sio.on("slots", slots, namespace="/live")
        self.sio.on("disconnect", disconnected, namespace="/live")
        self.sio.on("removed", removed, namespace="/live")
        await self.sio.connect(
            url,
            namespaces=["/live"],
            auth={"token": self.plan["token"]},
            transports=["websocket"],
            wait_timeout=60,
        )
        self.steps["connected"] = time.time()
        reply = await self.sio.call("join", {"meeting_id": meeting}, namespace="/live", timeout=120)
        if (reply.get("error") or {}).get("code") == "busy":
            self.refused = True  # admission control: the hall stays out (a terminal would retry)
            return
        if not reply.get("ok") or reply.get("lobby"):
            raise RuntimeError(f"join: {reply}")
        self.steps["joined"] = time.time()
        pc = new_pc()
        self.watch(pc)
        sources = {t: role for t, role in self._publish_tracks(pc)}
        slots = self._slots(pc)
        await pc.setLocalDescription(await pc.createOffer())
        offer = {
            "sdp": pc.localDescription.sdp,
            "sources": {t.mid: role for t, role in sources.items()},
            "slots": {t.mid: slot["role"] for t, slot in slots},
        }
        self.steps["offered"] = time.time()
        reply = await self.sio.call("offer", offer, namespace="/live", timeout=120)
        if not reply.get("ok"):
            raise RuntimeError(f"offer: {reply}")
        self.steps["answered"] = time.time()
        await pc.setRemoteDescription(RTCSessionDescription(reply["sdp"], "answer"))
        fast_receive(pc)
        self.labels = reply.get("slots") or self.labels
        self.mids = {t.mid: slot["role"] for t, slot in slots}
        self.setup_seconds = time.time() - self.started_at

    async def close(self) -> None:
        await super().close()
        with contextlib.suppress(Exception):
            await self.sio.disconnect()


class RelayHall(Hall):
    """A hall of the transcoding relay (``bench.relay``): one HTTP POST of its offer."""

    async def phase(self, name: str) -> None:
        self.started_at = time.time()
        pc = new_pc()
        self.watch(pc)
        self._publish_tracks(pc)
        slots = self._slots(pc)
        await pc.setLocalDescription(await pc.createOffer())
        body = {
            "hall": self.index,
            "sdp": pc.localDescription.sdp,
            "slots": {t.mid: slot["from"] for t, slot in slots},
        }
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                self.config["url"] + "/offer", json=body, timeout=aiohttp.ClientTimeout(total=120)
            ) as resp,
        ):
            answer = await resp.json()
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        fast_receive(pc)
        self.setup_seconds = time.time() - self.started_at


class JanusSession:
    """One Janus session (HTTP API, long poll) shared by the halls of a process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))
        self.waiters: list[tuple[Any, asyncio.Future[dict[str, Any]]]] = []
        self.task: asyncio.Task[None] | None = None
        self.session_url = ""

    async def post(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        body = dict(body, transaction=os.urandom(6).hex())
        async with self.http.post(url, data=json.dumps(body)) as resp:
            reply: dict[str, Any] = json.loads(await resp.text())
        if reply.get("janus") == "error":
            raise RuntimeError(f"janus: {reply}")
        return reply

    async def create(self) -> None:
        reply = await self.post(self.url, {"janus": "create"})
        self.session_url = f"{self.url}/{reply['data']['id']}"
        self.task = asyncio.ensure_future(self._poll())

    async def _poll(self) -> None:
        while True:
            try:
                async with self.http.get(f"{self.session_url}?maxev=50") as resp:
                    events = json.loads(await resp.text())
            except (aiohttp.ClientError, TimeoutError, ValueError):
                await asyncio.sleep(0.2)
                continue
            for event in events if isinstance(events, list) else [events]:
                for predicate, future in list(self.waiters):
                    if not future.done() and predicate(event):
                        future.set_result(event)
                        self.waiters.remove((predicate, future))

    def wait(self, predicate: Any) -> asyncio.Future[dict[str, Any]]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiters.append((predicate, future))
        return future

    async def attach(self) -> int:
        reply = await self.post(
            self.session_url, {"janus": "attach", "plugin": "janus.plugin.videoroom"}
        )
        return int(reply["data"]["id"])

    async def message(
        self,
        handle: int,
        body: dict[str, Any],
        jsep: dict[str, Any] | None = None,
        until: Any = None,
    ) -> dict[str, Any]:
        """Send a request; with ``until``, wait for the handle's event that satisfies it."""

        def matches(event: dict[str, Any]) -> bool:
            data = event.get("plugindata", {}).get("data", {})
            return event.get("sender") == handle and (until(event) or "error" in data)

        future = self.wait(matches) if until else None
        message: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            message["jsep"] = jsep
        reply = await self.post(f"{self.session_url}/{handle}", message)
        if future is None:
            return reply
        async with asyncio.timeout(120):
            event = await future
        data = event.get("plugindata", {}).get("data", {})
        if "error" in data:
            raise RuntimeError(f"janus: {data}")
        return event

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        with contextlib.suppress(Exception):
            await self.post(self.session_url, {"janus": "destroy"})
        await self.http.close()


class JanusHall(Hall):
    """A hall in Janus's VideoRoom: a publisher connection and a subscriber connection."""

    ROOM = 4242
    FEED_BASE = 1000

    session: JanusSession

    async def phase(self, name: str) -> None:
        start = time.time()
        if name == "publish":
            self.started_at = start
            handle = await self.session.attach()
            await self.session.message(
                handle,
                {
                    "request": "join",
                    "ptype": "publisher",
                    "room": self.ROOM,
                    "id": self.FEED_BASE + self.index,
                    "display": f"hall {self.index}",
                },
                until=lambda e: "plugindata" in e,
            )
            pc = new_pc()
            self.watch(pc)
            self._publish_tracks(pc)
            await pc.setLocalDescription(await pc.createOffer())
            jsep = {"type": "offer", "sdp": pc.localDescription.sdp, "trickle": False}
            # Subscribers can take the feed once its media is up.
            up = self.session.wait(
                lambda e: e.get("sender") == handle and e.get("janus") == "webrtcup"
            )
            event = await self.session.message(
                handle,
                {"request": "publish", "audio": True, "video": True},
                jsep,
                until=lambda e: "jsep" in e,
            )
            await pc.setRemoteDescription(RTCSessionDescription(event["jsep"]["sdp"], "answer"))
            fast_receive(pc)
            async with asyncio.timeout(60):
                await up
        else:
            handle = await self.session.attach()
            streams = [
                {
                    "feed": self.FEED_BASE + slot["from"],
                    "mid": "0" if slot["kind"] == "video" else "1",
                }
                for slot in self.plan["slots"]
            ]
            event = await self.session.message(
                handle,
                {"request": "join", "ptype": "subscriber", "room": self.ROOM, "streams": streams},
                until=lambda e: "jsep" in e,
            )
            pc = new_pc()
            self.watch(pc)
            await pc.setRemoteDescription(RTCSessionDescription(event["jsep"]["sdp"], "offer"))
            for transceiver in pc.getTransceivers():
                count_rtp(transceiver.receiver, transceiver.kind, self.received)
            await pc.setLocalDescription(await pc.createAnswer())
            fast_receive(pc)
            jsep = {"type": "answer", "sdp": pc.localDescription.sdp, "trickle": False}
            await self.session.message(
                handle,
                {"request": "start", "room": self.ROOM},
                jsep,
                until=lambda e: "plugindata" in e,
            )
            # Time to first frame counts from here (the wait for the other halls to publish
            # is not this hall's join time).
            self.started_at = time.time() - self.setup_seconds
        self.setup_seconds += time.time() - start


HALLS = {"giaoban": GiaobanHall, "relay": RelayHall, "janus": JanusHall}


async def serve(conn: Connection, config: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    clip = clips.load(config["cache_dir"])
    aiortc_patch.install()
    cls = HALLS[config["system"]]
    halls = [cls(plan, config, clip) for plan in config["halls"]]
    janus: JanusSession | None = None
    if config["system"] == "janus":
        janus = JanusSession(config["url"])
        await janus.create()
        for hall in halls:
            hall.session = janus  # type: ignore[attr-defined]
    lags: list[tuple[float, float]] = []

    async def watch_loop() -> None:
        # The event loop's own delay: a starved load generator inflates latencies.
        while True:
            before = time.time()
            await asyncio.sleep(0.01)
            late = time.time() - before - 0.01
            if late > 0.03:
                lags.append((before, late))

    watcher = asyncio.ensure_future(watch_loop())
    conn.send(("ready",))
    while True:
        message = await loop.run_in_executor(None, conn.recv)
        if message[0] == "phase":
            started = time.time()

            async def join(hall: Hall, phase: str, started: float = started) -> None:
                # Halls come in at the scenario's join rate (all at once when it is 0).
                await asyncio.sleep(
                    max(0.0, hall.plan.get("join_delay", 0.0) - (time.time() - started))
                )
                await hall.phase(phase)

            results = await asyncio.gather(
                *(join(h, message[1]) for h in halls), return_exceptions=True
            )
            errors = {
                h.index: "".join(traceback.format_exception(r))[-600:]
                for h, r in zip(halls, results, strict=True)
                if isinstance(r, BaseException)
            }
            conn.send(("done", message[1], errors))
        elif message[0] == "first_frames":
            deadline = time.time() + message[1]
            while time.time() < deadline and any(  # noqa: ASYNC110 (polls many halls)
                h.received.first_video_at is None
                for h in halls
                if h.plan["slots"] and not h.refused
            ):
                await asyncio.sleep(0.1)
            conn.send(("first_frames", sum(h.received.first_video_at is not None for h in halls)))
        elif message[0] == "window":
            w0, w1 = message[1], message[2]
            await asyncio.sleep(max(0.0, w1 + GRACE - time.time()))
            stats = [h.stats(w0, w1) for h in halls]
            if stats:
                stats[0]["loop_lags"] = [
                    (round(t - w0, 3), round(x, 3)) for t, x in lags if w0 <= t <= w1
                ]
            conn.send(("stats", stats))
        elif message[0] == "stop":
            watcher.cancel()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(20):
                    await asyncio.gather(*(h.close() for h in halls), return_exceptions=True)
            if janus is not None:
                await janus.close()
            conn.send(("stopped",))
            return


def worker(conn: Connection, config: dict[str, Any]) -> None:
    """Entry point of a load-generator process."""
    os.nice(config.get("nice", 0))
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("aiortc").setLevel(logging.ERROR)
    if os.environ.get("BENCH_ICE_LOG"):  # aioice's own account (e.g. "Consent to send expired")
        logging.getLogger("aioice").setLevel(logging.INFO)
    try:
        asyncio.run(serve(conn, config))
    except Exception:
        conn.send(("error", traceback.format_exc()))
