"""The minutes as the pages show them (the preview the secretariat edits and the chair
approves): who presented content is listed as the PDF and the DOCX list it."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.web.conftest import Browsers

pytestmark = pytest.mark.slow

PRESENTATIONS = [
    {"presenter": "Nguyễn Văn An", "hall": "Điểm cầu Huyện A", "hall_id": 2,
     "started": "2026-01-05T08:15:00+07:00", "ended": "2026-01-05T08:32:00+07:00"},
    {"presenter": "Hội trường tỉnh P", "hall": "Hội trường tỉnh P", "hall_id": 1,
     "started": "2026-01-05T02:05:00+00:00", "ended": "2026-01-05T02:40:00+00:00"},
]  # fmt: skip


async def test_the_minutes_view_lists_who_presented_content(browsers: Browsers) -> None:
    page = await browsers.login("sec_p")
    await expect(page.locator("body")).to_have_attribute("data-ready", "true")
    shown, without = await page.evaluate(
        """async (presentations) => {
            const { minutesView } = await import("/static/common.js");
            const content = { date: "2026-01-05", subject: "Giao ban", sections: [],
                              attendance: [], recipients: [], presentations };
            return [minutesView(content).textContent,
                    minutesView({ ...content, presentations: [] }).textContent];
        }""",
        PRESENTATIONS,
    )
    assert "Trình bày nội dung: " in shown
    # Times in Asia/Ho_Chi_Minh (the browser runs in UTC), the hall unless it presented.
    assert "Nguyễn Văn An (Điểm cầu Huyện A): 08:15–08:32" in shown
    assert "Hội trường tỉnh P: 09:05–09:40" in shown
    assert "Trình bày nội dung" not in without
