"""Scale-out on the three-node RabbitMQ test cluster: 1 -> 2 mappers and 1 -> 2 -> 4 importers.

    python -m bench.cluster_scaling [--records 2000]

Latency-bound, as scaling is in production: Ironclad answers after 300 ms and each importer keeps two
requests in flight (IRONCLAD_CONCURRENCY=2), rate limits off, with the usual share of records carrying
documents (each a request of its own), so one importer cannot use the machine and more importers
should add throughput until something shared (the database, the broker, the two cores) saturates.
Every service reaches the cluster through its comma-separated AMQP_URL, with every
queue on all three nodes (QUEUE_REPLICAS=3). Each run gets a fresh database server. The cluster is
started by scripts/rabbitmq-cluster.sh when missing and left running.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
from typing import Any

from bench.common import fresh_database_server, log, save_json
from bench.import_bench import pipeline_import
from tests.support.services import REPO

LATENCY_MS = 300.0
CONFIGURATIONS = ((1, 1), (2, 1), (4, 1), (1, 2), (4, 2))  # (importers, mappers)


def cluster_url() -> str:
    script = str(REPO / "scripts" / "rabbitmq-cluster.sh")
    subprocess.run([script, "start"], check=True, capture_output=True, timeout=300)
    return subprocess.run([script, "url"], check=True, capture_output=True, text=True).stdout.strip()


async def cluster_scaling(records: int, *, timeout: float = 600.0) -> list[dict[str, Any]]:
    url = await asyncio.to_thread(cluster_url)
    previous = os.environ.get("TEST_AMQP_URL")
    os.environ["TEST_AMQP_URL"] = url
    results: list[dict[str, Any]] = []
    try:
        for importers, mappers in CONFIGURATIONS:
            label = f"cluster {importers} importer(s), {mappers} mapper(s)"
            try:
                async with fresh_database_server():
                    result = await pipeline_import(
                        records,
                        importers=importers,
                        mappers=mappers,
                        latency_ms=LATENCY_MS,
                        timeout=timeout,
                        label=label,
                        importer_env={"IRONCLAD_CONCURRENCY": "2"},
                        shared_env={"QUEUE_REPLICAS": "3"},
                    )
                result.pop("rss_samples", None)
                result.pop("ironclad_latency_buckets", None)
                results.append(result)
            except Exception as exc:
                log(f"{label} failed: {type(exc).__name__}: {exc}")
                results.append(
                    {"importers": importers, "mappers": mappers, "error": f"{type(exc).__name__}: {exc}"}
                )
    finally:
        if previous is None:
            os.environ.pop("TEST_AMQP_URL", None)
        else:
            os.environ["TEST_AMQP_URL"] = previous
    return results


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.cluster_scaling", description=__doc__)
    p.add_argument("--records", type=int, default=2000)
    args = p.parse_args()
    results = asyncio.run(cluster_scaling(args.records))
    save_json("cluster_scaling.json", results)
    for r in results:
        print(
            json.dumps(
                {k: r.get(k) for k in ("importers", "mappers", "records_per_second", "status", "error")}
            )
        )


if __name__ == "__main__":
    main()
