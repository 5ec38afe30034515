"""Contract tests of scheduling meetings through the REST API."""

from __future__ import annotations

from datetime import datetime, timedelta

from rooms.localtime import LOCAL_TZ
from tests.conftest import local, meeting_body


async def test_secretariat_creates_a_meeting_and_reads_it_back_in_local_time(clients, org):
    sec = await clients("sec_p")
    body = meeting_body(org, days=3, at=(8, 10))
    created = await sec.post("/api/meetings", body)
    assert created.status == 201, created.text
    meeting = created.body
    assert meeting["start"] == body["start"] + ":00+07:00"
    assert meeting["end"] == body["end"] + ":00+07:00"
    assert meeting["state"] == "scheduled"
    assert meeting["chair_hall"]["id"] == org.halls["P"]
    assert {h["id"] for h in meeting["halls"]} == {org.halls[k] for k in "PAB"}
    assert [a["title"] for a in meeting["agenda"]] == ["Tình hình kinh tế", "Kết luận"]
    assert [a["position"] for a in meeting["agenda"]] == [1, 2]

    again = await sec.get(f"/api/meetings/{meeting['id']}")
    assert again.status == 200
    assert again.body == meeting


async def test_time_zone_round_trip_stores_utc_and_shows_ho_chi_minh(clients, org, db):
    sec = await clients("sec_p")
    # Given in UTC, shown in Asia/Ho_Chi_Minh: 01:00Z is 08:00 local.
    day = (datetime.now(LOCAL_TZ) + timedelta(days=5)).date()
    body = meeting_body(org, start=f"{day}T01:00:00Z", end=f"{day}T02:30:00+00:00")
    created = await sec.post("/api/meetings", body)
    assert created.status == 201, created.text
    assert created.body["start"] == f"{day}T08:00:00+07:00"
    assert created.body["end"] == f"{day}T09:30:00+07:00"
    async with db.engine.connect() as conn:
        import sqlalchemy as sa

        stored = (
            await conn.execute(
                sa.text("SELECT start_at FROM meetings WHERE id = :i"), {"i": created.body["id"]}
            )
        ).scalar_one()
    stored = stored if isinstance(stored, datetime) else datetime.fromisoformat(stored)
    assert stored.replace(tzinfo=None) == datetime.fromisoformat(f"{day}T01:00:00")


async def test_list_by_date_range_unit_and_hall(clients, org):
    sec = await clients("sec_p")
    first = await sec.post(
        "/api/meetings", meeting_body(org, days=2, invited_hall_ids=[org.halls["A"]])
    )
    second = await sec.post(
        "/api/meetings",
        meeting_body(org, days=4, title="Họp B", invited_hall_ids=[org.halls["B"]]),
    )
    assert first.status == second.status == 201
    window = {"from": local(0, 0), "to": local(10, 0)}
    everything = await sec.get("/api/meetings", params=window)
    assert [m["id"] for m in everything.body] == [first.body["id"], second.body["id"]]

    only_early = await sec.get("/api/meetings", params={"from": local(0, 0), "to": local(3, 0)})
    assert [m["id"] for m in only_early.body] == [first.body["id"]]

    by_hall = await sec.get("/api/meetings", params={**window, "hall_id": org.halls["B"]})
    assert [m["id"] for m in by_hall.body] == [second.body["id"]]

    by_unit = await sec.get("/api/meetings", params={**window, "unit_id": org.units["A"]})
    assert [m["id"] for m in by_unit.body] == [first.body["id"]]


async def test_update_changes_fields_and_bumps_sequence(clients, org):
    sec = await clients("sec_p")
    created = (await sec.post("/api/meetings", meeting_body(org))).body
    changed = await sec.patch(
        f"/api/meetings/{created['id']}",
        {
            "title": "Giao ban tháng",
            "start": local(3, 9),
            "end": local(3, 11),
            "agenda": [{"title": "Một mục"}],
        },
    )
    assert changed.status == 200, changed.text
    assert changed.body["title"] == "Giao ban tháng"
    assert changed.body["start"].startswith(local(3, 9))
    assert [a["title"] for a in changed.body["agenda"]] == ["Một mục"]
    assert changed.body["sequence"] == created["sequence"] + 1
    assert changed.body["description"] == created["description"]


async def test_cancel_then_cancelled_meeting_cannot_change(clients, org):
    sec = await clients("sec_p")
    created = (await sec.post("/api/meetings", meeting_body(org))).body
    cancelled = await sec.post(f"/api/meetings/{created['id']}/cancel", {"reason": "Bão"})
    assert cancelled.status == 200
    assert cancelled.body["state"] == "cancelled"
    assert cancelled.body["cancel_reason"] == "Bão"
    again = await sec.patch(f"/api/meetings/{created['id']}", {"title": "x"})
    assert again.status == 409
    assert again.body["error"]["code"] == "invalid_state"


async def test_chair_starts_and_ends_within_the_window(clients, org, clock):
    sec = await clients("sec_p")
    chair = await clients("chair_p")
    created = (await sec.post("/api/meetings", meeting_body(org, days=1, at=(8, 10)))).body
    early = await chair.post(f"/api/meetings/{created['id']}/start")
    assert early.status == 409
    assert "08:00" in early.body["error"]["message"]

    start = datetime.fromisoformat(created["start"])
    clock.offset = start - datetime.now(LOCAL_TZ) - timedelta(minutes=10)
    started = await chair.post(f"/api/meetings/{created['id']}/start")
    assert started.status == 200, started.text
    assert started.body["state"] == "live"
    assert started.body["started_at"] is not None

    not_cancellable = await sec.post(f"/api/meetings/{created['id']}/cancel", {})
    assert not_cancellable.status == 409

    ended = await chair.post(f"/api/meetings/{created['id']}/end")
    assert ended.status == 200
    assert ended.body["state"] == "ended"
    twice = await chair.post(f"/api/meetings/{created['id']}/end")
    assert twice.status == 409


async def test_live_meeting_keeps_its_start_and_halls(clients, org, clock):
    sec = await clients("sec_p")
    admin = await clients("admin")
    created = (await sec.post("/api/meetings", meeting_body(org, days=1))).body
    clock.offset = datetime.fromisoformat(created["start"]) - datetime.now(LOCAL_TZ)
    assert (await admin.post(f"/api/meetings/{created['id']}/start")).status == 200
    moved = await sec.patch(f"/api/meetings/{created['id']}", {"start": local(1, 7)})
    assert moved.status == 409
    assert moved.body["error"]["field"] == "start"
    extended = await sec.patch(f"/api/meetings/{created['id']}", {"end": local(1, 11)})
    assert extended.status == 200, extended.text


async def test_meeting_in_the_past_is_refused(clients, org):
    sec = await clients("sec_p")
    reply = await sec.post("/api/meetings", meeting_body(org, days=-2))
    assert reply.status == 422
    assert reply.body["error"]["field"] == "end"


async def test_unknown_meeting_is_404_with_a_message(clients):
    sec = await clients("sec_p")
    reply = await sec.get("/api/meetings/999999")
    assert reply.status == 404
    assert reply.body["error"]["code"] == "not_found"
