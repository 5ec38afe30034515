"""The baseline a user would build from aiortc's examples: a relay that decodes every received
track once (``MediaRelay``) and encodes it again for every subscriber.

    python -m bench.relay --host 127.0.0.2 --port 8090

``POST /offer`` ``{hall, sdp, slots: {mid: hall}}``: the hall's offer (its ``sendonly`` camera
and microphone, ``recvonly`` slots each naming the hall whose media it wants); the answer
``{sdp}``. A slot waits until its hall has published. Like aiortc's ``examples/server``:
``pc.on("track")`` hands each received track to one ``MediaRelay``; each subscriber's sender
gets ``relay.subscribe(track)`` and aiortc encodes what it sends (VP8 and Opus).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any

from aiohttp import web
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    sdp,
)
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy

_REVERSE = {"sendonly": "recvonly", "recvonly": "sendonly", "sendrecv": "sendrecv"}


class Published:
    """The tracks each hall has published, by hall and kind."""

    def __init__(self) -> None:
        self.relay = MediaRelay()
        self.tracks: dict[tuple[int, str], MediaStreamTrack] = {}
        self.changed = asyncio.Event()

    def add(self, hall: int, track: MediaStreamTrack) -> None:
        self.tracks[(hall, track.kind)] = track
        self.changed.set()
        self.changed = asyncio.Event()

    async def get(self, hall: int, kind: str) -> MediaStreamTrack:
        while (hall, kind) not in self.tracks:
            await self.changed.wait()
        return self.tracks[(hall, kind)]


class SlotTrack(MediaStreamTrack):
    """A subscriber's slot: the relayed (decoded) track of ``hall``, once it exists."""

    def __init__(self, kind: str, hall: int, published: Published) -> None:
        super().__init__()
        self.kind = kind
        self._hall = hall
        self._published = published
        self._proxy: MediaStreamTrack | None = None

    async def recv(self) -> Any:
        if self._proxy is None:
            source = await self._published.get(self._hall, self.kind)
            self._proxy = self._published.relay.subscribe(source)
        frame = await self._proxy.recv()
        if self.readyState != "live":
            raise MediaStreamError
        return frame


async def offer(request: web.Request) -> web.Response:
    body = await request.json()
    published: Published = request.app["published"]
    hall = int(body["hall"])
    slots = {str(k): int(v) for k, v in body.get("slots", {}).items()}
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
    request.app["pcs"].add(pc)

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        published.add(hall, track)

    description = sdp.SessionDescription.parse(body["sdp"])
    for media in description.media:
        direction = _REVERSE.get(media.direction or "sendrecv", "inactive")
        mid = str(media.rtp.muxId)
        if direction == "sendonly" and mid in slots:
            pc.addTransceiver(SlotTrack(media.kind, slots[mid], published), direction="sendonly")
        else:
            pc.addTransceiver(media.kind, direction=direction)
    await pc.setRemoteDescription(RTCSessionDescription(body["sdp"], "offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    return web.json_response({"sdp": pc.localDescription.sdp})


async def health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True, "peers": len(request.app["pcs"])})


async def on_shutdown(app: web.Application) -> None:
    for pc in list(app["pcs"]):
        with contextlib.suppress(Exception):
            await pc.close()


def make_app() -> web.Application:
    app = web.Application()
    app["published"] = Published()
    app["pcs"] = set()
    app.router.add_post("/offer", offer)
    app.router.add_get("/health", health)
    app.on_shutdown.append(on_shutdown)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.2")
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args()
    web.run_app(make_app(), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
