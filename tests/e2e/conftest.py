"""The three services as real child processes (`python -m gateway|importer|mapper`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from tests.support.api import AdminApi
from tests.support.services import ADMIN_TOKEN, ServiceProcess, Stack, wait_for


@pytest.fixture
def spawn(stack: Stack, simulator: Any, artifacts_dir: Any) -> Any:
    started: list[ServiceProcess] = []

    def start(name: str, **env: Any) -> ServiceProcess:
        process = ServiceProcess(name, stack.env(**env), artifacts_dir).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


@pytest.fixture
async def running_stack(stack: Stack, spawn: Callable[..., ServiceProcess]) -> AsyncIterator[AdminApi]:
    from tests.support.services import free_port

    spawn("gateway")
    for name in ("importer", "mapper"):
        stack.shared_settings[f"{name.upper()}_PROBE_PORT"] = str(free_port())  # where its /metrics is
        spawn(name, HEALTH_PORT=stack.shared_settings[f"{name.upper()}_PROBE_PORT"])
    base = f"http://127.0.0.1:{stack.gateway_port}"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as session:

        async def ready() -> bool:
            try:
                async with session.get(base + "/readyz") as response:
                    return response.status == 200
            except aiohttp.ClientError:
                return False

        await wait_for(ready, timeout=30, what="gateway ready")
        yield AdminApi(base, session)
