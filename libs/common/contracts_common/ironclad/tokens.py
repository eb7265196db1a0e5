"""Credentials, tokens and the per-tenant token cache (single flight)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict, SecretStr

from .regions import Region

log = structlog.get_logger(__name__)

DEFAULT_EXPIRES_IN = 3600.0


class IroncladCredentials(BaseModel):
    """One Ironclad OAuth app (client credentials) plus the user the calls act as."""

    model_config = ConfigDict(frozen=True)

    client_id: str
    client_secret: SecretStr
    user_email: str
    region: Region


@dataclass(frozen=True, slots=True)
class Token:
    """An access token. `expires_at` is on the clock of the cache that holds it (`time.monotonic`)."""

    access_token: str = field(repr=False)
    expires_at: float
    scopes: frozenset[str]
    issued_at: float | None = None

    @property
    def lifetime(self) -> float | None:
        return None if self.issued_at is None else self.expires_at - self.issued_at

    @classmethod
    def from_response(
        cls, body: Mapping[str, Any], *, now: float, requested_scopes: frozenset[str] = frozenset()
    ) -> Token:
        """Build a token from `{access_token, expires_in, scope, token_type}` (§2.2)."""
        access_token = body.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise ValueError("token response has no access_token")
        expires_in_raw = body.get("expires_in", DEFAULT_EXPIRES_IN)
        try:
            expires_in = float(expires_in_raw)
        except (TypeError, ValueError):
            expires_in = DEFAULT_EXPIRES_IN
        scope = body.get("scope")
        if isinstance(scope, str):
            scopes = frozenset(scope.split())
        elif isinstance(scope, list):
            scopes = frozenset(str(s) for s in scope)
        else:
            # "The response will include the token scope if scope was requested": without it,
            # assume what we asked for.
            scopes = requested_scopes
        return cls(access_token=access_token, expires_at=now + expires_in, scopes=scopes, issued_at=now)


def _consume_exception(task: asyncio.Task[Token]) -> None:
    # Every waiter may have been cancelled; never leave "exception was never retrieved" behind.
    if not task.cancelled():
        task.exception()


class TokenCache:
    """Tokens per key (tenant). K concurrent callers on a missing or expiring token make one fetch.

    The single flight is a shared task per key, so a failure (e.g. invalid_client) reaches every
    waiter at once instead of each waiter trying again in turn, and a cancelled caller does not
    cancel the fetch for the others.
    """

    def __init__(self, *, margin_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._margin = margin_seconds
        self._clock = clock
        self._tokens: dict[Hashable, Token] = {}
        self._inflight: dict[Hashable, asyncio.Task[Token]] = {}
        self._locks: dict[Hashable, asyncio.Lock] = {}

    @property
    def clock(self) -> Callable[[], float]:
        return self._clock

    def _fresh(self, token: Token) -> bool:
        margin = self._margin
        lifetime = token.lifetime
        if lifetime is not None:
            # A token that lives shorter than twice the margin would otherwise never be reused.
            margin = min(margin, lifetime / 2)
        return token.expires_at - margin > self._clock()

    def peek(self, key: Hashable) -> Token | None:
        """The cached token if it is still valid, without fetching."""
        token = self._tokens.get(key)
        return token if token is not None and self._fresh(token) else None

    async def get(self, key: Hashable, fetch: Callable[[], Awaitable[Token]]) -> Token:
        token = self.peek(key)
        if token is not None:
            return token
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            token = self.peek(key)
            if token is not None:
                return token
            task = self._inflight.get(key)
            if task is None:
                task = asyncio.ensure_future(self._fetch(key, fetch))
                task.add_done_callback(_consume_exception)
                self._inflight[key] = task
        return await asyncio.shield(task)

    async def _fetch(self, key: Hashable, fetch: Callable[[], Awaitable[Token]]) -> Token:
        try:
            token = await fetch()
            self._tokens[key] = token
            return token
        finally:
            self._inflight.pop(key, None)

    def invalidate(self, key: Hashable, token: Token | None = None) -> bool:
        """Drop the cached token for `key`, but only if it is still `token` (any token when None)."""
        cached = self._tokens.get(key)
        if cached is None:
            return False
        if token is not None and cached.access_token != token.access_token:
            return False
        del self._tokens[key]
        return True

    def clear(self) -> None:
        self._tokens.clear()
