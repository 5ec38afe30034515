"""What the app holds: one :class:`Services` object under a typed key, never module globals."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from media.workers import MediaWorkers
from recordings.archiving import Archive
from recordings.capture import RecordingSettings
from rooms.access import Actor
from rooms.documents import DocumentFiles
from rooms.scheduling import Scheduler
from server.db import Database
from server.live import Live
from server.load import Admission, LoopMonitor
from server.readiness import Readiness
from server.security import LoginThrottle, Passwords
from server.settings import Settings


@dataclass
class Services:
    settings: Settings
    db: Database
    scheduler: Scheduler
    passwords: Passwords
    throttle: LoginThrottle
    version: str
    live: Live
    recording: RecordingSettings
    archive: Archive
    drop_terminal: Callable[[int, str], Awaitable[None]]
    """Send a terminal's open connections away (its token was revoked or replaced)."""
    drop_user: Callable[[int, str], Awaitable[None]]
    """Send a person's open connections away (deactivated)."""
    loop_monitor: LoopMonitor
    """The event loop's lag (health reports, admission control)."""
    admission: Admission
    """Whether this node takes one more participant."""
    media_workers: MediaWorkers | None = None
    """The media worker processes (``GIAOBAN_MEDIA_WORKERS``); None: media in this process."""
    documents: DocumentFiles | None = None
    """Where meeting documents' bytes are kept."""
    readiness: Readiness | None = None
    """The halls' terminals as this node sees them, and the offline alert (issue 13)."""


SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
ACTOR: web.RequestKey[Actor | None] = web.RequestKey("actor", object)  # type: ignore[arg-type]
