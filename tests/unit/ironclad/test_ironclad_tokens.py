from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from pydantic import SecretStr, ValidationError

from contracts_common.ironclad import IroncladCredentials, Token, TokenCache, ironclad_origin


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def tok(name: str, expires_at: float, issued_at: float | None = None) -> Token:
    return Token(access_token=name, expires_at=expires_at, scopes=frozenset({"a"}), issued_at=issued_at)


async def test_single_flight_k20() -> None:
    cache = TokenCache()
    calls = 0

    async def fetch() -> Token:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.02)
        return tok(f"t{calls}", cache.clock() + 3600)

    tokens = await asyncio.gather(*(cache.get("tenant", fetch) for _ in range(20)))
    assert calls == 1
    assert {t.access_token for t in tokens} == {"t1"}


async def test_keys_are_independent() -> None:
    cache = TokenCache()
    fetched: list[str] = []

    def fetcher(key: str) -> Callable[[], Awaitable[Token]]:
        async def fetch() -> Token:
            fetched.append(key)
            return tok(key, cache.clock() + 3600)

        return fetch

    await asyncio.gather(cache.get("a", fetcher("a")), cache.get("b", fetcher("b")))
    assert sorted(fetched) == ["a", "b"]


async def test_refetch_inside_margin() -> None:
    clock = Clock()
    cache = TokenCache(margin_seconds=60, clock=clock)
    n = 0

    async def fetch() -> Token:
        nonlocal n
        n += 1
        return tok(f"t{n}", clock.now + 3600, clock.now)

    assert (await cache.get("k", fetch)).access_token == "t1"
    clock.now += 3600 - 61
    assert (await cache.get("k", fetch)).access_token == "t1"
    clock.now += 2  # now 59 s before expiry
    assert (await cache.get("k", fetch)).access_token == "t2"


async def test_short_lived_token_still_cached() -> None:
    clock = Clock()
    cache = TokenCache(margin_seconds=60, clock=clock)
    n = 0

    async def fetch() -> Token:
        nonlocal n
        n += 1
        return tok(f"t{n}", clock.now + 30, clock.now)

    await cache.get("k", fetch)
    clock.now += 10
    await cache.get("k", fetch)
    assert n == 1
    clock.now += 6  # past half of its 30 s life
    await cache.get("k", fetch)
    assert n == 2


async def test_invalidate_only_that_token() -> None:
    cache = TokenCache()
    current = tok("new", cache.clock() + 3600)

    async def fetch() -> Token:
        return current

    await cache.get("k", fetch)
    assert cache.invalidate("k", tok("old", 0)) is False
    assert cache.peek("k") is current
    assert cache.invalidate("k", current) is True
    assert cache.peek("k") is None
    assert cache.invalidate("k", current) is False


async def test_failure_reaches_all_waiters_then_next_call_refetches() -> None:
    cache = TokenCache()
    calls = 0

    async def failing() -> Token:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        raise RuntimeError("boom")

    results = await asyncio.gather(*(cache.get("k", failing) for _ in range(10)), return_exceptions=True)
    assert calls == 1
    assert all(isinstance(r, RuntimeError) for r in results)
    with pytest.raises(RuntimeError):
        await cache.get("k", failing)
    assert calls == 2


async def test_cancelled_waiter_does_not_cancel_fetch() -> None:
    cache = TokenCache()

    async def fetch() -> Token:
        await asyncio.sleep(0.05)
        return tok("t", cache.clock() + 3600)

    first = asyncio.create_task(cache.get("k", fetch))
    second = asyncio.create_task(cache.get("k", fetch))
    await asyncio.sleep(0.01)
    first.cancel()
    assert (await second).access_token == "t"
    assert first.cancelled()


def test_token_from_response() -> None:
    t = Token.from_response(
        {"access_token": "abc", "expires_in": 3600, "scope": "a b", "token_type": "Bearer"}, now=10.0
    )
    assert (t.expires_at, t.scopes, t.lifetime) == (3610.0, frozenset({"a", "b"}), 3600.0)
    assert "abc" not in repr(t)
    t2 = Token.from_response({"access_token": "x"}, now=0.0, requested_scopes=frozenset({"r"}))
    assert t2.scopes == frozenset({"r"})
    assert t2.expires_at == 3600.0
    with pytest.raises(ValueError):
        Token.from_response({"token_type": "Bearer"}, now=0.0)


def test_credentials_frozen_and_secret_hidden() -> None:
    creds = IroncladCredentials(
        client_id="c", client_secret=SecretStr("hunter2"), user_email="u@example.com", region="eu1"
    )
    assert "hunter2" not in repr(creds)
    assert "hunter2" not in str(creds.model_dump())
    with pytest.raises(ValidationError):
        creds.client_id = "d"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        IroncladCredentials(client_id="c", client_secret=SecretStr("s"), user_email="u", region="us2")


def test_origin() -> None:
    assert ironclad_origin("na1", None) == "https://na1.ironcladapp.com"
    assert ironclad_origin("eu1", None) == "https://eu1.ironcladapp.com"
    assert ironclad_origin("demo", "") == "https://demo.ironcladapp.com"
    assert ironclad_origin("na1", "http://127.0.0.1:8081/") == "http://127.0.0.1:8081"
    with pytest.raises(ValueError):
        ironclad_origin("evil.com/x", None)  # type: ignore[arg-type]
