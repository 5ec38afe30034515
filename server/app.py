"""The app factory: ``create_app(settings)`` wires settings, database, scheduling and the API."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

import media
import web as web_assets
from media.workers import MediaWorkers
from recordings.archive import DirectoryStore
from recordings.archiving import Archive, SigningIdentity
from recordings.capture import MeetingRecorder, RecordingSettings
from recordings.files import private_dir, tighten
from recordings.jobs import Elsewhere, JobRunner
from recordings.signing import ensure_signing_identity
from rooms.db import utcnow
from rooms.documents import DocumentFiles
from rooms.live import LiveRooms
from rooms.org import nearest_unit_of_hall
from rooms.ports import PeerFactory, Recorder
from rooms.scheduling import Scheduler
from rooms.timeline import DbTimeline
from server import __version__, web_security
from server.api import archive as archive_api
from server.api import documents as documents_api
from server.api import health, meetings, minutes, org, recordings, session
from server.api import readiness as readiness_api
from server.api.routing import Endpoint, add_endpoints, error_response, openapi
from server.cluster import Cluster, Load, RedisCluster
from server.db import Database
from server.live import Live, SocketNotifier
from server.load import Admission, Busy, LoopMonitor
from server.metrics import metrics
from server.readiness import Readiness
from server.security import LoginThrottle, Passwords, RedisLoginThrottle
from server.settings import Settings
from server.signalling import Signalling, SignallingServer
from server.state import ACTOR, SERVICES, Services

log = logging.getLogger("giaoban.server")

MAX_BODY = 1024 * 1024
MAX_SOCKET_MESSAGE = 256 * 1024
SHUTDOWN_TIMEOUT = 10.0
"""Seconds a stopping server gives open requests and sockets before it cuts them."""

ENDPOINTS: tuple[Endpoint, ...] = (
    *health.ENDPOINTS,
    *session.ENDPOINTS,
    *org.ENDPOINTS,
    *meetings.ENDPOINTS,
    *recordings.ENDPOINTS,
    *minutes.ENDPOINTS,
    *archive_api.ENDPOINTS,
    *documents_api.ENDPOINTS,
    *readiness_api.ENDPOINTS,
)

STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


@web.middleware
async def api_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every API error is JSON with a code and a message; nothing escapes as a bare 500."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if not request.path.startswith("/api/") or exc.status < 400:
            raise
        code = STATUS_CODES.get(exc.status, "error")
        response = error_response(exc.status, code, exc.reason)
        if exc.status == 405:
            response.headers["Allow"] = exc.headers.get("Allow", "")
        return response
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if not request.path.startswith("/api/"):
            raise
        return error_response(500, "internal", "internal error; it has been logged")


class AccessLogger(AbstractAccessLogger):
    """One line per request: who, what (path without its query: it may hold a feed key), result."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        actor = request.get(ACTOR)
        self.logger.info(
            '%s "%s %s" %s %.1fms %s',
            web_security.client(request),
            request.method,
            request.path,
            response.status,
            time * 1000,
            actor.label if actor is not None else "-",
        )


def media_settings(settings: Settings) -> media.PeerSettings:
    """What this node's peer connections (in any process, a media node's too) are made with."""
    return media.PeerSettings(
        ice_servers=tuple(
            media.IceServer(urls=tuple(s["urls"]), username=s.get("username"),
                            credential=s.get("credential"))
            for s in settings.ice_servers
        )
    )  # fmt: skip


def runner_options() -> dict[str, Any]:
    """How every runner of the app (``serve``, tests) logs requests and stops."""
    return {
        "access_log_class": AccessLogger,
        "access_log": logging.getLogger("giaoban.access"),
        "shutdown_timeout": SHUTDOWN_TIMEOUT,  # aiohttp's default: a minute
    }


def same_origin(origin: str | None, environ: dict[str, Any]) -> bool:
    """Sockets only from the server's own pages (or as a reverse proxy forwards them).

    engine.io's own check (``cors_allowed_origins=None``) takes every aiohttp request for
    ``http``, so it refused every browser over HTTPS."""
    request = environ.get("aiohttp.request")
    if request is None or origin is None:
        return False
    return origin in web_security.own_origins(request)


def _private_trees(*directories: Path) -> None:
    """The server's trees: made 0700, or made so when an older version left them open."""
    for directory in directories:
        private_dir(directory)
        tighten(directory)


def create_app(
    settings: Settings,
    *,
    passwords: Passwords | None = None,
    throttle: LoginThrottle | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> web.Application:
    """The whole server as one aiohttp application; resources open and close with it."""
    cluster = make_cluster(settings)
    app = web.Application(
        middlewares=[
            web_security.forwarded(settings.trusted_proxies),
            api_errors,
            web_security.middleware(cluster.origins),
        ],
        client_max_size=MAX_BODY,
    )
    web_security.add_headers(app, scaled_out=settings.redis_url is not None)

    def origin_allowed(origin: str | None, environ: dict[str, Any]) -> bool:
        # Scaled out, a page served by one node opens its socket on the node hosting its
        # meeting: the other nodes' origins are the deployment's own.
        return same_origin(origin, environ) or origin in cluster.origins()

    sio = SignallingServer(
        async_mode="aiohttp",
        client_manager=cluster.client_manager(),
        cors_allowed_origins=origin_allowed,
        ping_interval=settings.socket_ping_interval,
        ping_timeout=settings.socket_ping_timeout,
        max_http_buffer_size=MAX_SOCKET_MESSAGE,
    )
    sio.attach(app)
    stopping: list[Callable[[], Awaitable[None]]] = []

    async def going_away(_: web.Application) -> None:
        # Before aiohttp waits for open connections to end: every client is told, the halls
        # are let go (their meetings stay live) and the sockets are closed. Bounded: a stop
        # must end even if a client or a Room does not answer.
        try:
            async with asyncio.timeout(SHUTDOWN_TIMEOUT):
                for stop in stopping:
                    await stop()
        except TimeoutError:
            log.warning("letting the halls go took over %.0f s; stopping anyway", SHUTDOWN_TIMEOUT)

    app.on_shutdown.append(going_away)

    async def services_ctx(app: web.Application) -> AsyncIterator[None]:
        # aiortc's internals are checked once, here, not in the first hall's join (~0.3 s
        # that every hall joining at the same time waited for).
        media.aiortc_patch.install()
        db = Database(settings.database_url)
        login_throttle = throttle or make_throttle(settings)
        notifier = SocketNotifier(sio)
        peer_settings = media_settings(settings)
        recording = RecordingSettings(
            directory=settings.recordings_dir,
            segment_seconds=settings.segment_seconds,
            min_free_bytes=settings.recording_min_free_mb * 2**20,
            check_interval=settings.disk_check_seconds,
        )

        def recorder(meeting_id: int, on_failure: Callable[[str], Awaitable[None]]) -> Recorder:
            return MeetingRecorder(meeting_id, recording, db.sessions, on_failure)

        workers: MediaWorkers | None = None
        peers: PeerFactory | None = None
        if settings.media_workers:
            workers = MediaWorkers(
                settings.media_workers, peer_settings, capacity=settings.media_worker_capacity,
                relay_host=settings.media_relay_host, nodes=settings.media_nodes,
                secret=settings.media_secret or None, loop=settings.event_loop,
            )  # fmt: skip
            await workers.start()
            started = workers

            async def remote_peer(
                meeting_id: int, hall_id: int | None, codec: media.VideoCodec
            ) -> media.Connection:
                zone = None
                if hall_id is not None and settings.media_nodes:
                    async with db.sessions() as s:
                        zone = await nearest_unit_of_hall(s, hall_id, settings.media_nodes)
                return started.peer(group=f"meeting-{meeting_id}", zone=zone, video_codec=codec)

            peers = remote_peer

            log.info("media in %d worker processes and %d media nodes",
                     settings.media_workers, len(settings.media_nodes))  # fmt: skip

        rooms = LiveRooms(
            peers=peers,
            recorders=recorder,
            timeline=DbTimeline(db.sessions),
            notifier=notifier,
            peer_settings=peer_settings,
            video_codec=media.VideoCodec.H264
            if settings.video_codec == "h264"
            else media.VideoCodec.VP8,
            grace=settings.reconnect_grace,
            clock=clock,
        )
        if settings.signing_cert and settings.signing_key:
            identity = SigningIdentity(settings.signing_cert, settings.signing_key)
        else:
            cert, key = await asyncio.to_thread(
                ensure_signing_identity, settings.var_dir / "signing", settings.organisation
            )
            identity = SigningIdentity(cert, key)
        documents_dir = settings.documents_dir or settings.var_dir / "documents"
        await asyncio.to_thread(
            _private_trees, settings.recordings_dir, settings.archive_dir, documents_dir
        )
        documents = DocumentFiles(documents_dir)
        archive = Archive(
            db.sessions, DirectoryStore(settings.archive_dir), recording, identity,
            default_retention=settings.retention_class, clock=clock, documents=documents,
        )  # fmt: skip

        async def processed(meeting_id: int, job: dict[str, Any]) -> None:
            await live.processing(meeting_id, job)
            if job["state"] == "done":
                await archive.package_if_ready(meeting_id)

        async def elsewhere() -> Elsewhere:
            runners, meetings = await cluster.elsewhere()
            return Elsewhere(runners, meetings)

        jobs = JobRunner(db.sessions, recording, notify=processed,
                         runner=cluster.node_id, elsewhere=elsewhere)  # fmt: skip
        live = Live(sio, rooms, db, jobs, settings.public_url or "", cluster)
        services = Services(
            settings=settings,
            db=db,
            scheduler=Scheduler(settings.series_horizon_days, clock=clock),
            passwords=passwords or Passwords(),
            throttle=login_throttle,
            version=__version__,
            live=live,
            recording=recording,
            archive=archive,
            drop_terminal=_no_sockets,
            drop_user=_no_sockets,
            loop_monitor=LoopMonitor(),
            admission=Admission(
                settings.max_participants,
                settings.admission_max_lag_ms,
                max_cpu_percent=settings.admission_max_cpu_percent,
            ),
            media_workers=workers,
            documents=documents,
        )
        readiness = Readiness(sio, db, cluster, clock, settings.readiness_check_seconds)
        services.readiness = readiness
        app[SERVICES] = services
        codec = media.VideoCodec.H264 if settings.video_codec == "h264" else media.VideoCodec.VP8
        signalling = Signalling(
            sio, services, live, notifier, list(settings.ice_servers),
            make_peer=lambda: media.Peer(peer_settings, video_codec=codec), video_codec=codec,
        )  # fmt: skip
        services.drop_terminal = signalling.drop_terminal
        services.drop_user = signalling.drop_user

        async def stop_live() -> None:
            await live.shutdown()
            await signalling.close()
            await readiness.close()
            await readiness.close_node()

        stopping.append(stop_live)

        def measure() -> Load:
            participants = rooms.participants()
            try:
                services.admission.check(participants, services.loop_monitor)
            except Busy:
                accepting = False
            else:
                accepting = True
            monitor = services.loop_monitor
            return Load(participants, len(rooms), monitor.cpu_percent(), monitor.lag_ms(),
                        accepting)  # fmt: skip

        cluster.measure = measure
        await cluster.start()
        await jobs.start()
        # What a crash left undone at a meeting's end: its minutes' draft, then its package.
        try:
            await live.draft_missing()
        except Exception:
            log.exception("drafting the minutes left undrafted failed")
        archive.start()
        await readiness.start()
        await signalling.start()
        services.loop_monitor.start()
        daily = asyncio.create_task(archive.verify_daily())
        log.info("giaoban %s started (database %s)", __version__, db.engine.url.render_as_string())
        try:
            yield
        finally:
            daily.cancel()
            # Each bounded, each whatever the one before did: a stop must end, and the
            # database is closed even if a job or a worker did not let go.
            await _closing("readiness", readiness.close())
            await _closing("the loop monitor", services.loop_monitor.close())
            await _closing("the processing jobs", jobs.close())
            await _closing("the archive", archive.close())
            if workers is not None:
                await _closing("the media workers", workers.close())
            await _closing("the notifier", notifier.close())
            await _closing("socket.io", sio.shutdown())
            await _closing("the cluster", cluster.close())
            if throttle is None:
                await _closing("the login brake", login_throttle.close())
            await _closing("the database", db.close())

    app.cleanup_ctx.append(services_ctx)
    add_endpoints(app, ENDPOINTS)
    app.on_response_prepare.append(archive_api.audit_served_file)

    document = json.dumps(openapi(ENDPOINTS, __version__), ensure_ascii=False)

    async def openapi_json(_: web.Request) -> web.Response:
        return web.Response(text=document, content_type="application/json")

    app.router.add_get("/api/openapi.json", openapi_json)
    app.router.add_get("/metrics", metrics)
    add_pages(app)
    return app


def make_cluster(settings: Settings) -> Cluster:
    """This node among the others on Redis (scale-out), or alone (the embedded mode)."""
    if settings.redis_url is None:
        return Cluster("embedded", settings.public_url or "")
    assert settings.public_url is not None  # required with a Redis URL (settings)
    return RedisCluster(
        settings.node_id, settings.public_url, redis_url=settings.redis_url,
        prefix=settings.redis_prefix, heartbeat=settings.node_heartbeat,
    )  # fmt: skip


def make_throttle(settings: Settings) -> LoginThrottle:
    """The login brake: its counters in Redis when scaled out (shared by the nodes), in this
    process's memory otherwise."""
    if settings.redis_url is None:
        return LoginThrottle()
    return RedisLoginThrottle(settings.redis_url, prefix=settings.redis_prefix)


async def _closing(what: str, closed: Awaitable[None]) -> None:
    """Await one service's close for :data:`SHUTDOWN_TIMEOUT` at most; log instead of
    raising, so that the next ones close too."""
    try:
        async with asyncio.timeout(SHUTDOWN_TIMEOUT):
            await closed
    except TimeoutError:
        log.warning("closing %s took over %.0f s; stopping anyway", what, SHUTDOWN_TIMEOUT)
    except Exception:
        log.exception("closing %s failed", what)


async def _no_sockets(_id: int, reason: str) -> None:
    """Until the signalling is wired there are no sockets to send away."""


def add_pages(app: web.Application) -> None:
    """The front-end: static files from ``web/static``, served by this server (no CDN)."""
    static = web_assets.STATIC_DIR
    web_assets.fingerprint()  # read once now, not in a terminal's first request

    def page(name: str) -> Callable[[web.Request], Awaitable[web.FileResponse]]:
        async def serve(_: web.Request) -> web.FileResponse:
            return web.FileResponse(static / name, headers={"Cache-Control": "no-cache"})

        return serve

    app.router.add_get("/", page("index.html"))  # login; then on by role
    app.router.add_get("/terminal", page("terminal.html"))  # a hall's kiosk
    app.router.add_get("/chair", page("chair.html"))  # ?meeting=ID, or a chooser
    app.router.add_get("/present", page("present.html"))  # a presenter's laptop in a hall
    app.router.add_get("/secretariat", page("secretariat.html"))
    app.router.add_get("/minutes", page("minutes.html"))  # ?meeting=ID: edit, approve, correct
    app.router.add_get("/archive", page("archive.html"))  # search; ?meeting=ID: one meeting
    app.router.add_get("/admin", page("admin.html"))  # units and halls; people (admin)
    app.router.add_static("/static/", static)
