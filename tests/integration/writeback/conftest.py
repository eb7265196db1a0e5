"""Helpers of the write-back tests: a connected, imported tenant and the operation poller."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from tests.support.api import AdminApi
from tests.support.services import Stack

TENANT = "acme"
SETTLED = {"succeeded", "failed"}


async def wait_operation(api: AdminApi, operation_id: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        answer = await api.call("GET", f"/api/v1/tenants/{TENANT}/writebacks/{operation_id}")
        assert answer.status == 200, answer
        if answer.body["status"] in SETTLED:
            return dict(answer.body)
        if time.monotonic() > deadline:
            raise AssertionError(f"operation {operation_id} not settled after {timeout}s: {answer.body}")
        await asyncio.sleep(0.1)


async def imported(api: AdminApi, sim: Any, company: dict[str, Any], count: int = 6) -> list[dict[str, Any]]:
    """Seed, connect and import `count` records; the stored contracts."""
    await sim.seed(company["company_id"], count=count, seed=11, document_ratio=0.5)
    answer = await api.connect(TENANT, company["apps"][0], "admin@acme.example")
    assert answer.status == 200, answer.body
    run = await api.wait_run(TENANT, await api.start_import(TENANT))
    assert run["status"] == "succeeded", run
    contracts = await api.all_contracts(TENANT)
    assert len(contracts) == count
    return contracts


async def sim_record(sim: Any, company: dict[str, Any], record_id: str) -> dict[str, Any]:
    records = {r["id"]: r for r in await sim.list_records(company["company_id"])}
    record: dict[str, Any] = records[record_id]
    return record


@pytest.fixture
async def db(stack: Stack) -> AsyncIterator[Any]:
    """The stack's database, for checks the API does not expose and for simulating crashes."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongodb_url, tz_aware=True)
    yield client[stack.database]
    await client.close()
