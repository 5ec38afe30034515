"""Passwords (argon2), login sessions, and the brake on repeated failed logins."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

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
class _Failures:
    count: int = 0
    last: float = 0.0
    blocked_until: float = 0.0


class LoginThrottle:
    """Slows down repeated failed logins, per username and per client address.

    The first ``free`` failures cost nothing; each one after that doubles a wait (up to
    ``max_wait`` seconds) before the next attempt is even checked. Failures are forgotten
    ``window`` seconds after the last one, and a successful login forgets them at once.
    """

    def __init__(
        self,
        *,
        free: int = 5,
        max_wait: float = 300.0,
        window: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 50_000,
    ) -> None:
        self.free = free
        self.max_wait = max_wait
        self.window = window
        self.clock = clock
        self.max_keys = max_keys
        self._failures: dict[str, _Failures] = {}

    def retry_after(self, *keys: str) -> float:
        """Seconds to wait before any of ``keys`` may try again (0: go ahead)."""
        now = self.clock()
        waits = [f.blocked_until - now for k in keys if (f := self._live(k, now)) is not None]
        return max([0.0, *waits])

    def failed(self, *keys: str) -> None:
        now = self.clock()
        if len(self._failures) > self.max_keys:
            self._prune(now)
        for key in keys:
            entry = self._live(key, now) or self._failures.setdefault(key, _Failures())
            entry.count += 1
            entry.last = now
            over = entry.count - self.free
            if over >= 0:
                entry.blocked_until = now + min(self.max_wait, 2.0**over)

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)

    def _live(self, key: str, now: float) -> _Failures | None:
        entry = self._failures.get(key)
        if entry is not None and now - entry.last > self.window and now >= entry.blocked_until:
            del self._failures[key]
            return None
        return entry

    def _prune(self, now: float) -> None:
        for key in list(self._failures):
            self._live(key, now)
