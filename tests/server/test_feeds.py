"""Links that carry secrets and the halls' calendar feeds (issue 17): a forged Host header
never makes a pairing or feed link; a feed's key is the hall's own, rotatable by an admin
(API and CLI), and a deactivated hall has no feed; calendars are not for shared caches."""

from __future__ import annotations

import asyncio
import os
from typing import Any
from urllib.parse import parse_qs, urlsplit

import icalendar
import pytest

from server.cli import main
from tests.conftest import meeting_body

EVIL = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def key_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["key"][0]


async def feed_url(client: Any, hall_id: int) -> str:
    reply = await client.get(f"/api/halls/{hall_id}/feed")
    assert reply.status == 200, reply.text
    return reply.body["url"]


async def test_links_with_secrets_never_take_the_request_host(clients, org, server):
    own = f"http://127.0.0.1:{server.port}"
    admin = await clients("admin")
    paired = await admin.post(f"/api/halls/{org.halls['A']}/terminals", {"label": "Máy 2"},
                              headers=EVIL)  # fmt: skip
    assert paired.status == 201, paired.text
    assert "evil.example" not in paired.text
    assert paired.body["pairing_url"].startswith(f"{own}/terminal#token=gbt_")

    feed = await admin.get(f"/api/halls/{org.halls['A']}/feed", headers=EVIL)
    assert feed.status == 200, feed.text
    assert feed.body["url"].startswith(f"{own}/api/halls/{org.halls['A']}/calendar.ics?key=")

    meeting = (await admin.post("/api/meetings", meeting_body(org))).body
    ics = await admin.get(f"/api/meetings/{meeting['id']}/calendar.ics", headers=EVIL)
    assert ics.status == 200, ics.text
    assert "evil.example" not in ics.text
    anonymous = await clients()
    hall_ics = await anonymous.get(path_of(feed.body["url"]), headers=EVIL)
    assert hall_ics.status == 200, hall_ics.text
    assert "evil.example" not in hall_ics.text


@pytest.mark.env(GIAOBAN_PUBLIC_URL="https://giaoban.example.gov.vn")
async def test_links_use_the_configured_public_url(clients, org):
    admin = await clients("admin")
    feed = await admin.get(f"/api/halls/{org.halls['A']}/feed", headers=EVIL)
    assert feed.body["url"].startswith("https://giaoban.example.gov.vn/api/halls/")
    paired = await admin.post(f"/api/halls/{org.halls['A']}/terminals", {}, headers=EVIL)
    assert paired.body["pairing_url"].startswith("https://giaoban.example.gov.vn/terminal#")


async def test_an_admin_rotates_a_feed_key_and_the_old_url_is_404(clients, org):
    sec = await clients("sec_p")
    anonymous = await clients()
    old = await feed_url(sec, org.halls["A"])
    assert await feed_url(sec, org.halls["A"]) == old  # kept, not made anew each time
    assert (await anonymous.get(path_of(old))).status == 200

    refused = await sec.post(f"/api/halls/{org.halls['A']}/feed/rotate")
    assert refused.status == 403, refused.text
    assert refused.body["error"]["required_role"] == "admin"
    assert (await anonymous.get(path_of(old))).status == 200

    admin = await clients("admin")
    rotated = await admin.post(f"/api/halls/{org.halls['A']}/feed/rotate")
    assert rotated.status == 200, rotated.text
    new = rotated.body["url"]
    assert key_of(new) != key_of(old) and len(key_of(new)) >= 32
    assert rotated.body["rotated_at"] is not None
    gone = await anonymous.get(path_of(old))
    assert gone.status == 404, gone.text
    assert (await anonymous.get(path_of(new))).status == 200
    assert await feed_url(sec, org.halls["A"]) == new
    # each hall has its own key: B's still works, and A's key does not open B's feed
    b = await feed_url(sec, org.halls["B"])
    assert (await anonymous.get(path_of(b))).status == 200
    wrong = f"/api/halls/{org.halls['B']}/calendar.ics?key={key_of(new)}"
    assert (await anonymous.get(wrong)).status == 404


async def test_a_deactivated_halls_feed_is_404(clients, org):
    sec = await clients("sec_p")
    anonymous = await clients()
    url = await feed_url(sec, org.halls["A"])
    assert (await anonymous.get(path_of(url))).status == 200
    off = await sec.patch(f"/api/halls/{org.halls['A']}", {"active": False})
    assert off.status == 200, off.text
    assert (await anonymous.get(path_of(url))).status == 404
    assert (await sec.get(f"/api/halls/{org.halls['A']}/calendar.ics")).status == 404
    assert (await sec.get(f"/api/halls/{org.halls['A']}/feed")).status == 409


async def test_calendars_are_private_and_not_stored_by_caches(clients, org):
    sec = await clients("sec_p")
    meeting = (await sec.post("/api/meetings", meeting_body(org))).body
    anonymous = await clients()
    for reply in (
        await sec.get(f"/api/meetings/{meeting['id']}/calendar.ics"),
        await anonymous.get(path_of(await feed_url(sec, org.halls["A"]))),
        await sec.get(f"/api/halls/{org.halls['A']}/calendar.ics"),
    ):
        assert reply.status == 200, reply.text
        icalendar.Calendar.from_ical(reply.text)
        assert reply.headers["Cache-Control"] == "private, no-store"


async def test_the_cli_rotates_a_feed_key(clients, org, settings, db_url, monkeypatch, capsys):
    sec = await clients("sec_p")
    anonymous = await clients()
    old = await feed_url(sec, org.halls["B"])
    monkeypatch.setenv("GIAOBAN_DATABASE_URL", db_url)
    monkeypatch.setenv("GIAOBAN_VAR_DIR", str(settings.var_dir))
    monkeypatch.delenv("GIAOBAN_PUBLIC_URL", raising=False)
    umask = os.umask(0o022)
    os.umask(umask)
    try:
        code = await asyncio.to_thread(main, ["rotate-feed-key", str(org.halls["B"])])
    finally:
        os.umask(umask)
    assert code == 0
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    assert urlsplit(printed).path == f"/api/halls/{org.halls['B']}/calendar.ics"
    assert (await anonymous.get(path_of(old))).status == 404
    assert (await anonymous.get(path_of(printed))).status == 200
    assert await feed_url(sec, org.halls["B"]) == f"{urlsplit(old)[0]}://{urlsplit(old)[1]}" + (
        path_of(printed)
    )
    unknown = await asyncio.to_thread(main, ["rotate-feed-key", "999999"])
    assert unknown == 2
