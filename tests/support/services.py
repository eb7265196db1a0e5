"""Test support: where the broker and database are, and how to run our services and the simulator.

Nothing here fakes our own services: in-process workers run the same `setup` as `python -m importer`,
and `ServiceProcess` runs the real entry points as child processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.fernet import Fernet

REPO = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "test-admin-token-" + "x" * 16
SECRETS_KEY = Fernet.generate_key().decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _docker_available() -> bool:
    return (
        shutil.which("docker") is not None
        and subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0
    )


def amqp_url() -> tuple[str, Any]:
    """TEST_AMQP_URL, else a local broker, else a testcontainers RabbitMQ where Docker runs."""
    if url := os.environ.get("TEST_AMQP_URL"):
        return url, None
    if _reachable("127.0.0.1", 5672):
        return "amqp://guest:guest@127.0.0.1:5672/", None
    if _docker_available():
        from testcontainers.rabbitmq import RabbitMqContainer

        container = RabbitMqContainer("rabbitmq:3.13-management").start()
        host, port = container.get_container_host_ip(), container.get_exposed_port(5672)
        return f"amqp://guest:guest@{host}:{port}/", container
    raise RuntimeError("no RabbitMQ: set TEST_AMQP_URL or start one (scripts/ensure-services.sh)")


def mongodb_url() -> tuple[str, Any]:
    if url := os.environ.get("TEST_MONGODB_URL"):
        return url, None
    if _reachable("127.0.0.1", 27017):
        # See scripts/test.sh for why retryable writes are off against the local test server.
        return "mongodb://127.0.0.1:27017/?retryWrites=false", None
    if _docker_available():
        from testcontainers.mongodb import MongoDbContainer

        container = MongoDbContainer("mongo:7").start()
        return container.get_connection_url(), container
    raise RuntimeError("no MongoDB: set TEST_MONGODB_URL or run scripts/ensure-services.sh")


@dataclass
class Stack:
    """Names one isolated world: its own queue prefix and database on the shared broker and server."""

    amqp_url: str
    mongodb_url: str
    prefix: str = field(default_factory=lambda: "t" + uuid.uuid4().hex[:10])
    simulator_url: str | None = None
    gateway_port: int = field(default_factory=free_port)
    # Settings every service of this world gets (the gateway too), e.g. a delivery limit the
    # queues are declared with: all services must declare them alike.
    shared_settings: dict[str, str] = field(default_factory=dict)

    @property
    def database(self) -> str:
        return f"{self.prefix}_db"

    def env(self, **overrides: Any) -> dict[str, str]:
        values: dict[str, Any] = {
            "AMQP_URL": self.amqp_url,
            "MONGODB_URL": self.mongodb_url,
            "MONGODB_DATABASE": self.database,
            "QUEUE_PREFIX": self.prefix,
            "ADMIN_API_TOKEN": ADMIN_TOKEN,
            "SECRETS_KEY": SECRETS_KEY,
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{self.gateway_port}",
            "GATEWAY_PORT": self.gateway_port,
            "GATEWAY_HOST": "127.0.0.1",
            "ALLOW_HTTP_WEBHOOK_TARGET": "true",
            "LOG_LEVEL": "INFO",
            "BACKOFF_BASE_SECONDS": "0.05",
            "BACKOFF_MAX_SECONDS": "0.5",
            "EVENT_COALESCE_SECONDS": "0.2",
        }
        if self.simulator_url:
            values["IRONCLAD_BASE_URL"] = self.simulator_url
        values.update(self.shared_settings)
        values.update(overrides)
        return {k: str(v) for k, v in values.items()}

    def apply_env(self, monkeypatch: Any, **overrides: Any) -> None:
        for key, value in self.env(**overrides).items():
            monkeypatch.setenv(key, value)


@asynccontextmanager
async def serve(app: web.Application, port: int | None = None) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = port or free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


class ServiceProcess:
    """One of our services as a real child process (`python -m <name>`)."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.log_path = log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.name], env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO
        )
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def terminate(self, timeout: float = 30) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode if self.proc else None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


async def wait_for(
    predicate: Callable[[], Awaitable[Any]],
    *,
    timeout: float = 30.0,
    interval: float = 0.1,
    what: str = "condition",
) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await predicate()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


async def wait_ready(urls: list[str], *, timeout: float = 30.0, what: str = "services ready") -> None:
    """Wait until every base URL answers 200 on /readyz."""
    import aiohttp

    async with aiohttp.ClientSession() as session:

        async def ready() -> bool:
            for url in urls:
                try:
                    async with session.get(url + "/readyz") as response:
                        if response.status != 200:
                            return False
                except aiohttp.ClientError:
                    return False
            return True

        await wait_for(ready, timeout=timeout, what=what)


async def drop_stack(stack: Stack) -> None:
    """Delete the stack's queues, exchanges and database."""
    import aio_pika
    from pymongo import AsyncMongoClient

    from contracts_common.messaging import Topology
    from contracts_common.messaging.failover import parse_amqp_urls

    for url in parse_amqp_urls(stack.amqp_url):  # any live node of a cluster will do
        with contextlib.suppress(Exception):
            connection = await aio_pika.connect(str(url))
            async with connection:
                channel = await connection.channel()
                await Topology(stack.prefix, 5).delete(channel, retry_delays=_retry_delays(stack))
            break
    with contextlib.suppress(Exception):
        client: AsyncMongoClient[Any] = AsyncMongoClient(stack.mongodb_url)
        try:
            await drop_test_database(client, stack.database)
        finally:
            await client.close()


def _retry_delays(stack: Stack) -> list[float]:
    """The notification retry queues this world declared: the production delays and the test's own."""
    import json

    from contracts_common.messaging.topology import DEFAULT_NOTIFICATION_RETRY_DELAYS

    own = stack.shared_settings.get("NOTIFICATION_RETRY_DELAYS_SECONDS")
    return [*DEFAULT_NOTIFICATION_RETRY_DELAYS, *(json.loads(own) if own else [])]


async def drop_test_database(client: Any, name: str) -> None:
    """Drop a test's database, except on secantusdb (the local test server): it drops a database key
    by key under its global lock, stalling every other client meanwhile, and its storage is thrown
    away with the server anyway, so the uniquely named database is left there. Real MongoDB drops it."""
    hello = await client.admin.command("hello")
    if hello.get("setName") != "secantus":
        await client.drop_database(name)


def messages_handled(queue: str, outcome: str = "ok") -> float:
    """How many messages of `queue` (its suffix, e.g. mapper.records) the in-process workers have handled
    with `outcome` (contracts_messages_handled_total): a test waits for the deliveries it made to be
    handled, rather than sleeping and hoping they were."""
    from prometheus_client import REGISTRY

    value = REGISTRY.get_sample_value(
        "contracts_messages_handled_total", {"queue": queue, "outcome": outcome}
    )
    return float(value or 0.0)
