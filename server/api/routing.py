"""Typed endpoints: body and query validated by pydantic, auth checked, errors made readable.

Each resource module declares a tuple of :class:`Endpoint`; :func:`add_endpoints` wires them
into the aiohttp router and :func:`openapi` describes them. A handler receives a :class:`Call`
and returns a pydantic-serialisable value (or a ready ``web.StreamResponse``).
"""

from __future__ import annotations

import enum
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from rooms.access import Access, Actor, ActorKind
from rooms.errors import DomainError
from rooms.scheduling import load_tree
from server.auth import person_by_cookie, terminal_by_token
from server.security import SESSION_COOKIE
from server.state import ACTOR, SERVICES, Services

log = logging.getLogger("giaoban.api")

MAX_ID_DIGITS = 9
MAX_JSON_DEPTH = 64
"""Arrays and objects in a body nest at most this deep (ours need 3)."""
_PATH_PARAM = re.compile(r"\{(\w+)\}")


class Auth(enum.Enum):
    PUBLIC = "public"
    ANY = "any"
    """A logged-in person or a paired terminal."""
    USER = "user"
    """A logged-in person only."""


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Callable[[Call], Awaitable[Any]]
    summary: str
    auth: Auth = Auth.ANY
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: Any = None
    """The type of what the handler returns (a model, ``list[Model]``…), for serialising."""
    status: int = 200
    media_type: str = "application/json"
    tag: str = ""


@dataclass
class Call:
    """What a handler gets: the request, a database session, the actor, the validated inputs."""

    request: web.Request
    services: Services
    session: AsyncSession
    actor: Actor | None
    body: Any = None
    query: Any = None
    _access: Access | None = field(default=None, repr=False)

    def path_id(self, name: str) -> int:
        return int(self.request.match_info[name])

    async def access(self) -> Access:
        """The actor's permissions over the unit tree (loaded once per request)."""
        if self._access is None:
            if self.actor is None:  # endpoints that need one never get here without it
                raise web.HTTPUnauthorized()
            self._access = Access(self.actor, await load_tree(self.session))
        return self._access

    def base_url(self) -> str:
        """How halls reach this server, for links that carry secrets (pairing, feeds): the
        configured public URL, else the address this connection reached the server on. Never
        the request's Host header: a client chooses it (``Host: evil.example``)."""
        settings = self.services.settings
        if settings.public_url:
            return settings.public_url
        transport = self.request.transport
        sockname = transport.get_extra_info("sockname") if transport is not None else None
        if isinstance(sockname, tuple) and len(sockname) >= 2:
            host, port = str(sockname[0]), int(sockname[1])
        else:
            host, port = settings.host, settings.port
        host = host.removeprefix("::ffff:")
        if host in ("", "0.0.0.0", "::"):
            host = "localhost"
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.request.secure else "http"
        return f"{scheme}://{host}:{port}"


def error_body(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    error.update(extra)
    return {"error": error}


def json_response(data: Any, status: int = 200) -> web.Response:
    """JSON with Vietnamese left readable (UTF-8, not \\u escapes)."""
    return web.json_response(data, status=status, dumps=_dumps)


def error_response(
    status: int, code: str, message: str, field: str | None = None, **extra: Any
) -> web.Response:
    return json_response(error_body(code, message, field, **extra), status)


DOMAIN_STATUS = {
    "not_found": 404,
    "forbidden": 403,
    "invalid": 422,
    "conflict": 409,
    "invalid_state": 409,
    "too_large": 413,
    "unsupported_media_type": 415,
}


def domain_error_response(exc: DomainError) -> web.Response:
    return error_response(
        DOMAIN_STATUS.get(exc.code, 400), exc.code, exc.message, exc.field, **exc.details
    )


def validation_response(exc: ValidationError, where: str) -> web.Response:
    errors = [
        {
            "field": ".".join(str(p) for p in e["loc"]) or None,
            "message": e["msg"],
            "type": e["type"],
        }
        for e in exc.errors(include_url=False, include_input=False)
    ]
    first = errors[0]
    label = first["field"] or where
    return error_response(
        422, "validation", f"{label}: {first['message']}", first["field"], errors=errors
    )


async def authenticate(request: web.Request, session: AsyncSession) -> Actor | web.Response | None:
    """The actor behind a bearer token or a session cookie, None, or a 401 to send back."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return error_response(401, "unauthenticated", "Authorization must be 'Bearer <token>'")
        actor = await terminal_by_token(session, token)
        if actor is None:
            return error_response(
                401, "unauthenticated", "the terminal token is unknown or revoked; pair it again"
            )
        return actor
    idle = request.app[SERVICES].settings.session_idle
    return await person_by_cookie(session, request.cookies.get(SESSION_COOKIE), idle)


async def _read_body(request: web.Request, model: type[BaseModel]) -> Any:
    if not request.can_read_body:
        raw: Any = {}
    else:
        if request.content_type != "application/json":
            raise _Refused(
                error_response(415, "unsupported_media_type", "send the body as application/json")
            )
        too_deep = False
        try:
            raw = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError) as exc:
            raise _Refused(
                error_response(400, "bad_json", f"the body is not JSON: {exc}")
            ) from None
        except RecursionError:  # deeper than Python's parser goes
            too_deep = True
        if too_deep or nested_deeper(raw, MAX_JSON_DEPTH):
            raise _Refused(
                error_response(
                    400, "bad_json",
                    f"body: the JSON is nested deeper than {MAX_JSON_DEPTH} levels", "body",
                )
            )  # fmt: skip
    return model.model_validate(raw)


def nested_deeper(value: Any, limit: int) -> bool:
    """Whether arrays and objects in ``value`` nest more than ``limit`` levels (no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        elif not isinstance(item, list):
            continue
        if depth + 1 > limit:
            return True
        stack.extend((child, depth + 1) for child in item)
    return False


class _Refused(Exception):
    def __init__(self, response: web.Response) -> None:
        self.response = response


def _wrap(ep: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    adapter = TypeAdapter(ep.response) if ep.response is not None else None

    async def handle(request: web.Request) -> web.StreamResponse:
        services = request.app[SERVICES]
        async with services.db.session() as session:
            actor = await authenticate(request, session)
            if isinstance(actor, web.Response):
                return actor
            if ep.auth is not Auth.PUBLIC and actor is None:
                return error_response(
                    401, "unauthenticated", "log in first (session cookie or terminal bearer token)"
                )
            if ep.auth is Auth.USER and actor is not None and actor.kind is not ActorKind.USER:
                return error_response(
                    403, "forbidden", "this needs a person's login, not a terminal"
                )
            request[ACTOR] = actor
            try:
                query = ep.query.model_validate(dict(request.query)) if ep.query else None
            except ValidationError as exc:
                return validation_response(exc, "query")
            try:
                body = await _read_body(request, ep.body) if ep.body else None
            except ValidationError as exc:
                return validation_response(exc, "body")
            except _Refused as refused:
                return refused.response
            call = Call(request, services, session, actor, body, query)
            try:
                result = await ep.handler(call)
            except DomainError as exc:
                return domain_error_response(exc)
        if isinstance(result, web.StreamResponse):
            return result
        if adapter is None:
            return web.Response(status=204 if ep.status == 200 else ep.status)
        return json_response(adapter.dump_python(result, mode="json"), ep.status)

    return handle


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def numeric(name: str) -> bool:
    """Path parameters that are numbers: ids and versions."""
    return name.endswith("_id") or name == "version"


def _router_path(path: str) -> str:
    """``{x_id}`` and ``{version}`` match a number, any other ``{name}`` a file-like name."""

    def pattern(m: re.Match[str]) -> str:
        name = m.group(1)
        regex = rf"\d{{1,{MAX_ID_DIGITS}}}" if numeric(name) else r"[A-Za-z0-9._-]{1,64}"
        return f"{{{name}:{regex}}}"

    return _PATH_PARAM.sub(pattern, path)


def add_endpoints(app: web.Application, endpoints: Iterable[Endpoint]) -> None:
    for ep in endpoints:
        app.router.add_route(ep.method, _router_path(ep.path), _wrap(ep))


# -- OpenAPI -------------------------------------------------------------------------------

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string"},
            },
        }
    },
}


def openapi(endpoints: Iterable[Endpoint], version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the given endpoints."""
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}

    def schema_of(tp: Any) -> dict[str, Any]:
        schema = TypeAdapter(tp).json_schema(ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            components[tp.__name__] = schema
            return {"$ref": f"#/components/schemas/{tp.__name__}"}
        return schema

    def error_ref(description: str) -> dict[str, Any]:
        return {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }

    for ep in endpoints:
        op: dict[str, Any] = {"summary": ep.summary, "operationId": ep.handler.__name__}
        if ep.tag:
            op["tags"] = [ep.tag]
        params: list[dict[str, Any]] = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "integer", "minimum": 0}
                if numeric(name)
                else {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"},
            }
            for name in _PATH_PARAM.findall(ep.path)
        ]
        if ep.query is not None:
            qschema = ep.query.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(qschema.pop("$defs", {}))
            required = set(qschema.get("required", []))
            for name, info in ep.query.model_fields.items():
                key = info.alias or name
                params.append(
                    {
                        "name": key,
                        "in": "query",
                        "required": key in required,
                        "schema": qschema["properties"][key],
                        **({"description": info.description} if info.description else {}),
                    }
                )
        if params:
            op["parameters"] = params
        if ep.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": schema_of(ep.body)}},
            }
        responses: dict[str, Any] = {}
        if ep.response is not None:
            responses[str(ep.status)] = {
                "description": "OK",
                "content": {ep.media_type: {"schema": schema_of(ep.response)}},
            }
        elif ep.media_type != "application/json":
            responses[str(ep.status)] = {
                "description": "OK",
                "content": {ep.media_type: {"schema": {"type": "string"}}},
            }
        else:
            responses["204" if ep.status == 200 else str(ep.status)] = {"description": "Done"}
        if ep.auth is not Auth.PUBLIC:
            responses["401"] = error_ref("not logged in, or the terminal token is revoked")
            responses["403"] = error_ref("logged in without the role this needs")
            op["security"] = [{"session": []}] + ([{"terminal": []}] if ep.auth is Auth.ANY else [])
        if ep.body is not None or ep.query is not None:
            responses["422"] = error_ref("a value is wrong; error.field names it")
        op["responses"] = responses
        paths.setdefault(ep.path, {})[ep.method.lower()] = op

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "giaoban API",
            "version": version,
            "description": "Scheduling and live meetings between the province and its halls. "
            "Local times are Asia/Ho_Chi_Minh: a date-time without an offset is local.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
                "terminal": {"type": "http", "scheme": "bearer"},
            },
        },
    }
