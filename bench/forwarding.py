"""Measure the forwarding unit: CPU per forwarded packet, one publisher to N subscribers.

    .venv/bin/python bench/forwarding.py --subscribers 0 1 4 8 --seconds 20

The server (media.Peer objects) runs in its own process; the clients (an aiortc publisher
sending 640x480 VP8 of changing noise and an Opus tone, and N aiortc subscribers that do not
decode) run in another, so ``time.process_time()`` of the server process is the server's
CPU alone: receive path (SRTP, jitter buffer, passthrough), forwarding, and send path
(packetisation, SRTP, UDP), RTCP included. A benchmark: it prints figures, it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import av
from aiortc import RTCSessionDescription
from aiortc.mediastreams import VideoStreamTrack

from media import Peer, aiortc_patch
from tests.media.media_testkit import ToneAudioTrack, client_pc, subscriber_client


class NoiseVideoTrack(VideoStreamTrack):
    """30 fps of 640x480: grey, with a block of noise (``BLOCK`` pixels square) that moves.

    Changing content that the VP8 encoder of aiortc holds near its default 500 kbit/s.
    """

    BLOCK = 112

    def __init__(self) -> None:
        super().__init__()
        self._noise = [os.urandom(self.BLOCK * self.BLOCK) for _ in range(8)]
        self._index = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(width=640, height=480, format="yuv420p")
        luma = bytearray(b"\x80" * frame.planes[0].buffer_size)
        stride = frame.planes[0].line_size
        noise = self._noise[self._index % 8]
        x = (self._index * 4) % (640 - self.BLOCK)
        y = (self._index * 2) % (480 - self.BLOCK)
        for row in range(self.BLOCK):
            start = (y + row) * stride + x
            luma[start : start + self.BLOCK] = noise[row * self.BLOCK : (row + 1) * self.BLOCK]
        frame.planes[0].update(bytes(luma))
        for plane in frame.planes[1:]:
            plane.update(b"\x80" * plane.buffer_size)
        self._index += 1
        frame.pts = pts
        frame.time_base = time_base
        return frame


async def answer_over(conn: Connection) -> Peer:
    loop = asyncio.get_running_loop()
    offer = await loop.run_in_executor(None, conn.recv)
    peer = Peer()
    conn.send(await peer.answer(offer))
    return peer


async def rtp_counts(peer: Peer) -> tuple[int, int]:
    sent = received = 0
    for transceiver in peer._pc.getTransceivers():
        for stats in (await transceiver.sender.getStats()).values():
            if stats.type == "outbound-rtp":
                sent += stats.packetsSent
        for stats in (await transceiver.receiver.getStats()).values():
            if stats.type == "inbound-rtp":
                received += stats.packetsReceived
    return sent, received


async def serve(conn: Connection, subscribers: int, seconds: float) -> None:
    publisher = await answer_over(conn)
    peers = [await answer_over(conn) for _ in range(subscribers)]
    for peer in (publisher, *peers):
        async with asyncio.timeout(20):
            await peer.wait_connected()
    video, audio = publisher.sources
    for peer in peers:
        peer.outgoing[0].switch_source(video)
        peer.outgoing[1].switch_source(audio)
    await asyncio.sleep(3)  # warm up: keyframes, bitrate estimate

    async def totals() -> tuple[int, int]:
        sent = received = 0
        for peer in (publisher, *peers):
            s, r = await rtp_counts(peer)
            sent, received = sent + s, received + r
        return sent, received

    sent0, received0 = await totals()
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu1, wall1 = time.process_time(), time.monotonic()
    sent1, received1 = await totals()
    result: dict[str, Any] = {
        "subscribers": subscribers,
        "seconds": wall1 - wall0,
        "cpu_seconds": cpu1 - cpu0,
        "received_packets": received1 - received0,
        "forwarded_packets": sent1 - sent0,
        "video_source_keyframes": video.keyframes_received,
        "video_frames_dropped": video.frames_dropped,
    }
    conn.send(result)
    conn.recv()  # the clients are done
    for peer in (publisher, *peers):
        await peer.close()


async def run_clients(conn: Connection, subscribers: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    publisher = client_pc()
    publisher.addTransceiver(NoiseVideoTrack(), direction="sendonly")
    publisher.addTransceiver(ToneAudioTrack(), direction="sendonly")
    clients = [publisher]
    received = [0]

    def count(packet: av.Packet) -> None:
        received[0] += 1

    async def negotiate(pc: Any) -> None:
        await pc.setLocalDescription(await pc.createOffer())
        conn.send(pc.localDescription.sdp)
        answer = await loop.run_in_executor(None, conn.recv)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))

    await negotiate(publisher)
    for _ in range(subscribers):
        client = subscriber_client(1, 1)
        for transceiver in client.receiving:  # count, do not decode
            kind = transceiver.kind
            aiortc_patch.receive.enable_passthrough(
                transceiver.receiver,
                mime_type="video/VP8" if kind == "video" else "audio/opus",
                clock_rate=90_000 if kind == "video" else 48_000,
                on_packet=count,
                on_end=lambda: None,
                capacity=256,
                max_delay=18_000,
            )
        clients.append(client.pc)
        await negotiate(client.pc)
    result: dict[str, Any] = await loop.run_in_executor(None, conn.recv)
    result["frames_at_subscribers"] = received[0]
    conn.send("done")
    for pc in clients:
        await pc.close()
    return result


def server_process(conn: Connection, subscribers: int, seconds: float) -> None:
    profile_to = os.environ.get("BENCH_PROFILE")  # a file name: profile the server
    if not profile_to:
        asyncio.run(serve(conn, subscribers, seconds))
        return
    import cProfile

    with cProfile.Profile() as profile:
        asyncio.run(serve(conn, subscribers, seconds))
    profile.dump_stats(profile_to)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, nargs="+", default=[0, 1, 4, 8])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    aiortc_patch.install()
    baseline: float | None = None
    for subscribers in args.subscribers:
        ours, theirs = multiprocessing.Pipe()
        server = multiprocessing.get_context("spawn").Process(
            target=server_process, args=(theirs, subscribers, args.seconds)
        )
        server.start()
        result = asyncio.run(run_clients(ours, subscribers))
        server.join(30)
        cpu = result["cpu_seconds"]
        per_second = result["forwarded_packets"] / result["seconds"]
        line = (
            f"N={subscribers}: server CPU {100 * cpu / result['seconds']:.1f}% of a core, "
            f"received {result['received_packets'] / result['seconds']:.0f} packets/s, "
            f"forwarded {per_second:.0f} packets/s"
        )
        if result["forwarded_packets"]:
            line += f", {1e6 * cpu / result['forwarded_packets']:.0f} µs CPU per forwarded packet"
            if baseline is not None:
                marginal = (cpu - baseline) / result["forwarded_packets"]
                line += f" ({1e6 * marginal:.0f} µs beyond the receive-only run)"
        elif result["received_packets"]:
            baseline = cpu
            line += f", {1e6 * cpu / result['received_packets']:.0f} µs CPU per received packet"
        print(line, flush=True)
        print(f"    {result}", flush=True)


if __name__ == "__main__":
    main()
