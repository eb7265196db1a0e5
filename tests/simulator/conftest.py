"""Fixtures: a real simulator on loopback (aiohttp TestServer), a control client, API helpers, a receiver."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ironclad_simulator.app import create_app
from ironclad_simulator.control import SimulatorControl
from ironclad_simulator.state import SimConfig, SimulatorState

API = "/public/api/v1"


@dataclass
class Resp:
    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class ApiClient:
    """A company-bound API caller: holds a bearer token and an acting user."""

    sim: Sim
    token: str
    user_email: str | None

    async def call(self, method: str, path: str, *, user: str | None = None, headers=None, **kw) -> Resp:
        hdrs = {"Authorization": f"Bearer {self.token}"}
        email = user if user is not None else self.user_email
        if email:
            hdrs["x-as-user-email"] = email
        hdrs.update(headers or {})
        return await self.sim.raw(method, API + path, headers=hdrs, **kw)

    async def get(self, path: str, **kw) -> Resp:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, **kw) -> Resp:
        return await self.call("POST", path, **kw)

    async def patch(self, path: str, **kw) -> Resp:
        return await self.call("PATCH", path, **kw)

    async def put(self, path: str, **kw) -> Resp:
        return await self.call("PUT", path, **kw)

    async def delete(self, path: str, **kw) -> Resp:
        return await self.call("DELETE", path, **kw)


@dataclass
class CompanyHandle:
    company_id: str
    client_id: str
    client_secret: str
    user_email: str
    user_id: str
    api: ApiClient


@dataclass
class Sim:
    state: SimulatorState
    server: TestServer
    session: aiohttp.ClientSession
    control: SimulatorControl
    base_url: str

    async def raw(self, method: str, path: str, **kw) -> Resp:
        async with self.session.request(method, self.base_url + path, **kw) as resp:
            return Resp(resp.status, resp.headers, await resp.read())

    async def token(self, client_id: str, client_secret: str, scope: str | None = None) -> str:
        body = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
        if scope is not None:
            body["scope"] = scope
        r = await self.raw("POST", "/oauth/token", json=body)
        assert r.status == 200, r.body
        token: str = r.json()["access_token"]
        return token

    async def company(self, scopes: list[str] | None = None, users: list[str] | None = None) -> CompanyHandle:
        app_spec: dict[str, Any] = {}
        if scopes is not None:
            app_spec["scopes"] = scopes
        created = await self.control.create_company(users=users or ["ops@example.com"], apps=[app_spec])
        app = created["apps"][0]
        user = created["users"][0]
        token = await self.token(app["client_id"], app["client_secret"])
        return CompanyHandle(
            company_id=created["company_id"],
            client_id=app["client_id"],
            client_secret=app["client_secret"],
            user_email=user["email"],
            user_id=user["id"],
            api=ApiClient(self, token, user["email"]),
        )


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    state = SimulatorState(config=SimConfig(allow_http_targets=True))
    server = TestServer(create_app(state), host="127.0.0.1")
    await server.start_server()
    session = aiohttp.ClientSession()
    base = str(server.make_url("")).rstrip("/")
    try:
        yield Sim(state, server, session, SimulatorControl(base, session), base)
    finally:
        await session.close()
        await server.close()


@pytest.fixture
async def company(sim: Sim) -> CompanyHandle:
    return await sim.company()


@dataclass
class Receiver:
    """A webhook target: records every delivery and answers with scripted statuses."""

    url: str
    statuses: list[int] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    default_status: int = 200


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver(url="")

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        rec.received.append(
            {"headers": dict(request.headers), "body": body, "path": request.path, "at": time.monotonic()}
        )
        status = rec.statuses.pop(0) if rec.statuses else rec.default_status
        return web.Response(status=status, text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    rec.url = str(server.make_url("/hook"))
    try:
        yield rec
    finally:
        await server.close()
