"""Passwords (argon2), login sessions, and the brake on repeated failed logins."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

SESSION_COOKIE = "giaoban_session"


class Passwords:
    """argon2id hashing, run off the event loop (a hash costs tens of milliseconds)."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        # A hash to verify against when the user does not exist, so timing does not tell.
        self._dummy = self._hasher.hash(secrets.token_hex(8))

    def hash_sync(self, password: str) -> str:
        return self._hasher.hash(password)

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(password_hash or self._dummy, password)
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(check) and password_hash is not None


def new_session_token() -> tuple[str, str]:
    """A cookie value and the hash to store for it."""
    token = secrets.token_urlsafe(32)
    return token, hashlib.sha256(token.encode()).hexdigest()


def session_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class _Attempts:
    count: int = 0
    last: float = 0.0


@dataclass(frozen=True)
class Brake:
    """One counter of login attempts and how many of them are free."""

    key: str
    free: int


class LoginThrottle:
    """Slows down repeated failed logins, per (username, address) pair and per address.

    An attempt is counted before its password is checked (:meth:`reserve`, one atomic step),
    so parallel guesses cannot all slip past the brake while the hash runs; a successful login
    gives its attempt back (:meth:`succeeded`). A counter's first ``free`` attempts cost
    nothing; each one after that doubles a wait (up to ``max_wait`` seconds) before the next
    attempt is even checked. Counters are forgotten ``window`` seconds after their last attempt.

    A pair's counter brakes one person's guesses from one address, never the person from
    elsewhere; an address's counter (``address_free``, higher: an office shares one address
    behind its NAT) brakes an address trying many usernames. This one keeps its counters in
    memory (one node); :class:`RedisLoginThrottle` shares them between the nodes.
    """

    def __init__(
        self,
        *,
        free: int = 5,
        address_free: int = 20,
        max_wait: float = 300.0,
        window: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 50_000,
    ) -> None:
        self.free = free
        self.address_free = address_free
        self.max_wait = max_wait
        self.window = window
        self.clock = clock
        self.max_keys = max_keys
        self._attempts: dict[str, _Attempts] = {}

    def brakes(self, username: str, address: str | None) -> tuple[Brake, Brake]:
        return (
            Brake(f"pair:{username.lower()}|{address}", self.free),
            Brake(f"ip:{address}", self.address_free),
        )

    def wait(self, count: int, free: int, last: float, now: float) -> float:
        """Seconds still to wait after ``count`` attempts, the last one at ``last``."""
        if count < free:
            return 0.0
        return max(0.0, last + min(self.max_wait, 2.0 ** (count - free)) - now)

    async def reserve(self, username: str, address: str | None) -> float:
        """Count an attempt now, before its password is checked, and return 0; or, if braked,
        count nothing and return the seconds to wait."""
        return self._reserve(self.brakes(username, address))

    async def succeeded(self, username: str, address: str | None) -> None:
        """The password was right: the pair's failures are forgotten, the address's attempt
        is given back (its earlier failures stay)."""
        pair, address_brake = self.brakes(username, address)
        self._attempts.pop(pair.key, None)
        entry = self._attempts.get(address_brake.key)
        if entry is not None and entry.count > 0:
            entry.count -= 1

    async def close(self) -> None:
        """Nothing to let go (the Redis variant closes its connection)."""

    def _reserve(self, brakes: tuple[Brake, ...]) -> float:
        # No await in here: on one event loop this is one atomic step.
        now = self.clock()
        if len(self._attempts) > self.max_keys:
            self._prune(now)
        entries = [(b, self._live(b.key, now)) for b in brakes]
        waits = [self.wait(e.count, b.free, e.last, now) for b, e in entries if e is not None]
        wait = max([0.0, *waits])
        if wait > 0:
            return wait
        for brake, entry in entries:
            entry = entry or self._attempts.setdefault(brake.key, _Attempts())
            entry.count += 1
            entry.last = now
        return 0.0

    def _live(self, key: str, now: float) -> _Attempts | None:
        entry = self._attempts.get(key)
        if entry is not None and now - entry.last > max(self.window, self.max_wait):
            del self._attempts[key]
            return None
        return entry

    def _prune(self, now: float) -> None:
        for key in list(self._attempts):
            self._live(key, now)


# KEYS: the counters; ARGV: now (ms), max_wait (ms), time to live (ms), then each key's free.
_RESERVE = """
local now = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local wait = 0
for i, key in ipairs(KEYS) do
  local v = redis.call('HMGET', key, 'count', 'last')
  local count = tonumber(v[1]) or 0
  local free = tonumber(ARGV[3 + i])
  if count >= free then
    local left = tonumber(v[2]) + math.min(max_wait, 1000 * 2 ^ (count - free)) - now
    if left > wait then wait = left end
  end
end
if wait > 0 then return math.ceil(wait) end
for i, key in ipairs(KEYS) do
  redis.call('HINCRBY', key, 'count', 1)
  redis.call('HSET', key, 'last', ARGV[1])
  redis.call('PEXPIRE', key, ARGV[3])
end
return 0
"""

# KEYS[1]: the pair's counter (forgotten), KEYS[2]: the address's (one attempt given back).
_SUCCEEDED = """
redis.call('DEL', KEYS[1])
if tonumber(redis.call('HGET', KEYS[2], 'count') or '0') > 0 then
  redis.call('HINCRBY', KEYS[2], 'count', -1)
end
return 0
"""


class RedisLoginThrottle(LoginThrottle):
    """The same brake with its counters in Redis, shared by every node of a scaled-out
    deployment: reserving is one Lua script (check every counter, then count on each), so
    parallel attempts on several nodes are counted one by one. Times are wall-clock
    milliseconds (the nodes' clocks, kept by NTP), the counters expire by Redis' TTL."""

    def __init__(self, redis_url: str, *, prefix: str = "giaoban", **kwargs: Any) -> None:
        kwargs.setdefault("clock", time.time)
        super().__init__(**kwargs)
        import redis.asyncio as aioredis

        self.prefix = prefix
        self._redis = aioredis.Redis.from_url(redis_url, socket_timeout=10, decode_responses=True)
        self._reserve_script = self._redis.register_script(_RESERVE)
        self._succeeded_script = self._redis.register_script(_SUCCEEDED)

    def _key(self, brake: Brake) -> str:
        return f"{self.prefix}:login:{brake.key}"

    async def reserve(self, username: str, address: str | None) -> float:
        brakes = self.brakes(username, address)
        ttl = int(1000 * max(self.window, self.max_wait))
        args = [int(self.clock() * 1000), int(self.max_wait * 1000), ttl, *[b.free for b in brakes]]
        wait_ms = await self._reserve_script(keys=[self._key(b) for b in brakes], args=args)
        return int(wait_ms) / 1000

    async def succeeded(self, username: str, address: str | None) -> None:
        keys = [self._key(b) for b in self.brakes(username, address)]
        await self._succeeded_script(keys=keys, args=[])

    async def close(self) -> None:
        await self._redis.aclose()
