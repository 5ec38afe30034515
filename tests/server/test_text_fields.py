"""Human-entered names, titles and texts (issue 17): control, line-break and bidi characters and
invisible-only values are refused naming the field, text is NFC; and a value stored before the
checks never breaks a calendar."""

from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import urlsplit

import icalendar
import pytest
import sqlalchemy as sa

from rooms.models import AgendaItem, Hall, Meeting
from server.db import Database
from tests.conftest import meeting_body
from tests.server.document_kit import pdf as make_pdf

BAD = {
    "crlf": "Giao ban\r\nBEGIN:VEVENT",
    "lf": "Giao ban\ntuần",
    "nul": "Giao\x00ban",
    "escape": "Giao\x1b[31mban",
    "del": "Giao\x7fban",
    "c1": "Giao\x85ban",
    "rlo": "Giao ban \u202egpj.exe",
    "isolate": "Giao \u2066ban\u2069",
    "line separator": "Giao\u2028ban",
    "zero-width only": "\u200b\u200c\u200d\ufeff",
    "filler only": "\u3164\u3164",
}
MULTILINE_BAD = {k: v for k, v in BAD.items() if k not in ("lf", "crlf", "line separator")}


def refused(reply: Any, field: str) -> None:
    assert reply.status == 422, reply.text
    assert reply.body["error"]["code"] == "validation"
    assert reply.body["error"]["field"] == field


@pytest.mark.parametrize("value", BAD.values(), ids=BAD.keys())
@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("title", lambda v: {"title": v}),
        ("agenda.0.title", lambda v: {"agenda": [{"title": v}]}),
        ("agenda.0.presenter", lambda v: {"agenda": [{"title": "Mục", "presenter": v}]}),
    ],
)
async def test_meeting_names_with_control_bidi_or_invisible_characters_are_refused(
    clients, org, value, field, change
):
    sec = await clients("sec_p")
    refused(await sec.post("/api/meetings", meeting_body(org, **change(value))), field)
    assert (await sec.get("/api/meetings")).body == []


@pytest.mark.parametrize("value", MULTILINE_BAD.values(), ids=MULTILINE_BAD.keys())
async def test_a_description_keeps_line_feeds_and_tabs_but_not_other_controls(clients, org, value):
    sec = await clients("sec_p")
    refused(await sec.post("/api/meetings", meeting_body(org, description=value)), "description")


async def test_a_description_may_hold_lines_and_tabs_and_crlf_becomes_lf(clients, org):
    sec = await clients("sec_p")
    reply = await sec.post("/api/meetings", meeting_body(org, description="Một\r\nHai\n\tBa"))
    assert reply.status == 201, reply.text
    assert reply.body["description"] == "Một\nHai\n\tBa"


async def test_names_are_stored_nfc(clients, org):
    sec = await clients("sec_p")
    decomposed = unicodedata.normalize("NFD", "Giao ban Huyện Lệ Thủy")
    assert decomposed != "Giao ban Huyện Lệ Thủy"
    reply = await sec.post("/api/meetings", meeting_body(org, title=decomposed))
    assert reply.status == 201, reply.text
    assert reply.body["title"] == "Giao ban Huyện Lệ Thủy"
    admin = await clients("admin")
    hall = await admin.post(
        "/api/halls", {"unit_id": org.units["A"], "name": decomposed, "address": decomposed}
    )
    assert hall.status == 201, hall.text
    assert hall.body["name"] == hall.body["address"] == "Giao ban Huyện Lệ Thủy"


@pytest.mark.parametrize("value", BAD.values(), ids=BAD.keys())
async def test_organisation_names_are_checked_alike(clients, org, value):
    admin = await clients("admin")
    refused(await admin.post("/api/halls", {"unit_id": org.units["A"], "name": value}), "name")
    refused(await admin.patch(f"/api/halls/{org.halls['A']}", {"name": value}), "name")
    refused(await admin.patch(f"/api/halls/{org.halls['A']}", {"address": value}), "address")
    refused(
        await admin.post("/api/units", {"name": value, "code": "X1", "parent_id": org.units["P"]}),
        "name",
    )
    refused(await admin.post(f"/api/halls/{org.halls['A']}/terminals", {"label": value}), "label")
    user = {"username": "moi", "full_name": value, "password": "x" * 12,
            "roles": [{"role": "chair", "unit_id": org.units["A"]}]}  # fmt: skip
    refused(await admin.post("/api/users", user), "full_name")
    hall = (await admin.get(f"/api/halls/{org.halls['A']}")).body
    assert hall["name"] == "Điểm cầu Huyện A"


@pytest.mark.parametrize("value", [BAD["crlf"], BAD["rlo"], BAD["nul"]], ids=["crlf", "rlo", "nul"])
async def test_cancel_reason_and_archive_words_are_checked(clients, org, value):
    sec = await clients("sec_p")
    meeting = (await sec.post("/api/meetings", meeting_body(org))).body
    refused(await sec.post(f"/api/meetings/{meeting['id']}/cancel", {"reason": value}), "reason")
    arch = await clients("arch")
    for name in ("q", "chair", "title"):
        refused(await arch.get("/api/archive/search", params={name: value}), name)
    anonymous = await clients()
    refused(await anonymous.post("/api/session", {"username": value, "password": "x"}), "username")


# -- a bad value already stored ------------------------------------------------------------


def _calendar(reply: Any) -> icalendar.Calendar:
    assert reply.status == 200, reply.text
    return icalendar.Calendar.from_ical(reply.text)


async def test_a_stored_title_or_hall_name_with_control_characters_never_breaks_a_feed(
    clients, org, db: Database
):
    sec = await clients("sec_p")
    meeting = (await sec.post("/api/meetings", meeting_body(org))).body
    feed = (await sec.get(f"/api/halls/{org.halls['A']}/feed")).body["url"]
    async with db.session() as session:
        await session.execute(
            sa.update(Meeting)
            .where(Meeting.id == meeting["id"])
            .values(title="Giao ban\r\nBEGIN:VEVENT\x07\u202e", description="Một\r\nHai\x08")
        )
        await session.execute(
            sa.update(AgendaItem)
            .where(AgendaItem.meeting_id == meeting["id"])
            .values(presenter="Sở\r\nTài chính\x1b", title="Mục\u2028một")
        )
        await session.execute(
            sa.update(Hall).where(Hall.id == org.halls["A"]).values(name="Điểm cầu\r\nA\x1b")
        )
        await session.execute(
            sa.update(Hall).where(Hall.id == org.halls["P"]).values(name="Hội trường\nP")
        )
        await session.commit()

    ics = _calendar(await sec.get(f"/api/meetings/{meeting['id']}/calendar.ics"))
    (event,) = ics.walk("VEVENT")
    assert str(event["SUMMARY"]) == "Giao ban BEGIN:VEVENT"
    assert str(event["LOCATION"]) == "Hội trường P"
    description = str(event["DESCRIPTION"]).splitlines()
    assert description[:2] == ["Một", "Hai"]
    assert "Điểm cầu: Hội trường P, Điểm cầu A, Điểm cầu Huyện B" in description
    assert "1. Mục một — Sở Tài chính (30 phút)" in description

    parts = urlsplit(feed)
    anonymous = await clients()
    calendar = _calendar(await anonymous.get(f"{parts.path}?{parts.query}"))
    assert str(calendar["X-WR-CALNAME"]) == "Giao ban — Điểm cầu A"
    assert [str(e["SUMMARY"]) for e in calendar.walk("VEVENT")] == ["Giao ban BEGIN:VEVENT"]


@pytest.mark.parametrize("name", ["Báo\x85cáo.pdf", "\u2060\u2060", "\u3164\u3164"])
async def test_a_document_filename_follows_the_same_rule(clients, org, name):
    sec = await clients("sec_p")
    meeting = (await sec.post("/api/meetings", meeting_body(org))).body
    reply = await sec.post(
        f"/api/meetings/{meeting['id']}/documents", data=make_pdf("Báo cáo"),
        params={"filename": name},
    )  # fmt: skip
    assert reply.status == 422, reply.text
    assert reply.body["error"]["field"] == "filename"
    assert (await sec.get(f"/api/meetings/{meeting['id']}/documents")).body == []
