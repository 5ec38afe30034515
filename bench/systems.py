"""The systems under test, each started fresh as its own process for every measurement.

- :class:`Giaoban`: the real server (``python -m server serve``, plain HTTP, SQLite, a temporary
  ``GIAOBAN_VAR_DIR``), a benchmark province seeded in its database, a meeting created and
  started through the REST API, the chair on socket.io giving the floor.
- :class:`Relay`: ``bench.relay`` (aiortc's examples' way: ``MediaRelay``, decode, re-encode).
- :class:`Janus`: Debian's ``janus`` with the VideoRoom plugin (``bench/janus/setup.sh``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bench.scenarios import DISTRICT, DISTRICT_NODE, PROVINCE_ADDRESS

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench password 2024"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


COMPANIONS: dict[int, list[int]] = {}
"""Processes measured with a system's process that are not its descendants, by its pid (a
district's media node, started in a network namespace of its own)."""


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a server's media workers), and its companions'."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid, *COMPANIONS.get(pid, [])]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_split(pid: int) -> tuple[float, float]:
    """User and system CPU time of a process and its descendants, in seconds."""
    user = system = 0
    for each in tree(pid):
        try:
            with open(f"/proc/{each}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        user += int(fields[11])
        system += int(fields[12])
    return user / CLK_TCK, system / CLK_TCK


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its descendants (all threads), in seconds."""
    user, system = cpu_split(pid)
    return user + system


def machine_busy_seconds() -> float:
    """CPU time all cores spent busy since boot (user, nice, system, irq, softirq, steal)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return (sum(fields[:3]) + sum(fields[5:8])) / CLK_TCK


def socket_drops(pid: int) -> dict[str, int]:
    """Datagrams the kernel dropped at each of ``pid``'s UDP sockets (by inode) since it
    opened: its buffer was full, the process did not read it in time."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    drops: dict[str, int] = {}
    for table in ("udp", "udp6"):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/net/{table}") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[9] in inodes:
                    drops[fields[9]] = int(fields[-1])
    return drops


def drops_between(before: dict[str, int], after: dict[str, int]) -> int:
    """Drops between two :func:`socket_drops` readings, at the sockets open at the second."""
    return sum(n - before.get(inode, 0) for inode, n in after.items())


def receive_buffer_errors(pid: int) -> int:
    """Datagrams dropped for a full receive buffer at every socket of ``pid``'s network
    namespace (the system under test and the load generator alike)."""
    with open(f"/proc/{pid}/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    return int(rows[1][rows[0].index("RcvbufErrors")])


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and its descendants."""
    total = 0
    for each in tree(pid):
        try:
            with open(f"/proc/{each}/status") as f:
                total += next(
                    (int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:")), 0
                )
        except OSError:
            continue
    return total


async def wait_http(url: str, deadline: float = 30.0) -> None:
    async with asyncio.timeout(deadline):
        while True:
            try:
                async with aiohttp.ClientSession() as http, http.get(url) as resp:
                    if resp.status < 500:
                        return
            except (aiohttp.ClientError, OSError):
                pass
            await asyncio.sleep(0.2)


class System:
    name = ""
    pid = 0
    url = ""

    def phases(self) -> list[str]:
        return ["join"]

    def config(self) -> dict[str, Any]:
        return {"url": self.url}

    async def stop(self) -> None:
        raise NotImplementedError


def _spawn(cmd: list[str], log: Path, **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start ``cmd`` with its output in ``log``."""
    with open(log, "wb") as logfile:
        return subprocess.Popen(cmd, stdout=logfile, stderr=subprocess.STDOUT, **kwargs)


def _terminate(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- giaoban ------------------------------------------------------------------------------


async def _seed(database_url: str, halls: int, district_halls: int = 0) -> dict[str, Any]:
    """The province, a commune and a hall for each hall after the chair's; the last
    ``district_halls`` communes belong to the district :data:`bench.scenarios.DISTRICT`."""
    from argon2 import PasswordHasher

    from rooms.models import Hall, RoleName, Terminal, Unit, UnitLevel, User, UserRole
    from rooms.org import hash_token
    from server.db import Database

    password_hash = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    db = Database(database_url)
    seeded: dict[str, Any] = {"halls": [], "tokens": []}
    try:
        async with db.session() as session:
            province = Unit(code="BENCH", name="Tỉnh Bench", level=UnitLevel.PROVINCE)
            session.add(province)
            await session.flush()
            district = Unit(code=DISTRICT, name="Huyện Bench", level=UnitLevel.DISTRICT,
                            parent_id=province.id)  # fmt: skip
            session.add(district)
            await session.flush()
            rows = []
            for i in range(halls):
                unit = province
                if i:
                    unit = Unit(
                        code=f"X{i:03}",
                        name=f"Xã {i:03}",
                        level=UnitLevel.COMMUNE,
                        parent_id=district.id if i >= halls - district_halls else province.id,
                    )
                    session.add(unit)
                    await session.flush()
                hall = Hall(unit_id=unit.id, name=f"Điểm cầu {i:03}")
                session.add(hall)
                await session.flush()
                token = f"gbt_bench-{i:03}-{os.urandom(12).hex()}"
                session.add(
                    Terminal(hall_id=hall.id, label=f"T{i:03}", token_hash=hash_token(token))
                )
                rows.append((hall.id, token))
            for username, role in (
                ("bench_sec", RoleName.SECRETARIAT),
                ("bench_chair", RoleName.CHAIR),
            ):
                user = User(
                    username=username,
                    full_name=username,
                    password_hash=password_hash,
                    roles=[UserRole(role=role, unit_id=province.id)],
                )
                session.add(user)
                await session.flush()
                seeded[username] = user.id
            await session.commit()
        seeded["halls"] = [r[0] for r in rows]
        seeded["tokens"] = [r[1] for r in rows]
    finally:
        await db.close()
    return seeded


async def _login(http: aiohttp.ClientSession, url: str, username: str) -> None:
    async with http.post(
        f"{url}/api/session", json={"username": username, "password": PASSWORD}
    ) as r:
        if r.status != 200:
            raise RuntimeError(f"login {username}: {r.status} {await r.text()}")


BASELINE_SERVER = """
import sys
from media import aiortc_patch
aiortc_patch.send.enable_fast_send = lambda sender: None
aiortc_patch.estimator.throttle_remb = lambda receiver, interval: None
aiortc_patch.jitter.BoundedJitterBuffer._remove_complete_frame = lambda self: None
aiortc_patch.receive.enable_fast_receive = lambda dtls: None
import aiortc.rate
aiortc_patch.estimator._RemoteBitrateEstimator = aiortc.rate.RemoteBitrateEstimator
aiortc_patch.estimator._speed_up_estimator = lambda estimator: None
from server.cli import main
sys.exit(main(["serve"]))
"""


class Giaoban(System):
    name = "giaoban"

    def __init__(self, halls: int, work: Path, env: dict[str, str] | None = None,
                 district_halls: int = 0) -> None:  # fmt: skip
        self.halls = halls
        self.district_halls = district_halls
        self.district: District | None = None
        self.dir = Path(tempfile.mkdtemp(prefix="giaoban-", dir=work))
        self.port = free_port()
        self.url = f"http://127.0.0.2:{self.port}"
        self.env = {
            **os.environ,
            "GIAOBAN_VAR_DIR": str(self.dir / "var"),
            "GIAOBAN_HOST": "0.0.0.0",
            "GIAOBAN_PORT": str(self.port),
            "GIAOBAN_RECORDING_MIN_FREE_MB": str(10**9),
            "GIAOBAN_LOG_LEVEL": os.environ.get("BENCH_SERVER_LOG_LEVEL", "WARNING"),
            **(env or {}),
        }
        self.database_url = f"sqlite+aiosqlite:///{self.dir / 'var' / 'giaoban.db'}"
        self.process: subprocess.Popen[bytes] | None = None
        self.chair: Any = None
        self.meeting_id = 0
        self.seeded: dict[str, Any] = {}
        # The server's code: this checkout, or another one (``--ab-tree``: an earlier commit's
        # worktree, for before/after figures of a change in the same run).
        self.root = Path(os.environ.get("BENCH_SERVER_ROOT") or ROOT)

    async def start(self) -> None:
        await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "server", "migrate"],
            env=self.env,
            cwd=self.root,
            check=True,
            capture_output=True,
        )
        self.seeded = await _seed(self.database_url, self.halls, self.district_halls)
        if self.district_halls:
            self.district = District(self.dir, self.env, self.root)
            await self.district.start()
        cmd = [sys.executable, "-m", "server", "serve"]
        if os.environ.get("BENCH_MEDIA_BASELINE"):
            # The forwarding path as it was before this benchmark's fixes (for before/after
            # figures under the same conditions): aiortc's send loop, a REMB per packet under
            # "overuse", a frame released when the next one starts.
            cmd = [sys.executable, "-c", BASELINE_SERVER]
        if os.environ.get("BENCH_PROFILE_SERVER"):
            # py-spy records the server (its native frames too) while the scenario runs.
            cmd = [
                str(Path(sys.executable).parent / "py-spy"),
                "record",
                "--nonblocking",  # sampling must not pause the server (it did: 20 s joins)
                "-o",
                os.environ["BENCH_PROFILE_SERVER"],
                "-f",
                "raw" if os.environ["BENCH_PROFILE_SERVER"].endswith(".txt") else "flamegraph",
                "-r",
                os.environ.get("BENCH_PROFILE_RATE", "100"),
                *(["--native"] if os.environ.get("BENCH_PROFILE_NATIVE") else []),
                "--",
                *cmd,
            ]
        self.process = _spawn(cmd, self.dir / "server.log", env=self.env, cwd=self.root)
        await wait_http(f"{self.url}/api/openapi.json")
        self.pid = self._server_pid()
        if self.district is not None and self.district.process is not None:
            COMPANIONS[self.pid] = [self.district.process.pid]

    async def health(self) -> dict[str, Any]:
        """``/api/health``: the participants and the event loop's p95 lag over the last 10 s."""
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{self.url}/api/health", timeout=aiohttp.ClientTimeout(total=10)) as resp,
        ):
            body: dict[str, Any] = await resp.json()
            return body

    def _server_pid(self) -> int:
        assert self.process is not None
        if not os.environ.get("BENCH_PROFILE_SERVER"):
            return self.process.pid
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return int(children.read_text().split()[0])

    async def open_meeting(self, chair_hall: int, halls: list[int]) -> None:
        """Create the meeting (secretariat), start it (chair, REST), connect the chair."""
        import socketio

        from rooms.localtime import LOCAL_TZ

        ids = self.seeded["halls"]
        start = (datetime.now(LOCAL_TZ) + timedelta(minutes=10)).replace(second=0, microsecond=0)
        body = {
            "title": f"Giao ban benchmark ({len(halls)} điểm cầu)",
            "start": start.isoformat(),
            "end": (start + timedelta(hours=3)).isoformat(),
            "chair_hall_id": ids[chair_hall],
            "chair_user_id": self.seeded["bench_chair"],
            "invited_hall_ids": [ids[h] for h in halls if h != chair_hall],
            "auto_record": False,
        }
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            await _login(http, self.url, "bench_sec")
            async with http.post(f"{self.url}/api/meetings", json=body) as r:
                if r.status != 201:
                    raise RuntimeError(f"create meeting: {r.status} {await r.text()}")
                self.meeting_id = (await r.json())["id"]
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            await _login(http, self.url, "bench_chair")
            async with http.post(f"{self.url}/api/meetings/{self.meeting_id}/start") as r:
                if r.status != 200:
                    raise RuntimeError(f"start meeting: {r.status} {await r.text()}")
            cookie = next(c.value for c in jar if c.key == "giaoban_session")
        self.chair = socketio.AsyncClient(reconnection=False)
        await self.chair.connect(
            self.url,
            namespaces=["/live"],
            transports=["websocket"],
            headers={"Cookie": f"giaoban_session={cookie}"},
        )
        reply = await self.chair.call("join", {"meeting_id": self.meeting_id}, namespace="/live")
        if not reply.get("ok"):
            raise RuntimeError(f"chair join: {reply}")

    async def give_floor(self, hall: int) -> None:
        reply = await self.chair.call(
            "give_floor", {"hall_id": self.seeded["halls"][hall]}, namespace="/live", timeout=60
        )
        if not reply.get("ok"):
            raise RuntimeError(f"give_floor: {reply}")

    def config(self) -> dict[str, Any]:
        return {"url": self.url, "meeting_id": self.meeting_id}

    def token(self, hall: int) -> str:
        return str(self.seeded["tokens"][hall])

    async def stop(self) -> None:
        if self.chair is not None:
            try:
                async with asyncio.timeout(5):
                    await self.chair.disconnect()
            except (TimeoutError, Exception):
                pass
        if self.process is not None:
            if self.pid and self.pid != self.process.pid:
                # Profiled: stop the server; py-spy then writes its profile and exits.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGTERM)
                await asyncio.to_thread(self.process.wait, 60)
            await asyncio.to_thread(_terminate, self.process)
            COMPANIONS.pop(self.pid, None)
        if self.district is not None:
            await self.district.stop()
        with contextlib.suppress(OSError):
            shutil.copy(
                self.dir / "server.log", self.dir.parent.parent / "giaoban-bench-server.log"
            )
        shutil.rmtree(self.dir, ignore_errors=True)


class District:
    """A district's media node (``giaoban media-node``) in a network namespace of its own,
    linked to the bench's namespace by a veth (:data:`bench.scenarios.PROVINCE_ADDRESS` here,
    :data:`bench.scenarios.DISTRICT_NODE` there): its halls' media and the cascade cross it."""

    NETNS = "gb-bench-district"

    def __init__(self, work: Path, env: dict[str, str], root: Path) -> None:
        self.work = work
        self.env = {**env, "GIAOBAN_VAR_DIR": str(work / "district"),
                    "GIAOBAN_MEDIA_RELAY_HOST": DISTRICT_NODE[0]}  # fmt: skip
        self.root = root
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        host, port = DISTRICT_NODE
        ns = self.NETNS
        await asyncio.to_thread(_ip, f"netns del {ns}", check=False)  # a stale one
        for cmd in (
            f"netns add {ns}",
            f"link add gbd0 type veth peer name gbd1 netns {ns}",
            f"addr add {PROVINCE_ADDRESS}/24 dev gbd0",
            "link set gbd0 up",
            f"-n {ns} addr add {host}/24 dev gbd1",
            f"-n {ns} link set gbd1 up",
            f"-n {ns} link set lo up",
        ):
            await asyncio.to_thread(_ip, cmd)
        self.process = _spawn(
            ["ip", "netns", "exec", ns, sys.executable, "-m", "server", "media-node",
             "--listen", f"{host}:{port}"],
            self.work / "district.log", env=self.env, cwd=self.root,
        )  # fmt: skip
        async with asyncio.timeout(30):
            while b"listening on" not in (self.work / "district.log").read_bytes():
                if self.process.poll() is not None:
                    raise RuntimeError("the district's media node exited: see district.log")
                await asyncio.sleep(0.1)

    async def stop(self) -> None:
        if self.process is not None:
            await asyncio.to_thread(_terminate, self.process)
        await asyncio.to_thread(_ip, f"netns del {self.NETNS}", check=False)
        await asyncio.to_thread(_ip, "link del gbd0", check=False)


def _ip(args: str, check: bool = True) -> None:
    subprocess.run(["ip", *args.split()], check=check, capture_output=True, timeout=10)


# -- the transcoding relay -----------------------------------------------------------------


class Relay(System):
    name = "relay"

    def __init__(self, work: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.2:{self.port}"
        self.log = work / f"relay-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        self.process = _spawn(
            [sys.executable, "-m", "bench.relay", "--host", "127.0.0.2", "--port", str(self.port)],
            self.log,
            cwd=ROOT,
        )
        await wait_http(f"{self.url}/health")
        self.pid = self.process.pid

    async def stop(self) -> None:
        if self.process is not None:
            await asyncio.to_thread(_terminate, self.process)


# -- Janus ----------------------------------------------------------------------------------


def janus_version() -> str | None:
    if shutil.which("janus") is None:
        return None
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", "janus"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or "unknown"


class Janus(System):
    name = "janus"

    def __init__(self, work: Path) -> None:
        self.conf = work / "janus-conf"
        self.url = "http://127.0.0.1:8088/janus"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = work / "janus.log"

    def phases(self) -> list[str]:
        return ["publish", "subscribe"]

    async def start(self) -> None:
        if not (self.conf / "janus.jcfg").exists():
            await asyncio.to_thread(
                subprocess.run,
                ["bash", str(ROOT / "bench" / "janus" / "setup.sh"), str(self.conf)],
                check=True,
            )
        self.process = _spawn(
            ["janus", "-F", str(self.conf), "-C", str(self.conf / "janus.jcfg"), "-o"], self.log
        )
        self.pid = self.process.pid
        async with asyncio.timeout(20):
            while True:
                try:
                    async with (
                        aiohttp.ClientSession() as http,
                        http.post(self.url, json={"janus": "info", "transaction": "x"}) as resp,
                    ):
                        if resp.status == 200:
                            break
                except (aiohttp.ClientError, OSError):
                    pass
                await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)

    async def stop(self) -> None:
        if self.process is not None:
            await asyncio.to_thread(_terminate, self.process)
