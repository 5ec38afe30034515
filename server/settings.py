"""Settings: one frozen object built from ``GIAOBAN_*`` environment variables.

Every setting has a safe default for the embedded mode (one process, SQLite and the archive
under ``var/``). Nothing here is mutable once built; the app receives it from its factory.
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any

from media.loops import LOOPS
from recordings.files import private_dir, tighten


class SettingsError(ValueError):
    """A ``GIAOBAN_*`` variable has a value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    """What a deployment configures. Build it with :meth:`from_env`."""

    var_dir: Path
    """Where the embedded mode keeps its state: database, secret key, demo certificate."""
    database_url: str
    """SQLAlchemy async URL: ``sqlite+aiosqlite:///…`` or ``postgresql+asyncpg://…``."""
    archive_dir: Path
    """The archive store (in production the data centre's NAS mount)."""
    host: str
    port: int
    tls_cert: Path | None = None
    tls_key: Path | None = None
    public_url: str | None = None
    """The URL halls use to reach the server, used in pairing links and calendar feeds."""
    series_horizon_days: int = 366
    """An open-ended series stops after this many days (conflicts are checked up to it)."""
    session_hours: int = 12
    """How long a person's login lasts."""
    session_idle_minutes: int = 30
    """A person's login unused for longer ends (``GIAOBAN_SESSION_IDLE_MINUTES``; 0: never).
    Terminals use their token, not a login."""
    log_level: str = "INFO"
    event_loop: str = "uvloop"
    """The asyncio event loop of the server and its media workers: uvloop or asyncio."""
    ice_servers: tuple[dict[str, Any], ...] = ()
    """STUN/TURN servers of the government network (``GIAOBAN_ICE_SERVERS``, JSON); none by
    default: halls and server reach each other directly. Never a public server."""
    socket_ping_interval: float = 5.0
    socket_ping_timeout: float = 5.0
    """A terminal whose network drops is noticed within interval + timeout seconds."""
    reconnect_grace: float = 30.0
    """How long a dropped hall is shown as reconnecting (and keeps the floor)."""
    recordings_dir: Path = Path("var/recordings")
    """Segments being recorded and the outputs of post-processing, per meeting."""
    segment_seconds: float = 120.0
    recording_min_free_mb: int = 1024
    """Recording refuses to start, and stops cleanly, below this much free disk space."""
    disk_check_seconds: float = 5.0
    """How often a recording checks the free disk space."""
    readiness_check_seconds: float = 30.0
    """How often the server looks for halls offline 15 minutes before their meeting."""
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()
    """Reverse proxies whose ``X-Forwarded-For`` names the client (the login brake, logs)."""
    credentials_check_seconds: float = 20.0
    """How often the server checks that its open sockets' logins and terminal tokens still
    hold (sending away those that ended elsewhere) and marks those logins as in use."""
    test_call_seconds: float = 300.0
    """How long a test call with a hall lasts at most."""
    signing_cert: Path | None = None
    signing_key: Path | None = None
    """The deployment's X.509 certificate and key (PEM) that sign minutes and manifests; a
    self-signed one is made under ``var/signing`` when not given."""
    organisation: str = "giaoban"
    """Who signs, in the demo certificate (the province's certificate names itself)."""
    retention_class: str = "10y"
    """The default retention of archived meetings: 5y, 10y, 20y or permanent."""
    video_codec: str = "vp8"
    """``vp8`` (default) or ``h264``: every hall must send it (media is not transcoded)."""
    max_participants: int = 0
    """Admission control: the participants of all meetings this node takes at most (0: no
    cap). Set it to what ``bench/`` finds the machine carries; a hall over it is told "busy"
    and retries, instead of every hall's media collapsing."""
    admission_max_lag_ms: int = 0
    """Admission control: refuse newcomers while the event loop's p95 lag over the last 5 s
    is above this many milliseconds (0: off)."""
    admission_max_cpu_percent: int = 0
    """Admission control: refuse newcomers while the event loop's thread used more than this
    share of one core (percent, 1-100) over the last 5 s (0: off). The earlier signal of the
    two: see ``server/load.py``."""
    media_workers: int = 0
    """Media worker processes owning the peer connections (``media/workers.py``); 0: media
    in this process. ``GIAOBAN_MEDIA_WORKERS``: a number or ``auto`` (one per core); unset,
    0 in the embedded mode and ``auto`` with ``GIAOBAN_REDIS_URL``."""
    media_worker_capacity: int = 150
    """Peers of one meeting on one media worker before the meeting spills over to another
    (cascaded between them)."""
    documents_dir: Path | None = None
    """Where meeting documents are kept (``GIAOBAN_DOCUMENTS_DIR``; default ``var/documents``;
    scaled out, on the mount every node sees)."""
    document_max_mb: int = 20
    """The largest document a secretariat may attach (``GIAOBAN_DOCUMENT_MAX_MB``)."""
    media_nodes: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Media nodes on other machines, by the code of the unit they serve
    (``GIAOBAN_MEDIA_NODES=huyen-a=10.1.0.5:7700,huyen-b=10.2.0.5:7700``): the connections of
    the halls of that unit and of the units below it live there (``giaoban media-node``), one
    copy of each stream crossing to and from this node."""
    media_secret: str = ""
    """What the media nodes and this node say to each other first (``GIAOBAN_MEDIA_SECRET``,
    the same on every machine); needed with media nodes."""
    media_relay_host: str = "127.0.0.1"
    """The address of this machine that its workers' cascade listeners take
    (``GIAOBAN_MEDIA_RELAY_HOST``): with media nodes, one they can reach."""
    redis_url: str | None = None
    """Scale-out: the Redis that links several nodes (``redis://host:6379/0``); none in the
    embedded mode (one process hosts every meeting)."""
    redis_prefix: str = "giaoban"
    """What this deployment's Redis keys and socket.io channel start with."""
    node_id: str = ""
    """This node's name among the nodes on one Redis (default: host name and port)."""
    node_heartbeat: float = 2.0
    """Seconds between two heartbeats of this node; a node silent for three is taken as
    dead and its meetings are taken over by another node."""

    @property
    def tls_enabled(self) -> bool:
        return self.tls_cert is not None and self.tls_key is not None

    @property
    def session_idle(self) -> timedelta | None:
        return timedelta(minutes=self.session_idle_minutes) if self.session_idle_minutes else None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, create_dirs: bool = True
    ) -> Settings:
        """Build the settings from ``env`` (default ``os.environ``)."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(f"GIAOBAN_{name}")
            return value if value not in (None, "") else None

        var_dir = Path(get("VAR_DIR") or "var").resolve()
        if create_dirs:
            private_dir(var_dir)
            tighten(var_dir)
        database_url = get("DATABASE_URL") or f"sqlite+aiosqlite:///{var_dir / 'giaoban.db'}"
        if not database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise SettingsError(
                "GIAOBAN_DATABASE_URL must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
            )
        archive_dir = Path(get("ARCHIVE_DIR") or var_dir / "archive").resolve()

        port_text = get("PORT") or "8443"
        try:
            port = int(port_text)
        except ValueError:
            raise SettingsError(f"GIAOBAN_PORT must be a number, not {port_text!r}") from None
        if not 0 <= port <= 65535:
            raise SettingsError(f"GIAOBAN_PORT must be between 0 and 65535, not {port}")

        cert, key = get("TLS_CERT"), get("TLS_KEY")
        if (cert is None) != (key is None):
            raise SettingsError("GIAOBAN_TLS_CERT and GIAOBAN_TLS_KEY must be given together")
        for name, value in (("TLS_CERT", cert), ("TLS_KEY", key)):
            if value is not None and not Path(value).is_file():
                raise SettingsError(f"GIAOBAN_{name}: no such file {value}")

        horizon_text = get("SERIES_HORIZON_DAYS") or "366"
        try:
            horizon = int(horizon_text)
        except ValueError:
            raise SettingsError("GIAOBAN_SERIES_HORIZON_DAYS must be a number") from None

        ice_servers = _ice_servers(get("ICE_SERVERS"))
        public_url = (get("PUBLIC_URL") or "").rstrip("/") or None

        def seconds(name: str, default: float) -> float:
            text = get(name)
            try:
                value = float(text) if text is not None else default
            except ValueError:
                raise SettingsError(f"GIAOBAN_{name} must be a number of seconds") from None
            if not 0 < value <= 3600:
                raise SettingsError(f"GIAOBAN_{name} must be between 0 and 3600 seconds")
            return value

        return cls(
            ice_servers=ice_servers,
            var_dir=var_dir,
            database_url=database_url,
            archive_dir=archive_dir,
            documents_dir=Path(get("DOCUMENTS_DIR") or var_dir / "documents").resolve(),
            document_max_mb=max(1, _whole("DOCUMENT_MAX_MB", 20, get)),
            host=get("HOST") or "0.0.0.0",
            port=port,
            tls_cert=Path(cert).resolve() if cert else None,
            tls_key=Path(key).resolve() if key else None,
            public_url=public_url,
            series_horizon_days=horizon,
            session_idle_minutes=_whole("SESSION_IDLE_MINUTES", 30, get),
            log_level=(get("LOG_LEVEL") or "INFO").upper(),
            event_loop=_event_loop(get("EVENT_LOOP")),
            socket_ping_interval=seconds("SOCKET_PING_INTERVAL", 5.0),
            socket_ping_timeout=seconds("SOCKET_PING_TIMEOUT", 5.0),
            reconnect_grace=seconds("RECONNECT_GRACE", 30.0),
            video_codec=_video_codec(get("VIDEO_CODEC")),
            recordings_dir=Path(get("RECORDINGS_DIR") or var_dir / "recordings").resolve(),
            segment_seconds=seconds("SEGMENT_SECONDS", 120.0),
            recording_min_free_mb=_whole("RECORDING_MIN_FREE_MB", 1024, get),
            disk_check_seconds=seconds("DISK_CHECK_SECONDS", 5.0),
            readiness_check_seconds=seconds("READINESS_CHECK_SECONDS", 30.0),
            credentials_check_seconds=seconds("CREDENTIALS_CHECK_SECONDS", 20.0),
            trusted_proxies=_networks("TRUSTED_PROXIES", get),
            test_call_seconds=seconds("TEST_CALL_SECONDS", 300.0),
            signing_cert=_file("SIGNING_CERT", get),
            signing_key=_file("SIGNING_KEY", get),
            organisation=get("ORGANISATION") or "giaoban",
            retention_class=_retention(get("RETENTION_CLASS")),
            max_participants=_whole("MAX_PARTICIPANTS", 0, get),
            admission_max_lag_ms=_whole("ADMISSION_MAX_LAG_MS", 0, get),
            admission_max_cpu_percent=_percent("ADMISSION_MAX_CPU_PERCENT", get),
            media_workers=_media_workers(
                get("MEDIA_WORKERS"), scaled_out=bool(get("REDIS_URL") or get("MEDIA_NODES"))
            ),
            media_worker_capacity=max(1, _whole("MEDIA_WORKER_CAPACITY", 150, get)),
            **_media_nodes(get),
            **_cluster(get, port, public_url),
        )


def _networks(name: str, get: Callable[[str], str | None]) -> tuple[IPv4Network | IPv6Network, ...]:
    """Addresses or networks, comma-separated: ``10.0.0.5, 10.1.0.0/16, fd00::/8``."""
    networks = []
    for item in (get(name) or "").split(","):
        if not item.strip():
            continue
        try:
            networks.append(ip_network(item.strip(), strict=False))
        except ValueError:
            raise SettingsError(
                f"GIAOBAN_{name}: {item.strip()!r} is not an IP address or network"
            ) from None
    return tuple(networks)


def _ice_servers(text: str | None) -> tuple[dict[str, Any], ...]:
    if text is None:
        return ()
    try:
        value = json.loads(text)
    except ValueError:
        raise SettingsError("GIAOBAN_ICE_SERVERS must be JSON") from None
    servers: list[dict[str, Any]] = []
    for item in value if isinstance(value, list) else [None]:
        if not isinstance(item, dict):
            raise SettingsError(
                'GIAOBAN_ICE_SERVERS must be a list of {"urls": [...], "username", "credential"}'
            )
        urls = item.get("urls")
        urls = [urls] if isinstance(urls, str) else urls
        if not urls or not all(
            isinstance(u, str) and u.startswith(("stun:", "turn:", "turns:")) for u in urls
        ):
            raise SettingsError("GIAOBAN_ICE_SERVERS: each urls must be stun:, turn: or turns:")
        server: dict[str, Any] = {"urls": list(urls)}
        for key in ("username", "credential"):
            if item.get(key) is not None:
                server[key] = str(item[key])
        servers.append(server)
    return tuple(servers)


def _cluster(get: Callable[[str], str | None], port: int, public_url: str | None) -> dict[str, Any]:
    """The scale-out settings: none without ``GIAOBAN_REDIS_URL``."""
    url = get("REDIS_URL")
    if url is None:
        return {}
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError("GIAOBAN_REDIS_URL must start with redis://, rediss:// or unix://")
    if public_url is None:
        raise SettingsError(
            "GIAOBAN_PUBLIC_URL is needed with GIAOBAN_REDIS_URL: halls are sent to the node "
            "hosting their meeting by this URL"
        )
    prefix = get("REDIS_PREFIX") or "giaoban"
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", prefix):
        raise SettingsError("GIAOBAN_REDIS_PREFIX: letters, digits, '_', '.', '-' (1 to 64)")
    node_id = get("NODE_ID") or f"{socket.gethostname()}-{port}"
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", node_id):
        raise SettingsError("GIAOBAN_NODE_ID: letters, digits, '_', '.', ':', '-' (1 to 64)")
    text = get("NODE_HEARTBEAT")
    try:
        heartbeat = float(text) if text is not None else 2.0
    except ValueError:
        raise SettingsError("GIAOBAN_NODE_HEARTBEAT must be a number of seconds") from None
    if not 0.1 <= heartbeat <= 60:
        raise SettingsError("GIAOBAN_NODE_HEARTBEAT must be between 0.1 and 60 seconds")
    return {"redis_url": url, "redis_prefix": prefix, "node_id": node_id,
            "node_heartbeat": heartbeat}  # fmt: skip


def _media_nodes(get: Callable[[str], str | None]) -> dict[str, Any]:
    """``GIAOBAN_MEDIA_NODES`` (``code=host:port`` separated by commas) and what goes with it."""
    relay_host = get("MEDIA_RELAY_HOST") or "127.0.0.1"
    secret = get("MEDIA_SECRET") or ""
    nodes: dict[str, tuple[str, int]] = {}
    for item in filter(None, (get("MEDIA_NODES") or "").split(",")):
        code, _, address = item.strip().partition("=")
        host, _, port = address.rpartition(":")
        if not (code and host and port.isdigit() and 0 < int(port) < 65536):
            raise SettingsError(f"GIAOBAN_MEDIA_NODES: {item.strip()!r} is not unit-code=host:port")
        nodes[code] = (host.strip("[]"), int(port))
    if nodes:
        if len(secret) < 16:
            raise SettingsError("GIAOBAN_MEDIA_SECRET (16 characters or more) is needed with "
                                "GIAOBAN_MEDIA_NODES")  # fmt: skip
        if get("MEDIA_WORKERS") == "0":
            raise SettingsError("GIAOBAN_MEDIA_WORKERS cannot be 0 with GIAOBAN_MEDIA_NODES")
    return {"media_nodes": nodes, "media_secret": secret, "media_relay_host": relay_host}


def _video_codec(text: str | None) -> str:
    codec = (text or "vp8").lower()
    if codec not in ("vp8", "h264"):
        raise SettingsError("GIAOBAN_VIDEO_CODEC must be vp8 or h264")
    return codec


def _media_workers(text: str | None, *, scaled_out: bool) -> int:
    cores = os.cpu_count() or 1
    if text is None:
        return cores if scaled_out else 0
    if text.strip().lower() == "auto":
        return cores
    try:
        value = int(text)
    except ValueError:
        raise SettingsError("GIAOBAN_MEDIA_WORKERS must be a number of processes or auto") from None
    if not 0 <= value <= 256:
        raise SettingsError("GIAOBAN_MEDIA_WORKERS must be between 0 and 256")
    return value


def _whole(name: str, default: int, get: Callable[[str], str | None]) -> int:
    text = get(name)
    try:
        value = int(text) if text is not None else default
    except ValueError:
        raise SettingsError(f"GIAOBAN_{name} must be a whole number") from None
    if value < 0:
        raise SettingsError(f"GIAOBAN_{name} must not be negative")
    return value


def _percent(name: str, get: Callable[[str], str | None]) -> int:
    value = _whole(name, 0, get)
    if value > 100:
        raise SettingsError(f"GIAOBAN_{name} must be a percentage of one core (0 to 100)")
    return value


def _file(name: str, get: Callable[[str], str | None]) -> Path | None:
    value = get(name)
    if value is None:
        return None
    if not Path(value).is_file():
        raise SettingsError(f"GIAOBAN_{name}: no such file {value}")
    return Path(value).resolve()


def _retention(text: str | None) -> str:
    value = text or "10y"
    if value not in ("5y", "10y", "20y", "permanent"):
        raise SettingsError("GIAOBAN_RETENTION_CLASS must be 5y, 10y, 20y or permanent")
    return value


def _event_loop(value: str | None) -> str:
    kind = (value or "uvloop").strip().lower()
    if kind not in LOOPS:
        raise SettingsError(f"GIAOBAN_EVENT_LOOP must be one of {', '.join(LOOPS)}, not {value!r}")
    return kind
