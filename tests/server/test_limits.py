"""Bodies nested too deep and dates near year 1 or 9999 (issue 17): refused naming the body or
the field, never a 500. Every date field is found in the OpenAPI document, so one added later
is tested too (or this test asks for a body to send it in)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import local, meeting_body

MAX_JSON_DEPTH = 64  # documented in docs/api.md
EXTREMES = ["0001-01-01T00:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59",
            "9999-12-31T23:59:59-12:00", "1899-12-31T23:59", "2201-01-01T00:00"]  # fmt: skip


def deep(levels: int) -> bytes:
    return ("[" * levels + "]" * levels).encode()


async def _post_raw(client: Any, path: str, data: bytes) -> Any:
    return await client.request(
        "POST", path, data=data, headers={"Content-Type": "application/json"}
    )


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH + 1, 5_000, 50_000])
async def test_a_body_nested_too_deep_is_400_naming_the_body(clients, org, levels):
    sec = await clients("sec_p")
    anonymous = await clients()
    for client, path in ((anonymous, "/api/session"), (sec, "/api/meetings")):
        unclosed = await _post_raw(client, path, b"[" * levels)
        closed = await _post_raw(client, path, deep(levels))
        inside = await _post_raw(client, path, b'{"title": ' + deep(levels) + b', "username": "x"}')
        for reply in (unclosed, closed, inside):
            assert reply.status == 400, reply.text
            assert reply.body["error"]["code"] == "bad_json"
        for reply in (closed, inside):
            assert reply.body["error"]["field"] == "body"
            assert str(MAX_JSON_DEPTH) in reply.body["error"]["message"]
    # the server is still there, and a body within the limit is judged on its values
    within = await _post_raw(sec, "/api/meetings", deep(MAX_JSON_DEPTH))
    assert within.status == 422, within.text
    assert (await sec.post("/api/meetings", meeting_body(org))).status == 201


# -- dates ---------------------------------------------------------------------------------


def _date_fields(document: dict[str, Any]) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(method, path) → [(where, name)] of every date-time query parameter and body field."""
    schemas = document["components"]["schemas"]

    def is_date(schema: dict[str, Any]) -> bool:
        if "$ref" in schema:
            return is_date(schemas[schema["$ref"].split("/")[-1]])
        if schema.get("format") in ("date-time", "date"):
            return True
        return any(is_date(s) for s in schema.get("anyOf", []) + schema.get("oneOf", []))

    found: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            fields = [("query", p["name"]) for p in op.get("parameters", [])
                      if p["in"] == "query" and is_date(p["schema"])]  # fmt: skip
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                ref = body["schema"].get("$ref", "")
                props = schemas[ref.split("/")[-1]].get("properties", {}) if ref else {}
                fields += [("body", name) for name, s in props.items() if is_date(s)]
            if fields:
                found[(method.upper(), path)] = fields
    return found


async def test_every_date_field_refuses_years_near_1_and_9999_naming_it(clients, org):
    admin = await clients("admin")
    document = (await admin.get("/api/openapi.json")).body
    found = _date_fields(document)
    sec = await clients("sec_p")
    meeting = (await sec.post("/api/meetings", meeting_body(org))).body
    series_body = meeting_body(
        org, days=30, start=local(30, 8), end=local(30, 9), rrule="FREQ=WEEKLY;COUNT=3"
    )
    series = (await sec.post("/api/series", series_body)).body
    bodies = {
        ("POST", "/api/meetings"): meeting_body(org, days=5),
        ("PATCH", "/api/meetings/{meeting_id}"): {},
        ("POST", "/api/series"): {**series_body, "start": local(40, 8), "end": local(40, 9)},
        ("PATCH", "/api/series/{series_id}"): {},
    }
    ids = {"meeting_id": meeting["id"], "series_id": series["id"]}
    assert set(found) >= {
        ("GET", "/api/meetings"), ("GET", "/api/archive/search"), ("GET", "/api/archive/audit"),
        *bodies,
    }  # fmt: skip
    arch = await clients("arch")
    tried = 0
    for (method, path), fields in sorted(found.items()):
        client = arch if path.startswith("/api/archive") else sec
        url = path.format(**ids)
        for where, name in fields:
            for value in EXTREMES:
                if where == "query":
                    reply = await client.request(method, url, params={name: value})
                else:
                    assert (method, path) in bodies, f"add a valid body for {method} {path}"
                    reply = await client.request(
                        method, url, json={**bodies[(method, path)], name: value}
                    )
                assert reply.status == 422, (method, path, name, value, reply.text)
                assert reply.body["error"]["field"] == name, reply.text
                assert name in reply.body["error"]["message"]
                tried += 1
    assert tried >= 11 * len(EXTREMES)
    # the edges of the range are fine
    for value in ("1900-01-01T00:00", "2200-12-31T23:59"):
        reply = await sec.get("/api/meetings", params={"from": value})
        assert reply.status == 200, reply.text


@pytest.mark.parametrize("until", ["99991231T235959Z", "99991231", "00010101T000000Z", "00010101"])
async def test_a_series_until_near_year_1_or_9999_is_422_naming_rrule(clients, org, until):
    sec = await clients("sec_p")
    body = meeting_body(org, rrule=f"FREQ=WEEKLY;UNTIL={until}")
    reply = await sec.post("/api/series", body)
    assert reply.status == 422, reply.text
    assert reply.body["error"]["field"] == "rrule"
