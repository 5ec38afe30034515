"""Logins, sessions, terminal tokens, and the brake on repeated failed logins."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from ipaddress import ip_network
from typing import Any
from unittest import mock

import aiohttp
import pytest
from aiohttp.test_utils import TestServer, make_mocked_request

from server.app import create_app, runner_options
from server.security import LoginThrottle, Passwords
from server.settings import Settings, SettingsError
from server.web_security import client_address
from tests.conftest import FAST_HASHER, PASSWORD, Client
from tests.server.cluster_kit import REDIS_URL, _redis_reachable


async def test_login_sets_an_httponly_samesite_cookie(clients):
    client = await clients()
    reply = await client.post("/api/session", {"username": "sec_p", "password": PASSWORD})
    assert reply.status == 200
    assert reply.body["user"]["username"] == "sec_p"
    cookie = reply.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert PASSWORD not in cookie
    me = await client.get("/api/session")
    assert me.status == 200
    assert me.body["kind"] == "user"
    assert [r["role"] for r in me.body["user"]["roles"]] == ["secretariat"]


@pytest.mark.parametrize(
    ("username", "password"), [("sec_p", "wrong password"), ("nobody", PASSWORD)]
)
async def test_wrong_credentials_are_401_without_saying_which(clients, username, password):
    client = await clients()
    reply = await client.post("/api/session", {"username": username, "password": password})
    assert reply.status == 401
    assert reply.body["error"] == {
        "code": "bad_credentials",
        "message": "wrong username or password",
    }
    assert "Set-Cookie" not in reply.headers


async def test_logout_ends_the_session(clients):
    client = await clients("sec_p")
    assert (await client.get("/api/session")).status == 200
    assert (await client.delete("/api/session")).status == 204
    assert (await client.get("/api/session")).status == 401


async def test_a_stolen_cookie_stops_working_after_logout(clients, server):
    client = await clients("sec_p")
    stolen = {c.key: c.value for c in client.http.cookie_jar}
    await client.delete("/api/session")
    thief = await clients()
    reply = await thief.get("/api/session", cookies=stolen)
    assert reply.status == 401


async def test_not_logged_in_is_401_saying_how_to_log_in(clients):
    anonymous = await clients()
    reply = await anonymous.get("/api/meetings")
    assert reply.status == 401
    assert reply.body["error"]["code"] == "unauthenticated"
    assert "log in" in reply.body["error"]["message"]


async def test_repeated_failed_logins_are_slowed_down(clients, throttle: LoginThrottle):
    now = [1000.0]
    throttle.clock = lambda: now[0]
    client = await clients()
    bad = {"username": "sec_p", "password": "guess"}
    statuses = [(await client.post("/api/session", bad)).status for _ in range(throttle.free)]
    assert statuses == [401] * throttle.free
    blocked = await client.post("/api/session", {"username": "sec_p", "password": PASSWORD})
    assert blocked.status == 429
    assert blocked.body["error"]["code"] == "too_many_attempts"
    assert int(blocked.headers["Retry-After"]) >= 1
    # Each further failure doubles the wait.
    now[0] += 1.5
    assert (await client.post("/api/session", bad)).status == 401
    now[0] += 1.5
    assert (await client.post("/api/session", bad)).status == 429
    now[0] += 3
    ok = await client.post("/api/session", {"username": "sec_p", "password": PASSWORD})
    assert ok.status == 200
    # A success forgets the failures.
    assert (await client.post("/api/session", bad)).status == 401


async def test_throttling_one_user_does_not_lock_out_another_from_elsewhere(clients, throttle):
    throttle.free = 2
    attacker = await clients()
    for _ in range(3):
        await attacker.post("/api/session", {"username": "sec_p", "password": "guess"})
    assert (
        await attacker.post("/api/session", {"username": "sec_p", "password": "guess"})
    ).status == 429
    reply = await attacker.post("/api/session", {"username": "sec_a", "password": PASSWORD})
    assert reply.status == 200


class SlowPasswords(Passwords):
    """Checking a password takes ~100 ms, as argon2 with the production cost does."""

    async def verify(self, password_hash: str | None, password: str) -> bool:
        await asyncio.sleep(0.1)
        return await super().verify(password_hash, password)


@pytest.fixture
async def addressed(server: TestServer) -> AsyncIterator[Callable[..., Any]]:
    """``await addressed("127.0.0.2")``: a client whose requests come from that address."""
    made: list[Client] = []

    async def make(address: str, app: TestServer | None = None) -> Client:
        client = Client(app or server)
        await client.http.close()
        client.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(local_addr=(address, 0)),
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            timeout=aiohttp.ClientTimeout(total=30),
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


async def _guess_in_parallel(clients: list[Client], n: int) -> list[Any]:
    bad = {"username": "sec_p", "password": "guess number one"}
    return await asyncio.gather(
        *(clients[i % len(clients)].post("/api/session", bad) for i in range(n))
    )


def _assert_braked(replies: list[Any], free: int) -> None:
    statuses = sorted(r.status for r in replies)
    assert 1 <= statuses.count(401) <= free, statuses
    assert statuses.count(429) == len(replies) - statuses.count(401), statuses
    for reply in replies:
        if reply.status == 429:
            assert int(reply.headers["Retry-After"]) >= 1
            assert reply.body["error"]["code"] == "too_many_attempts"


async def test_parallel_wrong_logins_are_counted_before_the_password_is_checked(
    org, settings, clock, throttle, addressed
):
    app = create_app(settings, passwords=SlowPasswords(FAST_HASHER), clock=clock,
                     throttle=throttle)  # fmt: skip
    slow = TestServer(app)
    await slow.start_server(**runner_options())
    try:
        attacker = await addressed("127.0.0.2", slow)
        replies = await _guess_in_parallel([attacker], 20)
        _assert_braked(replies, throttle.free)
        # The person themself, from their own office, is not locked out.
        owner = await addressed("127.0.0.3", slow)
        ok = await owner.post("/api/session", {"username": "sec_p", "password": PASSWORD})
        assert ok.status == 200
    finally:
        await slow.close()


async def test_parallel_wrong_logins_on_two_nodes_share_one_brake_in_redis(
    org, settings, clock, addressed
):
    _redis_reachable()
    prefix = f"gbbrake-{uuid.uuid4().hex[:8]}"
    nodes = []
    try:
        for node_id in ("b1", "b2"):
            node_settings = replace(
                settings, redis_url=REDIS_URL, redis_prefix=prefix, node_id=node_id,
                public_url=f"http://{node_id}.example",
            )  # fmt: skip
            # No throttle given: scaled out, the app keeps the brake's counters in Redis.
            app = create_app(node_settings, passwords=SlowPasswords(FAST_HASHER), clock=clock)
            node = TestServer(app)
            await node.start_server(**runner_options())
            nodes.append(node)
        attackers = [await addressed("127.0.0.2", node) for node in nodes]
        replies = await _guess_in_parallel(attackers, 20)
        _assert_braked(replies, LoginThrottle().free)
        # Braked on both nodes now, whichever the next guess reaches.
        for attacker in attackers:
            reply = await attacker.post("/api/session", {"username": "sec_p", "password": "x"})
            assert reply.status == 429
        owner = await addressed("127.0.0.3", nodes[1])
        ok = await owner.post("/api/session", {"username": "sec_p", "password": PASSWORD})
        assert ok.status == 200
    finally:
        for node in nodes:
            await node.close()


async def test_one_address_braked_for_a_user_leaves_the_user_free_elsewhere_and_expires(
    throttle, addressed
):
    now = [5000.0]
    throttle.clock = lambda: now[0]
    attacker = await addressed("127.0.0.2")
    bad = {"username": "sec_p", "password": "guess"}
    assert [(await attacker.post("/api/session", bad)).status for _ in range(8)] == [401] * 5 + [
        429
    ] * 3
    right = {"username": "sec_p", "password": PASSWORD}
    assert (await attacker.post("/api/session", right)).status == 429
    # The real person, from another address, logs in while that address is braked.
    person = await addressed("127.0.0.3")
    assert (await person.post("/api/session", right)).status == 200
    # The brake expires: later the right password works from the braked address too.
    now[0] += throttle.max_wait
    assert (await attacker.post("/api/session", right)).status == 200


async def test_an_address_trying_many_usernames_is_braked(throttle, addressed, org):
    throttle.address_free = 4
    sprayer = await addressed("127.0.0.2")
    names = ["sec_p", "sec_a", "sec_b", "chair_p", "chair_a", "arch"]
    statuses = [
        (await sprayer.post("/api/session", {"username": n, "password": "Summer2026!"})).status
        for n in names
    ]
    assert statuses == [401] * 4 + [429] * 2
    reply = await sprayer.post("/api/session", {"username": "admin", "password": PASSWORD})
    assert reply.status == 429
    assert int(reply.headers["Retry-After"]) >= 1
    elsewhere = await addressed("127.0.0.3")
    assert (
        await elsewhere.post("/api/session", {"username": "admin", "password": PASSWORD})
    ).status == 200


async def test_terminal_bearer_token_identifies_its_hall(clients, org):
    terminal = await clients(terminal="A")
    me = await terminal.get("/api/session")
    assert me.status == 200
    assert me.body["kind"] == "terminal"
    assert me.body["hall"]["id"] == org.halls["A"]
    home = await terminal.get("/api/terminal")
    assert home.status == 200
    assert home.body["hall"]["name"] == "Điểm cầu Huyện A"


async def test_unknown_bearer_token_is_401(clients, server):
    from tests.conftest import Client

    client = Client(server, "gbt_not-a-real-token")
    try:
        reply = await client.get("/api/session")
        assert reply.status == 401
        assert "pair" in reply.body["error"]["message"]
    finally:
        await client.close()


async def test_revoked_terminal_is_refused_at_once(clients, org):
    terminal = await clients(terminal="A")
    sec = await clients("sec_p")
    revoked = await sec.post(f"/api/terminals/{org.terminal_ids['A']}/revoke")
    assert revoked.status == 200
    assert revoked.body["state"] == "revoked"
    assert (await terminal.get("/api/terminal")).status == 401
    rotate = await sec.post(f"/api/terminals/{org.terminal_ids['A']}/rotate")
    assert rotate.status == 409


async def test_rotating_a_token_replaces_the_old_one(clients, org, server):
    from tests.conftest import Client

    old = await clients(terminal="A")
    sec = await clients("sec_p")
    rotated = await sec.post(f"/api/terminals/{org.terminal_ids['A']}/rotate")
    assert rotated.status == 200
    token = rotated.body["token"]
    assert rotated.body["pairing_url"].endswith(f"/terminal#token={token}")
    assert (await old.get("/api/terminal")).status == 401
    new = Client(server, token)
    try:
        assert (await new.get("/api/terminal")).status == 200
    finally:
        await new.close()


async def test_pairing_a_terminal_shows_its_token_once(clients, org, server):
    from tests.conftest import Client

    sec = await clients("sec_p")
    paired = await sec.post(f"/api/halls/{org.halls['B']}/terminals", {"label": "Máy 2"})
    assert paired.status == 201
    token = paired.body["token"]
    listing = await sec.get(f"/api/halls/{org.halls['B']}/terminals")
    assert token not in listing.text
    assert [t["label"] for t in listing.body] == ["T-B", "Máy 2"]
    terminal = Client(server, token)
    try:
        home = await terminal.get("/api/terminal")
        assert home.body["hall"]["id"] == org.halls["B"]
    finally:
        await terminal.close()


async def test_terminal_cannot_use_a_persons_endpoints(clients):
    terminal = await clients(terminal="A")
    reply = await terminal.post("/api/meetings", {})
    assert reply.status == 403
    assert "person" in reply.body["error"]["message"]


async def test_terminal_sees_only_its_halls_meetings(clients, org):
    from tests.conftest import meeting_body

    sec = await clients("sec_p")
    with_a = (
        await sec.post("/api/meetings", meeting_body(org, invited_hall_ids=[org.halls["A"]]))
    ).body
    without_a = (
        await sec.post(
            "/api/meetings",
            meeting_body(org, days=4, title="Không có A", invited_hall_ids=[org.halls["B"]]),
        )
    ).body
    terminal = await clients(terminal="A")
    window = {"from": with_a["start"], "to": without_a["end"]}
    listed = await terminal.get("/api/meetings", params=window)
    assert [m["id"] for m in listed.body] == [with_a["id"]]
    assert (await terminal.get(f"/api/meetings/{without_a['id']}")).status == 404
    home = await terminal.get("/api/terminal")
    assert [m["id"] for m in home.body["meetings"]] == [with_a["id"]]


# -- behind a reverse proxy (GIAOBAN_TRUSTED_PROXIES) ----------------------------------------


def _request_from(peer: str, forwarded: str | None) -> Any:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (peer, 40000) if name == "peername" else default
    )
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    return make_mocked_request("POST", "/api/session", headers=headers, transport=transport)


PROXIES = (ip_network("10.0.0.5"), ip_network("10.9.0.0/16"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "client"),
    [
        ("10.0.0.5", "203.0.113.7", (), "10.0.0.5"),  # no proxy trusted: the peer
        ("10.0.0.5", "203.0.113.7", PROXIES, "203.0.113.7"),
        ("198.51.100.4", "203.0.113.7", PROXIES, "198.51.100.4"),  # not a proxy of ours
        # What the client wrote itself is left of the hop our proxy added, and not believed.
        ("10.0.0.5", "1.2.3.4, 203.0.113.7", PROXIES, "203.0.113.7"),
        ("10.0.0.5", "203.0.113.7, 10.9.4.4", PROXIES, "203.0.113.7"),  # two proxies
        ("10.0.0.5", "not-an-address", PROXIES, "10.0.0.5"),
        ("10.0.0.5", None, PROXIES, "10.0.0.5"),
        ("10.0.0.5", "2001:db8::7", PROXIES, "2001:db8::7"),
    ],
)
def test_the_client_address_behind_trusted_proxies(
    peer: str, forwarded: str | None, trusted: Any, client: str
) -> None:
    assert client_address(_request_from(peer, forwarded), trusted) == client


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    env = {"GIAOBAN_TRUSTED_PROXIES": "10.0.0.5, 10.9.0.0/16"}
    assert Settings.from_env(env, create_dirs=False).trusted_proxies == PROXIES
    with pytest.raises(SettingsError, match=r"GIAOBAN_TRUSTED_PROXIES: 'proxy\.local'"):
        Settings.from_env(env | {"GIAOBAN_TRUSTED_PROXIES": "proxy.local"}, create_dirs=False)


async def test_behind_a_trusted_proxy_the_brake_counts_each_client_not_the_proxy(
    org, settings, clock, throttle, addressed
):
    """Every login reaches the server from the proxy's address: one person guessing must
    not lock everyone else behind that proxy out."""
    throttle.address_free = 4
    app = create_app(replace(settings, trusted_proxies=(ip_network("127.0.0.2"),)),
                     passwords=Passwords(FAST_HASHER), clock=clock, throttle=throttle)  # fmt: skip
    proxied = TestServer(app)
    await proxied.start_server(**runner_options())
    try:
        proxy = await addressed("127.0.0.2", proxied)
        sprayer = {"X-Forwarded-For": "198.51.100.9"}
        names = ["sec_p", "sec_a", "sec_b", "chair_p", "chair_a", "arch"]
        spray = [{"username": n, "password": "Summer2026!"} for n in names]
        statuses = [(await proxy.post("/api/session", b, headers=sprayer)).status for b in spray]
        assert statuses == [401] * 4 + [429] * 2
        right = {"username": "admin", "password": PASSWORD}
        assert (await proxy.post("/api/session", right, headers=sprayer)).status == 429
        other = {"X-Forwarded-For": "198.51.100.10"}
        assert (await proxy.post("/api/session", right, headers=other)).status == 200
        # A client that is not the proxy cannot pick its address by writing the header.
        direct = await addressed("127.0.0.3", proxied)
        for n in names[:4]:
            await direct.post("/api/session", {"username": n, "password": "x"}, headers=other)
        reply = await direct.post("/api/session", right, headers={"X-Forwarded-For": "1.1.1.1"})
        assert reply.status == 429
    finally:
        await proxied.close()
