"""Shared fixtures: the real broker and database, the Ironclad simulator, our services.

Each test gets its own world (queue prefix and database) and removes it afterwards, so tests run in
any order. Service URLs come from TEST_AMQP_URL / TEST_MONGODB_URL, or testcontainers where Docker runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.services import ADMIN_TOKEN, Stack, amqp_url, drop_stack, mongodb_url, serve

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="session")
def service_urls() -> Iterator[tuple[str, str]]:
    amqp, amqp_container = amqp_url()
    mongo, mongo_container = mongodb_url()
    yield amqp, mongo
    for container in (amqp_container, mongo_container):
        if container is not None:
            container.stop()


@pytest.fixture
def artifacts_dir(request: pytest.FixtureRequest) -> Path:
    path: Path = ARTIFACTS / request.node.name.replace("/", "_")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
async def stack(service_urls: tuple[str, str]) -> AsyncIterator[Stack]:
    world = Stack(amqp_url=service_urls[0], mongodb_url=service_urls[1])
    yield world
    await drop_stack(world)


@pytest.fixture
async def simulator(stack: Stack) -> AsyncIterator[Any]:
    """The Ironclad simulator in this process, on a loopback port; yields its state."""
    from ironclad_simulator.app import create_app
    from ironclad_simulator.state import SimConfig, SimulatorState

    state = SimulatorState(config=SimConfig(allow_http_targets=True, webhook_retry_base_seconds=0.05))
    async with serve(create_app(state)) as url:
        stack.simulator_url = url
        state.base_url = url  # type: ignore[attr-defined]
        yield state


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def sim(simulator: Any, stack: Stack, http: aiohttp.ClientSession) -> Any:
    from ironclad_simulator.control import SimulatorControl

    assert stack.simulator_url is not None
    return SimulatorControl(stack.simulator_url, http)


@pytest.fixture
async def company(sim: Any) -> dict[str, Any]:
    """An Ironclad company with one user and an app holding every scope we use."""
    from contracts_common.ironclad import ALL_SCOPES

    return await sim.create_company(users=["admin@acme.example"], apps=[{"scopes": list(ALL_SCOPES)}])  # type: ignore[no-any-return]


@pytest.fixture
async def gateway(stack: Stack, simulator: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """The real gateway app in this process, on the stack's port; yields its base URL."""
    from contracts_common.settings import GatewaySettings
    from gateway.bootstrap import build

    stack.apply_env(monkeypatch)
    app, _ = await build(GatewaySettings())
    async with serve(app, stack.gateway_port) as url:
        yield url


@pytest.fixture
async def workers(stack: Stack, simulator: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """The importer and mapper, in this process, running the same setup as `python -m`."""
    from contracts_common.runtime import connected
    from contracts_common.settings import ImporterSettings, MapperSettings
    from importer.bootstrap import setup as importer_setup
    from mapper.bootstrap import setup as mapper_setup

    stack.apply_env(monkeypatch)
    async with contextlib.AsyncExitStack() as exits:
        for settings, name, setup in (
            (ImporterSettings(), "importer", importer_setup),
            (MapperSettings(), "mapper", mapper_setup),
        ):
            runtime = await exits.enter_async_context(connected(settings, name))
            await setup(runtime)
            exits.push_async_callback(runtime.broker.stop_consuming, 5.0)
        yield


@pytest.fixture(scope="session")
def token_kit() -> Any:
    from tests.support.tokens import TokenKit

    return TokenKit()


@pytest.fixture
def tenant_tokens(stack: Stack, token_kit: Any) -> Any:
    """Tenant tokens accepted by this stack's gateway (request it before `gateway`/`api`)."""
    stack.shared_settings.update(token_kit.env())
    return token_kit


@pytest.fixture
async def api(gateway: str) -> AsyncIterator[Any]:
    from tests.support.api import AdminApi

    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as session:
        yield AdminApi(gateway, session)
