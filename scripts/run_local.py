"""The local run: simulator seeded with demo contracts, the three services, a demo tenant connected
and imported; prints a summary and the admin URL, then keeps everything running until Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
from cryptography.fernet import Fernet

from contracts_common.ops.__main__ import LOCAL_ISSUER, mint_token
from contracts_common.tenant_tokens import generate_key_pair

REPO = Path(__file__).resolve().parents[1]
RUN = REPO / ".run"
SIM_PORT = int(os.environ.get("SIMULATOR_PORT", "9000"))
GATEWAY_PORT = int(os.environ.get("GATEWAY_PORT", "8080"))
DEMO_CONTRACTS = int(os.environ.get("DEMO_CONTRACTS", "60"))


def secret(name: str, make: str) -> str:
    path = RUN / name
    if not path.exists():
        path.write_text(make)
    return path.read_text().strip()


def main() -> int:
    RUN.mkdir(exist_ok=True)
    _, public_key = generate_key_pair(RUN)
    env = {
        **os.environ,
        "ADMIN_API_TOKEN": os.environ.get("ADMIN_API_TOKEN")
        or secret("admin-token", Fernet.generate_key().decode()[:32]),
        "SECRETS_KEY": os.environ.get("SECRETS_KEY") or secret("secrets-key", Fernet.generate_key().decode()),
        "IRONCLAD_BASE_URL": os.environ.get("IRONCLAD_BASE_URL", f"http://127.0.0.1:{SIM_PORT}"),
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", f"http://127.0.0.1:{GATEWAY_PORT}"),
        "ALLOW_HTTP_WEBHOOK_TARGET": "true",
        # The local MongoDB-compatible server slows down with retryable writes on (see scripts/test.sh).
        "MONGODB_URL": os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/?retryWrites=false"),
        "GATEWAY_PORT": str(GATEWAY_PORT),
        "LOG_FORMAT": os.environ.get("LOG_FORMAT", "json"),
        "PYTHONUNBUFFERED": "1",
        # Tenant tokens: the development key pair under .run/, trusted by the gateway.
        "TENANT_TOKEN_PUBLIC_KEYS": os.environ.get("TENANT_TOKEN_PUBLIC_KEYS") or str(public_key),
        "TENANT_TOKEN_ISSUER": os.environ.get("TENANT_TOKEN_ISSUER") or LOCAL_ISSUER,
    }
    python = str(REPO / ".venv" / "bin" / "python")
    commands = {
        "simulator": [
            python,
            "-m",
            "ironclad_simulator",
            "--host",
            "127.0.0.1",
            "--port",
            str(SIM_PORT),
            "--seed-demo",
            str(DEMO_CONTRACTS),
            "--allow-http-targets",
        ],
        "gateway": [python, "-m", "gateway"],
        "importer": [python, "-m", "importer"],
        "mapper": [python, "-m", "mapper"],
    }
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for name, cmd in commands.items():
        log = (RUN / f"{name}.log").open("ab")
        procs[name] = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        if name == "simulator":
            time.sleep(1.5)
    try:
        summary = asyncio.run(demo(env))
        print(summary)
        print("Everything keeps running; logs are in .run/*.log. Ctrl-C stops it all.")
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    except KeyboardInterrupt:
        pass
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


async def demo(env: dict[str, str]) -> str:
    base = f"http://127.0.0.1:{GATEWAY_PORT}"
    headers = {"Authorization": f"Bearer {env['ADMIN_API_TOKEN']}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        for _ in range(120):
            try:
                async with http.get(base + "/readyz") as r:
                    if r.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
        else:
            raise SystemExit("the gateway did not become ready; see .run/gateway.log")
        # The simulator's demo app (see `python -m ironclad_simulator --help`).
        body = {
            "client_id": "00000000-0000-4000-8000-000000000001",
            "client_secret": "demo-secret",
            "user_email": "integration@example.com",
            "region": "na1",
        }
        async with http.put(base + "/api/v1/tenants/demo/ironclad/connection", json=body) as r:
            connected = await r.json()
        if r.status != 200:
            raise SystemExit(f"connect failed: {json.dumps(connected)}")
        async with http.post(base + "/api/v1/tenants/demo/ironclad/imports", json={}) as r:
            run_id = (await r.json())["run_id"]
        while True:
            async with http.get(base + f"/api/v1/tenants/demo/ironclad/runs/{run_id}") as r:
                run = await r.json()
            if run["status"] not in ("queued", "running"):
                break
            await asyncio.sleep(0.5)
        async with http.get(base + "/api/v1/tenants/demo/contracts", params={"limit": "5"}) as r:
            sample = (await r.json())["items"]
    links = {
        role: mint_token(tenant="demo", role=role, sub=f"{role}@demo.local", minutes=60, keys=RUN, url=base)[
            "admin_url"
        ]
        for role in ("admin", "viewer")
    }
    lines = [
        "",
        f"  {connected['message']}  (tenant 'demo', region {connected['region']})",
        f"  Import {run['status']}: fetched {run['fetched']}, created {run['created']}, "
        f"updated {run['updated']}, unchanged {run['unchanged']}, failed {run['failed']}, "
        f"documents {run['documents_downloaded']}",
        "  A few imported contracts:",
        *[f"    - {c['ironclad']['ironcladId']}: {c['ironclad']['name']}" for c in sample],
        "",
        f"  Admin page: {base}/admin/?tenant=demo   (platform key: {env['ADMIN_API_TOKEN']})",
        "  Workspace 'demo' signed in with a tenant token (valid one hour):",
        f"    as an admin:  {links['admin']}",
        f"    as a viewer:  {links['viewer']}",
        "  New links: .venv/bin/python -m contracts_common.ops mint-token --tenant demo --role admin "
        f"--url {base}",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
