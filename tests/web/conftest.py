"""Browser tests: the system's Chromium, driven by Playwright, against the app over HTTPS.

The app is served on this machine's network address (not localhost) with a demo certificate
that Chromium trusts by its public key (``--ignore-certificate-errors-spki-list``): pages get a
secure context from the certificate, as hall terminals do. Camera and microphone are
Chromium's fake devices. SQLite only, to keep the suite fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    ViewportSize,
    async_playwright,
    expect,
)

from rooms.localtime import LOCAL_TZ
from server import tls
from server.app import create_app, runner_options
from server.security import LoginThrottle, Passwords
from server.settings import Settings
from tests.conftest import FAST_HASHER, PASSWORD, Clock, Org

ROOT = Path(__file__).resolve().parents[2]

# What a page shows may take more than Playwright's 5 s when the whole suite shares two cores
# (a kiosk showing its next meeting took 6 s once): every expectation waits up to 15 s, as
# every page action does (``set_default_timeout`` below). A wait that needs longer says so.
expect.set_options(timeout=15_000)
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")

TERMINAL_VIEWPORT: ViewportSize = {"width": 1920, "height": 1080}
CONSOLE_VIEWPORT: ViewportSize = {"width": 1600, "height": 1000}
Screenshot = Callable[..., Awaitable[Path]]


@pytest.fixture(params=["sqlite"])
def db_url(request: pytest.FixtureRequest, migrated: Callable[[str], str]) -> str:
    """The browser tests run on SQLite only (the API's contract tests cover PostgreSQL)."""
    return migrated(request.param)


def chromium_path() -> str:
    """The system's Chromium; a missing one fails the run (``make browser`` installs it)."""
    given = os.environ.get("GIAOBAN_CHROMIUM")
    found = given or next((p for n in CHROMIUM_NAMES if (p := shutil.which(n))), None)
    if not found or not Path(found).exists():
        pytest.fail(
            "no Chromium found for the browser tests: run `make browser` (apt-get install "
            "chromium) or set GIAOBAN_CHROMIUM to its path",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return tls.ensure_demo_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def host() -> str:
    """This machine's network address: the pages are not opened on localhost."""
    addresses = tls.local_addresses()
    if not addresses:
        pytest.fail("this machine has no non-loopback IPv4 address to serve HTTPS on")
    return addresses[0]


class HttpsApp:
    """The app served over HTTPS on ``host``; ``restart()`` stops it and serves a new one on
    the same port and database (a server restart, as the halls see it)."""

    def __init__(
        self, settings: Settings, clock: Clock, throttle: LoginThrottle, host: str, cert: Any
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.throttle = throttle
        self.host = host
        self.cert = cert
        self.port = 0
        self.server: TestServer | None = None

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    async def start(self) -> None:
        app = create_app(
            self.settings, passwords=Passwords(FAST_HASHER), clock=self.clock,
            throttle=self.throttle,
        )  # fmt: skip
        server = TestServer(app, host=self.host, port=self.port)
        await server.start_server(ssl=tls.server_context(*self.cert), **runner_options())
        self.server = server
        self.port = server.port or 0

    async def stop(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            await server.close()

    async def restart(self) -> None:
        await self.stop()
        await self.start()


@pytest.fixture
async def https_app(
    org: Org,
    settings: Settings,
    clock: Clock,
    throttle: LoginThrottle,
    host: str,
    certificate: tuple[Path, Path],
) -> AsyncIterator[HttpsApp]:
    served = HttpsApp(settings, clock, throttle, host, certificate)
    await served.start()
    yield served
    await served.stop()


@dataclass
class Browsers:
    """Chromium and its contexts (one per person or hall); page errors fail the test."""

    browser: Browser
    base_url: str
    contexts: list[BrowserContext] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def page(
        self,
        path: str = "/",
        *,
        viewport: ViewportSize = CONSOLE_VIEWPORT,
        init_script: str | None = None,
    ) -> Page:
        """A page in a fresh context (its own cookies and storage), opened at ``path``."""
        context = await self.browser.new_context(
            base_url=self.base_url, viewport=viewport, locale="vi-VN",
            timezone_id="UTC",  # the pages must show Asia/Ho_Chi_Minh whatever the machine's
        )  # fmt: skip
        self.contexts.append(context)
        await context.add_init_script(TEST_HELPERS)
        if init_script:
            await context.add_init_script(init_script)
        page = await context.new_page()
        page.set_default_timeout(15_000)
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: {exc}"))
        page.on("console", lambda msg: _console(msg, page, self.errors))
        if path:
            await page.goto(path)
        return page

    async def login(self, username: str, path: str = "/") -> Page:
        page = await self.page(path)
        await page.fill("#username", username)
        await page.fill("#password", PASSWORD)
        await page.click("#login button[type=submit]")
        return page

    async def close(self) -> None:
        # Bounded: a page caught reloading as its context closes has held Chromium's close
        # past pytest's timeout (twice under the whole suite's load); the browser's own close
        # ends whatever is left.
        for context in self.contexts:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(context.close(), 15)
        await self.browser.close()


def _console(message: ConsoleMessage, page: Page, errors: list[str]) -> None:
    # Errors logged by the pages' own modules; the socket.io library's reports of a refused
    # connection (a server restart, a network drop) are expected and handled.
    url = (message.location or {}).get("url", "")
    if message.type == "error" and "/static/" in url and "/static/vendor/" not in url:
        errors.append(f"{page.url}: console: {message.text}")
    elif "Content Security Policy" in message.text:  # anything our CSP refused, anywhere
        errors.append(f"{page.url}: CSP: {message.text}")


CHROMIUM_FLAGS = (
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
)
"A hall terminal's Chromium: fake camera and microphone, no prompts, no mDNS host names."


@pytest.fixture
async def browsers(https_app: HttpsApp, certificate: tuple[Path, Path]) -> AsyncIterator[Browsers]:
    args = [
        *CHROMIUM_FLAGS,
        f"--ignore-certificate-errors-spki-list={tls.spki_hash(certificate[0])}",
    ]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=args)
        made = Browsers(browser, https_app.url)
        try:
            yield made
        finally:
            await made.close()
    assert not made.errors, "errors in the pages:\n" + "\n".join(made.errors)


@pytest.fixture
def screenshot() -> Screenshot:
    """Save a page's picture under test-artifacts/screenshots/ (kept by CI)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    async def take(page: Page, name: str, *, full_page: bool = False) -> Path:
        path = ARTIFACTS / f"{name}.png"
        await page.screenshot(
            path=str(path), animations="disabled", caret="hide", full_page=full_page
        )
        return path

    return take


def startable_slot(minutes: int = 90) -> tuple[str, str, str]:
    """A local (date, start, end) the chair may start now, within one day: starting this
    minute and lasting ``minutes``, or less when midnight comes first."""
    now = datetime.now(LOCAL_TZ).replace(second=0, microsecond=0)
    start = now
    end = start + timedelta(minutes=minutes)
    if end.date() != start.date():
        if now.hour < 23:  # the day has over an hour left: the meeting ends at 23:59
            end = now.replace(hour=23, minute=59)
        else:  # the next day's first hour, which starts in under an hour (startable now)
            start = (now + timedelta(days=1)).replace(hour=0, minute=0)
            end = start + timedelta(minutes=minutes)
    return start.date().isoformat(), start.strftime("%H:%M"), end.strftime("%H:%M")


# What the tests read from the pages. Playwright's wait_for_function does not await a promise
# (it takes one for a truthy answer), so the page samples its WebRTC stats itself, five times a
# second, and the tests' predicates read the samples synchronously.
TEST_HELPERS = """
(() => {
  const test = {
    watched: {},
    audio: { packets: 0, samples: 0 },
    marks: {},
    watch(selector) {
      if (!(selector in this.watched)) this.watched[selector] = null;
      return this.watched[selector];
    },
    grows(key, value, need) {
      if (value === null || value === undefined) return false;
      if (!(key in this.marks)) { this.marks[key] = value; return false; }
      return value - this.marks[key] >= need;
    },
  };
  const connection = () => window.giaoban && window.giaoban.media && window.giaoban.media.pc;
  async function pictureStats(selector) {
    const figure = document.querySelector(selector);
    const video = figure && figure.querySelector('video');
    const track = video && video.srcObject && video.srcObject.getVideoTracks()[0];
    if (!track) return null;
    const pc = connection();
    const transceiver = pc && pc.getTransceivers().find((t) => t.receiver.track === track);
    const out = { hall: figure.dataset.hallId, local: !transceiver, width: video.videoWidth,
                  time: video.currentTime, frames: null };
    if (transceiver) {
      (await transceiver.receiver.getStats()).forEach((r) => {
        if (r.type === 'inbound-rtp') out.frames = r.framesDecoded;
      });
    }
    return out;
  }
  async function audioStats() {
    const out = { packets: 0, samples: 0 };
    const pc = connection();
    if (!pc) return out;
    (await pc.getStats()).forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'audio') {
        out.packets += r.packetsReceived || 0;
        out.samples += r.totalSamplesReceived || 0;
      }
    });
    return out;
  }
  setInterval(async () => {
    for (const selector of Object.keys(test.watched)) {
      test.watched[selector] = await pictureStats(selector).catch(() => null);
    }
    test.audio = await audioStats().catch(() => test.audio);
  }, 200);
  window.__test = test;
})();
"""
