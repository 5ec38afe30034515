"""What a terminal's browser may send: the server's bandwidth estimates (REMB) as Chromium
takes them."""

from __future__ import annotations

import asyncio
import time

from playwright.async_api import Page, expect

from tests.conftest import Org
from tests.web.conftest import Browsers
from tests.web.pages import picture_decodes
from tests.web.test_terminal import three_halls_live

SETTLE = 4.0
"Seconds after the connection is up before the estimate is read (the first REMBs)."


async def test_a_terminals_camera_is_not_held_to_its_thumbnails_estimate(
    browsers: Browsers, org: Org
) -> None:
    """A terminal publishes its camera and a small thumbnail (150 kbit/s at most) on one
    connection, and Chromium takes every REMB as the estimate for the whole connection.
    Told each stream's estimate in turn, it held everything, camera included, to the
    thumbnail's (~80 kbit/s: the camera went out at 60 kbit/s, 480 pixels wide); told their
    sum, its estimate stays at the camera's share and more."""
    _, chair, (_, term_a, term_b) = await three_halls_live(browsers, org)
    await term_a.wait_for_function(
        "() => window.giaoban.media && window.giaoban.media.pc"
        " && window.giaoban.media.pc.connectionState === 'connected'",
        timeout=20_000,
    )
    # Never a thumbnail's figure (its estimate is at most 1.5 x its 150 kbit/s). First the
    # camera is shown to nobody (the main screen shows the chair hall): its share is the
    # server's cap for an unwatched camera, 1 Mbit/s.
    estimates = await _estimates(term_a)
    assert min(estimates) > 300_000, estimates
    # A speaks: its camera is watched, its estimator runs from what it receives.
    a_id = org.halls["A"]
    await term_a.click("#hand")
    await chair.click(f"#queue li[data-hall-id='{a_id}'] button")
    await picture_decodes(term_b, "#large", a_id)
    estimates = await _estimates(term_a)
    assert min(estimates) > 300_000, estimates


async def _estimates(page: Page) -> list[int]:
    """Chromium's estimate of what its connection may send (``availableOutgoingBitrate``),
    every 0.5 s for 8 s, after :data:`SETTLE`."""
    await asyncio.sleep(SETTLE)
    estimates: list[int] = []
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        estimate = await page.evaluate(
            """async () => {
                let out = null;
                (await window.giaoban.media.pc.getStats()).forEach((r) => {
                    if (r.type === 'candidate-pair' && r.nominated && r.availableOutgoingBitrate)
                        out = r.availableOutgoingBitrate;
                });
                return out;
            }"""
        )
        if estimate is not None:
            estimates.append(estimate)
        await asyncio.sleep(0.5)
    assert len(estimates) >= 10, estimates
    return estimates


async def test_a_muted_hall_sends_next_to_no_audio(browsers: Browsers, org: Org) -> None:
    """A muted terminal's microphone is silent, and with the DTX the server's answer asks for,
    Chromium's Opus encoder sends a packet every 400 ms instead of every 20 ms: a district on a
    thin link keeps ~40 kbit/s per muted hall, and the server reads 20 times fewer packets."""
    _, _, (_, _, term_b) = await three_halls_live(browsers, org)
    await term_b.wait_for_function(
        "() => window.giaoban.media && window.giaoban.media.pc"
        " && window.giaoban.media.pc.connectionState === 'connected'",
        timeout=20_000,
    )
    await expect(term_b.locator("#mic")).to_have_attribute("data-muted", "true")
    await asyncio.sleep(SETTLE)  # the encoder has been told
    first, began = await _audio_packets_sent(term_b), time.monotonic()
    await asyncio.sleep(5)
    rate = (await _audio_packets_sent(term_b) - first) / (time.monotonic() - began)
    assert rate < 10, f"a muted hall sends {rate:.1f} audio packets a second"


async def _audio_packets_sent(page: Page) -> int:
    sent: int = await page.evaluate(
        """async () => {
            let out = 0;
            (await window.giaoban.media.pc.getStats()).forEach((r) => {
                if (r.type === 'outbound-rtp' && r.kind === 'audio') out += r.packetsSent;
            });
            return out;
        }"""
    )
    return sent
