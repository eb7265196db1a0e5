"""Shared benchmark machinery: the simulator and our services as child processes, memory sampling, facts.

Benchmarks are scripts, not tests. Everything runs on this one machine: the simulator, gateway, importer(s),
mapper, RabbitMQ and the MongoDB-compatible server share its cores, so every number is a number for this
machine and this database server, not a capacity figure for production.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.api import TERMINAL, AdminApi
from tests.support.services import (
    ADMIN_TOKEN,
    REPO,
    ServiceProcess,
    Stack,
    amqp_url,
    drop_stack,
    drop_test_database,
    free_port,
    mongodb_url,
)

RESULTS = REPO / "bench" / "results"
LOGS = RESULTS / "logs"
TENANT = "bench"
USER = "bench@example.com"
DOC_RATIO = 0.2
DOC_MIN = 50_000
DOC_MAX = 2_000_000

# Service settings for benchmark runs: production defaults for back-off and the scheduler, INFO logs.
# No single database call of the driver (probe, count, drop) may hold a benchmark longer than this.
DB_STEP_TIMEOUT = 90.0

SERVICE_ENV = {
    "BACKOFF_BASE_SECONDS": "0.5",
    "BACKOFF_MAX_SECONDS": "30",
    "LOG_LEVEL": "INFO",
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- memory ------------------------------------------------------------------------------------------


def proc_status_kb(pid: int, key: str) -> int | None:
    """A `kB` field of /proc/<pid>/status (VmRSS, VmHWM), or None when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{key}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else None


@dataclass
class MemorySampler:
    """Samples VmRSS of named processes every `interval` seconds; VmHWM gives the kernel's own peak."""

    procs: dict[str, ServiceProcess]
    interval: float = 1.0
    samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _t0: float = 0.0

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            row: dict[str, float] = {}
            for name, proc in self.procs.items():
                if proc.proc is not None and (kb := proc_status_kb(proc.proc.pid, "VmRSS")) is not None:
                    row[name] = kb / 1024
            self.samples.append((time.monotonic() - self._t0, row))
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def peaks_mb(self) -> dict[str, float]:
        """VmHWM (peak resident set since start) per process, in MB; read before the processes end."""
        out: dict[str, float] = {}
        for name, proc in self.procs.items():
            if proc.proc is not None and (kb := proc_status_kb(proc.proc.pid, "VmHWM")) is not None:
                out[name] = round(kb / 1024, 1)
        return out


# -- the simulator -----------------------------------------------------------------------------------


@dataclass
class Simulator:
    """`python -m ironclad_simulator` as a child process (its own core share, like a remote Ironclad)."""

    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spawn(self) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        logf = (LOGS / f"simulator-{self.port}.log").open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ironclad_simulator",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-rate-limits",
                "--allow-http-targets",
            ],
            stdout=logf,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )

    async def start(self) -> None:
        self.spawn()
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 30
            while True:
                try:
                    async with session.get(f"{self.url}/_sim/config") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("simulator did not start")
                await asyncio.sleep(0.2)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@asynccontextmanager
async def simulator() -> AsyncIterator[Simulator]:
    sim = Simulator()
    await sim.start()
    try:
        yield sim
    finally:
        sim.stop()


async def new_company(
    ctl: Any,
    records: int,
    *,
    seed: int = 1,
    document_ratio: float = DOC_RATIO,
    min_bytes: int = DOC_MIN,
    max_bytes: int = DOC_MAX,
) -> dict[str, Any]:
    """A fresh company with an app holding every scope, seeded with `records` records."""
    from contracts_common.ironclad import ALL_SCOPES

    company: dict[str, Any] = await ctl.create_company(users=[USER], apps=[{"scopes": list(ALL_SCOPES)}])
    created = 0
    while created < records:  # in slices, so one control call never holds the simulator for long
        n = min(5_000, records - created)
        await ctl.seed(
            company["company_id"],
            n,
            seed=seed + created,
            document_ratio=document_ratio,
            min_document_bytes=min_bytes,
            max_document_bytes=max_bytes,
            # Edited a month ago, as most of a real tenant's records were: a listing's closing pass
            # then reads only what changed during the listing, as in production.
            age_seconds=30 * 86400,
        )
        created += n
    return company


# -- our services ------------------------------------------------------------------------------------


@dataclass
class Services:
    """One isolated world (queue prefix + database) with the gateway, N importers and M mappers."""

    stack: Stack
    gateway: ServiceProcess
    importers: list[ServiceProcess]
    mappers: list[ServiceProcess]
    importer_metrics_ports: list[int]
    api: AdminApi
    mapper_metrics_ports: list[int]

    def procs(self) -> dict[str, ServiceProcess]:
        out = {"gateway": self.gateway}
        for i, p in enumerate(self.importers):
            out["importer" if len(self.importers) == 1 else f"importer{i + 1}"] = p
        for i, p in enumerate(self.mappers):
            out["mapper" if len(self.mappers) == 1 else f"mapper{i + 1}"] = p
        return out


@asynccontextmanager
async def fresh_database_server() -> AsyncIterator[str]:
    """The database for one benchmark: BENCH_MONGODB_URL when it names a real MongoDB; otherwise a new
    test-server process (secantusdb) on a port of its own, thrown away afterwards, so no benchmark
    inherits what the test suite or another benchmark left in a shared server. Tests' URL variable
    points at it meanwhile, so every helper and service of the benchmark uses it."""
    import shutil
    import tempfile

    from tests.support.services import free_port

    if url := os.environ.get("BENCH_MONGODB_URL"):
        yield url
        return
    binary = REPO / ".mongo-venv" / "bin" / "secantusd-py"
    if not binary.exists():
        raise RuntimeError("no test server: run scripts/setup.sh, or set BENCH_MONGODB_URL")
    port = free_port()
    storage = Path(tempfile.mkdtemp(prefix="bench-mongo-"))
    log_file = (LOGS / f"mongo-{port}.log").open("ab")
    server = _start_server(binary, port, storage, log_file)
    url = f"mongodb://127.0.0.1:{port}/?retryWrites=false"
    previous = os.environ.get("TEST_MONGODB_URL")
    os.environ["TEST_MONGODB_URL"] = url
    try:
        deadline = time.monotonic() + 60
        while not _port_open(port):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the test server on port {port} did not start (see {log_file.name})")
            await asyncio.sleep(0.2)
        log(f"fresh database server on port {port}")
        yield url
    finally:
        if previous is None:
            os.environ.pop("TEST_MONGODB_URL", None)
        else:
            os.environ["TEST_MONGODB_URL"] = previous
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        log_file.close()
        shutil.rmtree(storage, ignore_errors=True)


def _start_server(binary: Path, port: int, storage: Path, log_file: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(binary), "--host", "127.0.0.1", "--port", str(port), "--storage-path", str(storage)],
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def service_urls() -> tuple[str, str]:
    amqp, _ = amqp_url()
    mongo, _ = mongodb_url()
    return amqp, mongo


@asynccontextmanager
async def services(
    sim: Simulator,
    *,
    importers: int = 1,
    mappers: int = 1,
    importer_env: dict[str, str] | None = None,
    shared_env: dict[str, str] | None = None,
) -> AsyncIterator[Services]:
    """`shared_env` goes to every service (the gateway too), e.g. QUEUE_REPLICAS, which all must agree on."""
    amqp, mongo = service_urls()
    stack = Stack(
        amqp_url=amqp,
        mongodb_url=mongo,
        prefix="bench" + os.urandom(4).hex(),
        simulator_url=sim.url,
        shared_settings=dict(shared_env or {}),
    )
    LOGS.mkdir(parents=True, exist_ok=True)
    gateway = ServiceProcess("gateway", stack.env(**SERVICE_ENV), LOGS).start()
    ports = [free_port() for _ in range(importers)]
    imps = [
        ServiceProcess(
            "importer", stack.env(**SERVICE_ENV, HEALTH_PORT=port, **(importer_env or {})), LOGS
        ).start()
        for port in ports
    ]
    mapper_ports = [free_port() for _ in range(mappers)]
    maps = [
        ServiceProcess("mapper", stack.env(**SERVICE_ENV, HEALTH_PORT=port), LOGS).start()
        for port in mapper_ports
    ]
    session = aiohttp.ClientSession(
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=aiohttp.ClientTimeout(total=60)
    )
    api = AdminApi(f"http://127.0.0.1:{stack.gateway_port}", session)
    world = Services(stack, gateway, imps, maps, ports, api, mapper_ports)
    try:
        await _wait_ready(world)
        yield world
    finally:
        await session.close()
        for p in [*imps, *maps, gateway]:
            p.terminate(10)
        try:
            await asyncio.wait_for(drop_stack(stack), DB_STEP_TIMEOUT)
        except TimeoutError:
            log(f"dropping {stack.database} took over {DB_STEP_TIMEOUT:.0f} s; left behind")


async def _wait_ready(world: Services) -> None:
    deadline = time.monotonic() + 60
    while True:
        for p in world.procs().values():
            if p.proc is not None and p.proc.poll() is not None:
                raise RuntimeError(f"{p.name} exited early: {p.logs()[-2000:]}")
        urls = [world.api.base + "/readyz"] + [
            f"http://127.0.0.1:{port}/readyz"
            for port in world.importer_metrics_ports + world.mapper_metrics_ports
        ]
        ok = True
        for url in urls:
            try:
                async with world.api.session.get(url) as resp:
                    ok = ok and resp.status == 200
            except aiohttp.ClientError:
                ok = False
        if ok:
            # Consumers attach right after the probe server starts; a little grace.
            await asyncio.sleep(1.0)
            return
        if time.monotonic() > deadline:
            raise RuntimeError("gateway not ready: " + world.gateway.logs()[-2000:])
        await asyncio.sleep(0.3)


async def connect(world: Services, company: dict[str, Any]) -> None:
    answer = await world.api.connect(TENANT, company["apps"][0], USER)
    if answer.status != 200:
        raise RuntimeError(f"connect failed: {answer}")


async def wait_terminal(
    world: Services, run_id: str, timeout: float, *, interval: float = 0.5
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = await world.api.run(TENANT, run_id)
        if run["status"] in TERMINAL:
            return run
        if time.monotonic() > deadline:
            run["status"] = f"timeout ({run['status']})"
            return run
        await asyncio.sleep(interval)


async def count_contracts(world: Services) -> int:
    """Contracts stored for the bench tenant; -1 when the database does not answer in time."""
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[Any] = AsyncMongoClient(world.stack.mongodb_url)
    try:
        coll = client[world.stack.database].contracts
        return int(await asyncio.wait_for(coll.count_documents({"tenant": TENANT}), DB_STEP_TIMEOUT))
    except TimeoutError:
        log("counting contracts timed out: the database server is not answering")
        return -1
    finally:
        await client.close()


async def scrape_latency(world: Services) -> dict[str, list[tuple[float, float]]]:
    """The importers' Ironclad request-duration histograms (cumulative bucket counts) by endpoint, summed."""
    out: dict[str, dict[float, float]] = {}
    pattern = re.compile(
        r'contracts_ironclad_request_seconds_bucket\{endpoint="([^"]+)",le="([^"]+)"\} (\S+)'
    )
    for text in await _metrics_texts(world.importer_metrics_ports):
        for endpoint, le, value in pattern.findall(text):
            bucket = float("inf") if le == "+Inf" else float(le)
            out.setdefault(endpoint, {}).setdefault(bucket, 0.0)
            out[endpoint][bucket] += float(value)
    return {ep: sorted(b.items()) for ep, b in out.items()}


async def _metrics_texts(ports: list[int], urls: tuple[str, ...] = ()) -> list[str]:
    """The /metrics pages of the workers on these probe ports, and of `urls` (those that answer)."""
    texts = []
    async with aiohttp.ClientSession() as session:
        for url in [*(f"http://127.0.0.1:{port}/metrics" for port in ports), *urls]:
            try:
                async with session.get(url) as resp:
                    texts.append(await resp.text())
            except aiohttp.ClientError:
                continue
    return texts


async def scrape_db_commands(world: Services, *, gateway: bool = False) -> dict[str, dict[str, float]]:
    """Database round trips so far per worker service (`contracts_mongodb_commands_total`), by command;
    with `gateway`, the gateway's too."""
    pattern = re.compile(r'contracts_mongodb_commands_total\{command="([^"]+)",service="([^"]+)"\} (\S+)')
    out: dict[str, dict[str, float]] = {}
    urls = (world.api.base + "/metrics",) if gateway else ()
    for text in await _metrics_texts(world.importer_metrics_ports + world.mapper_metrics_ports, urls):
        for command, service, value in pattern.findall(text):
            by_command = out.setdefault(service, {})
            by_command[command] = by_command.get(command, 0.0) + float(value)
    return out


def command_delta(
    before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]
) -> dict[str, dict[str, float]]:
    return {
        service: {
            command: value - before.get(service, {}).get(command, 0.0)
            for command, value in commands.items()
            if value - before.get(service, {}).get(command, 0.0) > 0
        }
        for service, commands in after.items()
    }


# -- facts about the machine and the versions --------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gb = 0.0
    with contextlib.suppress(OSError, AttributeError):
        kb = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
        mem_gb = round(int(kb.group(1)) / 1024 / 1024, 1) if kb else 0.0
    return {"cores": os.cpu_count(), "memory_gb": mem_gb, "cpu": cpu, "kernel": platform.release()}


async def versions() -> dict[str, str]:
    out: dict[str, str] = {"python": platform.python_version()}
    for pkg in ("aiohttp", "aio-pika", "pymongo", "pydantic", "prometheus-client", "matplotlib", "numpy"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    amqp, mongo = service_urls()
    out["mongodb_url"] = mongo
    try:
        import aio_pika

        conn = await aio_pika.connect(amqp)
        underlay = getattr(conn.transport, "connection", None)
        props: dict[str, Any] = dict(getattr(underlay, "server_properties", {}) or {})
        product = props.get("product", b"?")
        version = props.get("version", b"?")
        out["amqp_server"] = " ".join(
            v.decode() if isinstance(v, bytes) else str(v) for v in (product, version)
        )
        await conn.close()
    except Exception as exc:
        out["amqp_server"] = f"unknown ({type(exc).__name__})"
    try:
        from pymongo import AsyncMongoClient

        client: AsyncMongoClient[Any] = AsyncMongoClient(mongo, serverSelectionTimeoutMS=10_000)
        info = await asyncio.wait_for(client.admin.command("buildInfo"), 30)
        hello = await asyncio.wait_for(client.admin.command("hello"), 30)
        out["mongodb_server"] = (
            f"{info.get('version', '?')} (maxWireVersion {hello.get('maxWireVersion', '?')})"
        )
        for key in ("gitVersion", "versionName", "secantus"):
            if key in info:
                out["mongodb_server"] += f", {key}={info[key]}"
        await client.close()
    except Exception as exc:
        out["mongodb_server"] = f"unknown ({type(exc).__name__})"
    return out


async def db_probe(n: int = 20) -> float:
    """Sequential small upserts/s into a scratch collection: how fast the shared server answers now.

    Raises DatabaseStuck when the server does not answer within DB_STEP_TIMEOUT.
    """
    try:
        return await asyncio.wait_for(_db_probe(n), DB_STEP_TIMEOUT)
    except TimeoutError:
        raise DatabaseStuck(f"{n} upserts did not finish within {DB_STEP_TIMEOUT:.0f} s") from None


class DatabaseStuck(RuntimeError):
    """The MongoDB-compatible server stopped answering; a benchmark cannot measure anything."""


async def _db_probe(n: int) -> float:
    from pymongo import AsyncMongoClient

    _, mongo = service_urls()
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo)
    name = "benchprobe" + os.urandom(3).hex()
    try:
        coll = client[name].probe
        t0 = time.monotonic()
        for i in range(n):
            await coll.update_one({"_id": i}, {"$set": {"v": i}}, upsert=True)
        return round(n / (time.monotonic() - t0), 1)
    finally:
        await drop_test_database(client, name)
        await client.close()


def save_json(name: str, data: Any) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(data, indent=2, default=str))
    return path
