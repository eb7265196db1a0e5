"""Workers whose health changes are recorded, as the composition root will hand them to notifications."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from contracts_common.health_status import HealthChange
from tests.support.services import Stack


@pytest.fixture
def changes() -> list[HealthChange]:
    return []


@pytest.fixture
async def watched_workers(
    stack: Stack, simulator: Any, monkeypatch: pytest.MonkeyPatch, changes: list[HealthChange]
) -> AsyncIterator[None]:
    """The importer and mapper as `python -m` runs them, with `on_health_change` recording each change."""
    from contracts_common.runtime import connected
    from contracts_common.settings import ImporterSettings, MapperSettings
    from importer.bootstrap import setup as importer_setup
    from mapper.bootstrap import setup as mapper_setup

    async def record(tenant: str, change: HealthChange) -> None:
        changes.append(change)

    stack.apply_env(monkeypatch)
    async with contextlib.AsyncExitStack() as exits:
        for settings, name, setup in (
            (ImporterSettings(), "importer", importer_setup),
            (MapperSettings(), "mapper", mapper_setup),
        ):
            runtime = await exits.enter_async_context(connected(settings, name))
            await setup(runtime, on_health_change=record)
            exits.push_async_callback(runtime.broker.stop_consuming, 5.0)
        yield


@pytest.fixture
async def watched_api(
    stack: Stack, simulator: Any, monkeypatch: pytest.MonkeyPatch, changes: list[HealthChange]
) -> AsyncIterator[Any]:
    """The real gateway with `on_health_change` recording each change it causes, and a client of it."""
    import aiohttp

    from contracts_common.settings import GatewaySettings
    from gateway.bootstrap import build
    from tests.support.api import AdminApi
    from tests.support.services import ADMIN_TOKEN, serve

    async def record(tenant: str, change: HealthChange) -> None:
        changes.append(change)

    stack.apply_env(monkeypatch)
    app, _ = await build(GatewaySettings(), on_health_change=record)
    async with (
        serve(app, stack.gateway_port) as url,
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as session,
    ):
        yield AdminApi(url, session)
