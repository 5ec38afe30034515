"""Impaired networks: a hall in a network namespace of its own, behind an impaired link.

:class:`NetNamespace` makes a network namespace joined to the host by a point-to-point link,
the two ends in a private /30 of 10.213.0.0/16 (picked per process, checked free): the host's
end carries the server's address for the namespace, the namespace's end the hall's. There is
no default route in the namespace: the hall reaches the host's end and nothing else.

The link: this machine's kernel has no ``sch_netem`` (``CONFIG_NET_SCH_NETEM`` is not set, so
``tc qdisc ... netem`` answers "Specified qdisc kind is unknown"), so instead of a veth pair
with netem on it, the link is two TUN devices joined by ``tests/server/netem_link.py``, which
applies netem's ``loss P`` and ``delay D J`` to every packet in both directions. ``impair()``
sets them, ``outage()`` loses everything, ``clear()`` takes them off, ``remove()`` ends the
link process (its devices go with it) and deletes the namespace. Needs root; the host's real
interfaces are never touched.

:class:`HallProcess` runs ``tests/server/netem_hall.py`` inside the namespace and reads its
JSON lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import select
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT = 10.0
_serial = itertools.count()


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, check=check, capture_output=True, text=True, timeout=COMMAND_TIMEOUT
    )


class NetNamespace:
    """A network namespace joined to the host by an impairable link in 10.213.0.0/16."""

    def __init__(self) -> None:
        n = next(_serial)
        pid = os.getpid()
        self.name = f"gbnetem-{pid}-{n}"
        self.host_dev = f"gbh{pid % 10**7}x{n}"[:15]
        self.ns_dev = f"gbn{pid % 10**7}x{n}"[:15]
        used = run("ip", "-4", "-o", "addr", "show").stdout
        for index in itertools.count((pid * 8 + n) % 16384):
            block = index % 16384
            prefix, low = f"10.213.{block // 64}", (block % 64) * 4
            host, ns = f"{prefix}.{low + 1}", f"{prefix}.{low + 2}"
            if f"inet {host}" not in used and f"inet {ns}" not in used:
                break
        self.host_ip = host
        self.ns_ip = ns
        self.impairment = "none"
        self.link: subprocess.Popen[str] | None = None

    def create(self) -> None:
        if shutil.which("ip") is None:
            pytest.fail("ip (iproute2) is needed for the netem tests", pytrace=False)
        run("ip", "netns", "add", self.name)
        self.link = subprocess.Popen(
            [sys.executable, "-m", "tests.server.netem_link", self.host_dev, self.ns_dev],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self._answer().get("ready"), "the link did not start"
        run("ip", "link", "set", self.ns_dev, "netns", self.name)
        run("ip", "addr", "add", self.host_ip, "peer", self.ns_ip, "dev", self.host_dev)
        run("ip", "link", "set", self.host_dev, "up")
        ns = ("ip", "-n", self.name)
        run(*ns, "addr", "add", self.ns_ip, "peer", self.host_ip, "dev", self.ns_dev)
        run(*ns, "link", "set", self.ns_dev, "up")
        run(*ns, "link", "set", "lo", "up")

    def _answer(self) -> dict[str, Any]:
        assert self.link is not None and self.link.stdout is not None
        ready, _, _ = select.select([self.link.stdout], [], [], COMMAND_TIMEOUT)
        assert ready, "the link process does not answer"
        line = self.link.stdout.readline()
        assert line, f"the link process ended ({self.link.poll()})"
        answer: dict[str, Any] = json.loads(line)
        return answer

    def impair(self, *, loss: float = 0.0, delay_ms: int = 0, jitter_ms: int = 0) -> dict[str, Any]:
        """Each direction loses ``loss`` % of its packets and holds the others ``delay_ms`` ±
        ``jitter_ms`` (uniform, so packets may be reordered). Returns the link's counters."""
        assert self.link is not None and self.link.stdin is not None
        spec = {"loss": loss, "delay_ms": delay_ms, "jitter_ms": jitter_ms}
        self.link.stdin.write(json.dumps(spec) + "\n")
        self.link.stdin.flush()
        answer = self._answer()
        assert answer.get("ok"), answer
        self.impairment = f"loss {loss}%, delay {delay_ms} ms ± {jitter_ms} ms"
        return answer

    def outage(self) -> dict[str, Any]:
        """Every packet lost, both ways."""
        return self.impair(loss=100.0)

    def clear(self) -> dict[str, Any]:
        answer = self.impair()
        self.impairment = "none"
        return answer

    def remove(self) -> None:
        """End the link (its devices go with it) and delete the namespace."""
        link, self.link = self.link, None
        if link is not None:
            if link.stdin is not None:
                link.stdin.close()
            try:
                link.wait(timeout=COMMAND_TIMEOUT)
            except subprocess.TimeoutExpired:
                link.kill()
                link.wait(timeout=COMMAND_TIMEOUT)
            if link.stdout is not None:
                link.stdout.close()
        run("ip", "netns", "del", self.name, check=False)

    def exists(self) -> bool:
        names = run("ip", "netns", "list").stdout.split()
        host_dev = run("ip", "link", "show", self.host_dev, check=False).returncode == 0
        return self.name in names or host_dev


@contextlib.contextmanager
def net_namespace() -> Iterator[NetNamespace]:
    ns = NetNamespace()
    try:
        ns.create()
        yield ns
    finally:
        ns.remove()
        assert not ns.exists(), f"namespace {ns.name} or link {ns.host_dev} left behind"


class HallProcess:
    """``tests.server.netem_hall`` running inside a namespace; its lines as they come."""

    def __init__(self, ns: NetNamespace, url: str, token: str, colour: str, meeting_id: int):
        self.ns = ns
        self.args = [url, token, colour, str(meeting_id)]
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[dict[str, Any]] = []
        self.stderr = b""
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", self.ns.name,
            sys.executable, "-m", "tests.server.netem_hall", *self.args,
            cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self._reader = asyncio.ensure_future(self._read())
        self._errors = asyncio.ensure_future(self._read_stderr())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for raw in self.proc.stdout:
            with contextlib.suppress(ValueError):
                self.lines.append(json.loads(raw))
                self._changed.set()

    async def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.stderr = (self.stderr + raw)[-20_000:]

    @property
    def report(self) -> dict[str, Any]:
        """The last report (``{}`` before the first)."""
        return next((line for line in reversed(self.lines) if line["kind"] == "report"), {})

    def reports(self, since: float = 0.0) -> list[dict[str, Any]]:
        return [x for x in self.lines if x["kind"] == "report" and x["at"] >= since]

    def history(self, since: float = 0.0) -> list[str]:
        """What changed in the hall's reports after ``since`` (socket, connects, joins,
        offers, peer connection, errors) and its ``resumed`` lines: for a failure's message."""
        keys = ("socket", "connects", "joins", "offers", "pc", "errors")
        told, last = [], None
        for line in self.lines:
            if line["at"] < since:
                continue
            if line["kind"] == "resumed":
                told.append(f"{line['at'] - since:+.1f} s resumed {line['role']}")
            elif line["kind"] == "report":
                now = {k: line.get(k) for k in keys}
                if now != last:
                    told.append(f"{line['at'] - since:+.1f} s {now}")
                last = now
        return told

    def frames(self, role: str) -> int:
        return int(self.report.get("frames", {}).get(role, 0))

    def resumed(self, role: str, after: float) -> float | None:
        """When ``role`` first decoded a frame after ``after`` following a gap."""
        times = [x["at"] for x in self.lines if x["kind"] == "resumed" and x["role"] == role]
        return min((t for t in times if t > after), default=None)

    async def report_at(self, moment: float, deadline: float = 10.0) -> dict[str, Any]:
        """The first report the hall made at ``moment`` or later (waits for it to be read)."""

        def found() -> dict[str, Any] | None:
            return next((x for x in self.reports(moment)), None)

        await self.until(lambda: found() is not None, deadline, f"a report at {moment:.1f}")
        report = found()
        assert report is not None
        return report

    @staticmethod
    def rate(role: str, first: dict[str, Any], last: dict[str, Any]) -> float:
        """Frames of ``role`` decoded per second between two reports."""
        frames = last["frames"].get(role, 0) - first["frames"].get(role, 0)
        return float(frames) / max(last["at"] - first["at"], 1e-6)

    async def until(
        self, condition: Callable[[], bool], deadline: float, what: str | Callable[[], str]
    ) -> None:
        """Wait for ``condition`` on the lines read so far (re-checked on each new line);
        ``what`` names it in the failure's message (a callable: made at the failure)."""
        try:
            async with asyncio.timeout(deadline):
                while not condition():
                    if self.proc is not None and self.proc.returncode is not None:
                        break
                    self._changed.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), 0.5)
        except TimeoutError:
            pass
        assert condition(), (
            f"hall in {self.ns.name}: {what() if callable(what) else what} not within "
            f"{deadline} s; last report "
            f"{self.report}; stderr: {self.stderr.decode(errors='replace')[-3000:]}"
        )

    async def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.returncode is None:
            if proc.stdin is not None:
                proc.stdin.close()  # the hall's cue to leave
            try:
                await asyncio.wait_for(proc.wait(), 25)
            except TimeoutError:
                proc.kill()
                await asyncio.wait_for(proc.wait(), 10)
        for task in (self._reader, self._errors):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


@contextlib.asynccontextmanager
async def hall_process(
    ns: NetNamespace, url: str, token: str, colour: str, meeting_id: int
) -> AsyncIterator[HallProcess]:
    hall = HallProcess(ns, url, token, colour, meeting_id)
    await hall.start()
    try:
        yield hall
    finally:
        await hall.stop()
