"""Monitoring, the OpenAPI document, and logs that say what happened without secrets."""

from __future__ import annotations

import logging

from yarl import URL

from server.api.routing import Auth
from server.app import ENDPOINTS
from tests.conftest import meeting_body


async def test_health_reports_database_and_version(clients):
    anonymous = await clients()
    reply = await anonymous.get("/api/health")
    assert reply.status == 200
    assert reply.body["status"] == "ok"
    assert reply.body["database"] == "ok"
    assert reply.body["version"]
    assert reply.body["time"].endswith("+07:00")


async def test_health_is_503_when_the_database_is_gone(clients, server):
    from server.state import SERVICES

    services = server.app[SERVICES]
    original = services.db.ping

    async def broken() -> None:
        raise ConnectionError("database went away")

    services.db.ping = broken  # type: ignore[method-assign]
    try:
        reply = await (await clients()).get("/api/health")
    finally:
        services.db.ping = original  # type: ignore[method-assign]
    assert reply.status == 503
    assert reply.body["database"] == "unreachable"


async def test_openapi_describes_every_endpoint(clients):
    reply = await (await clients()).get("/api/openapi.json")
    assert reply.status == 200
    document = reply.body
    assert document["openapi"].startswith("3.")
    for ep in ENDPOINTS:
        operation = document["paths"][ep.path][ep.method.lower()]
        assert operation["summary"]
        assert operation["responses"]
        if ep.auth is not Auth.PUBLIC:
            assert "401" in operation["responses"]
    create = document["paths"]["/api/meetings"]["post"]
    schema_ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    meeting_in = document["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert {"title", "start", "end", "chair_hall_id"} <= set(meeting_in["required"])
    params = {p["name"] for p in document["paths"]["/api/meetings"]["get"]["parameters"]}
    assert {"from", "to", "unit_id", "hall_id"} <= params


async def test_every_ref_in_the_openapi_document_resolves(clients):
    document = (await (await clients()).get("/api/openapi.json")).body
    refs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    assert refs
    for ref in refs:
        name = ref.removeprefix("#/components/schemas/")
        assert name in document["components"]["schemas"], ref


async def test_logs_name_each_request_and_meeting_event_without_secrets(clients, org, caplog):
    caplog.set_level(logging.INFO)
    sec = await clients("sec_p")
    created = await sec.post("/api/meetings", meeting_body(org))
    feed = await sec.get(f"/api/halls/{org.halls['A']}/feed")
    key_url = feed.body["url"]
    calendar = await (await clients()).get(URL(key_url).path_qs)
    assert calendar.status == 200
    text = caplog.text
    assert f"meeting {created.body['id']} created by user:{org.users['sec_p']}" in text
    assert '"POST /api/meetings" 201' in text
    assert "/calendar.ics" in text
    key = key_url.rsplit("key=", 1)[1]
    assert key not in text
    assert "correct horse" not in text
    assert org.terminal_tokens["A"] not in text
