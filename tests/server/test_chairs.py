"""Who may chair a unit's meetings: the choice a secretariat's meeting editor offers."""

from __future__ import annotations

import pytest


async def test_a_secretariat_sees_the_chairs_over_its_unit(clients, org):
    sec_a = await clients("sec_a")
    reply = await sec_a.get(f"/api/units/{org.units['A']}/chairs")
    assert reply.status == 200, reply.text
    assert [u["id"] for u in reply.body] == [org.users["chair_a"], org.users["chair_p"]]
    assert set(reply.body[0]) == {"id", "full_name"}  # names only, no roles or usernames
    sec_p = await clients("sec_p")
    reply = await sec_p.get(f"/api/units/{org.units['P']}/chairs")
    assert [u["id"] for u in reply.body] == [org.users["chair_p"]]  # chair_a is below P


@pytest.mark.parametrize(
    ("who", "status"),
    [(None, 401), ("terminal", 403), ("chair_p", 403), ("sec_b", 404), ("admin", 200)],
)
async def test_only_the_units_secretariat_lists_its_chairs(clients, org, who, status):
    if who == "terminal":
        client = await clients(terminal="A")
    else:
        client = await clients(who)
    reply = await client.get(f"/api/units/{org.units['A']}/chairs")
    assert reply.status == status, reply.text
