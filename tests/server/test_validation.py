"""Bad input gets a 4xx naming the field, never a 500, and loses nothing."""

from __future__ import annotations

import pytest

from tests.conftest import meeting_body


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": 123}, "title"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"description": "x" * 5001}, "description"),
        ({"start": "ngày mai"}, "start"),
        ({"start": "2027-13-40T08:00"}, "start"),
        ({"chair_hall_id": "hội trường"}, "chair_hall_id"),
        ({"chair_hall_id": -1}, "chair_hall_id"),
        ({"chair_hall_id": 10**12}, "chair_hall_id"),
        ({"invited_hall_ids": "1,2"}, "invited_hall_ids"),
        ({"invited_hall_ids": [1] * 501}, "invited_hall_ids"),
        ({"agenda": [{"title": "Mục", "planned_minutes": -5}]}, "agenda.0.planned_minutes"),
        ({"agenda": [{"presenter": "Ai"}]}, "agenda.0.title"),
        ({"auto_record": "có lẽ"}, "auto_record"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_wrong_value_is_422_naming_the_field(clients, org, change, field):
    sec = await clients("sec_p")
    reply = await sec.post("/api/meetings", {**meeting_body(org), **change})
    assert reply.status == 422, reply.text
    assert reply.body["error"]["code"] == "validation"
    assert reply.body["error"]["field"] == field
    assert field.split(".")[0] in reply.body["error"]["message"]


async def test_end_before_start_names_end(clients, org):
    sec = await clients("sec_p")
    body = meeting_body(org, at=(10, 8))
    reply = await sec.post("/api/meetings", body)
    assert reply.status == 422
    assert reply.body["error"]["field"] == "end"
    assert "after start" in reply.body["error"]["message"]


async def test_a_meeting_longer_than_a_day_is_refused(clients, org):
    sec = await clients("sec_p")
    body = meeting_body(org)
    body["end"] = body["end"].replace(body["end"][:10], "2099-01-01")
    reply = await sec.post("/api/meetings", body)
    assert reply.status == 422
    assert reply.body["error"]["field"] == "end"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"invited_hall_ids": [999999]}, "invited_hall_ids"),
        ({"chair_hall_id": 999999}, "chair_hall_id"),
        ({"chair_user_id": 999999}, "chair_user_id"),
        ({"unit_id": 999999}, "unit_id"),
    ],
)
async def test_unknown_reference_is_422_naming_the_field(clients, org, change, field):
    sec = await clients("sec_p")
    reply = await sec.post("/api/meetings", {**meeting_body(org), **change})
    assert reply.status == 422, reply.text
    assert reply.body["error"]["code"] == "invalid"
    assert reply.body["error"]["field"] == field


async def test_chair_who_is_not_a_chair_of_the_unit_is_refused(clients, org):
    sec = await clients("sec_p")
    reply = await sec.post("/api/meetings", meeting_body(org, chair_user_id=org.users["chair_a"]))
    assert reply.status == 422
    assert reply.body["error"]["field"] == "chair_user_id"


async def test_district_secretariat_cannot_invite_another_districts_hall(clients, org):
    sec_a = await clients("sec_a")
    body = meeting_body(
        org,
        chair_hall_id=org.halls["A"],
        chair_user_id=org.users["chair_a"],
        invited_hall_ids=[org.halls["A1"], org.halls["B"]],
    )
    reply = await sec_a.post("/api/meetings", body)
    assert reply.status == 422
    assert reply.body["error"]["field"] == "invited_hall_ids"
    assert "Điểm cầu Huyện B" in reply.body["error"]["message"]


async def test_malformed_json_is_400_and_the_connection_stays_usable(clients, org):
    sec = await clients("sec_p")
    reply = await sec.request(
        "POST", "/api/meetings", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert reply.status == 400
    assert reply.body["error"]["code"] == "bad_json"
    assert (await sec.post("/api/meetings", meeting_body(org))).status == 201


async def test_body_that_is_not_json_is_415(clients):
    sec = await clients("sec_p")
    reply = await sec.request("POST", "/api/meetings", data="title=x")
    assert reply.status == 415
    assert reply.body["error"]["code"] == "unsupported_media_type"


async def test_oversized_body_is_413(clients, org):
    sec = await clients("sec_p")
    body = {**meeting_body(org), "description": "x" * (2 * 1024 * 1024)}
    reply = await sec.post("/api/meetings", body)
    assert reply.status == 413
    assert reply.body["error"]["code"] == "too_large"


async def test_json_list_instead_of_object_is_422(clients):
    sec = await clients("sec_p")
    reply = await sec.post("/api/meetings", [1, 2, 3])
    assert reply.status == 422


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "hôm qua"}, "from"),
        ({"hall_id": "abc"}, "hall_id"),
        ({"state": "sleeping"}, "state"),
        ({"from": "2027-01-10", "to": "2027-01-01"}, "to"),
        ({"from": "2027-01-01", "to": "2029-01-01"}, "to"),
        ({"bogus": "1"}, "bogus"),
    ],
)
async def test_bad_query_parameter_is_422_naming_it(clients, params, field):
    sec = await clients("sec_p")
    reply = await sec.get("/api/meetings", params=params)
    assert reply.status == 422, reply.text
    assert reply.body["error"]["field"] == field


async def test_non_numeric_id_in_path_is_404_json(clients):
    sec = await clients("sec_p")
    reply = await sec.get("/api/meetings/abc")
    assert reply.status == 404
    assert reply.body["error"]["code"] == "not_found"


async def test_wrong_method_is_405_json(clients):
    sec = await clients("sec_p")
    reply = await sec.request("PUT", "/api/meetings")
    assert reply.status == 405
    assert reply.body["error"]["code"] == "method_not_allowed"


async def test_refused_change_leaves_the_meeting_as_it_was(clients, org):
    sec = await clients("sec_p")
    created = (await sec.post("/api/meetings", meeting_body(org))).body
    bad = await sec.patch(
        f"/api/meetings/{created['id']}", {"title": "Mới", "invited_hall_ids": [999999]}
    )
    assert bad.status == 422
    after = await sec.get(f"/api/meetings/{created['id']}")
    assert after.body == created
