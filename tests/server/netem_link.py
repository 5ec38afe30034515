"""A point-to-point link with netem's impairments, in user space (this kernel has no netem).

``python -m tests.server.netem_link HOST_DEV NS_DEV`` opens two TUN devices (IP packets, no
extra header) and copies every packet read from one into the other, after dropping it with
probability ``loss`` % and holding it ``delay_ms`` ± ``jitter_ms`` (uniform, per packet, so
packets may be reordered: netem's ``delay D J`` and ``loss P``). Each direction is impaired
alike. The devices exist while the process runs: when it ends (killed too) they are gone.

It prints ``{"ready": true}`` once both devices are open; the caller then moves ``NS_DEV``
into a namespace and gives both their addresses. Each JSON line on stdin sets the impairment
(``{"loss": 5, "delay_ms": 200, "jitter_ms": 50}``; missing keys are 0) and is answered with
the counters so far (``{"ok": true, "forwarded": n, "dropped": n}``). End of stdin ends it.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import random
import struct
import sys
from typing import Any

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


class Link:
    def __init__(self, a: int, b: int) -> None:
        self.loop = asyncio.get_running_loop()
        self.fds = (a, b)
        self.loss = 0.0
        self.delay = 0.0
        self.jitter = 0.0
        self.counters = {"forwarded": 0, "dropped": 0}
        for fd in self.fds:
            self.loop.add_reader(fd, self._readable, fd)

    def set(self, spec: dict[str, Any]) -> None:
        self.loss = float(spec.get("loss", 0)) / 100
        self.delay = float(spec.get("delay_ms", 0)) / 1000
        self.jitter = float(spec.get("jitter_ms", 0)) / 1000

    def _readable(self, fd: int) -> None:
        other = self.fds[1] if fd == self.fds[0] else self.fds[0]
        for _ in range(64):
            try:
                packet = os.read(fd, 65536)
            except BlockingIOError:
                return
            if self.loss and random.random() < self.loss:
                self.counters["dropped"] += 1
                continue
            hold = self.delay + (random.uniform(-self.jitter, self.jitter) if self.jitter else 0)
            if hold > 0:
                self.loop.call_later(hold, self._write, other, packet)
            else:
                self._write(other, packet)

    def _write(self, fd: int, packet: bytes) -> None:
        try:
            os.write(fd, packet)
            self.counters["forwarded"] += 1
        except OSError:  # the device is full or going: a lost packet
            self.counters["dropped"] += 1


async def main(host_dev: str, ns_dev: str) -> None:
    link = Link(open_tun(host_dev), open_tun(ns_dev))
    print(json.dumps({"ready": True}), flush=True)
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        link.set(json.loads(line))
        print(json.dumps({"ok": True, **link.counters}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
