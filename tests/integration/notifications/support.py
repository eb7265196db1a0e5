"""A receiver of notifications as Contracts AI would run one: every delivery verified with
`standardwebhooks.Webhook(secret).verify`, and told to fail when a test wants it to."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook

from tests.support.api import AdminApi
from tests.support.services import serve, wait_for

# Compressed retry tiers: a failed attempt is retried after about 0.5 s, then every 1 s.
FAST_NOTIFICATIONS = {
    "NOTIFICATIONS_ALLOW_PRIVATE_TARGETS": "true",
    "NOTIFICATION_RETRY_DELAYS_SECONDS": "[0.5, 1.0]",
}


@dataclass
class Received:
    headers: dict[str, str]
    body: dict[str, Any]
    at: float
    raw: bytes = b""  # the bytes as signed, to check them against another secret


@dataclass
class Receiver:
    url: str = ""
    secret: str | None = None
    # Answer this status instead of 204 while `failing` is set.
    failing: int | None = None
    # Answer nothing for this long (an endpoint that hangs).
    hang: float | None = None
    received: list[Received] = field(default_factory=list)
    refused: int = 0
    unverified: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if self.hang is not None:
            self.refused += 1
            await asyncio.sleep(self.hang)
            return web.Response(status=504)
        if self.failing is not None:
            self.refused += 1
            return web.Response(status=self.failing)
        assert self.secret is not None, "a delivery before the test set the secret"
        try:
            body = Webhook(self.secret).verify(raw, dict(request.headers))
        except Exception as exc:
            self.unverified.append(repr(exc))
            return web.Response(status=401)
        self.received.append(Received(dict(request.headers), body, time.monotonic(), raw))
        return web.Response(status=204)

    def of_type(self, event_type: str) -> list[Received]:
        return [r for r in self.received if r.body["type"] == event_type]

    async def wait_for(self, event_type: str, count: int = 1, timeout: float = 30.0) -> list[Received]:
        async def arrived() -> list[Received] | None:
            found = self.of_type(event_type)
            return found if len(found) >= count else None

        result: list[Received] = await wait_for(arrived, timeout=timeout, what=f"{count} {event_type}")
        return result


@contextlib.asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hooks", receiver.handle)
    async with serve(app) as base:
        receiver.url = base + "/hooks"
        yield receiver


async def subscribe(api: AdminApi, tenant: str, receiver: Receiver, **body: Any) -> dict[str, Any]:
    answer = await api.call("PUT", f"/api/v1/tenants/{tenant}/notifications", {"url": receiver.url, **body})
    assert answer.status == 200, answer.body
    if answer.body["secret"] is not None:
        receiver.secret = answer.body["secret"]
    return dict(answer.body)


async def deliveries(api: AdminApi, tenant: str, **params: Any) -> dict[str, Any]:
    answer = await api.call(
        "GET",
        f"/api/v1/tenants/{tenant}/notifications/deliveries",
        params={k: str(v) for k, v in params.items()},
    )
    assert answer.status == 200, answer.body
    return dict(answer.body)


async def settle(seconds: float) -> None:
    """Let deliveries that should not happen have their chance to (a negative check)."""
    await asyncio.sleep(seconds)
