"""The permission matrix: each kind of actor against each kind of action.

A secretariat manages its own unit and the units below it; a chair starts and ends the
meetings it chairs; an archivist reads; a terminal reads its own hall's meetings; an admin
does everything. 401 means "log in", 403 "logged in without the role", 404 "not yours to see"
(a secretariat of district B is not told what district A's halls are).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import Org, meeting_body

ACTORS = ["anonymous", "terminal", "admin", "sec_p", "sec_a", "sec_b", "chair_p", "arch"]

# action: expected status per actor, in the order of ACTORS
MATRIX: dict[str, list[int]] = {
    #                        anon term adm  sec_p sec_a sec_b chair arch
    "list_meetings":        [401, 200, 200, 200, 200, 200, 200, 200],
    "read_meeting":         [401, 200, 200, 200, 200, 200, 200, 200],
    "create_province_mtg":  [401, 403, 201, 201, 403, 403, 403, 403],
    "create_district_mtg":  [401, 403, 201, 201, 201, 403, 403, 403],
    "update_province_mtg":  [401, 403, 200, 200, 403, 403, 403, 403],
    "cancel_province_mtg":  [401, 403, 200, 200, 403, 403, 403, 403],
    "start_province_mtg":   [401, 403, 200, 403, 403, 403, 200, 403],
    "create_hall_in_a":     [401, 403, 201, 201, 201, 403, 403, 403],
    "pair_terminal_in_a":   [401, 403, 201, 201, 201, 404, 403, 403],
    "revoke_terminal_of_a": [401, 403, 200, 200, 200, 404, 403, 403],
    "create_unit_under_a":  [401, 403, 201, 201, 201, 403, 403, 403],
    "list_users":           [401, 403, 200, 403, 403, 403, 403, 403],
    "create_user":          [401, 403, 201, 403, 403, 403, 403, 403],
    "hall_feed_url":        [401, 403, 200, 200, 200, 404, 200, 200],
}  # fmt: skip


async def _act(action: str, client: Any, org: Org, meeting: dict[str, Any]) -> int:
    mid = meeting["id"]
    district = meeting_body(
        org,
        days=5,
        chair_hall_id=org.halls["A"],
        chair_user_id=org.users["chair_p"],
        invited_hall_ids=[org.halls["A1"]],
    )
    requests: dict[str, tuple[str, str, Any]] = {
        "list_meetings": ("GET", "/api/meetings", None),
        "read_meeting": ("GET", f"/api/meetings/{mid}", None),
        "create_province_mtg": ("POST", "/api/meetings", meeting_body(org, days=6)),
        "create_district_mtg": ("POST", "/api/meetings", district),
        "update_province_mtg": ("PATCH", f"/api/meetings/{mid}", {"title": "Đổi tên"}),
        "cancel_province_mtg": ("POST", f"/api/meetings/{mid}/cancel", {"reason": "thử"}),
        "start_province_mtg": ("POST", f"/api/meetings/{mid}/start", None),
        "create_hall_in_a": ("POST", "/api/halls", {"unit_id": org.units["A"], "name": "Phòng 2"}),
        "pair_terminal_in_a": ("POST", f"/api/halls/{org.halls['A']}/terminals", {}),
        "revoke_terminal_of_a": ("POST", f"/api/terminals/{org.terminal_ids['A1']}/revoke", None),
        "create_unit_under_a": (
            "POST", "/api/units", {"parent_id": org.units["A"], "name": "Xã A2", "code": "A2"}
        ),
        "list_users": ("GET", "/api/users", None),
        "create_user": (
            "POST",
            "/api/users",
            {"username": "moi", "full_name": "Người mới", "password": "mật khẩu đủ dài",
             "roles": [{"role": "archivist", "unit_id": org.units["P"]}]},
        ),
        "hall_feed_url": ("GET", f"/api/halls/{org.halls['A']}/feed", None),
    }  # fmt: skip
    method, path, body = requests[action]
    reply = await client.request(method, path, json=body)
    assert reply.status < 500, reply.text
    if reply.status in (401, 403):
        assert reply.body["error"]["code"] in ("unauthenticated", "forbidden")
        assert reply.body["error"]["message"]
    return reply.status


CASES = [
    pytest.param(action, actor, expected[i], id=f"{action}-{actor}")
    for action, expected in MATRIX.items()
    for i, actor in enumerate(ACTORS)
]


@pytest.mark.parametrize(("action", "actor", "expected"), CASES)
async def test_permission_matrix(clients, org, clock, action, actor, expected):
    sec = await clients("sec_p")
    created = await sec.post("/api/meetings", meeting_body(org, days=1))
    assert created.status == 201
    clock.offset = datetime.fromisoformat(created.body["start"]) - datetime.now(UTC)
    if actor == "anonymous":
        client = await clients()
    elif actor == "terminal":
        client = await clients(terminal="A")
    else:
        client = await clients(actor)
    assert await _act(action, client, org, created.body) == expected


async def test_forbidden_says_which_role_is_needed(clients, org):
    sec_a = await clients("sec_a")
    reply = await sec_a.post("/api/meetings", meeting_body(org))
    assert reply.status == 403
    error = reply.body["error"]
    assert error["required_role"] == "secretariat"
    assert "Tỉnh P" in error["message"]


async def test_meeting_of_another_district_is_invisible(clients, org):
    sec_p = await clients("sec_p")
    b_only = meeting_body(
        org, chair_hall_id=org.halls["B"], invited_hall_ids=[], title="Chỉ huyện B"
    )
    created = (await sec_p.post("/api/meetings", b_only)).body
    sec_a = await clients("sec_a")
    assert (await sec_a.get(f"/api/meetings/{created['id']}")).status == 404
    listed = await sec_a.get(
        "/api/meetings", params={"from": created["start"], "to": created["end"]}
    )
    assert listed.body == []


async def test_chair_of_another_meeting_cannot_start_it(clients, org, clock):
    sec = await clients("sec_p")
    created = (await sec.post("/api/meetings", meeting_body(org, days=1))).body
    clock.offset = datetime.fromisoformat(created["start"]) - datetime.now(UTC)
    other_chair = await clients("chair_a")
    reply = await other_chair.post(f"/api/meetings/{created['id']}/start")
    assert reply.status == 403
    assert "Người dùng chair_p" in reply.body["error"]["message"]
