"""A thin client of the gateway's admin API for tests (plain HTTP, no shortcuts into our code)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

TERMINAL = {"succeeded", "partially_succeeded", "failed"}


@dataclass
class Answer:
    status: int
    body: Any


@dataclass
class AdminApi:
    base: str
    session: aiohttp.ClientSession

    async def call(self, method: str, path: str, json: Any = None, **kwargs: Any) -> Answer:
        async with self.session.request(method, self.base + path, json=json, **kwargs) as response:
            if response.content_type == "application/json":
                body = await response.json()
            else:
                body = await response.read()
            return Answer(response.status, body)

    async def connect(self, tenant: str, app: dict[str, Any], email: str, region: str = "na1") -> Answer:
        return await self.call(
            "PUT",
            f"/api/v1/tenants/{tenant}/ironclad/connection",
            {
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
                "user_email": email,
                "region": region,
            },
        )

    async def start_import(self, tenant: str, max_contracts: int | None = None) -> str:
        body = {} if max_contracts is None else {"max_contracts": max_contracts}
        answer = await self.call("POST", f"/api/v1/tenants/{tenant}/ironclad/imports", body)
        assert answer.status == 202, answer
        return str(answer.body["run_id"])

    async def run(self, tenant: str, run_id: str) -> dict[str, Any]:
        answer = await self.call("GET", f"/api/v1/tenants/{tenant}/ironclad/runs/{run_id}")
        assert answer.status == 200, answer
        return dict(answer.body)

    async def wait_run(self, tenant: str, run_id: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            run = await self.run(tenant, run_id)
            if run["status"] in TERMINAL:
                assert_counters_add_up(run)
                return run
            if time.monotonic() > deadline:
                raise AssertionError(f"run {run_id} not finished after {timeout}s: {run}")
            await asyncio.sleep(0.1)

    async def all_contracts(self, tenant: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = {"limit": "500", **({"cursor": cursor} if cursor else {})}
            answer = await self.call("GET", f"/api/v1/tenants/{tenant}/contracts", params=params)
            assert answer.status == 200, answer
            items.extend(answer.body["items"])
            cursor = answer.body["next_cursor"]
            if cursor is None:
                return items


def assert_counters_add_up(run: dict[str, Any]) -> None:
    """R16: fetched = created + updated + unchanged + skipped_stale + failed, in every run we look at."""
    parts = run["created"] + run["updated"] + run["unchanged"] + run["skipped_stale"] + run["failed"]
    assert run["fetched"] == parts, f"counters do not add up: {run}"
    if run["status"] == "succeeded":
        assert not run.get("error"), run
