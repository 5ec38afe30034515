"""What the browser tests wait for on the pages, each wait with a deadline."""

from __future__ import annotations

import itertools
from typing import Any

from playwright.async_api import Page
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

_marks = itertools.count()


async def picture_decodes(
    page: Page, selector: str, hall_id: int, *, frames: int = 10, within: float = 20_000
) -> None:
    """The picture shows ``hall_id`` and its track's decoded frames grow by ``frames``
    (``getStats`` ``framesDecoded`` of the inbound-rtp of that very track); a picture of the
    hall's own camera must be playing instead. ``within``: the deadline, in milliseconds."""
    try:
        await page.wait_for_function(
            """([selector, hall, need, mark]) => {
                const s = window.__test.watch(selector);
                if (!s || s.hall !== String(hall)) return false;
                if (s.local) return s.width > 0 && window.__test.grows(mark, s.time, 0.5);
                return window.__test.grows(mark, s.frames, need);
            }""",
            arg=[selector, hall_id, frames, f"picture-{next(_marks)}"],
            timeout=within,
            polling=250,
        )
    except PlaywrightTimeoutError:
        raise AssertionError(
            f"{page.url}: {selector} does not show hall {hall_id} decoding: {await diagnose(page)}"
        ) from None


async def hears(page: Page, *, samples: int = 48_000, within: float = 20_000) -> None:
    """Audio arrives and is decoded: ``totalSamplesReceived`` of the inbound audio grows (one
    second of 48 kHz by default) and so do its packets."""
    try:
        await page.wait_for_function(
            """([need, mark]) => {
                const s = window.__test.audio;
                const decoded = window.__test.grows(mark + 's', s.samples, need);
                const received = window.__test.grows(mark + 'p', s.packets, 25);
                return decoded && received;
            }""",
            arg=[samples, f"audio-{next(_marks)}"],
            timeout=within,
            polling=250,
        )
    except PlaywrightTimeoutError:
        raise AssertionError(f"{page.url}: no audio decoded: {await diagnose(page)}") from None


async def diagnose(page: Page) -> Any:
    """What the page's connection looks like: for a failed wait's message."""
    return await page.evaluate(
        """async () => {
            const app = window.giaoban || {};
            const pc = app.media && app.media.pc;
            const out = {watched: window.__test.watched, audio: window.__test.audio,
                         labels: app.labels, state: pc && pc.connectionState,
                         floor: app.state && app.state.floor_hall_id, inbound: []};
            if (pc) (await pc.getStats()).forEach((r) => {
                if (r.type === 'inbound-rtp') out.inbound.push({mid: r.mid, kind: r.kind,
                    packets: r.packetsReceived, lost: r.packetsLost, frames: r.framesDecoded,
                    keyframes: r.keyFramesDecoded, plis: r.pliCount, nacks: r.nackCount});
            });
            return JSON.stringify(out);
        }"""
    )


def hall_row(hall_id: int) -> str:
    """The chair console's row of a hall."""
    return f"#halls tr[data-hall-id='{hall_id}']"


def meeting_card(meeting_id: int) -> str:
    """The secretariat calendar's card of a meeting."""
    return f".meeting-card[data-meeting-id='{meeting_id}']"


async def api(page: Page, method: str, path: str, body: Any = None) -> dict[str, Any]:
    """Call the API from the page itself: its login, and its trust of the server's certificate
    (Playwright's own request client, outside the browser, does not trust the demo one)."""
    reply: dict[str, Any] = await page.evaluate(
        """async ([method, path, body]) => {
            const r = await fetch(path, {
                method, headers: {'Content-Type': 'application/json'},
                body: body === null ? undefined : JSON.stringify(body),
            });
            return {status: r.status, body: await r.json()};
        }""",
        [method, path, body],
    )
    return reply
