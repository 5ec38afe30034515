"""Who reads what in the archive, and the audit log of it: every request for a package's file
leaves a row naming the bytes sent (or why none were), refused attempts included; district
archivists see their own units' meetings and audit rows, and a meeting or package outside
their units answers exactly like one that does not exist; files are served with HTTP Range as
RFC 9110 says.

The packages are written straight into the store and the database (the whole path from a
live meeting to the archive is tests/recordings/test_archive.py)."""

from __future__ import annotations

import os
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from recordings import archive
from recordings.models import ArchivePackage
from rooms.localtime import LOCAL_TZ
from rooms.models import Meeting, RoleName, User, UserRole
from server.app import create_app, runner_options
from server.db import Database
from server.security import Passwords
from server.state import SERVICES
from tests.conftest import FAST_HASHER, PASSWORD, Org, meeting_body

pytestmark = pytest.mark.db

PDF = bytes((i * 7 + i // 251) % 256 for i in range(52311))
"""The "minutes" of every package: 52311 bytes, no two neighbouring bytes alike."""
SIZE = len(PDF)
FILE = "minutes.pdf"


async def add_archivist(db: Database, username: str, unit_id: int, *also: UserRole) -> str:
    """A district's archivist (with other roles ``also``); returns how the audit log names
    them."""
    async with db.session() as session:
        user = User(username=username, full_name=f"Lưu trữ {username}",
                    password_hash=FAST_HASHER.hash(PASSWORD),
                    roles=[UserRole(role=RoleName.ARCHIVIST, unit_id=unit_id), *also])  # fmt: skip
        session.add(user)
        await session.commit()
        return f"user:{user.id}"


async def archived_meeting(
    server: TestServer, db: Database, clients: Any, org: Org, unit: str
) -> tuple[int, int]:
    """A meeting of ``unit`` ("P", "A" or "B") with one package holding minutes.pdf."""
    sec = await clients("sec_p")
    chair = {"P": "chair_p", "A": "chair_a", "B": "chair_p"}[unit]
    guests = [org.halls["A1"]] if unit == "A" else []  # invited halls are the unit's own
    body = meeting_body(org, chair_hall_id=org.halls[unit], chair_user_id=org.users[chair],
                        invited_hall_ids=guests, title=f"Giao ban {unit}")  # fmt: skip
    created = await sec.post("/api/meetings", body)
    assert created.status == 201, created.text
    meeting_id = created.body["id"]
    key = archive.package_key(meeting_id, 1)
    with tempfile.TemporaryDirectory() as scratch:
        minutes = Path(scratch) / FILE
        minutes.write_bytes(PDF)
        manifest, _ = archive.manifest_bytes(
            meeting_id=meeting_id, version=1, title=body["title"], created_at=datetime.now(UTC),
            files={FILE: minutes}, retention_class="10y", dispose_after=None,
            minutes_version=None, previous=None,
        )  # fmt: skip
        (Path(scratch) / archive.MANIFEST).write_bytes(manifest)
        server.app[SERVICES].archive.store.put(
            key, {FILE: minutes, archive.MANIFEST: Path(scratch) / archive.MANIFEST}
        )
    async with db.session() as session:
        package = ArchivePackage(
            meeting_id=meeting_id, version=1, key=key, manifest_sha256="0" * 64, size=SIZE,
            retention_class="10y", integrity="ok", search_text=archive.fold(body["title"]),
        )  # fmt: skip
        session.add(package)
        await session.commit()
        return meeting_id, package.id


@pytest.fixture
async def district(server: TestServer, db: Database, clients: Any, org: Org) -> dict[str, Any]:
    """Meetings of districts A and B, each archived; archivists of A and of B."""
    arch_a = await add_archivist(db, "arch_a", org.units["A"])
    arch_b = await add_archivist(db, "arch_b", org.units["B"])
    meeting_a, package_a = await archived_meeting(server, db, clients, org, "A")
    meeting_b, package_b = await archived_meeting(server, db, clients, org, "B")
    return {"meeting_a": meeting_a, "package_a": package_a, "arch_a": arch_a,
            "meeting_b": meeting_b, "package_b": package_b, "arch_b": arch_b}  # fmt: skip


def file_url(package_id: int, name: str = FILE) -> str:
    return f"/api/archive/packages/{package_id}/files/{name}"


async def audit_rows(client: Any, **params: Any) -> list[dict[str, Any]]:
    reply = await client.get("/api/archive/audit", params=params)
    assert reply.status == 200, reply.text
    return list(reversed(reply.body))  # oldest first


# -- every request for a file is audited ---------------------------------------------------


async def test_every_request_for_a_file_leaves_an_audit_row_naming_the_bytes(
    clients: Any, org: Org, district: dict[str, Any]
) -> None:
    arch_a = await clients("arch_a")
    url = file_url(district["package_a"])
    asked = [
        ({}, 200, f"{FILE}: whole file, {SIZE} bytes"),
        # Ways around the old "only bytes=0- is a new download" rule, each the whole file:
        ({"Range": "bytes=-999999999"}, 206, f"{FILE}: bytes 0-{SIZE - 1}/{SIZE}"),
        ({"Range": "bytes=00-"}, 206, f"{FILE}: bytes 0-{SIZE - 1}/{SIZE}"),
        ({"Range": "bytes=0-1023"}, 206, f"{FILE}: bytes 0-1023/{SIZE}"),
        ({"Range": "bytes=1024-"}, 206, f"{FILE}: bytes 1024-{SIZE - 1}/{SIZE}"),
    ]
    for headers, status, _ in asked:
        reply = await arch_a.get(url, headers=headers)
        assert reply.status == status, (headers, reply.text)
    pieces = [
        (await arch_a.get(url, headers={"Range": "bytes=0-1023"})).data,
        (await arch_a.get(url, headers={"Range": "bytes=1024-"})).data,
    ]
    assert b"".join(pieces) == PDF

    arch = await clients("arch")
    rows = await audit_rows(arch, meeting_id=district["meeting_a"])
    downloads = [(r["action"], r["detail"]) for r in rows if r["action"] != "view"]
    assert downloads == [("download", d) for _, _, d in asked] + [
        ("download", f"{FILE}: bytes 0-1023/{SIZE}"),
        ("download", f"{FILE}: bytes 1024-{SIZE - 1}/{SIZE}"),
    ]
    assert {(r["actor"], r["actor_name"], r["package_id"]) for r in rows} == {
        (district["arch_a"], "Lưu trữ arch_a", district["package_a"])
    }


async def test_refused_downloads_are_audited_with_who_tried(
    clients: Any, org: Org, district: dict[str, Any]
) -> None:
    sec = await clients("sec_p")  # no archive role at all
    assert (await sec.get(file_url(district["package_a"]))).status == 403
    arch_b = await clients("arch_b")  # another district's archivist
    refused = await arch_b.get(file_url(district["package_a"]))
    assert refused.status == 404 and refused.body["error"]["code"] == "not_found"
    missing = await arch_b.get(file_url(999_999))
    assert (missing.status, missing.body) == (refused.status, refused.body)
    arch_a = await clients("arch_a")
    assert (await arch_a.get(file_url(district["package_a"], "secret.pdf"))).status == 404

    arch = await clients("arch")
    rows = [r for r in await audit_rows(arch) if r["action"] == "download_refused"]
    assert [(r["actor"], r["meeting_id"], r["package_id"], r["detail"]) for r in rows] == [
        (f"user:{org.users['sec_p']}", district["meeting_a"], district["package_a"],
         f"{FILE}: 403 forbidden"),
        (district["arch_b"], district["meeting_a"], district["package_a"],
         f"{FILE}: 404 not_found"),
        (district["arch_b"], None, 999_999, f"{FILE}: 404 not_found"),
        (district["arch_a"], district["meeting_a"], district["package_a"],
         "secret.pdf: 404 not_found"),
    ]  # fmt: skip
    assert rows[0]["actor_name"] == "Người dùng sec_p"
    assert rows[1]["actor_name"] == "Lưu trữ arch_b"
    assert rows[3]["actor_name"] == "Lưu trữ arch_a"


async def test_no_file_leaves_the_archive_when_its_audit_row_cannot_be_written(
    server: TestServer, clients: Any, org: Org, district: dict[str, Any]
) -> None:
    service = server.app[SERVICES].archive

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("the audit log's disk is full")

    arch_a = await clients("arch_a")
    service.audit = broken  # type: ignore[method-assign]
    # The connection closes before any header: not a byte of the file is sent.
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await arch_a.get(file_url(district["package_a"]))


# -- the archive and its audit log are scoped to the reader's units ------------------------


async def test_a_district_archivist_reads_only_its_own_units_audit_rows(
    clients: Any, org: Org, district: dict[str, Any]
) -> None:
    arch_a, arch_b, arch = [await clients(u) for u in ("arch_a", "arch_b", "arch")]
    assert (await arch_a.get(f"/api/archive/meetings/{district['meeting_a']}")).status == 200
    assert (await arch_b.get(f"/api/archive/meetings/{district['meeting_b']}")).status == 200
    assert (await arch_b.get(file_url(district["package_b"]))).status == 200
    assert (await arch_a.get("/api/archive/search", params={"q": "giao ban"})).status == 200

    mine = await audit_rows(arch_a)
    assert {r["meeting_id"] for r in mine} == {district["meeting_a"]}
    assert [r["action"] for r in mine] == ["view"]
    # B's meeting and a meeting that does not exist: the same answer.
    other = await arch_a.get("/api/archive/audit", params={"meeting_id": district["meeting_b"]})
    missing = await arch_a.get("/api/archive/audit", params={"meeting_id": 999_999})
    assert other.status == missing.status == 404
    assert other.body["error"]["message"].replace(str(district["meeting_b"]), "N") == (
        missing.body["error"]["message"].replace("999999", "N")
    )
    # The province's archivist reads everything, searches included.
    everything = await audit_rows(arch)
    assert [(r["action"], r["meeting_id"]) for r in everything] == [
        ("view", district["meeting_a"]), ("view", district["meeting_b"]),
        ("download", district["meeting_b"]), ("search", None),
    ]  # fmt: skip
    by_meeting = await audit_rows(arch, meeting_id=district["meeting_b"])
    assert [r["action"] for r in by_meeting] == ["view", "download"]


async def test_out_of_scope_meetings_and_packages_answer_like_missing_ones(
    clients: Any, org: Org, district: dict[str, Any]
) -> None:
    arch_a = await clients("arch_a")
    meeting_b, package_b = district["meeting_b"], district["package_b"]
    missing_meeting, missing_package = 999_999, 888_888
    routes = [
        ("GET", "/api/archive/meetings/{m}", None),
        ("GET", "/api/archive/audit?meeting_id={m}", None),
        ("GET", "/api/archive/packages/{p}/files/minutes.pdf", None),
        ("POST", "/api/archive/packages/{p}/verify", None),
        ("POST", "/api/archive/packages/{p}/hold", {"hold": True, "reason": "Thanh tra"}),
        ("POST", "/api/archive/packages/{p}/retention", {"retention_class": "20y"}),
        ("POST", "/api/archive/packages/{p}/dispose", {"reason": "Hết hạn"}),
    ]
    for method, path, body in routes:
        other = await arch_a.request(method, path.format(m=meeting_b, p=package_b), json=body)
        missing = await arch_a.request(
            method, path.format(m=missing_meeting, p=missing_package), json=body
        )
        assert other.status == missing.status == 404, (path, other.text, missing.text)
        assert other.text.replace(str(meeting_b), "N") == missing.text.replace(
            str(missing_meeting), "N"
        ), path
    # In its own district the archivist reads; changing retention stays the admin's.
    own = district["package_a"]
    assert (await arch_a.get(f"/api/archive/meetings/{district['meeting_a']}")).status == 200
    assert (await arch_a.post(f"/api/archive/packages/{own}/verify")).status == 200
    held = await arch_a.post(f"/api/archive/packages/{own}/hold", {"hold": True, "reason": "x1"})
    assert held.status == 403
    # Without the archivist's role, existing or not is not told apart either: 403 for both.
    sec = await clients("sec_p")
    for meeting_id in (meeting_b, missing_meeting):
        assert (await sec.get(f"/api/archive/meetings/{meeting_id}")).status == 403
    # The province's archivist and the admin read B's meeting.
    for username in ("arch", "admin"):
        reader = await clients(username)
        assert (await reader.get(f"/api/archive/meetings/{meeting_b}")).status == 200


async def test_search_and_tombstones_keep_to_the_archivists_units(
    clients: Any, org: Org, db: Database, district: dict[str, Any]
) -> None:
    # Archivist of A and secretariat of B: the archive is A's; B's meetings are not.
    await add_archivist(db, "arch_a_sec_b", org.units["A"],
                        UserRole(role=RoleName.SECRETARIAT, unit_id=org.units["B"]))  # fmt: skip
    for username in ("arch_a", "arch_a_sec_b"):
        reader = await clients(username)
        hits = (await reader.get("/api/archive/search", params={"q": "giao ban"})).body
        assert [h["meeting_id"] for h in hits] == [district["meeting_a"]], username
    arch = await clients("arch")
    hits = (await arch.get("/api/archive/search", params={"q": "giao ban"})).body
    assert {h["meeting_id"] for h in hits} == {district["meeting_a"], district["meeting_b"]}

    async with db.session() as session:
        package = await session.get(ArchivePackage, district["package_b"])
        assert package is not None
        package.dispose_after = datetime(2020, 1, 1, tzinfo=UTC)
        await session.commit()
    admin = await clients("admin")
    disposed = await admin.post(
        f"/api/archive/packages/{district['package_b']}/dispose", {"reason": "Hết hạn"}
    )
    assert disposed.status == 200, disposed.text
    for username, expected in (("arch_a", []), ("arch_a_sec_b", []),
                               ("arch_b", [district["meeting_b"]]),
                               ("arch", [district["meeting_b"]])):  # fmt: skip
        reader = await clients(username)
        tombstones = (await reader.get("/api/archive/tombstones")).body
        assert [t["meeting_id"] for t in tombstones] == expected, username


async def test_the_archive_finds_a_meeting_on_the_day_it_was_held(
    server: TestServer, db: Database, clients: Any, org: Org
) -> None:
    """Planned for five past midnight, started a quarter of an hour early: an archivist who
    looks for it by the day its hit shows (when it was held) finds it, and not on the next
    day, when it did not happen. (The search used the planned times: CI met it at 23:5x.)"""
    meeting_id, _ = await archived_meeting(server, db, clients, org, "P")
    day = (datetime.now(LOCAL_TZ) + timedelta(days=3)).date()
    midnight = datetime.combine(day + timedelta(days=1), dt_time(0, 0), LOCAL_TZ)
    async with db.session() as session:
        meeting = await session.get(Meeting, meeting_id)
        assert meeting is not None
        meeting.start_at = midnight + timedelta(minutes=5)
        meeting.end_at = midnight + timedelta(hours=1)
        meeting.started_at = midnight - timedelta(minutes=10)
        meeting.ended_at = midnight - timedelta(minutes=2)
        await session.commit()
    arch = await clients("arch")

    async def found_on(d: date) -> list[int]:
        window = {
            "from": f"{d.isoformat()}T00:00",
            "to": f"{(d + timedelta(days=1)).isoformat()}T00:00",
        }
        reply = await arch.get("/api/archive/search", params=window)
        assert reply.status == 200, reply.text
        return [hit["meeting_id"] for hit in reply.body]

    assert await found_on(day) == [meeting_id]
    assert await found_on(day + timedelta(days=1)) == []


async def test_a_disposal_a_crash_cut_short_is_finished_at_the_next_start(
    server, db, clients, org, settings, clock, throttle, monkeypatch
):
    """The disposal is recorded (its tombstone listing the files) before the files go; the
    server dies in between (here: the delete fails as a crash would leave it): the next start
    deletes the files of the disposed package."""
    meeting_id, package_id = await archived_meeting(server, db, clients, org, "P")
    async with db.session() as session:
        package = await session.get(ArchivePackage, package_id)
        assert package is not None
        package.dispose_after = datetime(2020, 1, 1, tzinfo=UTC)
        await session.commit()
    store = server.app[SERVICES].archive.store
    key = archive.package_key(meeting_id, 1)

    def dies(_key: str) -> None:
        raise OSError("the server died here")

    monkeypatch.setattr(store, "delete", dies)
    admin = await clients("admin")
    disposed = await admin.post(
        f"/api/archive/packages/{package_id}/dispose", {"reason": "Hết hạn"}
    )
    assert disposed.status == 200, disposed.text
    tombstones = (await admin.get("/api/archive/tombstones")).body
    assert [f["name"] for f in tombstones[0]["files"]] == [FILE]
    assert store.exists(key)

    app = create_app(settings, passwords=Passwords(FAST_HASHER), clock=clock, throttle=throttle)
    restarted = TestServer(app)
    await restarted.start_server(**runner_options())
    await restarted.close()  # after its catch-up at the start (a stop lets it finish)
    assert not store.exists(key)
    assert (await admin.get(file_url(package_id))).status == 404


async def test_packages_a_crash_left_half_written_are_deleted_at_the_next_start(
    server, settings, clock, throttle
):
    """A put cut short leaves a directory in ``.incoming/`` (a meeting's recordings half
    copied); the next start deletes those hours old, not one that may be another node's
    write under way."""
    incoming = settings.archive_dir / ".incoming"
    old, young = incoming / "0ld", incoming / "y0ung"
    for directory in (old, young):
        directory.mkdir(parents=True)
        (directory / "composite.mp4").write_bytes(b"\0" * 4096)
    hours_ago = time.time() - 7 * 3600
    os.utime(old, (hours_ago, hours_ago))

    app = create_app(settings, passwords=Passwords(FAST_HASHER), clock=clock, throttle=throttle)
    restarted = TestServer(app)
    await restarted.start_server(**runner_options())
    await restarted.close()  # after its catch-up at the start (a stop lets it finish)
    assert sorted(p.name for p in incoming.iterdir()) == ["y0ung"]


# -- HTTP Range as RFC 9110 says -----------------------------------------------------------

WHOLE = slice(None)
OLD_DATE = format_datetime(datetime(2020, 1, 1, tzinfo=UTC), usegmt=True)
UNSATISFIABLE = f"bytes */{SIZE}"
RANGE_CASES = [
    # name, Range, If-Range, status, the bytes sent, Content-Range
    ("first-ten", "bytes=0-9", None, 206, slice(0, 10), f"bytes 0-9/{SIZE}"),
    ("suffix", "bytes=-10", None, 206, slice(SIZE - 10, None),
     f"bytes {SIZE - 10}-{SIZE - 1}/{SIZE}"),
    ("last-past-the-end", "bytes=0-999999999", None, 206, WHOLE, f"bytes 0-{SIZE - 1}/{SIZE}"),
    ("empty-suffix", "bytes=-0", None, 416, None, UNSATISFIABLE),
    ("start-at-the-end", f"bytes={SIZE}-", None, 416, None, UNSATISFIABLE),
    ("start-past-the-end", f"bytes={SIZE + 5}-{SIZE + 9}", None, 416, None, UNSATISFIABLE),
    # Ignored: the whole file.
    ("other-unit", "items=0-5", None, 200, WHOLE, None),
    ("multi-range", "bytes=0-1,5-9", None, 200, WHOLE, None),
    ("unparseable", "bytes=abc", None, 200, WHOLE, None),
    ("last-before-first", "bytes=9-0", None, 200, WHOLE, None),
    ("no-equals-sign", "bytes 0-9", None, 200, WHOLE, None),
    ("bare-dash", "bytes=-", None, 200, WHOLE, None),
    # If-Range: the file's strong ETag or its exact Last-Modified keep the range; anything
    # else gets the whole file, even past a range that could not be satisfied.
    ("if-range-etag", "bytes=0-9", "{etag}", 206, slice(0, 10), f"bytes 0-9/{SIZE}"),
    ("if-range-date", "bytes=0-9", "{modified}", 206, slice(0, 10), f"bytes 0-9/{SIZE}"),
    ("if-range-other-etag", "bytes=0-9", '"not-the-etag"', 200, WHOLE, None),
    ("if-range-weak-etag", "bytes=0-9", "W/{etag}", 200, WHOLE, None),
    ("if-range-other-date", "bytes=0-9", OLD_DATE, 200, WHOLE, None),
    ("if-range-nonsense", "bytes=0-9", "yesterday", 200, WHOLE, None),
    ("if-range-unsatisfiable", "bytes=-0", '"not-the-etag"', 200, WHOLE, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("asked", "if_range", "status", "sent", "content_range"),
    [pytest.param(*case[1:], id=case[0]) for case in RANGE_CASES],
)
async def test_range_requests_follow_rfc_9110(
    clients: Any,
    district: dict[str, Any],
    asked: str,
    if_range: str | None,
    status: int,
    sent: slice | None,
    content_range: str | None,
) -> None:
    arch_a = await clients("arch_a")
    url = file_url(district["package_a"])
    whole = await arch_a.get(url)
    headers = {"Range": asked}
    if if_range is not None:
        validators = {"etag": whole.headers["ETag"], "modified": whole.headers["Last-Modified"]}
        headers["If-Range"] = if_range.format(**validators)
    reply = await arch_a.get(url, headers=headers)
    assert reply.status == status, reply.text
    assert reply.data == (PDF[sent] if sent is not None else b"")
    assert reply.headers.get("Content-Range") == content_range
    # Its own audit row: what was sent, or the refused range.
    rows = await audit_rows(await clients("arch"), meeting_id=district["meeting_a"])
    assert len(rows) == 2
    if status == 416:
        expected = ("download_refused", f"{FILE}: range not satisfiable (416): {asked!r}, "
                    f"{content_range}")  # fmt: skip
    elif status == 206:
        expected = ("download", f"{FILE}: {content_range}")
    else:
        expected = ("download", f"{FILE}: whole file, {SIZE} bytes")
    assert (rows[1]["action"], rows[1]["detail"]) == expected


async def test_files_keep_their_headers_and_aiohttps_preconditions(
    clients: Any, district: dict[str, Any]
) -> None:
    arch_a = await clients("arch_a")
    url = file_url(district["package_a"])
    whole = await arch_a.get(url)
    part = await arch_a.get(url, headers={"Range": "bytes=0-9"})
    for reply in (whole, part):
        assert reply.headers["Accept-Ranges"] == "bytes"
        assert reply.headers["Content-Type"] == "application/pdf"
        assert reply.headers["Cache-Control"] == "private, no-transform"
        assert reply.headers["X-Content-Type-Options"] == "nosniff"  # the middleware's
        assert reply.headers["ETag"] == whole.headers["ETag"]
    not_modified = await arch_a.get(url, headers={"If-None-Match": whole.headers["ETag"]})
    assert not_modified.status == 304
    failed = await arch_a.get(url, headers={"If-Match": '"not-the-etag"', "Range": "bytes=0-9"})
    assert failed.status == 412
    rows = await audit_rows(await clients("arch"), meeting_id=district["meeting_a"])
    assert [(r["action"], r["detail"]) for r in rows[2:]] == [
        ("download", f"{FILE}: not modified (304): the client's copy is current"),
        ("download_refused", f"{FILE}: 412 Precondition Failed"),
    ]
