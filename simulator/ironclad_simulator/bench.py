"""Self-benchmark: `python -m ironclad_simulator.bench [--count 50000]`.

Seeds records through the control API, then lists every page over real HTTP (loopback), the way an
importer's full sync would (`sortField=lastUpdated&sortDirection=ASC&pageSize=100`).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time

import aiohttp
from aiohttp.test_utils import TestServer

from ironclad_simulator.app import create_app
from ironclad_simulator.control import SimulatorControl
from ironclad_simulator.state import SimConfig, SimulatorState


async def run(count: int, page_size: int) -> dict[str, float]:
    state = SimulatorState(config=SimConfig(rate_limits_enabled=False))
    server = TestServer(create_app(state), host="127.0.0.1")
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    out: dict[str, float] = {}
    try:
        async with aiohttp.ClientSession() as session:
            ctl = SimulatorControl(base, session)
            created = await ctl.create_company(users=["bench@example.com"])
            app = created["apps"][0]
            t0 = time.perf_counter()
            await ctl.seed(
                created["company_id"],
                count,
                seed=1,
                document_ratio=0.3,
                min_document_bytes=20_000,
                max_document_bytes=200_000,
            )
            out["seed_seconds"] = time.perf_counter() - t0
            async with session.post(
                f"{base}/oauth/token",
                json={
                    "grant_type": "client_credentials",
                    "client_id": app["client_id"],
                    "client_secret": app["client_secret"],
                },
            ) as resp:
                token = (await resp.json())["access_token"]
            headers = {"Authorization": f"Bearer {token}", "x-as-user-email": "bench@example.com"}
            t0 = time.perf_counter()
            page, seen, pages = 0, 0, 0
            first_page = 0.0
            while True:
                tp = time.perf_counter()
                async with session.get(
                    f"{base}/public/api/v1/records",
                    headers=headers,
                    params={
                        "sortField": "lastUpdated",
                        "sortDirection": "ASC",
                        "page": str(page),
                        "pageSize": str(page_size),
                    },
                ) as resp:
                    body = await resp.json()
                if page == 0:
                    first_page = time.perf_counter() - tp
                pages += 1
                seen += len(body["list"])
                if (page + 1) * page_size >= body["count"]:
                    break
                page += 1
            out["list_all_seconds"] = time.perf_counter() - t0
            out["first_page_seconds"] = first_page
            out["pages"] = pages
            out["records_listed"] = seen
            out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    finally:
        await server.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--page-size", type=int, default=100)
    args = parser.parse_args()
    result = asyncio.run(run(args.count, args.page_size))
    for key, value in result.items():
        print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")


if __name__ == "__main__":
    main()
