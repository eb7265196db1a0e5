"""Helpers of the fault-injection suite: child processes, a cuttable TCP proxy, the broker, checks.

Nothing here fakes our services: the workers are `python -m importer` / `python -m mapper` children,
the broker and the database are the real ones, and every check reads MongoDB, RabbitMQ or the
simulator directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
from pymongo import AsyncMongoClient

from tests.support.api import AdminApi
from tests.support.services import ServiceProcess, Stack, wait_for

TENANT = "acme"
USER = "admin@acme.example"

# Short waits everywhere: the suite must stay within minutes on two cores. The scheduler runs, on its
# production intervals: its first turns (an incremental pass a minute after connecting) come after
# most of these tests are over. DELIVERY_LIMIT stays at
# its default 5: the gateway (in-process) declares the same quorum queues and the arguments must agree.
FAST_ENV: dict[str, str] = {
    "BACKOFF_BASE_SECONDS": "0.05",
    "BACKOFF_MAX_SECONDS": "0.3",
    "MAX_RETRIES": "3",
    "LOG_FORMAT": "json",
}


class Workers:
    """Starts our worker services as real child processes and kills every one of them at the end."""

    def __init__(self, stack: Stack, log_dir: Path) -> None:
        self.stack = stack
        self.log_dir = log_dir
        self.started: list[ServiceProcess] = []

    def env(self, **overrides: Any) -> dict[str, str]:
        return self.stack.env(**{**FAST_ENV, **overrides})

    async def start(self, name: str, **overrides: Any) -> ServiceProcess:
        """Start `python -m <name>` with these setting overrides and wait until it consumes."""
        proc = ServiceProcess(name, self.env(**overrides), self.log_dir).start()
        self.started.append(proc)
        await wait_started(proc)
        return proc

    def kill_all(self) -> None:
        for proc in self.started:
            with contextlib.suppress(Exception):
                proc.kill()


async def wait_started(proc: ServiceProcess, timeout: float = 30.0) -> None:
    async def up() -> bool:
        assert proc.proc is not None
        if proc.proc.poll() is not None:
            raise AssertionError(f"{proc.name} exited with {proc.proc.returncode}:\n{proc.logs()[-3000:]}")
        return "worker_started" in proc.logs()

    await wait_for(up, timeout=timeout, interval=0.1, what=f"{proc.name} to start")


async def kill9(proc: ServiceProcess) -> None:
    """kill -9 without blocking the event loop (the simulator and the gateway run in it)."""
    await asyncio.to_thread(proc.kill)


async def sigterm(proc: ServiceProcess, timeout: float) -> tuple[int | None, float]:
    """SIGTERM and wait (off the loop); returns (exit code, seconds taken). Killed if over `timeout`."""
    started = time.monotonic()
    assert proc.proc is not None
    code = await asyncio.to_thread(proc.terminate, timeout)
    return code, time.monotonic() - started


# -- MongoDB ----------------------------------------------------------------------------------------


@dataclass
class Mongo:
    client: AsyncMongoClient[Any]
    stack: Stack

    @property
    def db(self) -> Any:
        return self.client[self.stack.database]

    async def run(self, run_id: str) -> dict[str, Any]:
        doc = await self.db.runs.find_one({"_id": run_id})
        assert doc is not None, run_id
        return dict(doc)

    async def pages_done(self, run_id: str) -> set[int]:
        return {d["page"] async for d in self.db.run_pages.find({"run_id": run_id}, {"page": 1})}


@contextlib.asynccontextmanager
async def mongo(stack: Stack) -> AsyncIterator[Mongo]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(stack.mongodb_url)
    try:
        yield Mongo(client, stack)
    finally:
        await client.close()


# -- RabbitMQ ---------------------------------------------------------------------------------------


async def queue_state(amqp_url: str, name: str) -> tuple[int, int]:
    """(messages ready, consumers) of a queue, read with a passive declare on a fresh connection
    (to the first live node, when `amqp_url` lists a cluster's)."""
    from contracts_common.messaging.failover import parse_amqp_urls

    urls = parse_amqp_urls(amqp_url)
    for index, url in enumerate(urls):
        try:
            connection = await aio_pika.connect(str(url), timeout=5)
        except (OSError, aio_pika.exceptions.AMQPConnectionError):
            if index == len(urls) - 1:
                raise
            continue
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(name, passive=True)
            result = queue.declaration_result
            return int(result.message_count or 0), int(result.consumer_count or 0)
    raise AssertionError("unreachable")


async def wait_consumers(amqp_url: str, queues: list[str], timeout: float) -> float:
    """Wait until every queue has a consumer again; returns the seconds it took."""
    started = time.monotonic()

    async def all_consumed() -> bool:
        try:
            return all([(await queue_state(amqp_url, q))[1] >= 1 for q in queues])
        except Exception:
            return False

    await wait_for(all_consumed, timeout=timeout, interval=0.2, what=f"consumers on {queues}")
    return time.monotonic() - started


def rabbitmqctl(*args: str, timeout: float = 60) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=timeout)


def ensure_rabbit_running() -> None:
    """Bring the shared broker's app back whatever happened (idempotent)."""
    with contextlib.suppress(Exception):
        rabbitmqctl("start_app", timeout=120)


async def broker_reachable(amqp_url: str) -> bool:
    try:
        connection = await aio_pika.connect(amqp_url, timeout=3)
    except Exception:
        return False
    await connection.close()
    return True


# -- a TCP proxy that can cut every connection ------------------------------------------------------


@dataclass
class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; `cut()` drops every live connection at once."""

    target_host: str
    target_port: int
    port: int = 0
    _server: asyncio.Server | None = None
    _pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    accepted: int = 0
    cuts: int = 0

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    @property
    def live(self) -> int:
        return len(self._pairs)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.close()
            return
        self.accepted += 1
        pair = (writer, up_writer)
        self._pairs.add(pair)
        tasks = [
            asyncio.create_task(self._pipe(reader, up_writer)),
            asyncio.create_task(self._pipe(up_reader, writer)),
        ]
        self._tasks.update(tasks)
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            self._close(pair)
            self._tasks.difference_update(tasks)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()

    def _close(self, pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter]) -> None:
        self._pairs.discard(pair)
        for writer in pair:
            with contextlib.suppress(Exception):
                writer.transport.abort()

    def cut(self) -> int:
        """Abort every proxied connection (both sides see a reset); new ones are still accepted."""
        pairs = list(self._pairs)
        for pair in pairs:
            self._close(pair)
        self.cuts += 1
        return len(pairs)

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
        for task in list(self._tasks):
            task.cancel()


# -- the simulator ----------------------------------------------------------------------------------


class ScaledClock:
    """A simulator clock running `speed` times faster than the wall clock (a shorter rate window)."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._origin = time.time()

    def now(self) -> float:
        return self._origin + (time.time() - self._origin) * self.speed

    # The rest of the Clock interface, unused by these tests but kept harmless.
    def advance(self, seconds: float) -> None:
        self._origin += seconds

    @property
    def frozen(self) -> bool:
        return False


async def company_stats(sim: Any, company_id: str) -> dict[str, Any]:
    stats: dict[str, Any] = await sim.stats()
    return dict(stats["companies"][company_id])


async def records_gets(sim: Any, company_id: str) -> int:
    return int((await company_stats(sim, company_id))["requests"].get("GET /records", 0))


async def connect(api: AdminApi, company: dict[str, Any]) -> None:
    answer = await api.connect(TENANT, company["apps"][0], USER)
    assert answer.status == 200, answer.body


async def wait_pages(m: Mongo, run_id: str, at_least: int, timeout: float = 30.0) -> set[int]:
    async def enough() -> set[int] | None:
        done = await m.pages_done(run_id)
        return done if len(done) >= at_least else None

    result: set[int] = await wait_for(enough, timeout=timeout, interval=0.05, what=f"{at_least} pages done")
    return result


# -- the promises' checks ---------------------------------------------------------------------------


async def assert_exact(m: Mongo, sim: Any, company_id: str, run: dict[str, Any] | None = None) -> None:
    """Exactly one contract per Ironclad record, each at the record's newest lastUpdated."""
    records = {r["id"]: r for r in await sim.list_records(company_id)}
    docs = [d async for d in m.db.contracts.find({"tenant": TENANT}, {"raw": 0})]
    ids = Counter(d["ironclad"]["id"] for d in docs)
    assert not [i for i, n in ids.items() if n > 1], "duplicate contracts"
    assert set(ids) == set(records), (
        f"missing {len(set(records) - set(ids))}, unexpected {len(set(ids) - set(records))}"
    )
    stale = [
        d["ironclad"]["id"]
        for d in docs
        if d["ironclad"]["lastUpdated"] != records[d["ironclad"]["id"]]["lastUpdated"]
    ]
    assert not stale, f"{len(stale)} contracts not at the newest version"
    if run is not None:
        assert run["status"] == "succeeded", run
        for key, want in (
            ("fetched", len(records)),
            ("created", len(records)),
            ("failed", 0),
            ("skipped_stale", 0),
        ):
            assert run[key] == want, run


async def assert_no_duplicate_documents(m: Mongo, sim: Any, company_id: str) -> int:
    """One stored file per (record, key), with the bytes' sha256 the contract names; returns the count."""
    files = [d async for d in m.db["documents.files"].find({"metadata.tenant": TENANT})]
    per_key = Counter((f["metadata"]["record_id"], f["metadata"]["key"]) for f in files)
    dupes = {k: n for k, n in per_key.items() if n > 1}
    assert not dupes, f"{len(dupes)} (record, key) pairs stored more than once: {list(dupes.items())[:5]}"
    by_id = {f["_id"]: f for f in files}
    expected = 0
    for record in await sim.list_records(company_id):
        expected += len(record.get("attachments") or {})
    contracts = [
        d async for d in m.db.contracts.find({"tenant": TENANT}, {"attachments": 1, "ironclad.id": 1})
    ]
    referenced = 0
    for contract in contracts:
        for attachment in contract.get("attachments", []):
            referenced += 1
            stored = [f for f in by_id.values() if str(f["_id"]) == attachment["file_id"]]
            assert stored, f"contract {contract['ironclad']['id']} names a missing file {attachment}"
            assert stored[0]["metadata"].get("sha256") == attachment["sha256"], attachment
            assert stored[0]["length"] == attachment["size"], attachment
    assert referenced == len(files), f"{len(files)} files stored, {referenced} referenced by contracts"
    return len(files)
