"""Fixtures of the Automatic Sync tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from tests.support.api import AdminApi
from tests.support.services import ADMIN_TOKEN, Stack, serve

TENANT = "acme"
EMAIL = "admin@acme.example"


@dataclass
class OwnGateway:
    """A gateway whose dependencies the test holds (to cut its broker connection)."""

    url: str
    deps: Any
    api: AdminApi


@pytest.fixture
async def own_gateway(
    stack: Stack, simulator: Any, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[OwnGateway]:
    from contracts_common.settings import GatewaySettings
    from gateway.bootstrap import build

    stack.apply_env(monkeypatch)
    app, d = await build(GatewaySettings())
    async with (
        serve(app, stack.gateway_port) as url,
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as session,
    ):
        yield OwnGateway(url=url, deps=d, api=AdminApi(url, session))


async def connect_and_enable(api: AdminApi, company: dict[str, Any], tenant: str = TENANT) -> dict[str, Any]:
    answer = await api.connect(tenant, company["apps"][0], EMAIL)
    assert answer.status == 200, answer.body
    enabled = await api.call("POST", f"/api/v1/tenants/{tenant}/ironclad/automatic-sync")
    assert enabled.status == 200, enabled.body
    return dict(enabled.body)
