"""A hall cannot be in two overlapping meetings."""

from __future__ import annotations

from tests.conftest import local, meeting_body


async def test_overlapping_meeting_in_a_shared_hall_is_409_naming_meeting_and_hall(clients, org):
    sec = await clients("sec_p")
    first = (await sec.post("/api/meetings", meeting_body(org, at=(8, 10)))).body
    clash = await sec.post(
        "/api/meetings",
        meeting_body(org, at=(9, 11), title="Họp khác", invited_hall_ids=[org.halls["B"]]),
    )
    assert clash.status == 409, clash.text
    error = clash.body["error"]
    assert error["code"] == "conflict"
    named = {(c["meeting_id"], c["hall_id"]) for c in error["conflicts"]}
    # The chair hall P and the invited hall B are both in the first meeting.
    assert named == {(first["id"], org.halls["P"]), (first["id"], org.halls["B"])}
    assert "Giao ban tuần" in error["message"]
    assert all(c["title"] == "Giao ban tuần" for c in error["conflicts"])


async def test_meetings_that_touch_are_not_conflicts(clients, org):
    sec = await clients("sec_p")
    assert (await sec.post("/api/meetings", meeting_body(org, at=(8, 10)))).status == 201
    after = await sec.post("/api/meetings", meeting_body(org, at=(10, 12), title="Sau"))
    before = await sec.post("/api/meetings", meeting_body(org, at=(6, 8), title="Trước"))
    assert after.status == 201, after.text
    assert before.status == 201, before.text


async def test_different_halls_at_the_same_time_are_fine(clients, org):
    sec_p = await clients("sec_p")
    a_only = meeting_body(
        org, chair_hall_id=org.halls["A"], chair_user_id=org.users["chair_p"], invited_hall_ids=[]
    )
    b_only = meeting_body(
        org, chair_hall_id=org.halls["B"], chair_user_id=org.users["chair_p"], invited_hall_ids=[]
    )
    assert (await sec_p.post("/api/meetings", a_only)).status == 201
    assert (await sec_p.post("/api/meetings", b_only)).status == 201


async def test_cancelled_meeting_frees_its_halls(clients, org):
    sec = await clients("sec_p")
    first = (await sec.post("/api/meetings", meeting_body(org))).body
    assert (await sec.post(f"/api/meetings/{first['id']}/cancel", {})).status == 200
    again = await sec.post("/api/meetings", meeting_body(org, title="Thay thế"))
    assert again.status == 201, again.text


async def test_moving_a_meeting_onto_another_is_409_and_changes_nothing(clients, org):
    sec = await clients("sec_p")
    first = (await sec.post("/api/meetings", meeting_body(org, at=(8, 10)))).body
    second = (await sec.post("/api/meetings", meeting_body(org, at=(14, 16), title="Chiều"))).body
    moved = await sec.patch(
        f"/api/meetings/{second['id']}", {"start": local(3, 9), "end": local(3, 11)}
    )
    assert moved.status == 409
    assert {c["meeting_id"] for c in moved.body["error"]["conflicts"]} == {first["id"]}
    unchanged = await sec.get(f"/api/meetings/{second['id']}")
    assert unchanged.body["start"] == second["start"]


async def test_a_meeting_does_not_conflict_with_itself_when_edited(clients, org):
    sec = await clients("sec_p")
    first = (await sec.post("/api/meetings", meeting_body(org, at=(8, 10)))).body
    moved = await sec.patch(f"/api/meetings/{first['id']}", {"end": local(3, 11)})
    assert moved.status == 200, moved.text


async def test_inviting_a_busy_hall_later_is_409(clients, org):
    sec = await clients("sec_p")
    busy = meeting_body(org, chair_hall_id=org.halls["A"], invited_hall_ids=[], title="Họp huyện A")
    assert (await sec.post("/api/meetings", busy)).status == 201
    mine = (
        await sec.post("/api/meetings", meeting_body(org, invited_hall_ids=[org.halls["B"]]))
    ).body
    add_a = await sec.patch(
        f"/api/meetings/{mine['id']}", {"invited_hall_ids": [org.halls["A"], org.halls["B"]]}
    )
    assert add_a.status == 409
    assert add_a.body["error"]["conflicts"][0]["hall_name"] == "Điểm cầu Huyện A"


async def test_concurrent_requests_for_one_slot_book_it_once(clients, org):
    import asyncio

    a, b = await clients("sec_p"), await clients("sec_p")
    replies = await asyncio.gather(
        a.post("/api/meetings", meeting_body(org, title="Một")),
        b.post("/api/meetings", meeting_body(org, title="Hai")),
    )
    assert sorted(r.status for r in replies) == [201, 409]
