"""Content sharing in real browsers: the chair's console shares a screen (Chromium's fake
screen), a presenter's laptop in a hall asks and is let in (a second fake video: a solid colour
drawn on a canvas), every terminal shows the content large with the speaker beside it, and the
content follows the chair's decisions (pixels sampled from the terminals' decoded video)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.conftest import PASSWORD, Org
from tests.web.conftest import Browsers, Screenshot
from tests.web.pages import picture_decodes
from tests.web.test_terminal import three_halls_live

pytestmark = pytest.mark.slow

MAGENTA_SCREEN = """
navigator.mediaDevices.getDisplayMedia = async () => {
  const canvas = document.createElement('canvas');
  canvas.width = 1280; canvas.height = 720;
  const g = canvas.getContext('2d');
  const draw = () => {
    g.fillStyle = '#ff00ff'; g.fillRect(0, 0, 1280, 720);
    g.fillStyle = '#ffffff'; g.fillRect((Date.now() / 5) % 1200, 0, 80, 80);  // keeps frames coming
  };
  draw();
  setInterval(draw, 66);
  return canvas.captureStream(15);
};
"""

SAMPLE = """(selector) => {
  const video = document.querySelector(selector + ' video');
  if (!video || !video.videoWidth || video.closest('[hidden]')) return null;
  const canvas = document.createElement('canvas');
  canvas.width = 64; canvas.height = 36;
  const g = canvas.getContext('2d');
  g.drawImage(video, 0, 0, 64, 36);
  const d = g.getImageData(32, 28, 1, 1).data;
  return [d[0], d[1], d[2]];
}"""


def near(rgb: Any, want: tuple[int, int, int], tolerance: int = 40) -> bool:
    return rgb is not None and all(abs(a - b) <= tolerance for a, b in zip(rgb, want, strict=True))


async def shows_colour(page: Page, selector: str, want: tuple[int, int, int]) -> None:
    """The decoded picture at ``selector`` is ``want`` (within a tolerance) within 20 s."""
    await page.wait_for_function(
        f"""([selector, want]) => {{
            const rgb = ({SAMPLE})(selector);
            return rgb !== null && rgb.every((v, i) => Math.abs(v - want[i]) <= 40);
        }}""",
        arg=[selector, list(want)],
        timeout=20_000,
        polling=250,
    )


async def test_presenters_share_their_screens_and_every_terminal_shows_the_content(
    browsers: Browsers, org: Org, screenshot: Screenshot
) -> None:
    meeting_id, chair, (term_p, term_a, term_b) = await three_halls_live(browsers, org)
    p_id, a_id = org.halls["P"], org.halls["A"]
    await expect(term_b.locator("#content")).to_be_hidden()

    # The chair shares its screen (Chromium's fake screen): the halls see it large, the chair
    # hall beside it.
    await expect(chair.locator("#share")).to_be_enabled(timeout=20_000)
    await chair.click("#share")
    await expect(chair.locator("#stop-share")).to_be_visible()
    await expect(chair.locator("#content-now")).to_contain_text("Người dùng chair_p")
    await picture_decodes(term_b, "#content", p_id)
    await expect(term_b.locator("#content-name")).to_have_text(
        "Trình bày: Người dùng chair_p — Hội trường tỉnh P"
    )
    content = await term_b.locator("#content").bounding_box()
    speaker = await term_b.locator("#large").bounding_box()
    assert content and speaker
    assert content["width"] > 2.5 * speaker["width"], (content, speaker)
    assert speaker["x"] >= content["x"] + content["width"], "the speaker is beside the content"
    assert not near(await term_b.evaluate(SAMPLE, "#content"), (255, 0, 255))
    await picture_decodes(term_b, "#large", p_id)  # the speaker goes on beside the content

    # A presenter's laptop in hall A asks to present; the chair lets it: its slide replaces
    # the chair's screen on every terminal.
    laptop = await _presenter_page(browsers, meeting_id, a_id)
    await laptop.click("#enter")
    await expect(laptop.locator("#share")).to_be_visible(timeout=20_000)
    await laptop.click("#share")
    await expect(laptop.locator("#room-status")).to_have_text(
        "Đang chờ chủ tọa cho phép trình chiếu…"
    )
    request = chair.locator("#content-requests li")
    await expect(request).to_have_count(1)
    await expect(request).to_contain_text("Người dùng sec_a — Điểm cầu Huyện A")
    await screenshot(chair, "chair-content-request", full_page=True)
    await request.locator("button").click()
    await expect(laptop.locator("#room-status")).to_have_text(
        "Bạn đang trình chiếu cho tất cả điểm cầu."
    )
    for term in (term_p, term_a, term_b):  # the presenting hall's own screen too
        await shows_colour(term, "#content", (255, 0, 255))
    await expect(term_b.locator("#content-name")).to_have_text(
        "Trình bày: Người dùng sec_a — Điểm cầu Huyện A"
    )
    await expect(chair.locator("#share")).to_be_visible()  # the chair no longer presents
    await expect(chair.locator("#take-content")).to_be_visible()
    await screenshot(term_b, "terminal-content")

    # The chair takes it back: the terminals return to the speaker alone.
    await chair.click("#take-content")
    for term in (term_p, term_a, term_b):
        await expect(term.locator("#content")).to_be_hidden()
    await expect(laptop.locator("#share")).to_be_visible()
    await expect(laptop.locator("#preview")).to_be_hidden()  # its screen is released


async def _presenter_page(browsers: Browsers, meeting_id: int, hall_id: int) -> Page:
    """sec_a's laptop (logged in once more in a context with the second fake video)."""
    page = await browsers.page("/", init_script=MAGENTA_SCREEN)
    await page.fill("#username", "sec_a")
    await page.fill("#password", PASSWORD)
    await page.click("#login button[type=submit]")
    await expect(page).to_have_url(f"{browsers.base_url}/secretariat")
    await page.goto(f"/present?meeting={meeting_id}&hall={hall_id}")
    await expect(page.locator("#hall")).to_have_value(str(hall_id))
    return page


async def test_pages_are_served_with_hsts_and_a_csp_they_keep(browsers: Browsers, org: Org) -> None:
    """Over HTTPS every page says HSTS; loading and running them breaks none of the CSP (a
    violation is a console error, which fails any browser test)."""
    page = await browsers.page("")
    for path in ("/", "/terminal", "/chair", "/archive"):
        # The page's own response (goto may answer None when the page's scripts navigate on
        # as it loads: /chair goes on to the login page), and the page run, wherever it goes
        # on to, keeps the policy.
        url = browsers.base_url + path
        async with page.expect_response(lambda r, url=url: r.url == url) as answer:
            await page.goto(path)
        await page.wait_for_load_state("networkidle")
        headers = await (await answer.value).all_headers()
        assert headers["strict-transport-security"].startswith("max-age="), path
        assert "script-src 'self'" in headers["content-security-policy"], path
    # An inline script is refused by the browser, as the policy says.
    await page.goto("/")  # the login page stays (the others go on to it when logged out)
    await expect(page.locator("#username")).to_be_visible()
    await page.wait_for_load_state("networkidle")
    ran = await page.evaluate(
        """() => new Promise((resolve) => {
            document.addEventListener('securitypolicyviolation', () => resolve('refused'));
            const s = document.createElement('script');
            s.textContent = 'window.__inline = true';
            document.body.append(s);
            setTimeout(() => resolve(window.__inline ? 'ran' : 'silent'), 2000);
        })"""
    )
    assert ran == "refused"
    # The browser reports it on the console too (a CSP error fails a browser test): that one
    # was ours. Its report may come after the event: wait for it, then take it back.
    deadline = time.monotonic() + 10
    while not any("CSP:" in e for e in browsers.errors):
        assert time.monotonic() < deadline, "the refused script was not reported"
        await asyncio.sleep(0.05)
    browsers.errors[:] = [e for e in browsers.errors if "CSP:" not in e]
