"""A small programmable Ironclad stand-in (aiohttp test server) for the client's unit tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from contracts_common.ironclad import (
    IroncladClient,
    IroncladCredentials,
    NoRateLimiter,
    RateLimiter,
    RequestEvent,
    RetryPolicy,
    TokenCache,
)

RECORDED = Path("/work/shared/reference/ironclad-recorded")
SECRET = "sup3r-s3cret-client-secret"
USER_EMAIL = "svc@example.com"
CLIENT_ID = "4f1b2c8e-0000-4000-8000-000000000001"


def recorded(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RECORDED / f"{name}.json").read_text())
    exchange: dict[str, Any] = data["exchanges"][0]
    return exchange


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list -> JSON, str/bytes -> raw
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> web.Response:
        headers = {"x-ironclad-requestid": "req-123", **self.headers}
        if isinstance(self.body, (dict, list)):
            return web.json_response(self.body, status=self.status, headers=headers)
        if isinstance(self.body, str):
            return web.Response(status=self.status, text=self.body, headers=headers)
        return web.Response(status=self.status, body=self.body or b"", headers=headers)


class FakeIronclad:
    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.token_requests: list[dict[str, str]] = []
        self.token_replies: list[Reply] = []
        self.token_delay = 0.0
        self.expires_in = 3600
        self.granted_scope: str | None = None
        self.valid_tokens: set[str] = set()
        self.replies: dict[tuple[str, str], list[Reply]] = {}
        self.handlers: dict[tuple[str, str], Handler] = {}
        self._n = 0

    def script(self, method: str, path: str, *replies: Reply) -> None:
        self.replies.setdefault((method, path), []).extend(replies)

    def handle(self, method: str, path: str, handler: Handler) -> None:
        self.handlers[(method, path)] = handler

    def revoke_all(self) -> None:
        self.valid_tokens.clear()

    def api_requests(self) -> list[Seen]:
        return [r for r in self.requests if r.path.startswith("/public/api/v1")]

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        # Multipart bodies are left for the handler to parse.
        body = b"" if request.content_type.startswith("multipart/") else await request.read()
        path = request.raw_path.split("?")[0]
        self.requests.append(Seen(request.method, path, dict(request.query), dict(request.headers), body))
        if request.path == "/oauth/token":
            form = dict(await request.post())
            self.token_requests.append({k: str(v) for k, v in form.items()})
            if self.token_delay:
                await asyncio.sleep(self.token_delay)
            if self.token_replies:
                return self.token_replies.pop(0).response()
            self._n += 1
            token = f"tok-{self._n}"
            self.valid_tokens.add(token)
            scope = self.granted_scope if self.granted_scope is not None else str(form.get("scope", ""))
            return web.json_response(
                {"token_type": "Bearer", "access_token": token, "expires_in": self.expires_in, "scope": scope}
            )
        key = (request.method, request.raw_path.split("?")[0])
        queue = self.replies.get(key)
        if queue:
            return queue.pop(0).response()
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.valid_tokens:
            return web.json_response(
                {"code": "UNAUTHORIZED", "message": "invalid authentication token"}, status=401
            )
        handler = self.handlers.get(key)
        if handler is not None:
            return await handler(request)
        return web.json_response({"code": "NOT_FOUND", "message": "not found"}, status=404)


def fast_retry(max_retries: int = 3) -> RetryPolicy:
    return RetryPolicy(max_retries=max_retries, base_seconds=0.001, max_seconds=0.005)


def credentials(secret: str = SECRET) -> IroncladCredentials:
    return IroncladCredentials(
        client_id=CLIENT_ID, client_secret=SecretStr(secret), user_email=USER_EMAIL, region="na1"
    )


@dataclass
class ClientFactory:
    server: TestServer
    session: aiohttp.ClientSession
    events: list[RequestEvent] = field(default_factory=list)
    cache: TokenCache = field(default_factory=TokenCache)

    def __call__(
        self,
        *,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        tenant: str = "tenant-1",
        **kwargs: Any,
    ) -> IroncladClient:
        return IroncladClient(
            self.session,
            kwargs.pop("creds", credentials()),
            tenant=tenant,
            base_url_override=str(self.server.make_url("/")),
            token_cache=self.cache,
            rate_limiter=limiter or NoRateLimiter(),
            retry=retry or fast_retry(),
            on_request=self.events.append,
            **kwargs,
        )
