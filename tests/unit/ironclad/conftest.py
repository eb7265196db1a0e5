"""Fixtures of the Ironclad client unit tests; the fake server lives in ironclad_fakes.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from ironclad_fakes import ClientFactory, FakeIronclad


@pytest.fixture
def fake() -> FakeIronclad:
    return FakeIronclad()


@pytest.fixture
async def server(fake: FakeIronclad) -> AsyncIterator[TestServer]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.__call__)
    srv = TestServer(app)
    await srv.start_server()
    yield srv
    await srv.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def make_client(server: TestServer, session: aiohttp.ClientSession) -> ClientFactory:
    return ClientFactory(server, session)
