"""Fixtures of the Ironclad client integration tests: a throwaway MongoDB database per test and an
in-process Ironclad simulator (aiohttp test server) with one company, one user and one app."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from ironclad_sim import SIM_USER, Sim
from pymongo import AsyncMongoClient

from contracts_common.ironclad import ALL_SCOPES
from tests.support.services import drop_test_database

MONGODB_URL = os.environ.get("TEST_MONGODB_URL", "mongodb://127.0.0.1:27017")


@pytest.fixture
async def mongo_db() -> AsyncIterator[Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(MONGODB_URL, serverSelectionTimeoutMS=3000)
    try:
        await client.admin.command("ping")
    except Exception as exc:
        await client.close()
        # A missing database is a broken test environment, not a reason to pass: fail as the root
        # conftest does (scripts/ensure-services.sh starts one).
        pytest.fail(f"MongoDB not reachable at {MONGODB_URL}: {exc}")
    name = f"test_ironclad_{uuid.uuid4().hex[:12]}"
    try:
        yield client[name]
    finally:
        await drop_test_database(client, name)
        await client.close()


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    app_module = pytest.importorskip("ironclad_simulator.app")
    control_module = pytest.importorskip("ironclad_simulator.control")
    state_module = pytest.importorskip("ironclad_simulator.state")
    state = state_module.SimulatorState()
    state.clock.freeze()
    server = TestServer(app_module.create_app(state))
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        control = control_module.SimulatorControl(str(server.make_url("")), session)
        company = await control.create_company(users=[SIM_USER], apps=[{"scopes": list(ALL_SCOPES)}])
        try:
            yield Sim(state, control, server, session, company["company_id"], company["apps"][0])
        finally:
            await server.close()
